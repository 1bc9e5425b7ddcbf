package page_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/cli"
	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/explain/page"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testbrowser"
	"github.com/idemsim/idemsim/sim"
)

var update = flag.Bool("update", false, "rewrite results/story-page.png, the README's screenshot of the story page, instead of only taking it")

// screenshotFile is the README's screenshot of the story page, from the
// module's root.
const screenshotFile = "results/story-page.png"

// browserTimeout bounds everything one test does in the browser.
const browserTimeout = 60 * time.Second

// storyArgs are the flags of the story the tests open: local-cache's
// lesson.
var storyArgs = []string{"explain", "--strategy", "local-cache", "--faults", "redeliver"}

// writeStoryPage runs `idemsim explain` with args and --out into a new
// directory, and returns the page's path and its document, read back
// from the page.
func writeStoryPage(t *testing.T, args ...string) (string, *page.Doc) {
	t.Helper()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := cli.Main(append(args, "--out", dir), &out, &errb)
	require.Equal(t, 0, code, "idemsim %s: %s%s", strings.Join(args, " "), out.String(), errb.String())
	path := filepath.Join(dir, page.File)
	html, err := os.ReadFile(path)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)<script type="application/json" id="story-data">(.*?)</script>`).FindSubmatch(html)
	require.NotNil(t, m, "the page embeds its document")
	var d page.Doc
	require.NoError(t, json.Unmarshal(m[1], &d))
	require.NotEmpty(t, d.Steps)
	// The page is self-contained: nothing fetched from anywhere.
	assert.NotRegexp(t, `(?i)(src|href)="(https?:)?//`, string(html))
	return path, &d
}

// cell is one value the page shows of a state, by its key.
type cell struct{ key, value string }

// wantCells is what the page must show of state s, derived here from the
// document's facts: each instance's status, the delivery it handles and
// what its memory holds; where each message is; each event's count in the
// ledger. A value is matched as a prefix of the cell's text ("×2" of "×2
// (applied twice: a duplicate)"), its words being the page's.
func wantCells(s explain.Snapshot) []cell {
	var cs []cell
	for _, in := range s.Instances {
		k := fmt.Sprintf("i%d.", in.Inst)
		cs = append(cs, cell{k + "status", in.Status})
		switch {
		case in.Handling != nil:
			cs = append(cs, cell{k + "handling", fmt.Sprintf("m%d (event %d), since %s", in.Handling.Msg, in.Handling.Event, in.Handling.Since)})
		case in.Status == "up":
			cs = append(cs, cell{k + "handling", "idle"})
		}
		if s.Memories != "" && in.Status == "up" {
			ids := make([]string, len(in.Memory))
			for j, ev := range in.Memory {
				ids[j] = fmt.Sprint(ev)
			}
			cs = append(cs, cell{k + "memory", "{" + strings.Join(ids, ",") + "}"})
		}
	}
	for _, m := range s.Queue {
		words := map[string]string{
			"queued":        "in the queue",
			"delivered":     fmt.Sprintf("delivered to instance %d", m.Inst),
			"lost":          fmt.Sprintf("lost on its way to instance %d", m.Inst),
			"acked":         fmt.Sprintf("acked by instance %d", m.Inst),
			"dead-lettered": "dead-lettered",
		}[m.Where]
		cs = append(cs, cell{fmt.Sprintf("q.m%d.where", m.Msg), words}, cell{fmt.Sprintf("q.m%d.deliveries", m.Msg), fmt.Sprint(m.Deliveries)})
	}
	for _, r := range s.Ledger.Rows {
		cs = append(cs, cell{fmt.Sprintf("ledger.e%d", r.Event), fmt.Sprintf("×%d ", r.Count)})
	}
	return cs
}

// shown is what the page shows in one column: each cell's text and
// whether it is marked changed.
type shown struct {
	Value   string `json:"value"`
	Changed bool   `json:"changed"`
	Tagged  bool   `json:"tagged"`
}

