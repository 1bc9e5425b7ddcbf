package idemsimtest

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the README's output of the user's go test (user-test-output) instead of comparing")

// TestReadmeUserModule builds the README's "Test your own consumer" as a
// user would, in a module of its own outside this repository: the files
// the README shows, a go.mod that requires idemsim (replaced by this
// checkout) and this repository's go.sum, offline. It holds the README to
// what happens there: go vet passes; go test ./dedup fails with the output
// the README shows, the shrunk story and its replay lines; the user's own
// idemsim command replays the "reproduce with:" line and finds the same
// violation; and the "rerun it from this test:" line tells the same story.
// After a deliberate change of the output (of explain's story, say), run it
// with -update and review the README's diff.
func TestReadmeUserModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own and runs go test in it")
	}
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build the README's module")
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	root, err := filepath.Abs("..")
	require.NoError(t, err)

	dir := t.TempDir()
	files := userModuleFiles(t, string(readme))
	require.Contains(t, files, "dedup/dedup.go")
	require.Contains(t, files, "dedup/dedup_test.go")
	require.Contains(t, files, "cmd/idemsim/main.go")
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	}
	writeGoMod(t, dir, root)

	goRun := func(wd string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = wd
		cmd.Env = userEnv()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := goRun(dir, "vet", "./...")
	require.NoError(t, err, "go vet in the README's module:\n%s", out)

	require.Contains(t, string(readme), "`go test ./dedup` fails")
	out, err = goRun(dir, "test", "./dedup")
	require.Error(t, err, "the README's test must fail on the deduplicator:\n%s", out)
	if *update {
		updateReadme(t, "user-test-output", out)
	} else {
		assertShows(t, out, readmeBlock(t, string(readme), "user-test-output"))
	}

	story := between(out, "watermill-dedup under redeliver:", "\n        \n")
	require.NotEmpty(t, story)
	reproduce := lineAfter(t, out, "reproduce with: idemsim ")
	rerun := lineAfter(t, out, "rerun it from this test: go ")

	out, err = goRun(dir, "build", "-o", filepath.Join(dir, "idemsim"), "./cmd/idemsim")
	require.NoError(t, err, "go build of the README's own idemsim:\n%s", out)
	replay, err := exec.Command(filepath.Join(dir, "idemsim"), strings.Fields(reproduce)...).CombinedOutput()
	require.NoError(t, err, "%s", replay)
	assert.Contains(t, string(replay), "exactly-once     VIOLATED", "idemsim %s", reproduce)

	out, _ = goRun(filepath.Join(dir, "dedup"), shellWords(rerun)...)
	assert.Contains(t, out, "seed 1, 3 instances, 200 events", "go %s", rerun)
	assert.Contains(t, out, story, "go %s tells the same story", rerun)

	// The README says what Expect: {"partition": "dup"} tells: the event
	// the deduplicator loses.
	require.Contains(t, string(readme), "With `Expect: map[string]string{\"partition\": \"dup\"}`, the test above\nrun with `-idemsim.scenario=partition`")
	expect := filepath.Join(dir, "dedup", "expect_test.go")
	require.NoError(t, os.WriteFile(expect, []byte(expectTest), 0o644))
	out, err = goRun(dir, "test", "./dedup", "-short", "-run", "^TestExpect$", "-idemsim.scenario=partition")
	require.Error(t, err, "%s", out)
	for _, step := range []string{
		"watermill-dedup is not exactly-once: it fails under partition",
		"is cut off from the database",
		"gives up waiting for the reply to its Apply",
		"its handler fails",
		"its handler returns skipped",
		"is lost",
	} {
		assert.Contains(t, out, step)
	}
}

// expectTest is the test of the README's Expect example.
const expectTest = `package dedup_test

import (
	"testing"

	"github.com/idemsim/idemsim/idemsimtest"

	"example.com/shop/dedup"
)

func TestExpect(t *testing.T) {
	idemsimtest.ExactlyOnce(t, dedup.Strategy, idemsimtest.Options{
		Expect: map[string]string{"partition": "dup"},
	})
}
`

