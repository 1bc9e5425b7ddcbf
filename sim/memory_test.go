package sim

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// replayMemory holds the memory records of trace to a model of each
// instance's memory built from the records alone: an Add puts an id in, a
// Remove takes it out, a crash empties the memory, and every Contains
// must answer what the model holds, every Add and Remove whether it
// changed it. A memory call of an instance that is down fails it. It
// returns how many Contains answered false for an id its instance had
// held before a crash emptied its memory.
func replayMemory(t *testing.T, trace []run.Record) (forgotten int) {
	t.Helper()
	type key struct {
		inst int32
		id   string
	}
	held := map[key]bool{}
	before := map[key]bool{} // held by an earlier incarnation
	down := map[int32]bool{}
	for _, r := range trace {
		switch r.Kind {
		case run.Crash:
			down[r.Inst] = true
			for k, v := range held {
				if k.inst == r.Inst && v {
					before[k] = true
				}
				if k.inst == r.Inst {
					delete(held, k)
				}
			}
		case run.Restart:
			down[r.Inst] = false
		case run.Memory:
			require.False(t, down[r.Inst], "a memory call of an instance that is down: %s", r)
			k := key{r.Inst, r.MemoryID()}
			switch r.Op {
			case run.MemHas:
				require.Equal(t, held[k], r.Answer == run.Yes, "Contains answers what the memory holds: %s", r)
				if r.Answer == run.No && before[k] {
					forgotten++
				}
			case run.MemAdd:
				require.Equal(t, !held[k], r.Answer == run.Yes, "Add says whether it changed the memory: %s", r)
				held[k] = true
			case run.MemDel:
				require.Equal(t, held[k], r.Answer == run.Yes, "Remove says whether it changed the memory: %s", r)
				delete(held, k)
			default:
				t.Fatalf("a memory record with a store op: %s", r)
			}
		}
	}
	return forgotten
}

// The trace of local-cache shows each handler's lookup in its instance's
// cache, right after it received the delivery, and what it found, and
// each event it put in its cache after the effect committed: the
// lookup of the second copy, which found nothing, is why it applied.
func TestLocalCacheTraceShowsTheLookup(t *testing.T) {
	r, err := Run(Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 4, Instances: 2, Events: 3, KeepTrace: true})
	require.NoError(t, err)
	require.Equal(t, 1, r.Duplicates)
	tr := r.Trace
	lookups, adds := 0, 0
	for i, rec := range tr {
		switch rec.Kind {
		case run.Receive:
			next := tr[i+1]
			require.Equal(t, run.Memory, next.Kind, "the lookup comes right after the receive")
			assert.Equal(t, run.MemHas, next.Op)
			assert.Equal(t, rec.At, next.At, "a memory call takes no time")
			assert.Equal(t, rec.Inst, next.Inst)
			assert.Equal(t, rec.Msg, next.Msg)
			assert.Equal(t, rec.Event, next.Event)
			lookups++
		case run.Handled:
			if rec.Outcome == run.Applied {
				prev := tr[i-1]
				require.Equal(t, run.Memory, prev.Kind, "the event enters the cache just before the handler returns")
				assert.Equal(t, run.MemAdd, prev.Op)
				assert.Equal(t, run.Yes, prev.Answer)
				assert.Equal(t, rec.Event, prev.Event)
				adds++
			}
		}
	}
	assert.Equal(t, r.Deliveries, lookups)
	assert.Equal(t, 4, adds)
	line := ""
	for _, rec := range tr {
		if rec.Kind == run.Memory && rec.Inst == 0 && rec.Event == 3 && rec.Op == run.MemHas {
			line = rec.String()
		}
	}
	assert.Equal(t, "  123.375396ms i0  m4    e3    memory       Contains e3: false", line,
		"instance 0 looked for event 3, which instance 1 had applied, and its cache did not hold it")
	replayMemory(t, tr)
}

