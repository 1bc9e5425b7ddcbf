// Package testbrowser starts a headless Chromium for tests, driven from
// Go with chromedp: a test opens a page (a file:// URL works), presses
// keys, clicks and reads the DOM, as a reader would.
//
// It looks for Debian's chromium (scripts/test installs it where it can,
// as it does the servers); without one, New skips the test, or fails it
// when the CI environment variable is set, so that CI never passes
// without having run the browser tests. Each browser is the test's own
// (a fresh profile in the test's temporary directory) and is closed when
// the test ends.
package testbrowser
