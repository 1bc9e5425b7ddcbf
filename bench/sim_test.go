package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sim/check"
	"github.com/idemsim/idemsim/strategies"
)

// BenchmarkSimRun measures one standard run (3 instances, 200 events, all
// faults) of each strategy, both checkers included, over seeds 1, 2, 3, ...
// It reports simulated deliveries and simulated seconds per wall second of
// the whole run; check-share, the fraction of the run's wall time spent in
// porcupine's check, measured by checking each run's history once more on
// its own; and sim-deliveries/s, the simulator's speed without that check.
func BenchmarkSimRun(b *testing.B) {
	for _, st := range strategies.Names {
		b.Run(fmt.Sprintf("strategy=%s/faults=all/instances=3/events=200", st), func(b *testing.B) {
			var deliveries int
			var simSeconds float64
			var runWall, checkWall time.Duration
			seed := uint64(0)
			for b.Loop() {
				seed++
				t0 := time.Now()
				res, err := sim.Run(sim.Config{Strategy: st, Faults: faults.AllFaults, Seed: seed, KeepHistory: true})
				runWall += time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				deliveries += res.Deliveries
				simSeconds += res.SimTimeMS / 1e3
				t1 := time.Now()
				check.Linearizable(res.History, 0)
				checkWall += time.Since(t1)
			}
			b.ReportMetric(float64(deliveries)/runWall.Seconds(), "deliveries/s")
			b.ReportMetric(simSeconds/runWall.Seconds(), "sim-s/wall-s")
			b.ReportMetric(checkWall.Seconds()/runWall.Seconds(), "check-share")
			b.ReportMetric(float64(deliveries)/(runWall-checkWall).Seconds(), "sim-deliveries/s")
		})
	}
}

// BenchmarkPorcupine checks the history of one run with all faults at 1x,
// 10x and 100x the standard 200 events. Partitioned per event, the check is
// linear in the history's length: ns/history-op stays flat as it grows.
func BenchmarkPorcupine(b *testing.B) {
	for _, scale := range []int{1, 10, 100} {
		events := 200 * scale
		res, err := sim.Run(sim.Config{Strategy: "db-unique", Faults: faults.AllFaults, Seed: 1, Events: events, KeepHistory: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("history=%dx/events=%d", scale, events), func(b *testing.B) {
			for b.Loop() {
				if got := check.Linearizable(res.History, 0); got != "Ok" {
					b.Fatalf("db-unique history not linearizable: %s", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(res.History)), "ns/history-op")
			b.ReportMetric(float64(len(res.History)), "history-ops")
		})
	}
}

// BenchmarkCompareDefault is the default `idemsim compare`: 6 strategies x 7
// scenarios x 200 seeds, on every CPU. One iteration takes seconds; run it
// with -benchtime 1x.
func BenchmarkCompareDefault(b *testing.B) {
	for b.Loop() {
		c, err := sim.Compare(sim.CompareConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Results) != 42 {
			b.Fatalf("%d cells, want 42", len(c.Results))
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "wall-s/compare")
}
