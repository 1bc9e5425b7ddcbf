package explain

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/memstore"
)

// whyKey is a key of strategies.Teaching.Why: a kind of violation, maybe
// with the situation the narrator found.
var whyKey = regexp.MustCompile(`^(dup|lost|stuck|ghost)(:(unguarded|unseen|forgotten|unremembered|mark-lost|mark-expired|lease-expired|released|raced|unmarked|marked-first|unkeyed|key-forgotten))?$`)

// TestTeachingUsesWordsTheNarratorKnows holds every registered strategy's
// teaching text to what the narrator fills in and looks up: the known
// placeholders, the store methods, the kinds and situations.
func TestTeachingUsesWordsTheNarratorKnows(t *testing.T) {
	methods := map[string]bool{}
	for op := run.SetNX; !strings.HasPrefix(op.String(), "Op("); op++ {
		methods[op.String()] = true
	}
	// A label is an operation, maybe followed by a key with {event}.
	isLabel := func(label string) bool {
		for m := range methods {
			if label == m || strings.HasPrefix(label, m+" ") && len(label) > len(m)+1 {
				return true
			}
		}
		return false
	}
	placeholder := regexp.MustCompile(`\{[a-z]+\}`)
	for _, st := range strategies.All() {
		tt := st.Teaching
		texts := []string{tt.Mark, tt.Marked, tt.MemoryName}
		for m, cw := range tt.Calls {
			assert.True(t, isLabel(m), "%s: Calls names %q, not a call's label", st.Name, m)
			texts = append(texts, cw.Name, cw.Does, cw.Fails)
		}
		for k, s := range tt.Why {
			assert.Regexp(t, whyKey, k, "%s: Why key", st.Name)
			texts = append(texts, s)
		}
		for _, s := range tt.Values {
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

// customStrategies registers strategies with no teaching text, as a user
// would: a claim in Redis like redis's, a memory like local-cache's, and
// two on Redis keys and values, a lease like redis-lease's and a claim
// released on failure like redis-release's.
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
				return strategies.NewLocalCache(d.Ledger, memstore.NewMemory()), nil
			},
			// A memory of its own, which the trace does not show, and a
			// rule that says when it writes it: the story may then say
			// what the memory holds.
			Teaching: strategies.Teaching{Remembers: strategies.MemoryOnApplied},
		}))
		require.NoError(t, strategies.Register(strategies.Strategy{
			Name: "test-remember-first",
			New: func(d strategies.Deps) (strategies.Handler, error) {
				return &rememberFirst{ledger: d.Ledger, seen: map[strategies.EventID]bool{}}, nil
			},
			Teaching: strategies.Teaching{Why: map[string]string{
				"lost": "test-remember-first writes event {event} down before its effect commits:",
			}},
		}))
		require.NoError(t, strategies.Register(strategies.Strategy{
			Name: "test-kv-lease", Needs: strategies.NeedsKV,
			New: func(d strategies.Deps) (strategies.Handler, error) {
				return strategies.RedisLease{KV: d.KV, Ledger: d.Ledger, Lease: d.Lease, TTL: d.MarkTTL}, nil
			},
		}))
		require.NoError(t, strategies.Register(strategies.Strategy{
			Name: "test-kv-release", Needs: strategies.NeedsKV,
			New: func(d strategies.Deps) (strategies.Handler, error) {
				return strategies.RedisRelease{KV: d.KV, Ledger: d.Ledger, TTL: d.MarkTTL}, nil
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
		// Without a MarkKey in their descriptions, their keys are named
		// as keys: no sentence calls one the event's mark.
		{"test-kv-lease", faults.Of(faults.Crash), Duplicate,
			[]string{"sets lease:1 to INPROGRESS with SET NX: lease:1 was not there, so it is set", "[redis: lease:1=INPROGRESS (until ",
				"reads lease:1 with GET: lease:1 = INPROGRESS, so the handler asks to retry later", "more times, from",
				"its SET NX lease:1 at 10110.206 ms found lease:1 absent: instance 0 had written it at 18.042 ms with a TTL of 10s, and it expired at 10018.042 ms",
				"fix: with db-unique instead"},
			[]string{"took the lease", "completed write", "holds the lease", "cache", "mark"}},
		{"test-kv-release", faults.Of(faults.Partition), Duplicate,
			[]string{"sets claim:1 to 1 with SET NX", "[redis, event 1's keys: claim:1=1", "the DEL claim:1, which it had given up on, reaches Redis after all: claim:1 was there, and it is gone",
				"found claim:1 absent: instance 0 had written it at", "and instance 0 deleted it at 2094.477 ms with its DEL claim:1"},
			[]string{"claimed", "the release", "cache", "mark"}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			found, ok := mustSearch(t, tt.strategy, tt.faults, 3, DefaultSeeds)
			require.True(t, ok)
			s, err := Tell(mustShrink(t, found))
			require.NoError(t, err)
			require.Equal(t, tt.kind, s.Kind)
			var buf bytes.Buffer
			_, err = s.WriteTo(&buf)
			require.NoError(t, err)
			out := buf.String()
			for _, w := range tt.want {
				assert.Contains(t, out, w, out)
			}
			for _, w := range tt.not {
				assert.NotContains(t, strings.ToLower(out), w, "a built-in's words")
			}
		})
	}
}

// TestLostWithNoMarkInAStoreUsesTheStrategysWords tells a lost event of
// a strategy that remembers events where explain cannot see them: the
// strategy's own words for "lost" lead the why.
func TestLostWithNoMarkInAStoreUsesTheStrategysWords(t *testing.T) {
	customStrategies(t)
	// One instance: the memory is never missed by another instance, so
	// the only violation is the lost event.
	found, ok := mustSearch(t, "test-remember-first", faults.Of(faults.Partition), 1, DefaultSeeds)
	require.True(t, ok)
	s, err := Tell(mustShrink(t, found))
	require.NoError(t, err)
	require.Equal(t, Lost, s.Kind)
	var buf bytes.Buffer
	_, err = s.WriteTo(&buf)
	require.NoError(t, err)
	// The why says what the trace shows (a skip with no store call), not
	// that anything was "marked".
	assert.Contains(t, buf.String(), "why: test-remember-first writes event 1 down before its effect commits: instance 0's handler skipped m1 at 1271.344 ms without asking any store.")
	assert.NotContains(t, buf.String(), "marked")
}

// TestWordsFallBackToNeutral checks the lookups: a strategy's own words
// where it gives them, neutral ones elsewhere, placeholders filled.
func TestWordsFallBackToNeutral(t *testing.T) {
	redis, _ := strategies.Lookup("redis")
	w := wordsOf(redis)
	assert.Equal(t, "SET NX (the claim)", w.callName(&Call{Op: run.SetNX}))
	assert.Equal(t, "tries to claim event 3 in Redis with SET NX", w.does(run.SetNX, 3, true))
	assert.Equal(t, "Apply (the effect)", w.callName(&Call{Op: run.Apply}), "a call it does not name")
	assert.Equal(t, "claim", w.mark())
	assert.Equal(t, "redis takes the claim before it applies the effect, and nothing ties the two together.", w.why(Lost, "marked-first", fills{event: 1}))

	plain := wordsOf(strategies.Strategy{Name: "mine"})
	assert.Equal(t, "SET NX", plain.callName(&Call{Op: run.SetNX}))
	assert.Equal(t, "sets event 3's key in Redis with SET NX", plain.does(run.SetNX, 3, false))
	assert.Equal(t, "checks Redis for event 3's key", plain.does(run.Exists, 3, true), "Fails falls back to Does")
	assert.Equal(t, "mark", plain.mark())
	assert.Equal(t, "memories", plain.memories())
	assert.Empty(t, plain.why(Duplicate, "raced", fills{}))
	assert.Equal(t, "mine: 2 after 1, mark", plain.fill("{strategy}: {second} after {first}, {mark}", fills{first: 1, second: 2}))
}

// rememberFirst is a user's strategy that keeps its memory where explain
// cannot see it, and writes an event down before its effect commits: a
// failed Apply leaves the event remembered and never applied.
type rememberFirst struct {
	ledger strategies.Ledger
	seen   map[strategies.EventID]bool
}

func (r *rememberFirst) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	if r.seen[e.ID] {
		return strategies.Skipped, nil
	}
	r.seen[e.ID] = true
	tx, err := r.ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// TestCallsAreToldByTheirLabel: two SET NX of one strategy on two keys
// get the words of their own labels; a label with a key wins over the
// operation alone, which names the rest.
func TestCallsAreToldByTheirLabel(t *testing.T) {
	assert.Equal(t, "SET NX idem:lock:{event}", Label(run.PutNX, "idem:lock:7", 7))
	assert.Equal(t, "SET NX idem:{event}", Label(run.PutNX, "idem:7", 7))
	assert.Equal(t, "SET NX idem:17", Label(run.PutNX, "idem:17", 7), "a longer number is not the id")
	assert.Equal(t, "SetNX", Label(run.SetNX, "", 7))

	w := wordsOf(strategies.Strategy{Name: "two", Teaching: strategies.Teaching{Calls: map[string]strategies.CallWords{
		"SET NX idem:lock:{event}": {Name: "SET NX of the lock", Does: "takes event {event}'s lock with SET {key} NX"},
		"SET NX idem:{event}":      {Name: "SET NX of the record", Does: "writes event {event}'s record {key}"},
		"SET NX":                   {Name: "some SET NX"},
	}}})
	lock := &Call{Op: run.PutNX, Event: 7, Key: "idem:lock:7", Value: "1"}
	rec := &Call{Op: run.PutNX, Event: 7, Key: "idem:7", Value: "x"}
	other := &Call{Op: run.PutNX, Event: 7, Key: "other:7", Value: "x"}
	assert.Equal(t, "SET NX of the lock", w.callName(lock))
	assert.Equal(t, "takes event 7's lock with SET idem:lock:7 NX", w.doesCall(lock, false))
	assert.Equal(t, "SET NX of the record", w.callName(rec))
	assert.Equal(t, "writes event 7's record idem:7", w.doesCall(rec, false))
	assert.Equal(t, "some SET NX", w.callName(other), "the operation's words name the rest")
	assert.Equal(t, "sets other:7 to x with SET NX", w.doesCall(other, false), "and neutral words do what it does not say")
	assert.Equal(t, "SET NX idem:lock:7", wordsOf(strategies.Strategy{Name: "plain"}).callName(lock), "neutral words name the key")
}