// readColumn reads the cells of the column with the given id.
func readColumn(ctx context.Context, t *testing.T, col string) map[string]shown {
	t.Helper()
	js := fmt.Sprintf(`(() => { const out = {}; document.querySelectorAll('#%s [data-cell]').forEach(td => {
		out[td.dataset.cell] = {value: td.querySelector('.value').textContent, changed: td.classList.contains('changed'),
			tagged: !!td.querySelector('.tag') && td.querySelector('.tag').textContent === 'changed'}; }); return out; })()`, col)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]shown](js))
	require.NoError(t, err)
	return got
}

func currentStep(ctx context.Context, t *testing.T) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`+document.getElementById('app').dataset.step`))
	require.NoError(t, err)
	return n
}

// checkColumn holds a column of the page to the state want, and its
// "changed" marks to the cells whose value differs from before's.
func checkColumn(t *testing.T, got map[string]shown, want, before []cell, what string) {
	t.Helper()
	prev := map[string]string{}
	for _, c := range before {
		prev[c.key] = c.value
	}
	for _, c := range want {
		g, ok := got[c.key]
		if !assert.True(t, ok, "%s: the page shows no %s", what, c.key) {
			continue
		}
		assert.True(t, strings.HasPrefix(g.Value, c.value), "%s: %s shows %q, the facts say %q", what, c.key, g.Value, c.value)
		p, had := prev[c.key]
		changed := !had || p != c.value
		assert.Equal(t, changed, g.Changed, "%s: %s (%q, before %q) marked changed", what, c.key, g.Value, p)
		assert.Equal(t, g.Changed, g.Tagged, "%s: %s says \"changed\" in words where it is marked, not by colour alone", what, c.key)
	}
}

// TestStoryPage opens the story page of local-cache's lesson (`idemsim
// explain --strategy local-cache --faults redeliver --out DIR`) in one
// headless Chromium, and checks it in its subtests: steps, marks,
// screenshot. Without Chromium it skips (fails with CI set); with -update
// it rewrites results/story-page.png.
func TestStoryPage(t *testing.T) {
	if testing.Short() {
		// Starting Chromium takes most of the ~10 s this takes.
		t.Skip("the browser tests start Chromium: not in -short")
	}
	path, d := writeStoryPage(t, storyArgs...)
	ctx := testbrowser.New(t, browserTimeout)
	t.Run("steps", func(t *testing.T) { storyPageSteps(t, ctx, path, d) })
	t.Run("marks", func(t *testing.T) { storyPageMarks(t, ctx, path, d) })
	t.Run("cursor", func(t *testing.T) { storyPageCursor(t, ctx, path, d) })
	t.Run("fix beside", func(t *testing.T) { storyPageFixBeside(t, ctx, path, d) })
	t.Run("words", func(t *testing.T) { storyPageWords(t, ctx, path, d) })
	t.Run("all steps", func(t *testing.T) { storyPageAllSteps(t, ctx, path, d) })
	t.Run("screenshot", func(t *testing.T) { storyPageScreenshot(t, ctx, path, d) })
}

