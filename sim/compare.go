package sim

import (
	"runtime"
	"strings"
	"sync"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

// CompareConfig describes a sweep: every strategy under every scenario, for
// seeds 1..Seeds.
type CompareConfig struct {
	Strategies []string     // default: strategies.Names
	Scenarios  []faults.Set // default: faults.Scenarios()
	Seeds      int          // default 200
	Instances  int          // default 3
	Events     int          // default 200
	// Workers is how many runs go at once at most; 0 means one per CPU.
	// MaxMemory may allow fewer (see InFlight). The result depends on
	// neither.
	Workers int
	// MaxMemory is the memory budget of the runs in flight, in bytes: no
	// more runs go at once than fit in it at EstimateRunMemory each, and
	// always at least one, however large. 0 means DefaultMaxMemory (1 GiB).
	MaxMemory int64
	// Progress, if set, is called after each finished run with the number
	// done and the total, from one goroutine at a time.
	Progress func(done, total int)

	// run is Run; tests instrument it.
	run func(Config) (*Result, error)
}

// DefaultMaxMemory is a sweep's memory budget when CompareConfig.MaxMemory
// is 0: 1 GiB, which the whole process stays within, with room to spare,
// for any size of run (see EstimateRunMemory).
const DefaultMaxMemory int64 = 1 << 30

// The terms of EstimateRunMemory and InFlight, measured with the `all`
// scenario, the most expensive, on every strategy (peak live heap sampled
// with GOGC=10, and the maximum RSS of `idemsim compare` at 1 to 8 workers):
// a run holds about 1.2 kB per event with 3 instances and 2 kB with 64,
// since more instances mean more redeliveries and more history; the garbage
// collector then lets the heap grow to twice what is live (GOGC=100).
const (
	// runBytesPerEvent and runBytesPerEventInstance are twice the live
	// bytes per event, rounded up: events x (2560 + 32 x instances) bytes.
	runBytesPerEvent         = 2560
	runBytesPerEventInstance = 32
	// runBytesBase is what a run holds whatever its size: its world, its
	// instances' stacks.
	runBytesBase = 1 << 20
	// processReserve is the process's own memory, not a run's: the
	// runtime, the code, the idle workers. InFlight leaves it out of the
	// budget.
	processReserve = 64 << 20
)

// EstimateRunMemory estimates the memory, in bytes, that one run of events
// events and instances consumer instances (0: the defaults) takes at its
// peak, counting the garbage the collector has not yet reclaimed:
// 1 MiB + events x (2560 + 32 x instances) bytes, which is 441 MiB for the
// largest run (100,000 events, 64 instances) and 1.5 MiB for the default
// one. It is an upper estimate, measured under every fault at once.
func EstimateRunMemory(events, instances int) int64 {
	c := Config{Events: events, Instances: instances}.withDefaults()
	e, i := int64(max(c.Events, 1)), int64(max(c.Instances, 1))
	return runBytesBase + e*(runBytesPerEvent+runBytesPerEventInstance*i)
}

// InFlight is how many runs the sweep runs at once: Workers (0: one per
// CPU), but no more than fit in MaxMemory at EstimateRunMemory each, after
// a reserve of 64 MiB for the process itself, and at least one.
func (cc CompareConfig) InFlight() int {
	cc = cc.withDefaults()
	n := cc.Workers
	fit := (cc.MaxMemory - processReserve) / EstimateRunMemory(cc.Events, cc.Instances)
	if fit < int64(n) {
		n = int(max(fit, 1))
	}
	return n
}

// Cell is the outcome of one strategy under one scenario over all seeds. Its
// JSON form is one element of `idemsim compare --json`'s results.
type Cell struct {
	Strategy      string   `json:"strategy"`
	Faults        []string `json:"faults"`
	Scenario      string   `json:"scenario"`
	Runs          int      `json:"runs"`
	ViolatingRuns int      `json:"violating_runs"`
	Duplicates    int      `json:"duplicates"`
	Lost          int      `json:"lost"`
	Stuck         int      `json:"stuck"`
	// FirstFailingSeed is the smallest violating seed, nil if none.
	FirstFailingSeed *uint64 `json:"first_failing_seed"`
	// Disagreements counts runs where porcupine and the audit disagreed, or
	// porcupine could not decide; anything but 0 is a bug in idemsim.
	Disagreements int `json:"checker_disagreements"`
	// ReproduceCmd replays the first failing seed; empty if none failed.
	ReproduceCmd string `json:"reproduce,omitempty"`
	Instances    int    `json:"instances"`
	Events       int    `json:"events"`
}

// Verdict is the cell as the outcome table shows it: "ok", or the kinds of
// violation seen, joined by "+" ("dup", "lost", "dup+lost", "stuck", ...).
func (c Cell) Verdict() string {
	var kinds []string
	if c.Duplicates > 0 {
		kinds = append(kinds, "dup")
	}
	if c.Lost > 0 {
		kinds = append(kinds, "lost")
	}
	if c.Stuck > 0 {
		kinds = append(kinds, "stuck")
	}
	if len(kinds) == 0 {
		return "ok"
	}
	return strings.Join(kinds, "+")
}

// Reproduce is the command that replays the first failing seed, or "" if
// none failed.
func (c Cell) Reproduce() string {
	if c.FirstFailingSeed == nil {
		return ""
	}
	var s faults.Set
	if len(c.Faults) > 0 { // none: the empty set
		s, _ = faults.Parse(strings.Join(c.Faults, ","))
	}
	return Config{Strategy: c.Strategy, Faults: s, Seed: *c.FirstFailingSeed, Instances: c.Instances, Events: c.Events}.Reproduce()
}

// Comparison is the outcome of a sweep; its JSON form is the output of
// `idemsim compare --json`.
type Comparison struct {
	Seeds     int    `json:"seeds"`
	Instances int    `json:"instances"`
	Events    int    `json:"events"`
	Results   []Cell `json:"results"`
}

// Cell returns the cell of strategy under scenario, or nil.
func (c *Comparison) Cell(strategy string, scenario faults.Set) *Cell {
	for i := range c.Results {
		if c.Results[i].Strategy == strategy && c.Results[i].Scenario == scenario.String() {
			return &c.Results[i]
		}
	}
	return nil
}

func (cc CompareConfig) withDefaults() CompareConfig {
	if cc.Strategies == nil {
		cc.Strategies = strategies.Names
	}
	if cc.Scenarios == nil {
		cc.Scenarios = faults.Scenarios()
	}
	if cc.Seeds == 0 {
		cc.Seeds = 200
	}
	if cc.Instances == 0 {
		cc.Instances = 3
	}
	if cc.Events == 0 {
		cc.Events = 200
	}
	if cc.Workers <= 0 {
		cc.Workers = runtime.GOMAXPROCS(0)
	}
	if cc.MaxMemory == 0 {
		cc.MaxMemory = DefaultMaxMemory
	}
	if cc.run == nil {
		cc.run = Run
	}
	return cc
}

// MaxSeeds bounds a sweep's seeds.
const MaxSeeds = 1_000_000

// Compare runs the sweep. Runs go in parallel, InFlight at once, so that
// their memory stays within MaxMemory; the result is the same whatever the
// number of workers and the budget, because each run is deterministic and
// the cells are assembled in a fixed order. Bad config is an error that
// matches ErrBadConfig.
func Compare(cc CompareConfig) (*Comparison, error) {
	cc = cc.withDefaults()
	if cc.Seeds < 1 || cc.Seeds > MaxSeeds {
		return nil, BadConfigf("seeds must be 1 to %d, not %d", MaxSeeds, cc.Seeds)
	}
	if len(cc.Strategies) == 0 || len(cc.Scenarios) == 0 {
		return nil, BadConfigf("no strategy or no scenario to compare")
	}
	if cc.MaxMemory < 0 {
		return nil, BadConfigf("memory budget must be positive, not %d bytes", cc.MaxMemory)
	}
	for _, st := range cc.Strategies {
		for _, sc := range cc.Scenarios {
			cfg := Config{Strategy: st, Faults: sc, Instances: cc.Instances, Events: cc.Events}
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
		}
	}

	// Workers read only cfgs, which nobody writes while they run; the
	// collecting loop below alone writes cells.
	size := len(cc.Strategies) * len(cc.Scenarios)
	cells, cfgs := make([]Cell, 0, size), make([]Config, 0, size)
	for _, st := range cc.Strategies {
		for _, sc := range cc.Scenarios {
			cells = append(cells, Cell{Strategy: st, Faults: sc.Names(), Scenario: sc.String(), Instances: cc.Instances, Events: cc.Events})
			cfgs = append(cfgs, Config{Strategy: st, Faults: sc, Instances: cc.Instances, Events: cc.Events})
		}
	}
	type job struct{ cell, seed int }
	type done struct {
		job
		res *Result
		err error
	}
	total := len(cells) * cc.Seeds
	workers := cc.InFlight()
	jobs := make(chan job)
	results := make(chan done, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				cfg := cfgs[j.cell]
				cfg.Seed = uint64(j.seed)
				res, err := cc.run(cfg)
				results <- done{j, res, err}
			}
		}()
	}
	go func() {
		for ci := range cells {
			for s := 1; s <= cc.Seeds; s++ {
				jobs <- job{ci, s}
			}
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()

	var firstErr error
	n := 0
	for d := range results {
		n++
		if cc.Progress != nil {
			cc.Progress(n, total)
		}
		if d.err != nil {
			if firstErr == nil {
				firstErr = d.err
			}
			continue
		}
		c := &cells[d.cell]
		c.Runs++
		c.Duplicates += d.res.Duplicates
		c.Lost += d.res.Lost
		c.Stuck += d.res.Stuck
		if !d.res.CheckersAgree() {
			c.Disagreements++
		}
		if d.res.Violating() {
			c.ViolatingRuns++
			if c.FirstFailingSeed == nil || uint64(d.seed) < *c.FirstFailingSeed {
				seed := uint64(d.seed)
				c.FirstFailingSeed = &seed
			}
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	for i := range cells {
		cells[i].ReproduceCmd = cells[i].Reproduce()
	}
	return &Comparison{Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events, Results: cells}, nil
}
