package realrun

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
)

// A real run of local-cache records its instances' memory calls as the
// simulator does: each handler's lookup, right after its receive, with
// what the memory held, and each event put in after its effect. Every
// answer is what the records before it say the memory held, a crash
// emptying it, and no call is recorded while an instance is down. The
// duplicate shows in the trace: a lookup that found nothing of an event
// another instance had applied.
func TestLocalCacheRecordsItsMemory(t *testing.T) {
	cfg := sharedServers(t, "rr_memory")
	cfg.Config = run.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver, faults.Crash), Seed: 1, Instances: 3, Events: 80, KeepTrace: true}
	res := realRun(t, cfg)
	require.Positive(t, res.Duplicates)

	type key struct {
		inst  int32
		event uint32
	}
	held := map[key]bool{}
	applied := map[uint32]bool{}
	down := map[int32]bool{}
	last := map[int32]run.Record{} // each instance's latest step of its own
	brokerSide := map[run.Kind]bool{run.Deliver: true, run.DeliverDrop: true, run.Requeue: true, run.Acked: true, run.DeadLetter: true}
	lookups, adds, missed := 0, 0, 0
	for _, r := range res.Trace {
		prev, seen := last[r.Inst]
		switch r.Kind {
		case run.Crash:
			down[r.Inst] = true
			for k := range held {
				if k.inst == r.Inst {
					delete(held, k)
				}
			}
		case run.Restart:
			down[r.Inst] = false
		case run.Memory:
			require.False(t, down[r.Inst], "a memory call of an instance that is down: %s", r)
			k := key{r.Inst, r.Event}
			switch r.Op {
			case run.MemHas:
				lookups++
				require.True(t, seen && prev.Kind == run.Receive, "the lookup comes right after the receive: %s", r)
				assert.Equal(t, prev.Msg, r.Msg)
				assert.Equal(t, prev.Event, r.Event)
				assert.Equal(t, held[k], r.Answer == run.Yes, "Contains answers what the memory holds: %s", r)
				if r.Answer == run.No && applied[r.Event] {
					missed++
				}
			case run.MemAdd:
				adds++
				assert.Equal(t, !held[k], r.Answer == run.Yes, "Add says whether it changed the memory: %s", r)
				held[k] = true
			default:
				t.Errorf("local-cache never removes: %s", r)
			}
		case run.Handled:
			if r.Outcome == run.Applied {
				applied[r.Event] = true
				require.True(t, seen && prev.Kind == run.Memory && prev.Op == run.MemAdd && prev.Event == r.Event,
					"the event enters the cache just before the handler returns applied: %s after %s", r, prev)
			}
		}
		// The consumer's own steps only: the broker also writes
		// records that name an instance (a requeue of what it held,
		// the next delivery to it), at any moment of its handling.
		if r.Inst >= 0 && !brokerSide[r.Kind] {
			last[r.Inst] = r
		}
	}
	assert.Positive(t, lookups)
	assert.Positive(t, adds)
	assert.Positive(t, missed, "a lookup found nothing of an event another instance had applied: the duplicate")
}
