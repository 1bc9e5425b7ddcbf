package sweep

import (
	"errors"
	"fmt"
	"strings"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// CompareConfig describes a comparison: every strategy under every
// scenario, for seeds 1..Seeds.
type CompareConfig struct {
	Strategies []string     // default: strategies.NamesOn(BrokerModel), those that run on its broker
	Scenarios  []faults.Set // default: faults.Scenarios()
	Seeds      int          // default 200
	Instances  int          // default 3
	Events     int          // default 200
	// BrokerModel and Broker are every run's broker model ("": the
	// queue) and its parameters.
	BrokerModel string
	Broker      run.BrokerParams
	// Workers is how many runs go at once at most; 0 means one per CPU.
	// MaxMemory may allow fewer (see InFlight). The result depends on
	// neither.
	Workers int
	// MaxMemory is the memory budget of the runs in flight, in bytes: no
	// more runs go at once than fit in it at EstimateRunMemory each, and
	// always at least one, however large. 0 means DefaultMaxMemory (1 GiB).
	MaxMemory int64
	// Progress, if set, is called after each finished run with the number
	// done and the total, on the goroutine that called Compare.
	Progress func(done, total int)

	// simulate is sim.Run; tests instrument it.
	simulate func(run.Config) (*run.Result, error)
}

// MaxSeeds bounds a sweep's seeds.
const MaxSeeds = 1_000_000

// InFlight is how many runs the comparison runs at once: Workers (0: one
// per CPU), but no more than fit in MaxMemory at EstimateRunMemory each,
// after a reserve of 64 MiB for the process itself, and at least one.
func (cc CompareConfig) InFlight() int { return cc.withDefaults().options().InFlight() }

// options are the engine's options for cc, defaults filled in.
func (cc CompareConfig) options() Options {
	return Options{Workers: cc.Workers, MaxMemory: cc.MaxMemory, RunMemory: EstimateRunMemory(cc.Events, cc.Instances), Progress: cc.Progress}
}

// withDefaults fills in the zero fields.
func (cc CompareConfig) withDefaults() CompareConfig {
	if cc.Strategies == nil {
		cc.Strategies = strategies.NamesOn(run.Config{BrokerModel: cc.BrokerModel}.WithDefaults().BrokerModel)
	}
	if cc.Scenarios == nil {
		cc.Scenarios = faults.Scenarios()
	}
	if cc.Seeds == 0 {
		cc.Seeds = 200
	}
	d := run.Config{Instances: cc.Instances, Events: cc.Events}.WithDefaults()
	cc.Instances, cc.Events = d.Instances, d.Events
	if cc.MaxMemory == 0 {
		cc.MaxMemory = DefaultMaxMemory
	}
	if cc.simulate == nil {
		cc.simulate = sim.Run
	}
	return cc
}

// validate reports what is wrong with cc, defaults filled in; the error
// matches run.ErrBadConfig.
func (cc CompareConfig) validate() error {
	if cc.Seeds < 1 || cc.Seeds > MaxSeeds {
		return run.BadConfigf("seeds must be 1 to %d, not %d", MaxSeeds, cc.Seeds)
	}
	if len(cc.Strategies) == 0 || len(cc.Scenarios) == 0 {
		return run.BadConfigf("no strategy or no scenario to compare")
	}
	if cc.MaxMemory < 0 {
		return run.BadConfigf("memory budget must be positive, not %d bytes", cc.MaxMemory)
	}
	for _, st := range cc.Strategies {
		if _, ok := strategies.Lookup(st); !ok {
			return run.BadConfigf("unknown strategy %q (accepted: %s)", st, strings.Join(strategies.Names(), ", "))
		}
	}
	if len(runsOn(cc.Strategies, cc.BrokerModel)) == 0 {
		return run.BadConfigf("no strategy of %s runs on the %s broker: %s", strings.Join(cc.Strategies, ", "), brokerName(cc.BrokerModel), RunsOnWords(cc.Strategies[0]))
	}
	for _, cfg := range cc.configs() {
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// configs are the runs of the cells, in result order (strategy by
// strategy, scenario by scenario), without their seeds. A strategy that
// does not run on the broker (strategies.Strategy.RunsOn) has no cells.
func (cc CompareConfig) configs() []run.Config {
	cfgs := make([]run.Config, 0, len(cc.Strategies)*len(cc.Scenarios))
	for _, st := range runsOn(cc.Strategies, cc.BrokerModel) {
		for _, sc := range cc.Scenarios {
			cfgs = append(cfgs, run.Config{Strategy: st, Faults: sc, Instances: cc.Instances, Events: cc.Events, BrokerModel: cc.BrokerModel, Broker: cc.Broker, NoTraceHash: true})
		}
	}
	return cfgs
}

// brokerName is model, or the default's name for "".
func brokerName(model string) string {
	if model == "" {
		return run.DefaultBroker
	}
	return model
}

// runsOn returns the strategies of names that run on the broker model,
// in order; an unknown name is kept, for Config.Validate to refuse.
func runsOn(names []string, model string) []string {
	model = brokerName(model)
	var out []string
	for _, n := range names {
		if st, ok := strategies.Lookup(n); !ok || st.RunsOn(model) {
			out = append(out, n)
		}
	}
	return out
}

// RunsOn reports whether the strategy called name runs on the broker
// model ("" is the queue): a table shows "-" where it does not. An unknown
// strategy runs nowhere.
func RunsOn(name, model string) bool {
	st, ok := strategies.Lookup(name)
	return ok && st.RunsOn(brokerName(model))
}

// RunsOnWords says on which brokers the strategy called name runs, for a
// message that refuses it on another: "offset-in-db runs only on the log
// broker (--broker log)".
func RunsOnWords(name string) string {
	st, ok := strategies.Lookup(name)
	if !ok {
		return fmt.Sprintf("unknown strategy %q", name)
	}
	var on []string
	for _, m := range run.BrokerNames {
		if st.RunsOn(m) {
			on = append(on, m)
		}
	}
	switch len(on) {
	case 0:
		return name + " runs on no broker model"
	case len(run.BrokerNames):
		return name + " runs on every broker model"
	case 1:
		return fmt.Sprintf("%s runs only on the %s broker (--broker %s)", name, on[0], on[0])
	}
	return fmt.Sprintf("%s runs only on the brokers %s (--broker %s)", name, strings.Join(on, ", "), strings.Join(on, ","))
}

// Cell is the outcome of one strategy under one scenario over all seeds. Its
// JSON form is one element of `idemsim compare --json`'s results.
type Cell struct {
	Strategy string   `json:"strategy"`
	Faults   []string `json:"faults"`
	Scenario string   `json:"scenario"`
	// BrokerNaming names the broker and its parameters that are not the
	// default, in the JSON in its place here.
	run.BrokerNaming
	// Stats counts its runs and their violations; its fields appear in
	// the JSON in their place here.
	Stats
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
// violation seen, joined by "+" ("dup", "lost", "dup+lost", "ghost", "stuck", ...).
func (c Cell) Verdict() string {
	var kinds []string
	if c.Duplicates > 0 {
		kinds = append(kinds, "dup")
	}
	if c.Lost > 0 {
		kinds = append(kinds, "lost")
	}
	if c.Ghosts > 0 {
		// Downstream: an event sent for an effect that rolled back.
		kinds = append(kinds, "ghost")
	}
	if c.Stuck > 0 {
		kinds = append(kinds, "stuck")
	}
	if c.Dead > 0 {
		// Not a violation, but not ok either: the broker gave up on
		// events, as its max deliveries told it to.
		kinds = append(kinds, "dead")
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
	model, p, _ := c.BrokerNaming.Params() // checked when read
	return run.Config{Strategy: c.Strategy, Faults: s, Seed: *c.FirstFailingSeed, Instances: c.Instances, Events: c.Events, BrokerModel: model, Broker: p}.Reproduce()
}

// add counts one run of seed. Runs are added in seed order, so the first
// violating one is the smallest.
func (c *Cell) add(seed uint64, o outcome) {
	c.Stats.add(o)
	if o.disagree {
		c.Disagreements++
	}
	if o.violating && c.FirstFailingSeed == nil {
		c.FirstFailingSeed = &seed
	}
}

// Comparison is the outcome of a sweep; its JSON form is the output of
// `idemsim compare --json`.
type Comparison struct {
	Seeds     int `json:"seeds"`
	Instances int `json:"instances"`
	Events    int `json:"events"`
	// BrokerNaming names the broker of every run, in the JSON in its
	// place here.
	run.BrokerNaming
	Results []Cell `json:"results"`
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

// Compare runs the comparison, InFlight runs at once, so that their memory
// stays within MaxMemory. The result is the same whatever the number of
// workers and the budget: Run hands the runs on in order. Bad config is an
// error that matches run.ErrBadConfig.
func Compare(cc CompareConfig) (*Comparison, error) {
	cc = cc.withDefaults()
	if err := cc.validate(); err != nil {
		return nil, err
	}
	cells, err := compareSeeds(cc, 1, cc.Seeds)
	if err != nil {
		return nil, err
	}
	return &Comparison{Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events, BrokerNaming: run.NameBroker(cc.BrokerModel, cc.Broker), Results: cells}, nil
}

// runError is the error of a sweep's run of cfg: err, with the command
// that replays the run, unless err is a strategy's failing New
// (strategies.NewError), which is no run's: the sweep ends with the
// strategy's own error, as a run of it does (the simulator says where
// when it matters: a New that failed only on a restart).
func runError(cfg run.Config, err error) error {
	var ne *strategies.NewError
	if errors.As(err, &ne) {
		return err
	}
	return fmt.Errorf("%s: %w", cfg.Reproduce(), err)
}

// outcome is what a comparison keeps of a run: its counts, not its
// history, for a sweep holds thousands of runs.
type outcome struct {
	duplicates, lost, stuck, dead, ghosts int
	violating, disagree                   bool
}

// outcomeOf is what a comparison keeps of r.
func outcomeOf(r *run.Result) outcome {
	// The downstream's missing events are lost events, and its
	// duplicates duplicates, of the table's kinds; a ghost is a kind of
	// its own.
	return outcome{duplicates: r.Duplicates + r.DownstreamDuplicates, lost: r.Lost + r.DownstreamLost, stuck: r.Stuck, dead: r.Dead,
		ghosts: r.Ghosts, violating: r.Violating(), disagree: !r.CheckersAgree()}
}

// compareSeeds runs the cells of cc, a valid config with its defaults,
// over seeds first..last, and returns them in result order, each with the
// command that replays its first failing seed.
func compareSeeds(cc CompareConfig, first, last int) ([]Cell, error) {
	cfgs := cc.configs()
	cells := make([]Cell, len(cfgs))
	for i, cfg := range cfgs {
		cells[i] = Cell{Strategy: cfg.Strategy, Faults: cfg.Faults.Names(), Scenario: cfg.Faults.String(), BrokerNaming: run.NameBroker(cc.BrokerModel, cc.Broker), Instances: cc.Instances, Events: cc.Events}
	}
	// Job i is cell i/per's run of seed first+i%per: a cell's seeds in
	// order, then the next cell's.
	per := last - first + 1
	job := func(i int) (cell int, cfg run.Config) {
		cfg = cfgs[i/per]
		cfg.Seed = uint64(first + i%per)
		return i / per, cfg
	}
	err := Run(cc.options(), len(cfgs)*per, func(i int) (outcome, error) {
		_, cfg := job(i)
		r, err := cc.simulate(cfg)
		if err != nil {
			return outcome{}, runError(cfg, err)
		}
		return outcomeOf(r), nil
	}, func(i int, o outcome) bool {
		c, cfg := job(i)
		cells[c].add(cfg.Seed, o)
		return true
	})
	if err != nil {
		return nil, err
	}
	for i := range cells {
		cells[i].ReproduceCmd = cells[i].Reproduce()
	}
	return cells, nil
}
