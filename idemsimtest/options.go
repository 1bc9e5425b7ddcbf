package idemsimtest

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sweep"
)

// Options say what ExactlyOnce sweeps and what it expects to find. The
// zero value asks for the default: every scenario of the outcome table,
// seeds 1..ShortSeeds under go test -short and 1..DefaultSeeds otherwise,
// runs of 3 instances and 200 events, and exactly-once in every scenario.
type Options struct {
	// Scenarios names the scenarios to sweep, each as the command line
	// takes it: "redeliver", "crash", ..., "all", "none", or a list such as
	// "crash,partition". Default: every scenario of the outcome table,
	// faults.ScenarioNames().
	Scenarios []string
	// Seeds sweeps seeds 1..Seeds of every scenario. Default: ShortSeeds
	// under -short, else DefaultSeeds. The flag -idemsim.seeds overrides
	// it, and -idemsim.seed replaces the range with one seed.
	Seeds int
	// Instances and Events size each run; 0 means 3 and 200, the outcome
	// table's.
	Instances, Events int
	// Brokers names the broker models to sweep, each as --broker takes
	// it. Default: every model the simulator has (package broker's
	// descriptions: the queue and the log).
	// A strategy that does not run on a model (strategies.Strategy.
	// RunsOn) is not run there. The flag -idemsim.broker narrows the
	// sweep to one of them.
	Brokers []string
	// Broker, if set and Brokers is not, sweeps that one model alone: the
	// option of before Brokers, kept so that tests written for it read
	// as they did.
	Broker string
	// BrokerParams are the models' parameters, as run.Config.Broker: the
	// zero value is every model's defaults, run.NoAckDeadline no ack
	// deadline (RabbitMQ). Each model takes its own (run.BrokerParams.Of),
	// and one that no model swept has is refused. A failure's
	// "reproduce with:" line carries the model and its parameters.
	BrokerParams run.BrokerParams
	// Expect states the kinds of violation the strategy is known to show,
	// per scenario name: "dup", "lost", "stuck", or several joined by "+"
	// ("dup+lost"), as in strategies.Strategy.Expected and the outcome
	// table. The test then fails only on a kind the scenario does not
	// allow; a kind allowed but not seen is logged, not failed, since a
	// short sweep may miss a rare one. A scenario it does not name must be
	// "ok": exactly-once. Expect holds on every model swept but those
	// that ExpectOn names. To hold a strategy to its own description,
	// pass its Expected and ExpectedOn.
	Expect map[string]string
	// ExpectOn states, per broker model, what Expect states, for that
	// model instead of Expect: a strategy's outcome differs from one
	// model to the other (strategies.Strategy.ExpectedOn).
	ExpectOn map[string]map[string]string
	// Workers is how many runs go at once at most; 0 means one per CPU.
	// The result does not depend on it. Real runs go one at a time.
	Workers int
	// Real, if set, sweeps on real servers instead of the simulator
	// (RealServers says which and how). Seeds and Events then default to
	// RealSeeds (RealShortSeeds under -short) and RealEvents; Brokers and
	// BrokerParams must be left empty: the broker is Real.Broker, held to
	// Expect, or to ExpectOn of its matching model.
	Real *RealServers
}

// The default numbers of seeds per scenario. With the 7 scenarios and runs
// of 200 events, ShortSeeds takes about a second on two cores, and
// DefaultSeeds ten times as long. A violation that one run in 20 shows is
// found under -short with a chance of 99.4%, and by DefaultSeeds for sure
// but for one chance in 10^22.
const (
	ShortSeeds   = 100
	DefaultSeeds = 1000
)

// The flags of a test binary that imports this package; they override
// Options for every ExactlyOnce of the run.
var (
	flagSeeds    = flag.Int("idemsim.seeds", 0, "idemsimtest: sweep seeds 1..`N` of every scenario (default: Options.Seeds, or 100 under -short and 1000 otherwise)")
	flagSeed     = flag.Uint64("idemsim.seed", 0, "idemsimtest: sweep this one `seed` only, as a failure's rerun line says")
	flagScenario = flag.String("idemsim.scenario", "", "idemsimtest: sweep this one `scenario` only (\"crash\", \"all\", \"crash,partition\", ...), as a failure's rerun line says")
	flagBroker   = flag.String("idemsim.broker", "", "idemsimtest: sweep this one broker `model` only (\"queue\", \"log\"), as a failure's rerun line says")
)

// plan is what one ExactlyOnce sweeps: Options with the flags and the
// defaults applied, checked.
type plan struct {
	strategy          string
	cells             []*cell
	first, last       uint64 // seeds first..last of every cell
	instances, events int
	workers           int
	brokerModel       string
	broker            run.BrokerParams
	// real, if set, is where the sweep runs: real servers, not the
	// simulator (Options.Real, its defaults applied).
	real *RealServers
	// several says that the call sweeps more than one model, so that its
	// messages name the model and its rerun lines -idemsim.broker.
	several bool
}