// A crash empties the memory: over seeds of local-cache under crash, every
// memory call answers what the records before it say the memory held,
// counting a crash as emptying it, and some lookup after a restart finds
// nothing of what the instance held before.
func TestMemoryIsEmptiedAtRestart(t *testing.T) {
	forgotten := 0
	for seed := uint64(1); seed <= 20; seed++ {
		r, err := Run(Config{Strategy: "local-cache", Faults: faults.Of(faults.Crash), Seed: seed, Instances: 2, Events: 30, KeepTrace: true})
		require.NoError(t, err)
		forgotten += replayMemory(t, r.Trace)
	}
	assert.Positive(t, forgotten, "a restarted instance looked for an event its earlier incarnation held")
}

// memoryUser uses every call of its memory: it looks, removes the event
// when its effect fails (after a crash, a dead process changes nothing),
// asks about an id no event has and one too large for a record's Event,
// and, in New, asks about event 1 (no message in hand).
type memoryUser struct {
	mem    strategies.Memory
	ledger strategies.Ledger
}

func (s memoryUser) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	if s.mem.Contains(e.ID) {
		return strategies.Skipped, nil
	}
	s.mem.Add(e.ID)
	s.mem.Contains(1 << 40)
	s.mem.Add(1000 + e.ID)
	if err := apply(ctx, s.ledger, e); err != nil {
		s.mem.Remove(e.ID)
		return 0, err
	}
	return strategies.Applied, nil
}

func TestMemoryCallsAreRecorded(t *testing.T) {
	register(t, strategies.Strategy{Name: "test-memory-user", Memory: true, New: func(d strategies.Deps) (strategies.Handler, error) {
		d.Memory.Contains(1)
		return memoryUser{mem: d.Memory, ledger: d.Ledger}, nil
	}})
	ops := map[run.Op]int{}
	removes := 0
	for seed := uint64(1); seed <= 10; seed++ {
		cfg := Config{Strategy: "test-memory-user", Faults: faults.Of(faults.Crash, faults.Partition), Seed: seed, Instances: 2, Events: 20, KeepTrace: true}
		r, err := Run(cfg)
		require.NoError(t, err)
		replayMemory(t, r.Trace)
		fresh := []bool{true, true} // per instance: it started, and New has not asked yet
		for _, rec := range r.Trace {
			if rec.Kind == run.Restart {
				fresh[rec.Inst] = true
			}
			if rec.Kind != run.Memory {
				continue
			}
			if fresh[rec.Inst] {
				assert.Equal(t, "Contains e1", fmt.Sprintf("%s %s", rec.Op, rec.MemoryID()), "New's call comes first")
				assert.Zero(t, rec.Msg, "New's call names no message: %s", rec)
				fresh[rec.Inst] = false
			}
			ops[rec.Op]++
			if rec.Op == run.MemDel && rec.Answer == run.Yes {
				removes++
			}
			if rec.Op == run.MemHas && rec.Event == 0 {
				assert.Equal(t, "1099511627776", rec.Value, "an id too large for Event is in Value")
			}
		}
		again, err := Run(cfg)
		require.NoError(t, err)
		assert.Equal(t, r.TraceHash, again.TraceHash, "deterministic")
		cfg.NoTraceHash = true
		quiet, err := Run(cfg)
		require.NoError(t, err)
		assert.Equal(t, r.Duplicates, quiet.Duplicates, "recording the memory changes nothing of the run")
		assert.Equal(t, r.SimTimeMS, quiet.SimTimeMS)
	}
	assert.Positive(t, ops[run.MemHas])
	assert.Positive(t, ops[run.MemAdd])
	assert.Positive(t, removes, "an effect failed, and the handler took the event out of its memory")
}

// The memory's records count in the digest: local-cache's traces differ
// from none's, whose store calls are the same, by them alone.
func TestMemoryRecordsAreDigested(t *testing.T) {
	cfg := Config{Strategy: "none", Faults: faults.Of(faults.Crash), Seed: 7, Events: 40}
	none, err := Run(cfg)
	require.NoError(t, err)
	cfg.Strategy = "local-cache"
	lc, err := Run(cfg)
	require.NoError(t, err)
	assert.NotEqual(t, none.TraceHash, lc.TraceHash)
}
