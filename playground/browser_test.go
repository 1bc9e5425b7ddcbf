package playground_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/cli"
	"github.com/idemsim/idemsim/explain/page"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testbrowser"
	"github.com/idemsim/idemsim/playground"
	"github.com/idemsim/idemsim/strategies"
)

var update = flag.Bool("update", false, "rewrite results/playground.png, the README's screenshot of the playground, instead of only taking it")

// screenshotFile is the README's screenshot of the playground, from the
// module's root.
const screenshotFile = "results/playground.png"

// lessonQuery is a link's run of local-cache's lesson, which holds
// (seed 1); brokenQuery the same run on seed 2, which breaks.
const (
	lessonQuery = "strategy=local-cache&faults=redeliver&seed=1&instances=2&events=1"
	brokenQuery = "strategy=local-cache&faults=redeliver&seed=2&instances=2&events=1"
)

// writeSite runs `idemsim site` into a new directory, from a few cells of
// the committed outcome table (so that it tells few stories), building the
// WebAssembly from this module, and returns the directory.
func writeSite(t *testing.T) string {
	t.Helper()
	results := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "results", "compare.json"))
	require.NoError(t, err)
	var cmp map[string]any
	require.NoError(t, json.Unmarshal(b, &cmp))
	var keep []any
	for _, c := range cmp["results"].([]any) {
		m := c.(map[string]any)
		if slices.Contains([]string{"local-cache", "redis", "db-unique"}, m["strategy"].(string)) &&
			slices.Contains([]string{"redeliver", "crash"}, m["scenario"].(string)) {
			keep = append(keep, c)
		}
	}
	require.Len(t, keep, 6)
	cmp["results"] = keep
	b, err = json.MarshalIndent(cmp, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(results, "compare.json"), b, 0o644))
	svg, err := os.ReadFile(filepath.Join("..", "results", "violations.svg"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(results, "violations.svg"), svg, 0o644))

	out := filepath.Join(t.TempDir(), "site")
	src, err := filepath.Abs("..")
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := cli.Main([]string{"site", "--out", out, "--results", results, "--src", src}, &stdout, &stderr)
	require.Equal(t, 0, code, "idemsim site: %s%s", stdout.String(), stderr.String())
	t.Logf("idemsim site took %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	return out
}

// cliHash is the trace hash `idemsim run ... --json` prints for query's flags.
func cliHash(t *testing.T, query string) (hash string, exactlyOnce string) {
	t.Helper()
	f := mustParse(t, query)
	m := cliRun(t, f)
	exactlyOnce = "held"
	if m["duplicates"].(float64)+m["lost"].(float64)+m["stuck"].(float64) > 0 {
		exactlyOnce = "VIOLATED"
	}
	return m["trace_hash"].(string), exactlyOnce
}

// waitOutcome waits until the page has shown a run's outcome (or an
// error), and returns its trace hash and verdict as the page shows them.
func waitOutcome(t *testing.T, ctx context.Context) (hash, verdict string) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Poll[string](`(window.playgroundLast && document.getElementById('pg-hash').textContent) ||
		(document.querySelector('#pg-status.pg-error') && 'ERROR: ' + document.getElementById('pg-status').textContent)`,
		chromedp.WithPollingTimeout(2*time.Minute)))
	require.NoError(t, err)
	require.NotContains(t, got, "ERROR", "the page shows an error")
	verdict, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#pg-verdict")))
	require.NoError(t, err)
	return got, verdict
}

