package sim

import (
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// TestCheckersAgreeOnSmallRuns covers the corners big runs rarely reach: one
// or two events, many instances, every strategy and scenario.
func TestCheckersAgreeOnSmallRuns(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, sc := range faults.Scenarios() {
			for _, shape := range []struct{ inst, events int }{{1, 1}, {2, 2}, {5, 3}, {8, 12}} {
				for s := 1; s <= seeds; s++ {
					cfg := Config{Strategy: st, Faults: sc, Seed: uint64(s), Instances: shape.inst, Events: shape.events}
					r, err := Run(cfg)
					require.NoError(t, err)
					require.True(t, r.CheckersAgree(), "checkers disagree: %s", cfg.Reproduce())
					require.Zero(t, r.Stuck, "stuck: %s", cfg.Reproduce())
				}
			}
		}
	}
}

// TestMemoizedCheckMatchesPorcupine: runs judge their history with the
// memoized check (check.Linearizable); on real run histories of every
// strategy and scenario it must say what porcupine says on the whole history.
func TestMemoizedCheckMatchesPorcupine(t *testing.T) {
	seeds := 10
	if testing.Short() {
		seeds = 3
	}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, sc := range faults.Scenarios() {
			for s := 1; s <= seeds; s++ {
				cfg := Config{Strategy: st, Faults: sc, Seed: uint64(s), KeepHistory: true}
				r, err := Run(cfg)
				require.NoError(t, err)
				require.NotNil(t, r.Linearizable, cfg.Reproduce())
				want := check.Porcupine(r.History, check.Timeout) == porcupine.Ok
				if r.DownHistory != nil {
					// A strategy that sends events on: its downstream too.
					down := check.DownVerdict(r.DownHistory, check.Timeout)
					require.NotNil(t, down, cfg.Reproduce())
					want = want && *down
				}
				require.Equal(t, want, *r.Linearizable, "memoized check and porcupine disagree: %s", cfg.Reproduce())
			}
		}
	}
}
