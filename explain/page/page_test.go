package page_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/explain/page"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// pageCases are runs of several kinds, each told as a page: a memory of
// the instances' own, Redis marks, key-value keys, the processed-ids
// table, and the partitioned log.
var pageCases = []struct {
	strategy, faults, broker string
}{
	{"local-cache", "redeliver", ""},
	{"redis", "crash", ""},
	{"redis-lease", "crash", ""},
	{"none", "crash", ""},
	{"local-cache", "crash", "log"},
}

// TestDocIsTheStory builds the page's document of each case's story and
// holds it to the story: each step's state line is its snapshot's line,
// each snapshot has every instance and the queue or the partitions, every
// mark belongs to a step that exists, the fix has a state for each step,
// and the page embeds the document and fetches nothing.
func TestDocIsTheStory(t *testing.T) {
	for _, c := range pageCases {
		t.Run(c.strategy+"/"+c.faults+"/"+c.broker, func(t *testing.T) {
			fs, err := faults.Parse(c.faults)
			require.NoError(t, err)
			cfg, ok, err := explain.SearchWith(c.strategy, fs, 2, 50, explain.SearchOptions{BrokerModel: c.broker})
			require.NoError(t, err)
			if !ok {
				t.Skipf("no violation in 50 seeds")
			}
			cfg.Events = min(cfg.Events, 20) // a small story is enough
			s, err := explain.Tell(cfg)
			require.NoError(t, err)
			d, err := page.FromStory(s, explain.HistoryFile)
			require.NoError(t, err)
			require.Len(t, d.Steps, len(s.Steps))
			var text strings.Builder
			_, err = s.WriteTo(&text)
			require.NoError(t, err)
			assert.Equal(t, text.String(), d.Text)
			for k, st := range d.Steps {
				assert.Equal(t, s.Steps[k].State, st.Line)
				if st.Line != "" {
					assert.Equal(t, st.Line, st.State.Line(), "step %d: the state line is the snapshot's", st.N)
				}
				// The actor heads the text: "instance 0 its handler
				// returns applied" would read wrong.
				assert.False(t, strings.HasPrefix(st.Text, "its "), "step %d: %s %s", st.N, st.Actor, st.Text)
				assert.Len(t, st.State.Instances, cfg.Instances)
				if c.broker == "log" {
					assert.NotEmpty(t, st.State.Partitions, "step %d: the log's partitions", st.N)
					assert.Nil(t, st.State.Queue)
				} else {
					assert.NotNil(t, st.State.Queue, "step %d: the queue", st.N)
				}
			}
			holdToTrace(t, s, d)
			require.NotNil(t, d.Timeline)
			assert.Len(t, d.Timeline.Steps, len(d.Steps))
			for _, m := range d.Timeline.Marks {
				assert.True(t, m.Step >= 1 && m.Step <= len(d.Steps), "mark %+v belongs to a step", m)
				assert.True(t, m.Pos >= 0 && m.Pos <= 1, "mark %+v is on the axis", m)
				if m.Told {
					assert.Equal(t, m.Step, m.Steps[0])
				}
			}
			if d.Fix != nil {
				assert.Len(t, d.Fix.States, len(d.Steps))
				assert.Len(t, d.Fix.Through, len(d.Steps))
				fixBesideTheStory(t, d)
			}

			var buf bytes.Buffer
			require.NoError(t, page.Write(&buf, d))
			html := buf.String()
			assert.NotRegexp(t, `(?i)(src|href)="(https?:)?//`, html, "the page fetches nothing")
			m := regexp.MustCompile(`(?s)<script type="application/json" id="story-data">(.*?)</script>`).FindStringSubmatch(html)
			require.NotNil(t, m)
			var back page.Doc
			require.NoError(t, json.Unmarshal([]byte(m[1]), &back))
			a, _ := json.Marshal(d)
			b, _ := json.Marshal(&back)
			assert.JSONEq(t, string(a), string(b), "the page embeds the document whole")
		})
	}
}

// TestEveryStrategysPageHoldsToItsTrace builds the page's document of each
// strategy's first failing scenario on each broker (shrunk by events
// only, to keep it quick) and holds its states to the trace
// (holdToTrace) and its state lines to the story's.
func TestEveryStrategysPageHoldsToItsTrace(t *testing.T) {
	for _, broker := range run.BrokerNames {
		for _, st := range strategies.On(broker) {
			scs := explain.ScenariosOn(st.Name, broker)
			if len(scs) == 0 {
				continue
			}
			t.Run(broker+"/"+st.Name, func(t *testing.T) {
				cfg, ok, err := explain.SearchWith(st.Name, scs[0], 2, 30, explain.SearchOptions{BrokerModel: broker})
				require.NoError(t, err)
				if !ok {
					t.Skipf("no violation under %s in 30 seeds", scs[0])
				}
				cfg.Events = min(cfg.Events, 30)
				s, err := explain.Tell(cfg)
				require.NoError(t, err)
				d, err := page.FromStory(s, "")
				require.NoError(t, err)
				for k, step := range d.Steps {
					assert.Equal(t, s.Steps[k].State, step.Line)
					assert.False(t, strings.HasPrefix(step.Text, "its "), "step %d: %s %s", step.N, step.Actor, step.Text)
					if step.Line != "" {
						assert.Equal(t, step.Line, step.State.Line(), "step %d", step.N)
					}
				}
				holdToTrace(t, s, d)
			})
		}
	}
}

