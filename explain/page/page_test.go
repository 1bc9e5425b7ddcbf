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

// TestFromStoryNeedsARun is FromStory's error for a story not told from a
// run.
func TestFromStoryNeedsARun(t *testing.T) {
	_, err := page.FromStory(&explain.Story{}, "")
	assert.ErrorContains(t, err, "no replayed run")
}
