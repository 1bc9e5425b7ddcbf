package page_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/explain/page"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
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