// TestFromStoryNeedsARun is FromStory's error for a story not told from a
// run.
func TestFromStoryNeedsARun(t *testing.T) {
	_, err := page.FromStory(&explain.Story{}, "")
	assert.ErrorContains(t, err, "no replayed run")
}

// holdToTrace holds what a state shows beyond the story's state line (what
// each instance handles, where each message is) to the record its step
// tells, read from the trace itself: after a receive the instance handles
// that message; after its handler returns, no longer; after a delivery the
// message is with its instance; after the broker accepts an ack, it is
// done; after a requeue, back in the queue; after a crash, the instance is
// down.
func holdToTrace(t *testing.T, s *explain.Story, d *page.Doc) {
	t.Helper()
	tr := s.Result.Trace
	checked := 0
	for k, st := range s.Steps {
		if st.Record < 0 {
			continue
		}
		r := &tr[st.Record]
		snap := d.Steps[k].State
		msg := func() *explain.MessageState {
			for j := range snap.Queue {
				if snap.Queue[j].Msg == r.Msg {
					return &snap.Queue[j]
				}
			}
			return nil
		}
		switch r.Kind {
		case run.Receive:
			h := snap.Instances[r.Inst].Handling
			if assert.NotNil(t, h, "step %d: instance %d received m%d and handles it", st.N, r.Inst, r.Msg) {
				assert.Equal(t, r.Msg, h.Msg, "step %d", st.N)
			}
			checked++
		case run.Handled:
			if h := snap.Instances[r.Inst].Handling; h != nil {
				assert.NotEqual(t, r.Msg, h.Msg, "step %d: instance %d's handler of m%d returned", st.N, r.Inst, r.Msg)
			}
			checked++
		case run.Crash:
			assert.Equal(t, "down", snap.Instances[r.Inst].Status, "step %d: instance %d crashed", st.N, r.Inst)
			assert.Nil(t, snap.Instances[r.Inst].Handling, "step %d: a crashed instance handles nothing", st.N)
			checked++
		}
		if d.Run.Broker != "queue" {
			continue
		}
		switch m := msg(); r.Kind {
		case run.Deliver:
			if assert.NotNil(t, m, "step %d: m%d in the queue's view", st.N, r.Msg) {
				assert.Equal(t, "delivered", m.Where, "step %d: m%d delivered", st.N, r.Msg)
				assert.Equal(t, int(r.Inst), m.Inst)
			}
			checked++
		case run.Acked:
			if assert.NotNil(t, m, "step %d: m%d in the queue's view", st.N, r.Msg) {
				assert.Equal(t, "acked", m.Where, "step %d: m%d acked", st.N, r.Msg)
			}
			checked++
		case run.Requeue:
			if assert.NotNil(t, m, "step %d: m%d in the queue's view", st.N, r.Msg) {
				assert.Equal(t, "queued", m.Where, "step %d: m%d back in the queue", st.N, r.Msg)
			}
			checked++
		}
	}
	assert.Positive(t, checked, "some step tells a receive, a return, a delivery, an ack, a requeue or a crash")
}

// lesson is the run of local-cache's lesson, as `idemsim explain
// --strategy local-cache --faults redeliver` shrinks it.
var lesson = sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 2, Instances: 2, Events: 1}

// fixBesideTheStory holds the fix's column to the story's for the steps
// before the two runs differ (Fix.Same): the same moment of the same run
// shows the same instances (status, the delivery each handles), the same
// broker and the same ledger on both sides.
func fixBesideTheStory(t *testing.T, d *page.Doc) {
	t.Helper()
	require.Len(t, d.Fix.Same, len(d.Steps))
	for k, st := range d.Steps {
		if !d.Fix.Same[k] {
			// Once different, never the same again: a record differs.
			for j := k; j < len(d.Steps); j++ {
				assert.False(t, d.Fix.Same[j], "step %d: the runs differ since step %d", d.Steps[j].N, st.N)
			}
			return
		}
		mine, fix := st.State, d.Fix.States[k]
		assert.Equal(t, mine.Rec, fix.Rec, "step %d: the same record", st.N)
		assert.Equal(t, mine.Queue, fix.Queue, "step %d: the same broker's queue", st.N)
		assert.Equal(t, mine.Partitions, fix.Partitions, "step %d: the same partitions", st.N)
		assert.Equal(t, mine.Ledger.Rows, fix.Ledger.Rows, "step %d: the same ledger", st.N)
		require.Len(t, fix.Instances, len(mine.Instances))
		for j := range mine.Instances {
			assert.Equal(t, mine.Instances[j].Status, fix.Instances[j].Status, "step %d: instance %d's status", st.N, j)
			assert.Equal(t, mine.Instances[j].Handling, fix.Instances[j].Handling, "step %d: what instance %d handles", st.N, j)
		}
	}
}

