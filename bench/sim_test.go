package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// BenchmarkSimRun measures one standard run (3 instances, 200 events, all
// faults) of each strategy, both checkers included, over seeds 1, 2, 3, ...
// The timed run keeps no history for its caller, as compare's runs do.
//
// It reports simulated deliveries and simulated seconds per wall second of
// the whole run, and sim-deliveries/s, the same without the porcupine check.
// check-share is the fraction of the run's wall time that the porcupine
// check takes as runs use it (check.Linearizable, which asks porcupine once
// per shape of event history): the same run is repeated untimed to get its
// history, and that history checked once more, timed. porcupine-share is the
// same for one uncached call of porcupine on the whole history
// (check.Porcupine), timed after the loop on the first runs' histories so
// that its garbage does not slow the runs being measured.
//
// The queue's benchmarks are named by strategy alone, as they always were;
// the log's end in /broker=log. Run them alone with
// -bench 'SimRun/.*/.*/.*/.*/broker=log': go test matches a name one
// level at a time, so the pattern needs a level for each.
func BenchmarkSimRun(b *testing.B) {
	const porcupineSample = 50
	for _, brk := range run.BrokerNames {
		for _, st := range strategies.Names() {
			if d, _ := strategies.Lookup(st); !d.RunsOn(brk) {
				continue
			}
			name := fmt.Sprintf("strategy=%s/faults=all/instances=3/events=200", st)
			if brk != run.DefaultBroker {
				name += "/broker=" + brk
			}
			benchSimRun(b, name, sim.Config{Strategy: st, Faults: faults.AllFaults, BrokerModel: brk}, porcupineSample)
		}
	}
}

// benchSimRun is one of BenchmarkSimRun's benchmarks: base's runs over
// seeds 1, 2, 3, ...
func benchSimRun(b *testing.B, name string, base sim.Config, porcupineSample int) {
	b.Run(name, func(b *testing.B) {
		var deliveries int
		var simSeconds float64
		var runWall, checkWall time.Duration
		var sample [][]check.Op
		seed := uint64(0)
		for b.Loop() {
			seed++
			cfg := base
			cfg.Seed = seed
			t0 := time.Now()
			res, err := sim.Run(cfg)
			runWall += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			deliveries += res.Deliveries
			simSeconds += res.SimTimeMS / 1e3
			// The timed run keeps no history, as compare's runs do;
			// the same run again, untimed, hands it over.
			b.StopTimer()
			cfg.KeepHistory = true
			res, err = sim.Run(cfg)
			b.StartTimer()
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			check.Linearizable(res.History, 0)
			checkWall += time.Since(t1)
			if len(sample) < porcupineSample {
				sample = append(sample, res.History)
			}
		}
		t2 := time.Now()
		for _, h := range sample {
			check.Porcupine(h, 0)
		}
		porcupinePerRun := time.Since(t2).Seconds() / float64(len(sample))
		runs := float64(b.N)
		b.ReportMetric(float64(deliveries)/runWall.Seconds(), "deliveries/s")
		b.ReportMetric(simSeconds/runWall.Seconds(), "sim-s/wall-s")
		b.ReportMetric(checkWall.Seconds()/runWall.Seconds(), "check-share")
		b.ReportMetric(porcupinePerRun/(runWall.Seconds()/runs), "porcupine-share")
		b.ReportMetric(float64(deliveries)/(runWall-checkWall).Seconds(), "sim-deliveries/s")
	})
}

// BenchmarkPorcupine checks the history of one run with all faults at 1x,
// 10x and 100x the standard 200 events, in one uncached call of porcupine
// (check.Porcupine) and as runs check it (check.Linearizable, memoized by
// shape). Partitioned per event, both are linear in the history's length:
// ns/history-op stays flat as it grows.
func BenchmarkPorcupine(b *testing.B) {
	for _, scale := range []int{1, 10, 100} {
		events := 200 * scale
		res, err := sim.Run(sim.Config{Strategy: "db-unique", Faults: faults.AllFaults, Seed: 1, Events: events, KeepHistory: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			check func([]check.Op, time.Duration) porcupine.CheckResult
		}{{"uncached", check.Porcupine}, {"memoized", check.Linearizable}} {
			b.Run(fmt.Sprintf("check=%s/history=%dx/events=%d", c.name, scale, events), func(b *testing.B) {
				for b.Loop() {
					if got := c.check(res.History, 0); got != porcupine.Ok {
						b.Fatalf("db-unique history not linearizable: %s", got)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(res.History)), "ns/history-op")
				b.ReportMetric(float64(len(res.History)), "history-ops")
			})
		}
	}
}

// BenchmarkCompareDefault is the default `idemsim compare`: every registered
// strategy x every scenario (faults.Scenarios) x 200 seeds, on every CPU.
// One iteration takes seconds; run it with -benchtime 1x.
func BenchmarkCompareDefault(b *testing.B) {
	want := len(strategies.NamesOn(run.DefaultBroker)) * len(faults.Scenarios())
	for b.Loop() {
		c, err := sweep.Compare(sweep.CompareConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Results) != want {
			b.Fatalf("%d cells, want %d", len(c.Results), want)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "wall-s/compare")
}
