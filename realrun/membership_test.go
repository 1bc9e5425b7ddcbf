package realrun

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
)

// The two faults of a consumer's membership, played as the simulator plays
// them on the queue: rebalance's graceful leaves and late start, zombie's
// pause of a whole consumer. db-unique holds under both, so what is checked
// here is the mechanism, from the trace.

// findSeed runs seeds from 1 until found says a run shows what the test
// looks at (a real run is not reproducible, and a seed may draw none), at
// most tries of them.
func findSeed(t *testing.T, cfg Config, tries int, found func(*run.Result, faults.Params) bool) (*run.Result, faults.Params) {
	t.Helper()
	for seed := uint64(1); seed <= uint64(tries); seed++ {
		cfg.Seed = seed
		res := realRun(t, cfg)
		assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "db-unique holds (seed %d)", seed)
		if p := faults.Draw(cfg.Faults, seed); found(res, p) {
			return res, p
		}
	}
	t.Fatalf("no seed of %d showed it", tries)
	return nil, faults.Params{}
}

func records(trace []run.Record, keep func(*run.Record) bool) int {
	n := 0
	for i := range trace {
		if keep(&trace[i]) {
			n++
		}
	}
	return n
}

// A consumer told to leave stops once it has acked what it holds, stays
// down at least LeaveDownMin, and starts again (a restart: new clients,
// empty memory); with scale-out, the last consumer starts only at
// LateStart on the workload's clock.
func TestRebalanceLeavesGracefullyAndScalesOut(t *testing.T) {
	cfg := sharedServers(t, "rr_rebalance")
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Rebalance), Events: 120, KeepTrace: true}
	timing := DefaultTiming
	leaves := func(r *run.Record) bool { return r.Kind == run.Leave }
	// Seeds until one leaves and scales out (about every other seed
	// draws the scale-out).
	res, p := findSeed(t, cfg, 8, func(res *run.Result, p faults.Params) bool {
		return records(res.Trace, leaves) > 0 && p.ScaleOut
	})
	tr := res.Trace
	n := records(tr, leaves)
	assert.Equal(t, n+1, res.FaultsInjected["rebalance"], "each leave that took, and the scale-out")

	for i, l := range tr {
		if l.Kind != run.Leave {
			continue
		}
		assert.Equal(t, run.Graceful, l.Cause)
		// Graceful: every delivery it received before, it
		// acked or nacked before leaving.
		held := map[uint32]bool{}
		for _, r := range tr[:i] {
			if r.Inst != l.Inst {
				continue
			}
			switch r.Kind {
			case run.Receive:
				held[r.Msg] = true
			case run.AckSend, run.Nack:
				delete(held, r.Msg)
			}
		}
		assert.Empty(t, held, "instance %d left at %v holding messages", l.Inst, time.Duration(l.At))
		// Down, then a restart of the same instance, with nothing
		// received in between.
		restarted := false
		for _, r := range tr[i+1:] {
			if r.Inst != l.Inst {
				continue
			}
			if r.Kind == run.Restart {
				assert.GreaterOrEqual(t, time.Duration(r.At-l.At), timing.LeaveDownMin)
				restarted = true
				break
			}
			assert.NotEqual(t, run.Receive, r.Kind, "instance %d received while it was down", l.Inst)
		}
		assert.True(t, restarted, "instance %d left at %v and never started again", l.Inst, time.Duration(l.At))
	}

	// The late consumer's first record is its start, at or after
	// LateStart on the shrunk clock, and no restart; everything it does
	// comes after, and it receives at least once. (Its next record need
	// not be a delivery: a leave may strike it before its first one.)
	late := int32(2) // of the default three
	lateAt := time.Duration(float64(p.LateStart) * float64(timing.PublishGapMax) / float64(run.PublishGapMax))
	var own []run.Record
	for _, r := range tr {
		if r.Inst == late && r.Kind != run.Requeue {
			own = append(own, r)
		}
	}
	require.GreaterOrEqual(t, len(own), 2, "the late consumer started and received")
	assert.Equal(t, run.Start, own[0].Kind, "the late consumer's first record")
	assert.GreaterOrEqual(t, time.Duration(own[0].At), lateAt, "the late consumer started before its time")
	delivered := false
	for _, r := range own[1:] {
		assert.NotEqual(t, run.Start, r.Kind, "the late consumer started twice")
		assert.GreaterOrEqual(t, time.Duration(r.At), lateAt, "the late consumer acted before its start: %v", r.Kind)
		delivered = delivered || r.Kind == run.Deliver
	}
	assert.True(t, delivered, "the late consumer never received a delivery")
}

// A paused consumer stops whole for PauseFactor times the ack deadline:
// it sends nothing meanwhile, and its delivery comes back at the deadline,
// to another consumer if one asks.
func TestZombiePausesTheWholeConsumer(t *testing.T) {
	cfg := sharedServers(t, "rr_zombie")
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Zombie), Events: 120, KeepTrace: true}
	paused := func(r *run.Record) bool { return r.Kind == run.Stall && r.Cause == run.Paused }
	res, p := findSeed(t, cfg, 6, func(res *run.Result, _ faults.Params) bool { return records(res.Trace, paused) > 0 })
	tr := res.Trace
	assert.Equal(t, records(tr, paused), res.FaultsInjected["zombie"])
	assert.Zero(t, records(tr, func(r *run.Record) bool { return r.Kind == run.Stall && r.Cause != run.Paused }), "zombie pauses; only slow stalls")
	want := time.Duration(float64(DefaultTiming.AckDeadline) * p.PauseFactor)
	for i, s := range tr {
		if !paused(&s) {
			continue
		}
		assert.Equal(t, want, time.Duration(s.Dur))
		assert.Greater(t, want, DefaultTiming.AckDeadline, "a pause outlasts the ack deadline")
		for _, r := range tr[i+1:] {
			if r.At >= s.At+s.Dur {
				break
			}
			// The broker's own records name the consumer of the
			// message's latest delivery: the paused one, for a
			// requeue at the deadline.
			if r.Inst == s.Inst && r.Kind != run.Requeue {
				t.Errorf("instance %d paused at %v for %v, and recorded %v at %v", s.Inst, time.Duration(s.At), want, r.Kind, time.Duration(r.At))
			}
		}
	}
}