// storyPageSteps steps through the page with the keyboard, and holds
// what it shows at each step (each instance, the queue, the ledger, and
// the fix's column) to the facts of the document Go derived, which is the
// story Go tells.
func storyPageSteps(t *testing.T, ctx context.Context, path string, d *page.Doc) {
	// The document is the story of the run it names: told again from
	// its flags, it is the same, and its text is the command's.
	cfg := runConfig(t, d)
	s, err := explain.Tell(cfg)
	require.NoError(t, err)
	again, err := page.FromStory(s, explain.HistoryFile)
	require.NoError(t, err)
	a, _ := json.Marshal(again)
	b, _ := json.Marshal(d)
	require.JSONEq(t, string(a), string(b), "the page's document is the story's")
	require.NotNil(t, d.Fix, "local-cache's lesson has a fix")
	require.Equal(t, "db-unique", d.Fix.Strategy)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#steps"))))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	assert.Contains(t, title, "local-cache under redeliver")

	for k, st := range d.Steps {
		if k > 0 {
			require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowRight)))
		}
		require.Equal(t, st.N, currentStep(ctx, t), "ArrowRight moves one step")
		before := wantCells(d.Initial)
		if k > 0 {
			before = wantCells(d.Steps[k-1].State)
		}
		checkColumn(t, readColumn(ctx, t, "col-story"), wantCells(st.State), before, fmt.Sprintf("step %d", st.N))

		// The fix's column: the same run under db-unique at the same
		// moment.
		var fbefore []cell
		if k > 0 {
			fbefore = wantCells(d.Fix.States[k-1])
		}
		fix := readColumn(ctx, t, "col-fix")
		for _, c := range wantCells(d.Fix.States[k]) {
			g, ok := fix[c.key]
			if assert.True(t, ok, "step %d: the fix's column shows no %s", st.N, c.key) {
				assert.True(t, strings.HasPrefix(g.Value, c.value), "step %d, fix: %s shows %q, the facts say %q", st.N, c.key, g.Value, c.value)
			}
		}
		if k > 0 {
			checkColumn(t, fix, wantCells(d.Fix.States[k]), fbefore, fmt.Sprintf("step %d, fix", st.N))
		}

		// The step's text, and the text story's state line where it
		// prints one.
		text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#steps li[aria-current="step"] .text`)))
		require.NoError(t, err)
		assert.Equal(t, st.Text, text)
		if st.Line != "" {
			assert.Equal(t, st.State.Line(), st.Line, "step %d: the state line is the snapshot's", st.N)
		}
	}
	// Past the last step, ArrowRight stays; Home and ArrowLeft go back.
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowRight)))
	assert.Equal(t, len(d.Steps), currentStep(ctx, t))
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Home)))
	assert.Equal(t, 1, currentStep(ctx, t))
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.End), chromedp.KeyEvent(kb.ArrowLeft)))
	assert.Equal(t, len(d.Steps)-1, currentStep(ctx, t))

	// At the last step the fix applied the event once, the story twice.
	last := readColumn(ctx, t, "col-fix")
	assert.True(t, strings.HasPrefix(last[fmt.Sprintf("ledger.e%d", d.Event)].Value, "×1 "), "the fix applies event %d once: %+v", d.Event, last)
	fixHead, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#col-fix h3`)))
	require.NoError(t, err)
	assert.Contains(t, fixHead, "db-unique")

	// porcupine's page is linked, and there.
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('history-link').getAttribute('href')`))
	require.NoError(t, err)
	assert.Equal(t, explain.HistoryFile, href)
	assert.FileExists(t, filepath.Join(filepath.Dir(path), href))
}

// storyPageMarks clicks every mark of the page's timeline and checks
// that it shows the mark's step, and that a mark works from the keyboard
// too (focused, Enter).
func storyPageMarks(t *testing.T, ctx context.Context, path string, d *page.Doc) {
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#timeline"))))
	require.NotEmpty(t, d.Timeline.Marks)
	told := map[int]bool{}
	for k, m := range d.Timeline.Marks {
		// Start elsewhere, so that the click has to move.
		other := 1
		if m.Step == 1 {
			other = len(d.Steps)
		}
		_, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`storyPage.go(%d)`, other)))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#timeline [data-mark="%d"]`, k)))))
		assert.Equal(t, m.Step, currentStep(ctx, t), "mark %d (%s at %s) jumps to its step", k, m.Kind, m.At)
		if m.Told {
			for _, n := range m.Steps {
				told[n] = true
			}
			cur, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector('#timeline [data-mark="%d"]').classList.contains('current')`, k)))
			require.NoError(t, err)
			assert.True(t, cur, "mark %d is marked as the current step's", k)
		}
	}
	// Every step the timeline draws has a mark that tells it.
	for k, sp := range d.Timeline.Steps {
		if sp.Lane >= 0 {
			assert.True(t, told[k+1], "step %d has a mark on the timeline", k+1)
		}
	}
	// No two kinds of mark differ by colour alone: with the colours
	// taken out, the legend's icons all differ.
	icons, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('.legend li svg')).map(s => s.innerHTML.replace(/#[0-9a-f]{6}/g, ''))`))
	require.NoError(t, err)
	require.Len(t, icons, len(d.Timeline.Legend))
	seen := map[string]string{}
	for k, icon := range icons {
		assert.Empty(t, seen[icon], "%q looks like %q but for its colour", d.Timeline.Legend[k].Kind, seen[icon])
		seen[icon] = d.Timeline.Legend[k].Kind
	}

	// From the keyboard: focus a mark, press Enter.
	m := d.Timeline.Marks[len(d.Timeline.Marks)-1]
	_, err = chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`storyPage.go(%d); document.querySelector('#timeline [data-mark="%d"]').focus()`, max(1, m.Step%len(d.Steps)+1), len(d.Timeline.Marks)-1)))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)))
	assert.Equal(t, m.Step, currentStep(ctx, t), "Enter on a focused mark jumps to its step")
}