// brokersOf returns the models o sweeps, the flag -idemsim.broker
// applied, in order, each checked.
func brokersOf(o Options) ([]string, error) {
	models := o.Brokers
	switch {
	case len(models) == 0 && o.Broker != "":
		models = []string{o.Broker}
	case len(models) == 0:
		models = modelled()
	}
	for i, m := range models {
		if !slices.Contains(run.BrokerNames, m) {
			return nil, fmt.Errorf("unknown broker %q (accepted: %s)", m, strings.Join(run.BrokerNames, ", "))
		}
		if slices.Contains(models[:i], m) {
			return nil, fmt.Errorf("broker %q named twice in Brokers", m)
		}
		if !slices.Contains(modelled(), m) {
			return nil, fmt.Errorf("the %s broker is not modelled in this build of idemsim (package broker describes %s)", m, strings.Join(modelled(), ", "))
		}
	}
	if *flagBroker != "" {
		if !slices.Contains(models, *flagBroker) {
			return nil, fmt.Errorf("-idemsim.broker=%s: not among the brokers swept (%s)", *flagBroker, strings.Join(models, ", "))
		}
		models = []string{*flagBroker}
	}
	return slices.Clone(models), nil
}

// modelled lists the broker models the simulator has, in table order:
// those of run.BrokerNames that package broker describes.
func modelled() []string {
	var out []string
	for _, m := range run.BrokerNames {
		if _, ok := broker.Lookup(m); ok {
			out = append(out, m)
		}
	}
	return out
}

// newPlans resolves o, with the flags, into one plan per broker model
// that strategy runs on, in order. An error says what is wrong and what
// is accepted, and so does a strategy that runs on none of them.
func newPlans(strategy string, o Options, short bool) ([]*plan, error) {
	models, err := brokersOf(o)
	if err != nil {
		return nil, err
	}
	// Every ExpectOn is checked, swept or not, so that a typo shows.
	for _, m := range slices.Sorted(maps.Keys(o.ExpectOn)) {
		if !slices.Contains(run.BrokerNames, m) {
			return nil, fmt.Errorf("ExpectOn[%q]: unknown broker (accepted: %s)", m, strings.Join(run.BrokerNames, ", "))
		}
		if _, err := parseExpect(fmt.Sprintf("ExpectOn[%q]", m), o.ExpectOn[m]); err != nil {
			return nil, err
		}
	}
	if o.BrokerParams.OfAny(models) != o.BrokerParams {
		// Validate names the parameter that is not the model's.
		return nil, run.Config{Strategy: strategy, BrokerModel: models[0], Broker: o.BrokerParams}.Validate()
	}
	var plans []*plan
	for _, m := range models {
		if !sweep.RunsOn(strategy, m) {
			continue
		}
		p, err := newPlan(strategy, m, o, short)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	if len(plans) == 0 {
		return nil, fmt.Errorf("%s, not on the %s", sweep.RunsOnWords(strategy), strings.Join(models, " or the "))
	}
	for _, p := range plans {
		p.several = len(plans) > 1
	}
	return plans, nil
}

// newPlan resolves o, with the flags, into a plan for strategy on the
// broker model. An error says what is wrong and what is accepted.
func newPlan(strategy, model string, o Options, short bool) (*plan, error) {
	p := &plan{strategy: strategy, workers: o.Workers, brokerModel: model, broker: o.BrokerParams.Of(model)}
	d := run.Config{Instances: o.Instances, Events: o.Events}.WithDefaults()
	p.instances, p.events = d.Instances, d.Events

	seeds := o.Seeds
	switch {
	case *flagSeeds != 0:
		seeds = *flagSeeds
	case seeds == 0 && short:
		seeds = ShortSeeds
	case seeds == 0:
		seeds = DefaultSeeds
	}
	if seeds < 1 || seeds > sweep.MaxSeeds {
		return nil, fmt.Errorf("seeds must be 1 to %d, not %d", sweep.MaxSeeds, seeds)
	}
	p.first, p.last = 1, uint64(seeds)
	if *flagSeed != 0 {
		p.first, p.last = *flagSeed, *flagSeed
	}

	names := o.Scenarios
	if *flagScenario != "" {
		names = []string{*flagScenario}
	} else if len(names) == 0 {
		names = faults.ScenarioNames()
	}
	expectOf, field := o.Expect, "Expect"
	if e, ok := o.ExpectOn[model]; ok {
		expectOf, field = e, fmt.Sprintf("ExpectOn[%q]", model)
	}
	expect, err := parseExpect(field, expectOf)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		set, err := faults.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("scenario %q: %v", name, err)
		}
		if slices.ContainsFunc(p.cells, func(c *cell) bool { return c.set == set }) {
			continue
		}
		p.cells = append(p.cells, &cell{set: set, allowed: expect[set]})
	}
	for _, c := range p.cells {
		cfg := p.config(c, p.first)
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// config is the run of cell c with seed.
func (p *plan) config(c *cell, seed uint64) run.Config {
	return run.Config{Strategy: p.strategy, Faults: c.set, Seed: seed, Instances: p.instances, Events: p.events, BrokerModel: p.brokerModel, Broker: p.broker}
}

// seeds is how many seeds each cell runs.
func (p *plan) seeds() int { return int(p.last - p.first + 1) }

// parseExpect reads Options.Expect, or one model's ExpectOn (field names
// it in messages), into the kinds allowed per scenario.
func parseExpect(field string, expect map[string]string) (map[faults.Set]kinds, error) {
	out := make(map[faults.Set]kinds, len(expect))
	for name, verdict := range expect {
		set, err := faults.Parse(name)
		if err != nil {
			return nil, fmt.Errorf("%s[%q]: %v", field, name, err)
		}
		k, err := parseKinds(verdict)
		if err != nil {
			return nil, fmt.Errorf("%s[%q]: %v", field, name, err)
		}
		out[set] |= k
	}
	return out, nil
}