// userModuleFiles returns the code blocks of the README that follow a
// marker <!-- user-module: path -->, by path.
func userModuleFiles(t *testing.T, readme string) map[string]string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- user-module: (\\S+) -->\n```go\n(.*?)```\n")
	files := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(readme, -1) {
		require.NotContains(t, files, m[1], "two README blocks for %s", m[1])
		files[m[1]] = m[2]
	}
	return files
}

// writeGoMod writes the go.mod of a user's module that requires idemsim,
// replaced by the checkout at root, and copies root's go.sum beside it.
func writeGoMod(t *testing.T, dir, root string) {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go \S+$`).FindIndex(mod)
	require.NotNil(t, goLine, "go.mod has no go line")
	// idemsim's own requirements, listed in the user's go.mod as well:
	// then the user's module graph is the one this repository's build
	// loaded, and works offline on the module cache that build filled. With
	// idemsim's requirement alone, the go command would have to read the
	// go.mod files of dependencies that predate module graph pruning
	// (svgo's), which a cold cache lacks.
	requires := strings.TrimSpace(string(mod[goLine[1]:]))
	gomod := "module example.com/shop\n\n" + string(mod[goLine[0]:goLine[1]]) + "\n\n" +
		"require github.com/idemsim/idemsim v0.0.0\n\n" + requires + "\n\n" +
		"replace github.com/idemsim/idemsim => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
}

// userEnv is the environment of the go commands in the user's module:
// this one's, offline (the module cache has every dependency: writeGoMod),
// with go.mod completed as needed and no workspace.
func userEnv() []string {
	env := append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	return env
}

// readmeBlock returns the lines of the fenced block between the README's
// markers <!-- name:start --> and <!-- name:end -->.
func readmeBlock(t *testing.T, readme, name string) []string {
	t.Helper()
	start := "<!-- " + name + ":start -->\n"
	block := strings.TrimPrefix(between(readme, start, "<!-- "+name+":end -->"), start)
	require.NotEmpty(t, block, "README has no %s block", name)
	block = strings.TrimPrefix(strings.TrimSpace(block), "```")
	block = strings.TrimSuffix(block, "```")
	return strings.Split(strings.Trim(block, "\n"), "\n")
}

// updateReadme replaces the fenced block between the README's markers
// <!-- name:start --> and <!-- name:end --> with out, without trailing
// spaces. It reads the README again, to change nothing else.
func updateReadme(t *testing.T, name, out string) {
	t.Helper()
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	require.NoError(t, err)
	start, end := "<!-- "+name+":start -->\n", "<!-- "+name+":end -->"
	old := between(string(readme), start, end)
	require.NotEmpty(t, old, "README has no %s block", name)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimRight(line, " \t")
	}
	block := start + "```\n" + strings.Join(lines, "\n") + "\n```\n"
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(readme), old, block, 1)), 0o644))
}

// durations matches the times go test prints, which differ from run to run.
var durations = regexp.MustCompile(`\d+\.\d+s\b`)

// assertShows asserts that out shows every line of want, in order, lines
// of "..." standing for any number of lines; trailing spaces and the times
// go test prints do not count.
func assertShows(t *testing.T, out string, want []string) {
	t.Helper()
	norm := func(s string) string { return durations.ReplaceAllString(strings.TrimRight(s, " \t"), "T") }
	got := strings.Split(out, "\n")
	i := 0
	for _, w := range want {
		if strings.TrimSpace(w) == "..." {
			continue
		}
		for i < len(got) && norm(got[i]) != norm(w) {
			i++
		}
		if !assert.Less(t, i, len(got), "the README shows a line that go test does not print (or not in this order):\n%s\n\ngo test printed:\n%s", w, out) {
			return
		}
		i++
	}
}

// between returns the text of s from the first from (included) to the next
// to (excluded), or "".
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// lineAfter returns the rest of the first line of out that contains
// prefix, after it.
func lineAfter(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, prefix); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no line with %q in:\n%s", prefix, out)
	return ""
}

// shellWords splits a command line as a shell would, for the quoting the
// rerun line uses: words separated by spaces, single quotes kept together.
func shellWords(line string) []string {
	var words []string
	var w bytes.Buffer
	quoted, inWord := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