// storyPageScreenshot takes the README's screenshot of the story page at
// the step where the event's effect lands a second time, and with -update
// writes it to results/story-page.png.
func storyPageScreenshot(t *testing.T, ctx context.Context, path string, d *page.Doc) {
	at := len(d.Steps)
	for _, st := range d.Steps {
		if dupAt(st.State, d.Event) {
			at = st.N
			break
		}
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#timeline"))))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`storyPage.go(%d); document.activeElement && document.activeElement.blur()`, at)))
	require.NoError(t, err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err, "a PNG")
	assert.GreaterOrEqual(t, img.Bounds().Dx(), 1000)
	if *update {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", screenshotFile), shot, 0o644))
		t.Logf("wrote %s (step %d of %d)", screenshotFile, at, len(d.Steps))
	}
}

// dupAt reports whether state s has event ev applied more than once.
func dupAt(s explain.Snapshot, ev uint32) bool {
	for _, r := range s.Ledger.Rows {
		if r.Event == ev && r.Count > 1 {
			return true
		}
	}
	return false
}

// runConfig is the run a document names, from its flags.
func runConfig(t *testing.T, d *page.Doc) sim.Config {
	t.Helper()
	fs, err := faults.Parse(d.Run.Faults)
	require.NoError(t, err)
	return sim.Config{Strategy: d.Run.Strategy, Faults: fs, Seed: d.Run.Seed, Instances: d.Run.Instances, Events: d.Run.Events, BrokerModel: d.Run.Broker}
}

// storyPageCursor goes to each step and holds the timeline's cursor to
// the step: the marks marked current are at the step's own time ("3.
// 11.556 ms commits" once pointed at the 12.222 ms mark of step 4), and
// the cursor's line stands on them.
func storyPageCursor(t *testing.T, ctx context.Context, path string, d *page.Doc) {
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#timeline"))))
	type cur struct {
		Marks   []int     `json:"marks"`
		MarkX   []float64 `json:"mark_x"`
		CursorX float64   `json:"cursor_x"`
	}
	for _, st := range d.Steps {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[cur](fmt.Sprintf(`(() => { storyPage.go(%d);
			const ms = Array.from(document.querySelectorAll('#timeline .mark.current'));
			return { marks: ms.map(g => +g.dataset.mark), mark_x: ms.map(g => +g.querySelector('.halo').getAttribute('cx')),
				cursor_x: +document.querySelector('#timeline .cursorline').getAttribute('x1') }; })()`, st.N)))
		require.NoError(t, err)
		if !assert.NotEmpty(t, got.Marks, "step %d (%s): a mark is current", st.N, st.At) {
			continue
		}
		for k, idx := range got.Marks {
			m := d.Timeline.Marks[idx]
			assert.Equal(t, st.At, m.At, "step %d (%s %s): the cursor's mark (%s) is at the step's time", st.N, st.Actor, st.Text, m.Kind)
			assert.InDelta(t, got.CursorX, got.MarkX[k], 0.01, "step %d: the cursor stands on its mark", st.N)
		}
	}
}