// TestLessonFixPanelAgrees is the fix's column of local-cache's lesson:
// until instance 0's first store call the two runs are the same, and at
// step 1 (the publish of m1) both show m1 in the queue, not yet delivered
// (the fix's column once showed m1 delivered, taking the broker's send
// of the same nanosecond that the story's step had not reached).
func TestLessonFixPanelAgrees(t *testing.T) {
	s, err := explain.Tell(lesson)
	require.NoError(t, err)
	d, err := page.FromStory(s, "")
	require.NoError(t, err)
	require.NotNil(t, d.Fix)
	require.GreaterOrEqual(t, len(d.Steps), 2)
	assert.True(t, d.Fix.Same[0] && d.Fix.Same[1], "steps 1 and 2 come before the runs differ: %v", d.Fix.Same)
	fixBesideTheStory(t, d)
	require.NotEmpty(t, d.Fix.States[0].Queue)
	assert.Equal(t, "queued", d.Fix.States[0].Queue[0].Where, "at step 1 the fix's m1 is in the queue: %+v", d.Fix.States[0].Queue)
	// Later too, the fix's column is never ahead of the story's moment:
	// at the step that publishes a message, the fix's copy of it, if
	// published by then, is still in the queue (the broker's send of
	// the same nanosecond comes after).
	published := 0
	for k, st := range s.Steps {
		if st.Record < 0 || s.Result.Trace[st.Record].Kind != run.Publish {
			continue
		}
		msg := s.Result.Trace[st.Record].Msg
		for _, m := range d.Fix.States[k].Queue {
			if m.Msg == msg {
				assert.Equal(t, "queued", m.Where, "step %d publishes m%d: the fix's m%d is not delivered yet", st.N, msg, msg)
				published++
			}
		}
	}
	assert.Equal(t, 2, published, "both copies' publishes are checked")
}

// TestLessonStepsAtTheirMarks ties each step of local-cache's lesson to
// the timeline's mark at the step's own time: the step's spot on the
// axis is a mark that tells it, at the time the step states (step 3,
// "commits its transaction" at 11.556 ms, once stood at the answer's
// receipt, 12.222 ms, the next step's mark).
func TestLessonStepsAtTheirMarks(t *testing.T) {
	s, err := explain.Tell(lesson)
	require.NoError(t, err)
	d, err := page.FromStory(s, "")
	require.NoError(t, err)
	tl := d.Timeline
	require.Len(t, tl.Steps, len(d.Steps))
	for k, st := range d.Steps {
		spot := tl.Steps[k]
		require.GreaterOrEqual(t, spot.Lane, 0, "step %d is on a lane", st.N)
		var at []string
		for _, m := range tl.Marks {
			if m.Told && slices.Contains(m.Steps, st.N) {
				at = append(at, m.At)
				assert.Equal(t, spot.Pos, m.Pos, "step %d: its spot is its mark's", st.N)
				assert.Equal(t, spot.Lane, m.Lane, "step %d: on its mark's lane", st.N)
			}
		}
		if assert.NotEmpty(t, at, "step %d (%s %s) has a mark that tells it", st.N, st.At, st.Text) {
			for _, a := range at {
				assert.Equal(t, st.At, a, "step %d (%s) is told by the mark at its own time", st.N, st.Text)
			}
		}
	}
	// A mark that no step tells goes to the last step at or before it:
	// the database's commit at step 3's time is step 3's.
	for _, m := range tl.Marks {
		if m.Told {
			continue
		}
		for _, st := range d.Steps {
			if st.At == m.At {
				assert.Equal(t, st.N, m.Step, "the %s at %s belongs to the step at that time", m.Kind, m.At)
			}
		}
	}
}

// TestHeldRunsOutcome is the page's outcome of a run without a
// violation: "Event 1 was applied exactly once.", under the page's
// "Outcome:", not the text story's "none: event 1 was ...".
func TestHeldRunsOutcome(t *testing.T) {
	held := lesson
	held.Strategy = "db-unique"
	s, err := explain.Tell(held)
	require.NoError(t, err)
	d, err := page.FromStory(s, "")
	require.NoError(t, err)
	require.Equal(t, "ok", d.Kind)
	assert.Equal(t, "Event 1 was applied exactly once.", d.Violation)
}
