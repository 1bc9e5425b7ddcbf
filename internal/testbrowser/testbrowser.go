package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startTimeout bounds the browser's start.
const startTimeout = 30 * time.Second

// names are the executables tried, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Path returns the Chromium executable to run, "" if none is installed;
// IDEMSIM_CHROMIUM, when set, names it.
func Path() string {
	if p := os.Getenv("IDEMSIM_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless Chromium for tb and returns the context of its
// first tab, which ends after timeout (every action a test takes has a
// deadline), and the browser with the test. Without Chromium it skips tb,
// or fails it when CI is set.
func New(tb testing.TB, timeout time.Duration) context.Context {
	tb.Helper()
	path := Path()
	if path == "" {
		msg := "testbrowser: no Chromium installed (Debian: apt-get install chromium; scripts/test installs it as root)"
		if os.Getenv("CI") == "" {
			tb.Skip(msg + " (skipping; with CI set this fails)")
		}
		tb.Fatal(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 1000),
		// Root in a container has no user namespace to sandbox with.
		chromedp.NoSandbox,
		chromedp.Flag("allow-file-access-from-files", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The browser lives as long as the context of the first call: start
	// it on the tab's own context, and give up on it after startTimeout.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			tb.Fatalf("testbrowser: starting %s: %v", path, err)
		}
	case <-time.After(startTimeout):
		cancelTab()
		tb.Fatalf("testbrowser: %s did not start within %v", path, startTimeout)
	}
	tctx, cancelTime := context.WithTimeout(ctx, timeout)
	tb.Cleanup(cancelTime)
	return tctx
}
