package sim

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
)

// firstOf returns the index of the first record of kind k in trace, or -1.
func firstOf(trace []run.Record, k run.Kind) int {
	return slices.IndexFunc(trace, func(r run.Record) bool { return r.Kind == k })
}

// TestDropDiffersOnlyFromItsPoint drops the first decision of runs of
// each broker and each fault decided at the steps of handling (whose
// points come in time order, so the first decision is the first strike),
// and holds the trace equal to the run without the drop up to the record
// where the dropped fault struck, and different there.
func TestDropDiffersOnlyFromItsPoint(t *testing.T) {
	cases := []struct {
		fault faults.Fault
		kind  run.Kind // the record the fault's strike leaves
	}{
		{faults.Crash, run.Crash},
		{faults.Slow, run.Stall},
		{faults.Zombie, run.Stall},
	}
	for _, b := range run.BrokerNames {
		for _, c := range cases {
			tried := 0
			for seed := uint64(1); seed <= 30 && tried < 3; seed++ {
				cfg := Config{Strategy: "redis", Faults: faults.Of(c.fault), Seed: seed, Events: 40, BrokerModel: b, KeepTrace: true}
				base, err := Run(cfg)
				require.NoError(t, err)
				at := firstOf(base.Trace, c.kind)
				if len(base.Decisions) == 0 || at < 0 {
					continue
				}
				tried++
				first := base.Decisions[0]
				require.Equal(t, c.fault, first.Fault)
				cfg.Drop = []faults.Decision{first}
				dropped, err := Run(cfg)
				require.NoError(t, err)
				require.NotContains(t, dropped.Decisions, first, "%s seed %d: a dropped decision is not made", b, seed)
				require.Equal(t, base.Trace[:at], dropped.Trace[:at], "%s seed %d: the traces differ before %s struck", b, seed, first)
				require.NotEqual(t, base.Trace[at], dropped.Trace[at], "%s seed %d: dropping %s changed nothing where it struck", b, seed, first)
				require.Contains(t, dropped.Reproduce, "--drop "+first.String())
			}
			require.Equal(t, 3, tried, "%s: too few seeds where %s strikes", b, c.fault)
		}
	}
}

// TestDropEveryCrash drops every crash decision a run makes, and those
// the run then reaches, until it makes none: the run has no crash left.
func TestDropEveryCrash(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		cfg := Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: seed, KeepTrace: true}
		res, err := Run(cfg)
		require.NoError(t, err)
		require.NotEmpty(t, res.Decisions, "seed %d: no crash to drop", seed)
		require.NotEqual(t, -1, firstOf(res.Trace, run.Crash), "seed %d: no crash in the trace", seed)
		for range 20 {
			if len(res.Decisions) == 0 {
				break
			}
			cfg.Drop = append(cfg.Drop, res.Decisions...)
			res, err = Run(cfg)
			require.NoError(t, err)
		}
		require.Empty(t, res.Decisions, "seed %d", seed)
		require.Equal(t, 0, res.FaultsInjected["crash"], "seed %d", seed)
		require.Equal(t, -1, firstOf(res.Trace, run.Crash), "seed %d: a crash in the trace", seed)
	}
}

// TestDecisionsRecorded: every strike the trace shows has its decision,
// and planned faults count their points from 0.
func TestDecisionsRecorded(t *testing.T) {
	res, err := Run(Config{Strategy: "local-cache", Faults: faults.Of(faults.Crash, faults.StoreLoss), Seed: 3, Events: 60, KeepTrace: true})
	require.NoError(t, err)
	crashes, losses := 0, 0
	for _, r := range res.Trace {
		switch r.Kind {
		case run.Crash:
			crashes++
		case run.StoreLoss:
			losses++
		}
	}
	count := func(f faults.Fault) int {
		n := 0
		for _, d := range res.Decisions {
			if d.Fault == f {
				n++
			}
		}
		return n
	}
	require.Equal(t, crashes, count(faults.Crash))
	require.GreaterOrEqual(t, count(faults.StoreLoss), losses, "a loss after healing is planned but not struck")
	require.Contains(t, res.Decisions, faults.Decision{Fault: faults.StoreLoss, Point: 0})
}

// TestDecisionsAreKnownWhenNoneStruck: a run in which no fault struck
// reports an empty list of decisions, never a nil one, whether its world
// is new or reused: explain tells "crash never struck" from it, and the
// same flags must tell the same story in every process.
func TestDecisionsAreKnownWhenNoneStruck(t *testing.T) {
	for range 3 {
		res, err := Run(Config{Strategy: "db-unique", Seed: 1, Events: 5})
		require.NoError(t, err)
		require.NotNil(t, res.Decisions)
		require.Empty(t, res.Decisions)
	}
}
