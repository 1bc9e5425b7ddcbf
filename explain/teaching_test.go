package explain

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// whyKey is a key of strategies.Teaching.Why: a kind of violation, maybe
// with the situation the narrator found.
var whyKey = regexp.MustCompile(`^(dup|lost|stuck)(:(unguarded|unseen|forgotten|unremembered|mark-lost|mark-expired|raced|unmarked|marked-first))?$`)

// TestTeachingUsesWordsTheNarratorKnows holds every registered strategy's
// teaching text to what the narrator fills in and looks up: the known
// placeholders, the store methods, the kinds and situations.
func TestTeachingUsesWordsTheNarratorKnows(t *testing.T) {
	methods := map[string]bool{}
	for op := run.SetNX; op <= run.Rollback; op++ {
		methods[op.String()] = true
	}
	placeholder := regexp.MustCompile(`\{[a-z]+\}`)
	for _, st := range strategies.All() {
		tt := st.Teaching
		texts := []string{tt.Mark, tt.Marked, tt.MemoryName}
		for m, cw := range tt.Calls {
			assert.True(t, methods[m], "%s: Calls names %q, not a store method", st.Name, m)
			texts = append(texts, cw.Name, cw.Does, cw.Fails)
		}
		for k, s := range tt.Why {
			assert.Regexp(t, whyKey, k, "%s: Why key", st.Name)
			texts = append(texts, s)
		}
		for _, s := range texts {
			for _, p := range placeholder.FindAllString(s, -1) {
				assert.Contains(t, placeholders, p, "%s: %q", st.Name, s)
			}
		}
	}
}

var registerCustom sync.Once

// customStrategies registers two strategies with no teaching text, as a
// user would: a claim in Redis like redis's, and a memory like
// local-cache's.
func customStrategies(t *testing.T) {
	t.Helper()
	registerCustom.Do(func() {
		require.NoError(t, strategies.Register(strategies.Strategy{
			Name: "test-setnx", Needs: strategies.NeedsMarks,
			New: func(d strategies.Deps) (strategies.Handler, error) {
				return strategies.RedisClaim{Marks: d.Marks, Ledger: d.Ledger, TTL: d.MarkTTL}, nil
			},
		}))
		require.NoError(t, strategies.Register(strategies.Strategy{
			Name: "test-memory", Memory: true,
			New: func(d strategies.Deps) (strategies.Handler, error) {
				return strategies.NewLocalCache(d.Ledger), nil
			},
		}))
	})
}

// TestCustomStrategyIsToldInItsCallsWords tells a violation of each
// custom strategy: the story comes from its store calls and its
// description's Memory, in neutral words, never a built-in's.
func TestCustomStrategyIsToldInItsCallsWords(t *testing.T) {
	customStrategies(t)
	tests := []struct {
		strategy string
		faults   faults.Set
		kind     Kind
		want     []string
		not      []string
	}{
		{"test-setnx", faults.Of(faults.Crash), Lost,
			[]string{"tries to set event 1's key in Redis with SET NX", "the key is set and the mark is taken", "test-setnx takes its mark on an event before the effect commits", "found the mark and skipped", "redis keys: e1"},
			[]string{"claim", "cache"}},
		{"test-memory", faults.Of(faults.Redeliver), Duplicate,
			[]string{"memories: i0 {", "its memory does not hold event 1, so it processes it", "test-memory keeps what it handled in instance 0's memory, which no other instance can read", "it remembers event 1 in its memory"},
			[]string{"cache", "claim"}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			found, ok := Search(tt.strategy, tt.faults, 3, DefaultSeeds)
			require.True(t, ok)
			s, err := Tell(Shrink(found))
			require.NoError(t, err)
			require.Equal(t, tt.kind, s.Kind)
			var buf bytes.Buffer
			_, err = s.WriteTo(&buf)
			require.NoError(t, err)
			out := buf.String()
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			for _, w := range tt.not {
				assert.NotContains(t, strings.ToLower(out), w, "a built-in's words")
			}
		})
	}
}

// TestWordsFallBackToNeutral checks the lookups: a strategy's own words
// where it gives them, neutral ones elsewhere, placeholders filled.
func TestWordsFallBackToNeutral(t *testing.T) {
	redis, _ := strategies.Lookup("redis")
	w := wordsOf(redis)
	assert.Equal(t, "SET NX (the claim)", w.callName(run.SetNX))
	assert.Equal(t, "tries to claim event 3 in Redis with SET NX", w.does(run.SetNX, 3, true))
	assert.Equal(t, "Apply (the effect)", w.callName(run.Apply), "a call it does not name")
	assert.Equal(t, "claim", w.mark())
	assert.Equal(t, "redis takes the claim before it applies the effect, and nothing ties the two together.", w.why(Lost, "marked-first", fills{event: 1}))

	plain := wordsOf(strategies.Strategy{Name: "mine"})
	assert.Equal(t, "SET NX", plain.callName(run.SetNX))
	assert.Equal(t, "sets event 3's key in Redis with SET NX", plain.does(run.SetNX, 3, false))
	assert.Equal(t, "checks Redis for event 3's key", plain.does(run.Exists, 3, true), "Fails falls back to Does")
	assert.Equal(t, "mark", plain.mark())
	assert.Equal(t, "memories", plain.memories())
	assert.Empty(t, plain.why(Duplicate, "raced", fills{}))
	assert.Equal(t, "mine: 2 after 1, mark", plain.fill("{strategy}: {second} after {first}, {mark}", fills{first: 1, second: 2}))
}
