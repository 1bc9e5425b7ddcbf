package explain

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// The story of local-cache tells each lookup from its record: what the
// cache held when the handler asked, and the miss that let the second
// copy apply, each sentence with the claims that hold it to the trace.
func TestLocalCacheStoryTellsTheLookupFromItsRecord(t *testing.T) {
	s := localCacheStory(t)
	require.Empty(t, checkStory(s))
	looked := 0
	for _, st := range s.Steps {
		if !strings.Contains(st.Text, "looks in its cache: event 1 is not there") {
			continue
		}
		looked++
		var call *Claim
		for k := range st.Claims {
			if c := &st.Claims[k]; c.Kind == ClaimMemCall {
				call = c
			}
		}
		require.NotNil(t, call, "step %d says what the cache held by its lookup's record", st.N)
		r := s.Result.Trace[call.Rec]
		assert.Equal(t, run.Memory, r.Kind)
		assert.Equal(t, run.MemHas, r.Op)
		assert.Equal(t, run.No, r.Answer)
		assert.Equal(t, int32(st.Inst), r.Inst)
	}
	assert.Equal(t, 2, looked, "each instance looked, and found nothing")
	assert.Contains(t, s.Why, "Instance 1 had never seen event 1: its cache did not hold event 1 when it looked, at 13.470 ms")
	var lookup bool
	for _, c := range s.WhyClaims {
		if c.Kind == ClaimMemCall && c.Inst == 1 && c.Op == run.MemHas && !c.Yes {
			lookup = true
			assert.Equal(t, "13.470", fmt.Sprintf("%.3f", ms(s.Result.Trace[c.Rec].At)), "the time the why names is the lookup's")
		}
	}
	assert.True(t, lookup, "the why states instance 1's lookup as a claim")
}

// The checker of memory claims finds a claim the records belie.
func TestMemoryClaimsCanFail(t *testing.T) {
	s := localCacheStory(t)
	st, _ := strategies.Lookup("local-cache")
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, st)
	for _, c := range s.WhyClaims {
		if c.Kind != ClaimMemCall {
			continue
		}
		require.NoError(t, x.check(c, nil))
		c.Yes = !c.Yes
		assert.Error(t, x.check(c, nil), "a lookup that found the event, which it did not")
		c.Yes = !c.Yes
		c.Rec--
		assert.Error(t, x.check(c, nil), "another record")
	}
	held := claim(ClaimMemHeld)
	held.Rec, held.Inst, held.Event, held.Yes = len(s.Result.Trace)-1, 0, 1, false
	assert.Error(t, x.check(held, nil), "instance 0's cache held event 1 at the end")
	held.Yes = true
	assert.NoError(t, x.check(held, nil))
	none := claim(ClaimMemNone)
	none.Inst, none.Event, none.Op, none.N = 1, 1, run.MemHas, len(s.Result.Trace)
	assert.Error(t, x.check(none, nil), "instance 1 did look")
}

// Strategies that keep their memory in Deps.Memory in ways local-cache
// does not: written before the effect (an event whose effect failed is
// skipped and lost), taken out again when the effect fails, and looked up
// only after the effect. Their stories tell what the memory held from its
// records, and every claim holds.
type memoryFirst struct {
	mem    strategies.Memory
	ledger strategies.Ledger
	remove bool // take the event out of the memory when the effect fails
}

func (s memoryFirst) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	if s.mem.Contains(e.ID) {
		return strategies.Skipped, nil
	}
	s.mem.Add(e.ID)
	tx, err := s.ledger.Begin(ctx)
	if err == nil {
		if err = tx.Apply(ctx, e); err == nil {
			err = tx.Commit(ctx)
		} else {
			_ = tx.Rollback(ctx)
		}
	}
	if err != nil && s.remove {
		s.mem.Remove(e.ID)
	}
	if err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// lookLate applies, then looks: its lookup comes after its effect.
type lookLate struct {
	mem    strategies.Memory
	ledger strategies.Ledger
}

func (s lookLate) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := s.ledger.Begin(ctx)
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
	if !s.mem.Contains(e.ID) {
		s.mem.Add(e.ID)
	}
	return strategies.Applied, nil
}

func TestRecordedMemoryStoriesAreTrue(t *testing.T) {
	for _, s := range []strategies.Strategy{
		{Name: "test-recorded-first", Memory: true, New: func(d strategies.Deps) (strategies.Handler, error) {
			return memoryFirst{mem: d.Memory, ledger: d.Ledger}, nil
		}},
		{Name: "test-recorded-remove", Memory: true, New: func(d strategies.Deps) (strategies.Handler, error) {
			return memoryFirst{mem: d.Memory, ledger: d.Ledger, remove: true}, nil
		}},
		// It says it writes its memory after the effect (the rule for a
		// memory of its own): the records win.
		{Name: "test-recorded-late", Memory: true, Teaching: strategies.Teaching{MemoryName: "set", Remembers: strategies.MemoryOnApplied},
			New: func(d strategies.Deps) (strategies.Handler, error) {
				return lookLate{mem: d.Memory, ledger: d.Ledger}, nil
			}},
		// local-cache's handler with no Memory in its description: the
		// records alone make the story tell its memory.
		{Name: "test-recorded-unsaid", New: func(d strategies.Deps) (strategies.Handler, error) {
			return strategies.NewLocalCache(d.Ledger, d.Memory), nil
		}},
	} {
		require.NoError(t, strategies.Register(s))
		t.Cleanup(func() { strategies.Unregister(s.Name) })
	}
	seeds := uint64(40)
	if testing.Short() {
		seeds = 15
	}
	texts := map[string]string{}
	for _, st := range []string{"local-cache", "test-recorded-first", "test-recorded-remove", "test-recorded-late", "test-recorded-unsaid"} {
		for _, sc := range append(faults.Scenarios(), 0) {
			t.Run(st+"/"+sc.String(), func(t *testing.T) {
				for seed := uint64(1); seed <= seeds; seed++ {
					cfg := sim.Config{Strategy: st, Faults: sc, Seed: seed, Instances: 1 + int(seed%3), Events: 1 + int(seed%4)}
					for _, s := range storiesOf(t, cfg) {
						text := storyText(s)
						if problems := checkStory(s); len(problems) > 0 {
							t.Fatalf("%s, event %d: %d false claims:\n%s\n\n%s", s.Config.Reproduce(), s.Event, len(problems), strings.Join(problems, "\n"), text)
						}
						texts[st] += text
					}
				}
			})
		}
	}
	// What the stories tell, from the records, somewhere among them.
	for st, want := range map[string]string{
		"local-cache":          "restarted with empty memory: its cache did not hold event",
		"test-recorded-first":  "without asking any store: its memory held event",
		"test-recorded-remove": "out of its memory",
		"test-recorded-late":   "applied the effect a second time without looking in its set",
		"test-recorded-unsaid": "looks in its memory: event 1 is not there",
	} {
		assert.True(t, strings.Contains(texts[st], want), "a story of %s says %q", st, want)
	}
	for st, text := range texts {
		assert.False(t, strings.Contains(text, "does not say when it writes it"), "%s: the records say what its memory held", st)
	}
}
