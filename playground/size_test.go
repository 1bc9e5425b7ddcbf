package playground_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/cli"
)

// maxSiteSize is the most the site may weigh, WebAssembly included.
const maxSiteSize = 10_000_000

// TestSiteSize writes the whole site from the committed results (every
// broken cell's story, the plots, the WebAssembly built from this module)
// and holds it under maxSiteSize.
func TestSiteSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the WebAssembly and tells every broken cell's story: not in -short")
	}
	src, err := filepath.Abs("..")
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "site")
	var stdout, stderr bytes.Buffer
	code := cli.Main([]string{"site", "--out", out, "--results", filepath.Join(src, "results"), "--src", src}, &stdout, &stderr)
	require.Equal(t, 0, code, "idemsim site: %s%s", stdout.String(), stderr.String())
	t.Log(stderr.String())
	var size int64
	require.NoError(t, filepath.Walk(out, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			size += info.Size()
		}
		return err
	}))
	t.Logf("the site: %d bytes", size)
	assert.Less(t, size, int64(maxSiteSize), "the site, WebAssembly included, stays under 10 MB")
}

// TestWasmLinksNoPlotting holds the playground's WebAssembly clear of
// gonum/plot and its fonts, megabytes the page never uses: it draws the
// timeline itself, and explain's PNG and SVG drawing (explain/draw.go) is
// left out of the js/wasm build.
func TestWasmLinksNoPlotting(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH to list the WebAssembly's packages")
	}
	cmd := exec.Command(goTool, "list", "-deps", "../cmd/idemsim-wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/idemsim/idemsim/explain", "the list is the WebAssembly's, with the story")
	for _, dep := range deps {
		assert.False(t, strings.HasPrefix(dep, "gonum.org/"), "the WebAssembly links %s", dep)
	}
}
