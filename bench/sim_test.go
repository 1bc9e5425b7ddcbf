package bench

import (
	"testing"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sim/check"
)

// BenchmarkSimRun measures one standard run (3 instances, 200 events, all
// faults), checkers included, over a rotating set of seeds. It reports
// simulated deliveries per wall second, simulated seconds per wall second,
// and the share of the wall time that porcupine's check takes.
func BenchmarkSimRun(b *testing.B) {
	for _, st := range []string{"local-cache", "redis", "db-unique"} {
		b.Run("strategy="+st+"/faults=all/instances=3/events=200", func(b *testing.B) {
			var deliveries int
			var simNS float64
			var checkNS time.Duration
			seed := uint64(0)
			start := time.Now()
			for b.Loop() {
				seed++
				res, err := sim.Run(sim.Config{Strategy: st, Faults: faults.AllFaults, Seed: seed, KeepHistory: true})
				if err != nil {
					b.Fatal(err)
				}
				deliveries += res.Deliveries
				simNS += res.SimTimeMS * 1e6
				// Time porcupine alone on the same history, to report
				// its share of a run.
				t := time.Now()
				check.Linearizable(res.History, 0)
				checkNS += time.Since(t)
			}
			wall := time.Since(start) - checkNS // the run without the second check
			b.ReportMetric(float64(deliveries)/wall.Seconds(), "deliveries/s")
			b.ReportMetric(simNS/1e9/wall.Seconds(), "sim-s/wall-s")
			b.ReportMetric(checkNS.Seconds()/wall.Seconds(), "check-share")
		})
	}
}
