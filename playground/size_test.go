package playground_test

import (
	"bytes"
	"os"
	"path/filepath"
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
