package sim

import (
	"testing"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// FuzzRun drives the simulator with arbitrary seeds, strategies, fault sets
// and sizes. A run must never panic or hang (the step bound panics), must
// settle, and its two checkers must agree.
func FuzzRun(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint8(1), uint8(3), uint16(20))
	f.Add(uint64(7), uint8(4), uint8(63), uint8(2), uint16(50))
	f.Add(uint64(99), uint8(2), uint8(8), uint8(1), uint16(5))
	f.Add(uint64(1<<63), uint8(5), uint8(18), uint8(8), uint16(1))
	f.Fuzz(func(t *testing.T, seed uint64, strategy, fs, instances uint8, events uint16) {
		cfg := Config{
			Strategy:  strategies.NamesOn(run.DefaultBroker)[int(strategy)%len(strategies.NamesOn(run.DefaultBroker))],
			Faults:    faults.Set(fs) & faults.AllFaults,
			Seed:      seed,
			Instances: 1 + int(instances)%8,
			Events:    1 + int(events)%80,
		}
		r, err := Run(cfg)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Reproduce(), err)
		}
		if !r.CheckersAgree() {
			t.Fatalf("checkers disagree: %s", cfg.Reproduce())
		}
		if r.Stuck != 0 {
			t.Fatalf("%d events stuck: %s", r.Stuck, cfg.Reproduce())
		}
	})
}