// TestPlayground writes the site, serves it over http, and opens the
// playground in headless Chromium: a replay link runs at once and shows
// the command line's verdict and trace hash; the form runs other
// strategies and seeds from the keyboard; a failure shrinks; and it
// measures (and logs, not asserts) the time of one 3-instance, 200-event
// run and of a 200-seed sweep in the browser. With -update it rewrites
// results/playground.png.
func TestPlayground(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the WebAssembly and starts Chromium: not in -short")
	}
	ctx := testbrowser.New(t, 8*time.Minute)
	site := writeSite(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(site)))
	t.Cleanup(srv.Close)

	size := int64(0)
	require.NoError(t, filepath.Walk(site, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			size += info.Size()
		}
		return err
	}))
	t.Logf("site size (6 cells' stories): %.2f MB", float64(size)/1e6)

	t.Run("index", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/index.html"), chromedp.WaitVisible(chromedp.CSS("table"))))
		hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('td a')).map(a => a.getAttribute('href'))`))
		require.NoError(t, err)
		// local-cache breaks under both, redis under crash; db-unique
		// holds: its cells link nothing.
		sort.Strings(hrefs)
		assert.Equal(t, []string{"stories/queue-local-cache-crash.html", "stories/queue-local-cache-redeliver.html", "stories/queue-redis-crash.html"}, hrefs)
		// The legend defines every kind of cell, ghost and dead too, and
		// a box defines the pages' terms.
		intro, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		require.NoError(t, err)
		for _, w := range []string{"dup:", "lost:", "stuck:", "ghost:", "dead is not a violation"} {
			assert.Contains(t, strings.ReplaceAll(intro, "\n", " "), w)
		}
		terms, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#terms dt')).map(e => e.textContent)`))
		require.NoError(t, err)
		var words []string
		for _, tm := range page.Terms {
			words = append(words, tm.Word)
		}
		assert.Equal(t, words, terms, "the index's terms box lists page.Terms, as the story pages do")
		for _, w := range []string{"instance", "handler", "ack", "effect", "ledger", "processed-ids table / marks / cache", "trace hash", "linearizable / porcupine"} {
			assert.Contains(t, terms, w)
		}
		// A broken cell opens its story page, which draws its steps.
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="stories/queue-local-cache-redeliver.html"]`)), chromedp.WaitVisible(chromedp.CSS("#steps"))))
		title, err := chromedp.Run(ctx, chromedp.Title())
		require.NoError(t, err)
		assert.Contains(t, title, "local-cache under redeliver")
		// Its replay link opens it in the playground, where it runs with
		// the story's own trace hash.
		want, err := chromedp.Run(ctx, chromedp.Evaluate[string](`storyPage.doc.trace_hash`))
		require.NoError(t, err)
		replay, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('nav a[href^="../playground.html?"]').href`))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(replay)))
		hash, verdict := waitOutcome(t, ctx)
		assert.Equal(t, want, hash)
		assert.Contains(t, verdict, "VIOLATED")
	})

	t.Run("replay link", func(t *testing.T) {
		start := time.Now()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/playground.html?"+lessonQuery)))
		hash, verdict := waitOutcome(t, ctx)
		t.Logf("opening the replay link, loading the simulator and running took %v", time.Since(start).Round(time.Millisecond))
		want, wantVerdict := cliHash(t, lessonQuery)
		assert.Equal(t, want, hash)
		assert.Equal(t, "exactly-once "+wantVerdict, verdict)
		assert.Equal(t, "held", wantVerdict, "seed 1 of this small run holds")

		// Seed 2 breaks: a duplicate.
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/playground.html?"+brokenQuery)))
		hash, verdict = waitOutcome(t, ctx)
		want, wantVerdict = cliHash(t, brokenQuery)
		assert.Equal(t, want, hash)
		assert.Equal(t, "VIOLATED", wantVerdict)
		assert.Equal(t, "exactly-once VIOLATED (dup)", verdict)
		reproduce, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#pg-reproduce")))
		require.NoError(t, err)
		assert.Equal(t, "idemsim run --strategy local-cache --faults redeliver --seed 2 --instances 2 --events 1 --broker queue", reproduce)
		link, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#pg-link")))
		require.NoError(t, err)
		assert.Equal(t, "playground.html?"+brokenQuery+"&broker=queue", link)
		// The story is drawn: its steps, moved with the arrow keys.
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#pg-story #steps"))))
		step := func() int {
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`+document.getElementById('pg-story').dataset.step`))
			require.NoError(t, err)
			return n
		}
		before := step()
		require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), chromedp.KeyEvent(kb.ArrowRight)))
		assert.Equal(t, before+1, step(), "ArrowRight moves the story one step")
	})

	t.Run("strategies and seeds", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/playground.html")))
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!window.idemsim && !document.getElementById('pg-run').disabled`, chromedp.WithPollingTimeout(2*time.Minute)))
		require.NoError(t, err)
		broken := 0
		for _, st := range []string{"local-cache", "redis", "db-unique", "db-unique-split"} {
			for seed := 1; seed <= 5; seed++ {
				q := fmt.Sprintf("strategy=%s&faults=crash&seed=%d&instances=3&events=60", st, seed)
				got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`JSON.parse(idemsim.run(`+jsString(q)+`))`))
				require.NoError(t, err)
				want, wantVerdict := cliHash(t, q)
				assert.Equal(t, want, got["trace_hash"], q)
				assert.Equal(t, wantVerdict, got["exactly_once"], q)
				if wantVerdict == "VIOLATED" {
					broken++
				}
			}
		}
		assert.Positive(t, broken, "at least one run breaks")

		// The form, with the keyboard alone: a seed typed, Enter runs it,
		// and the URL becomes the run's replay link.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`window.playgroundLast = null`),
			chromedp.Focus(chromedp.CSS("#pg-seed")),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('pg-seed').select()`),
			chromedp.KeyEvent("7"),
			chromedp.KeyEvent(kb.Enter)))
		hash, _ := waitOutcome(t, ctx)
		q := "strategy=local-cache&faults=redeliver&seed=7&instances=3&events=200&broker=queue"
		want, _ := cliHash(t, q)
		assert.Equal(t, want, hash)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		assert.True(t, strings.HasSuffix(loc, "/playground.html?"+q), loc)

		// db-unique on the same seed holds.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`window.playgroundLast = null`),
			chromedp.SetValue(chromedp.CSS("#pg-strategy"), "db-unique"),
			chromedp.Click(chromedp.CSS("#pg-run"))))
		hash, verdict := waitOutcome(t, ctx)
		want, _ = cliHash(t, strings.Replace(q, "local-cache", "db-unique", 1))
		assert.Equal(t, want, hash)
		assert.Equal(t, "exactly-once held", verdict)
	})

	t.Run("form says what it does", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/playground.html?"+brokenQuery)))
		waitOutcome(t, ctx)
		text := func(js string) string {
			t.Helper()
			s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
			require.NoError(t, err)
			return s
		}
		// One duplicate, in the singular.
		assert.True(t, strings.HasPrefix(text(`document.getElementById('pg-counts').textContent`), "1 duplicate, "), text(`document.getElementById('pg-counts').textContent`))
		// Each fault says what it does, in words and as its title.
		for _, f := range faults.All() {
			id := "pg-fault-" + f.String()
			assert.Equal(t, ": "+f.Summary(), text(`document.getElementById('`+id+`-what').textContent`), f.String())
			assert.Contains(t, text(`document.getElementById('`+id+`').parentElement.title`), f.Summary())
		}
		// The legend names the faults checked now, not "none checked".
		assert.Equal(t, "redeliver", text(`document.getElementById('pg-faults-now').textContent`))
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#pg-fault-redeliver"))))
		assert.Contains(t, text(`document.getElementById('pg-faults-now').textContent`), "none checked")
		// Changed, the form no longer names the run on screen: it says so.
		assert.Equal(t, "This result is for the run before your change (local-cache under redeliver, seed 2); press Run to run what the form says now.",
			text(`document.getElementById('pg-stale').hidden ? '' : document.getElementById('pg-stale').textContent`))
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#pg-fault-redeliver"))))
		assert.Empty(t, text(`document.getElementById('pg-stale').hidden ? '' : 'shown'`), "back to the run shown: not stale")
		require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('pg-strategy'); s.value = 'db-unique'; s.dispatchEvent(new Event('change', { bubbles: true })); })()`)))
		assert.Equal(t, "shown", text(`document.getElementById('pg-stale').hidden ? '' : 'shown'`), "a strategy switched: the old verdict is marked stale")
		assert.Equal(t, "true", text(`String(document.getElementById('pg-result').classList.contains('pg-stale') && document.getElementById('pg-story').classList.contains('pg-stale'))`))
		// Run again: the new verdict, not stale.
		require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.playgroundLast = null`), chromedp.Click(chromedp.CSS("#pg-run"))))
		_, verdict := waitOutcome(t, ctx)
		assert.Equal(t, "exactly-once held", verdict)
		assert.Empty(t, text(`document.getElementById('pg-stale').hidden ? '' : 'shown'`))
		// The log's own strategies are named on the queue, and listed
		// once the log is chosen.
		var logOnly []string
		for _, st := range strategies.All() {
			if !st.RunsOn("queue") {
				logOnly = append(logOnly, st.Name)
			}
		}
		require.NotEmpty(t, logOnly)
		note := text(`document.getElementById('pg-strategy-note').textContent`)
		for _, name := range logOnly {
			assert.Contains(t, note, name+" (log)")
		}
		require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const b = document.getElementById('pg-broker'); b.value = 'log'; b.dispatchEvent(new Event('change', { bubbles: true })); })()`)))
		opts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.getElementById('pg-strategy').options).map(o => o.value)`))
		require.NoError(t, err)
		for _, name := range logOnly {
			assert.Contains(t, opts, name)
		}
	})

	t.Run("shrink", func(t *testing.T) {
		q := "strategy=local-cache&faults=redeliver&seed=3&instances=3&events=30"
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/playground.html?"+q)))
		waitOutcome(t, ctx)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`window.playgroundLast = null`),
			chromedp.Click(chromedp.CSS("#pg-shrink"))))
		hash, verdict := waitOutcome(t, ctx)
		assert.Contains(t, verdict, "VIOLATED")
		shrunk, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#pg-shrunk")))
		require.NoError(t, err)
		assert.Contains(t, shrunk, "shrunk to")
		link, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#pg-link")))
		require.NoError(t, err)
		want, _ := cliHash(t, strings.TrimPrefix(link, "playground.html?"))
		assert.Equal(t, want, hash, "the shrunk run's hash is the command line's for its link's flags")
		native, err := playground.Shrink(mustParse(t, q))
		require.NoError(t, err)
		assert.Equal(t, native.Link, link, "the browser shrinks as Go does natively")
	})

	t.Run("speed", func(t *testing.T) {
		// One 3-instance, 200-event run: on a fresh page, the first run
		// (nothing warm: porcupine's memo of history shapes is empty), then
		// nine runs of other seeds, and their median; then with the story.
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/playground.html")))
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!window.idemsim && !document.getElementById('pg-run').disabled`, chromedp.WithPollingTimeout(2*time.Minute)))
		require.NoError(t, err)
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
			const q = (seed) => "strategy=local-cache&faults=redeliver&instances=3&events=200&seed=" + seed;
			const time = (qq) => { const t0 = performance.now(); const o = JSON.parse(idemsim.run(qq)); if (o.error) throw new Error(o.error); return performance.now() - t0; };
			const first = time(q(1));
			const runs = [], stories = [];
			for (let s = 2; s <= 10; s++) runs.push(time(q(s)));
			for (let s = 11; s <= 15; s++) stories.push(time(q(s) + "&story=1"));
			runs.sort((a, b) => a - b); stories.sort((a, b) => a - b);
			return [first, runs[4], runs[0], runs[8], stories[2]];
		})()`))
		require.NoError(t, err)
		t.Logf("one 3-instance, 200-event run of local-cache under redeliver in the browser: the first %.1f ms; seeds 2..10: median %.1f ms (min %.1f, max %.1f); with the story's document, median of seeds 11..15 %.1f ms (target: < 50 ms for the run)", ms[0], ms[1], ms[2], ms[3], ms[4])

		// A 200-seed sweep of one strategy (one cell of compare).
		res, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(async () => {
			const t0 = performance.now();
			const cell = JSON.parse(await idemsim.sweep("strategy=local-cache&faults=slow&seed=1&instances=3&events=200&seeds=200"));
			return { ms: performance.now() - t0, cell: cell };
		})()`, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		cell := res["cell"].(map[string]any)
		require.Empty(t, cell["error"])
		t.Logf("a 200-seed sweep of local-cache under slow in the browser: %.2f s (target: < 10 s); %v of %v seeds fail", res["ms"].(float64)/1000, cell["violating_runs"], cell["runs"])
		native, err := playground.Sweep(mustParse(t, "strategy=local-cache&faults=slow&seed=1"), 200, nil)
		require.NoError(t, err)
		assert.Equal(t, float64(native.ViolatingRuns), cell["violating_runs"], "the browser's sweep is Go's")
	})

	t.Run("screenshot", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(srv.URL+"/playground.html?"+brokenQuery)))
		waitOutcome(t, ctx)
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#pg-story #steps")),
			chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`)))
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err, "a PNG")
		assert.GreaterOrEqual(t, img.Bounds().Dx(), 1000)
		if *update {
			require.NoError(t, os.WriteFile(filepath.Join("..", screenshotFile), shot, 0o644))
			t.Logf("wrote %s", screenshotFile)
		}
	})
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
