package cli

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// siteResults writes into a new directory a comparison of a few cells of
// the committed outcome table, and a plot, and returns it.
func siteResults(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "results", "compare.json"))
	require.NoError(t, err)
	var cmp map[string]any
	require.NoError(t, json.Unmarshal(b, &cmp))
	var keep []any
	for _, c := range cmp["results"].([]any) {
		m := c.(map[string]any)
		if (m["strategy"] == "local-cache" || m["strategy"] == "db-unique") && m["scenario"] == "redeliver" {
			keep = append(keep, c)
		}
	}
	require.Len(t, keep, 2)
	cmp["results"] = keep
	b, err = json.Marshal(cmp)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "compare.json"), b, 0o644))
	svg, err := os.ReadFile(filepath.Join("..", "results", "violations.svg"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "violations.svg"), svg, 0o644))
	return dir
}

// The site holds the index, whose broken cell links its story page, the
// story page, whose replay link opens the playground, the plots, the
// playground's files and the WebAssembly, gzipped; nothing links outside.
func TestSiteWritesTheSite(t *testing.T) {
	results := siteResults(t)
	wasm := filepath.Join(t.TempDir(), "fake.wasm")
	require.NoError(t, os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644))
	out := filepath.Join(t.TempDir(), "site")
	code, stdout, stderr := runMain(t, "site", "--out", out, "--results", results, "--wasm", wasm)
	require.Equal(t, ExitOK, code, stdout+stderr)
	assert.Contains(t, stderr, "1 story page")
	assert.Contains(t, stderr, "python3 -m http.server --bind 127.0.0.1 -d "+out)
	for _, f := range []string{"index.html", "playground.html", "playground.js", "playground.css", "story.js", "story.css",
		"wasm_exec.js", "idemsim.wasm.gz", "plots/violations.svg", "stories/queue-local-cache-redeliver.html"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	index, err := os.ReadFile(filepath.Join(out, "index.html"))
	require.NoError(t, err)
	assert.Contains(t, string(index), `<a href="stories/queue-local-cache-redeliver.html"`)
	assert.Contains(t, string(index), `<img src="plots/violations.svg"`)
	story, err := os.ReadFile(filepath.Join(out, "stories", "queue-local-cache-redeliver.html"))
	require.NoError(t, err)
	assert.Contains(t, string(story), `href="../playground.html?strategy=local-cache&amp;faults=redeliver&amp;seed=`)
	// Without script, the page shows the text story, the one explain
	// prints for the same cell after its lines on the search and the
	// shrinking.
	_, pre, ok := strings.Cut(string(story), "<noscript>")
	require.True(t, ok, "the story page has a fallback without script")
	pre, _, _ = strings.Cut(pre, "</noscript>")
	_, pre, ok = strings.Cut(pre, "<pre>")
	require.True(t, ok, "the fallback holds the text story")
	pre, _, _ = strings.Cut(pre, "</pre>")
	code, text, stderr := runMain(t, "explain", "--strategy", "local-cache", "--faults", "redeliver", "--instances", "3", "--broker", "queue")
	require.Equal(t, ExitOK, code, stderr)
	pre = html.UnescapeString(pre)
	require.Contains(t, pre, "reproduce with: idemsim run --strategy local-cache --faults redeliver")
	assert.True(t, strings.HasSuffix(text, "\n\n"+pre), "the story page's text is explain's story:\n%s\nexplain:\n%s", pre, text)
	assert.Contains(t, string(story), "<code>idemsim explain --strategy local-cache --faults redeliver --instances 3 --broker queue</code>")
	for _, f := range []string{"index.html", "playground.html", "stories/queue-local-cache-redeliver.html"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		assert.NotRegexp(t, `(?i)(src|href)="(https?:)?//`, string(b), f+" fetches nothing from outside the site")
	}
}

func TestSiteBadInput(t *testing.T) {
	code, _, stderr := runMain(t, "site")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "missing --out")

	code, _, stderr = runMain(t, "site", "--out", t.TempDir(), "--results", filepath.Join(t.TempDir(), "none"))
	assert.Equal(t, ExitError, code)
	assert.Contains(t, stderr, "idemsim compare --out")

	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "compare.json"), []byte("{}"), 0o644))
	code, _, stderr = runMain(t, "site", "--out", t.TempDir(), "--results", bad)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "is not a comparison")

	// Without Go, the WebAssembly cannot be built: a clear error.
	results := siteResults(t)
	t.Setenv("PATH", t.TempDir())
	code, _, stderr = runMain(t, "site", "--out", filepath.Join(t.TempDir(), "s"), "--results", results)
	assert.Equal(t, ExitError, code)
	assert.Contains(t, stderr, "go is not on PATH")
}

// runMain runs Main on args and returns its exit status and output.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), strings.TrimSpace(errb.String())
}