// storyPageFixBeside holds the fix's column to the story's for the steps
// before the two runs differ: the same moment of the same run shows the
// same instances, broker and ledger on both sides, and the page says
// the runs are the same there.
func storyPageFixBeside(t *testing.T, ctx context.Context, path string, d *page.Doc) {
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#steps"))))
	require.NotNil(t, d.Fix)
	require.Len(t, d.Fix.Same, len(d.Steps))
	same := 0
	shared := regexp.MustCompile(`^(i\d+\.(status|handling)|q\.|p\d+\.|ledger\.)`)
	for k, st := range d.Steps {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`storyPage.go(%d)`, st.N)))
		require.NoError(t, err)
		says, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('fix-same').dataset.same`))
		require.NoError(t, err)
		if !d.Fix.Same[k] {
			assert.Equal(t, "0", says, "step %d: the page says the runs differ", st.N)
			continue
		}
		same++
		assert.Equal(t, "1", says, "step %d: the page says the runs are the same", st.N)
		mine, fix := readColumn(ctx, t, "col-story"), readColumn(ctx, t, "col-fix")
		compared := 0
		for key, v := range mine {
			if !shared.MatchString(key) {
				continue
			}
			compared++
			if f, ok := fix[key]; assert.True(t, ok, "step %d: the fix's column shows %s", st.N, key) {
				assert.Equal(t, v.Value, f.Value, "step %d (%s, at the same moment of the same run): %s", st.N, st.At, key)
			}
		}
		assert.Positive(t, compared, "step %d: cells compared", st.N)
	}
	assert.GreaterOrEqual(t, same, 2, "local-cache's lesson and its fix are the same run for its first steps")
}

// storyPageWords holds the words a newcomer needs: at the top, that the
// copy came from the producer and nothing was redelivered (the scenario
// is named redeliver); a box of terms; and the document's facts behind
// them.
func storyPageWords(t *testing.T, ctx context.Context, path string, d *page.Doc) {
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#steps"))))
	require.NotEmpty(t, d.Copies, "the lesson's copies came from the producer")
	copies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('header #copies').textContent`))
	require.NoError(t, err)
	assert.Contains(t, copies, "Nothing was redelivered")
	assert.Contains(t, copies, "published it twice, as m1 and m2")
	// Every message of the event was delivered once: the words are true.
	for _, st := range d.Steps[len(d.Steps)-1:] {
		for _, m := range st.State.Queue {
			assert.Equal(t, 1, m.Deliveries, "m%d was delivered once", m.Msg)
		}
	}
	terms, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('header #terms dt')).map(e => e.textContent)`))
	require.NoError(t, err)
	var words []string
	for _, tm := range page.Terms {
		words = append(words, tm.Word)
	}
	assert.Equal(t, words, terms, "the terms box lists page.Terms")
	for _, w := range []string{"instance", "handler", "ack", "effect", "ledger", "processed-ids table / marks / cache", "trace hash", "linearizable / porcupine"} {
		assert.Contains(t, terms, w)
	}
}

// storyPageAllSteps holds the "Show all steps" button to what it says: at
// step 1 it lists every step while the panels stay at step 1; at the last
// step, where every step is listed already, it is disabled and says why.
func storyPageAllSteps(t *testing.T, ctx context.Context, path string, d *page.Doc) {
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#steps"))))
	type state struct {
		Listed   int    `json:"listed"`
		Step     int    `json:"step"`
		Disabled bool   `json:"disabled"`
		Title    string `json:"title"`
	}
	read := func(js string) state {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[state](`(() => { `+js+`;
			const b = document.querySelector('button[data-key="all"]');
			return {listed: Array.from(document.querySelectorAll('#steps li')).filter(li => !li.hidden).length,
				step: +document.getElementById('app').dataset.step, disabled: b.disabled, title: b.title}; })()`))
		require.NoError(t, err)
		return got
	}
	first := read(`storyPage.go(1)`)
	assert.Equal(t, state{Listed: 1, Step: 1, Title: first.Title}, first, "step 1 lists one step")
	assert.False(t, first.Disabled)
	shown := read(`document.querySelector('button[data-key="all"]').click()`)
	assert.Equal(t, len(d.Steps), shown.Listed, "the button lists every step")
	assert.Equal(t, 1, shown.Step, "the panels stay at step 1")
	back := read(`document.querySelector('button[data-key="all"]').click(); storyPage.go(` + strconv.Itoa(len(d.Steps)) + `)`)
	assert.True(t, back.Disabled, "at the last step every step is listed already")
	assert.Contains(t, back.Title, "listed already")
}
