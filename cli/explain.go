package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/explain/page"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// explainSynopsis is the usage line of `idemsim explain`.
const explainSynopsis = "idemsim explain --strategy S [--faults F[,F...]] [--kind dup|lost|stuck] [--against S2] [--instances 3] [--seeds 200] [--broker queue] [--out DIR]"

const explainAbout = `
Find a run in which the strategy breaks exactly-once, shrink it to the
smallest run that still breaks it the same way, and tell that run step by
step: the simulated time, the instance, what it did, and the state that
matters at that moment (each instance's local cache, the Redis keys or the
processed ids, the committed ledger rows). The story ends with the
violation, why the strategy let it through, and the command that replays
the run. Every sentence states only what the run's trace shows.

The search runs seeds 1..N with --instances instances and 200 events under
--faults (several names: those faults together). Without --faults, it
tries the strategy's lesson first (redeliver, for local-cache), then each
scenario its description expects to fail, in table order, until one fails.
--kind tells a violation of that kind (a duplicate, a lost event, a stuck
one) rather than the first the run shows. While a search runs, the seeds
searched so far are shown on stderr when it is a terminal. A strategy
whose New fails is an error (exit status 1). The shrinker then tries fewer
events, fewer instances and fewer faults (keeping at least one), each over
seeds 1..200, until nothing smaller fails the same way, and takes the seed
whose story has the fewest steps: a seed draws a run's faults and timings,
so the shrunk run's seed is its own. The same flags always tell the same
story.

--broker names the broker model: the queue, or the log (a Kafka-style
consumer group, told by partition, offset, generation and commit); its
parameters go with every run the search makes, and the runs it finds and
tells keep them. Without --faults, the scenarios tried are those the
strategy's row on that broker expects to fail.

A strategy with no violation is reported as such, with how many seeds and
scenarios were tried (exit status 0); with --against S2, explain then finds
and shrinks the run that breaks S2 and tells how the strategy came through
that same run.
`

// explainOrder is the order in which explain's help lists its flags, each
// with the placeholder of its value.
// The broker's flags are brokerOrder's, so that a model's parameters
// appear here as they are added there.
var explainOrder = append(append([]string{"strategy S", "faults F[,F...]", "kind K", "against S2", "instances N", "seeds N"}, brokerOrder...), "out DIR")

// explainOpts are the flags of `idemsim explain`.
type explainOpts struct {
	strategy  string
	faults    string
	kind      string
	against   string
	instances int
	seeds     int
	out       string
	broker    brokerFlags
	model     string           // the broker model, from broker's flags
	params    run.BrokerParams // its parameters, from broker's flags
}

// flagSet defines explain's flags on a new FlagSet that writes into o.
func (o *explainOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.StringVar(&o.strategy, "strategy", "",
		"deduplication strategy to explain (required), one of:\n"+acceptedStrategies())
	fs.StringVar(&o.faults, "faults", "",
		"faults to inject together, a comma-separated list of:\n"+acceptedFaults()+"\n("+faultsHelp+")\n"+
			"(default: the strategy's lesson, then each scenario its description\nexpects to fail, in turn until one fails)")
	fs.StringVar(&o.kind, "kind", "",
		"the kind of violation to tell, one of: "+strings.Join(explain.KindNames(), ", ")+"\n"+
			"(default: the first the run shows, a duplicate before a lost event)")
	fs.StringVar(&o.against, "against", "",
		"when the strategy has no violation, tell how it came through the shrunk run\n"+
			"that breaks this other strategy (default: none; the message says how)")
	fs.Var(newIntValue(&o.instances, 3, 1, sim.MaxInstances), "instances",
		fmt.Sprintf("consumer instances the search starts with, 1 to %d", sim.MaxInstances))
	fs.Var(newIntValue(&o.seeds, explain.DefaultSeeds, 1, sweep.MaxSeeds), "seeds",
		fmt.Sprintf("search seeds 1..N of each scenario, N from 1 to %d", sweep.MaxSeeds))
	o.broker.define(fs, false)
	fs.StringVar(&o.out, "out", "",
		"also write into DIR, creating it: "+page.File+" (the story page: its steps one at\n"+
			"a time with the state after each, the timeline and the fix, in one file that\n"+
			"opens from disk), "+explain.HistoryFile+" (porcupine's visualization of\n"+
			"the shrunk run's history, faults annotated) and "+explain.TimelinePNGFile+" and\n"+
			explain.TimelineSVGFile+" (one lane per instance, the broker and the stores);\n"+
			"nothing, not even DIR, when there is no violation to explain\n"+
			"(default: write no file)")
	return fs
}

// explainCmd is `idemsim explain`.
func (e *env) explainCmd(args []string) error {
	var o explainOpts
	fs := o.flagSet()
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, explainSynopsis, explainAbout, fs, explainOrder)
	}
	if err != nil {
		return err
	}
	set := setFlags(fs)
	model, params, err := o.broker.config(set)
	if err != nil {
		return err
	}
	// The model and its parameters go with every run the search makes,
	// and the runs it finds keep them.
	o.model, o.params = model, params
	if _, ok := strategies.Lookup(o.strategy); ok {
		if err := strategyRunsOn(o.strategy, model); err != nil {
			return err
		}
	}
	scenarios, err := o.scenarios(set)
	if err != nil {
		return err
	}
	kind, err := o.kindOf(set)
	if err != nil {
		return err
	}
	if o.out != "" {
		// Only checked here: DIR is created once there is something to
		// write in it.
		if err := checkOutDir(o.out); err != nil {
			return err
		}
	}

	w := e.stdout
	found, ok, err := e.searchScenarios(w, o.strategy, scenarios, o.instances, o.seeds, kind, o.model, o.params)
	if err != nil {
		return err
	}
	if !ok {
		return e.nothingToExplain(w, &o, scenarios, set["faults"], kind)
	}
	if o.out != "" {
		if err := prepareOutDir(o.out); err != nil {
			return err
		}
	}
	foundRes, err := e.simRun(explainTraced(found))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "seed %d fails (%s); %s\n", found.Seed, explainCounts(foundRes), plural(len(foundRes.Trace), "trace record"))

	shrunk, err := explain.ShrinkKind(found, kind)
	if err != nil {
		return err
	}
	story, err := explain.TellKind(shrunk, kind)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "shrunk to %s: %s, %s\n\n", explain.ShrunkWords(found, shrunk),
		plural(len(story.Result.Trace), "trace record"), plural(len(story.Steps), "step"))
	return e.writeStory(story, o.out)
}

// searchScenarios searches each scenario in turn, saying so on w, until
// one has a run with a violation of kind (any, for NoViolation). A run
// that fails with an error, such as one of a strategy whose New fails,
// ends the search with that error. Each scenario's line is written once
// its search is over, so that, on a terminal, the progress line shown on
// stderr meanwhile (the seeds searched so far) is written over, and a
// search that fails leaves no half line.
func (e *env) searchScenarios(w io.Writer, strategy string, scenarios []faults.Set, instances, seeds int, kind explain.Kind, model string, params run.BrokerParams) (sim.Config, bool, error) {
	search := e.search
	if search == nil {
		search = explain.SearchWith
	}
	what := "200 events"
	if kind != explain.NoViolation {
		what += ", a violation of kind " + kind.String()
	}
	for _, sc := range scenarios {
		var prog *progress
		o := explain.SearchOptions{Kind: kind, BrokerModel: model, Broker: params}
		if e.isTerminal != nil && e.isTerminal(e.stderr) {
			prog = newProgressOf(e.stderr, e.now, fmt.Sprintf("explain: searching %s %s", strategy, explain.Under(sc)), "seed")
			o.Progress = prog.update
		}
		found, ok, err := search(strategy, sc, instances, seeds, o)
		if prog != nil {
			prog.erase()
		}
		if err != nil {
			return found, false, err
		}
		line := fmt.Sprintf("searching seeds 1..%d of %s %s (%s, %s): ", seeds, strategy, explain.Under(sc), plural(instances, "instance"), what)
		if ok {
			fmt.Fprint(w, line)
			return found, true, nil
		}
		if kind != explain.NoViolation {
			fmt.Fprintln(w, line+"no violation of kind", kind)
			continue
		}
		fmt.Fprintln(w, line+"no violation")
	}
	return sim.Config{}, false, nil
}

// writeStory writes story on stdout and, with out set, its files into out.
func (e *env) writeStory(story *explain.Story, out string) error {
	if _, err := story.WriteTo(e.stdout); err != nil {
		return err
	}
	if !story.Result.CheckersAgree() {
		return &checkerBugError{msg: disagreement(story.Result)}
	}
	if out != "" {
		// --against comes here without the main path's making of out.
		if err := prepareOutDir(out); err != nil {
			return err
		}
		paths, err := explain.WriteFiles(out, story)
		if err == nil {
			var p string
			p, err = page.WriteFile(out, story)
			if p != "" {
				paths = append([]string{p}, paths...)
			}
		}
		if len(paths) > 0 {
			fmt.Fprintf(e.stderr, "wrote %s\n", strings.Join(paths, ", "))
		}
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

// nothingToExplain reports a strategy with no violation: what was tried,
// and, with --against, how it came through the run that breaks the other
// strategy; without, how to ask for that.
func (e *env) nothingToExplain(w io.Writer, o *explainOpts, scenarios []faults.Set, faultsSet bool, kind explain.Kind) error {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.String()
	}
	what := "no violation"
	if kind != explain.NoViolation {
		what = "no violation of kind " + kind.String()
	}
	fmt.Fprintf(w, "%s: %s in %s x %s (%s), %s and 200 events per run; nothing to explain\n",
		o.strategy, what, plural(o.seeds, "seed"), plural(len(scenarios), "scenario"), strings.Join(names, ", "), plural(o.instances, "instance"))
	if o.against == "" {
		other := defaultAgainst(o.strategy)
		if other == "" {
			return nil
		}
		cmd := fmt.Sprintf("idemsim explain --strategy %s --against %s", o.strategy, other)
		if faultsSet {
			cmd += " --faults " + o.faults
		}
		_, err := fmt.Fprintf(w, "to see %s come through a run that breaks another strategy, name it with --against, as: %s\n(%s is the first strategy in table order that breaks)\n", o.strategy, cmd, other)
		return err
	}
	againstScenarios := scenarios
	if !faultsSet {
		againstScenarios = explain.ScenariosOn(o.against, o.model)
	}
	found, ok, err := e.searchScenarios(w, o.against, againstScenarios, o.instances, o.seeds, kind, o.model, o.params)
	if err != nil {
		return err
	}
	if !ok {
		_, err := fmt.Fprintf(w, "%s: no violation either; nothing to compare\n", o.against)
		return err
	}
	shrunk, err := explain.ShrinkKind(found, kind)
	if err != nil {
		return err
	}
	broken, err := explain.TellKind(shrunk, kind)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "seed %d fails\nshrunk to %s: %s\n", found.Seed, explain.ShrunkWords(found, shrunk), brokeWords(o.against, broken.Kind, broken.Event))
	same := shrunk
	same.Strategy = o.strategy
	story, err := explain.TellEvent(same, broken.Event)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "the same run (same seed, instances, events and faults) under %s, event %d:\n\n", o.strategy, broken.Event)
	return e.writeStory(story, o.out)
}

// brokeWords says what strategy did to event ev, a violation of kind k,
// as "redis loses event 1".
func brokeWords(strategy string, k explain.Kind, ev uint32) string {
	switch k {
	case explain.Duplicate:
		return fmt.Sprintf("%s applies event %d more than once", strategy, ev)
	case explain.Lost:
		return fmt.Sprintf("%s loses event %d", strategy, ev)
	case explain.Stuck:
		return fmt.Sprintf("event %d never settles under %s", ev, strategy)
	}
	return fmt.Sprintf("event %d under %s", ev, strategy)
}

// defaultAgainst is the strategy --against would name by default for
// strategy: the first other strategy in table order whose description
// expects it to break somewhere; "" if none does.
func defaultAgainst(strategy string) string {
	for _, st := range strategies.All() {
		if st.Name == strategy {
			continue
		}
		for _, v := range st.Expected {
			if v != "ok" {
				return st.Name
			}
		}
	}
	return ""
}

// checkOutDir checks, without creating anything, that dir could be made:
// that it is a directory, or that its nearest existing ancestor is.
func checkOutDir(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		switch {
		case err == nil && st.IsDir():
			return nil
		case err == nil:
			return fmt.Errorf("--out: %s is not a directory", d)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("--out: %w", err)
		case filepath.Dir(d) == d:
			return nil // nothing exists up to the root: MkdirAll will say
		}
	}
}

// scenarios checks the flags and returns the scenarios to search, in
// order; set names the flags given on the command line.
func (o *explainOpts) scenarios(set map[string]bool) ([]faults.Set, error) {
	if !set["strategy"] {
		return nil, usagef("missing --strategy (accepted: %s)", acceptedStrategies())
	}
	o.strategy = strings.TrimSpace(o.strategy)
	if !strategies.Valid(o.strategy) {
		return nil, unknownName("strategy", o.strategy, strategies.Names())
	}
	if set["out"] && o.out == "" {
		return nil, usagef("--out needs a directory (default: write no file)")
	}
	if set["against"] {
		o.against = strings.TrimSpace(o.against)
		if !strategies.Valid(o.against) {
			return nil, unknownName("strategy", o.against, strategies.Names())
		}
		if o.against == o.strategy {
			return nil, usagef("--against %s names the strategy explained: name another (accepted: %s)", o.against, acceptedStrategies())
		}
	}
	if !set["faults"] {
		return explain.ScenariosOn(o.strategy, o.model), nil
	}
	fset, err := faults.Parse(o.faults)
	if err != nil {
		return nil, faultsError("faults", err)
	}
	return []faults.Set{fset}, nil
}

// kindOf checks --kind and returns the kind of violation asked for,
// explain.NoViolation for any.
func (o *explainOpts) kindOf(set map[string]bool) (explain.Kind, error) {
	if !set["kind"] {
		return explain.NoViolation, nil
	}
	k, err := explain.ParseKind(strings.TrimSpace(o.kind))
	if err != nil {
		return k, usagef("--kind: %v", err)
	}
	return k, nil
}

// explainTraced returns cfg with its trace kept.
func explainTraced(cfg sim.Config) sim.Config {
	cfg.KeepTrace = true
	return cfg
}

// explainCounts says what a run violated, as "2 duplicates, 1 lost".
func explainCounts(r *sim.Result) string {
	var parts []string
	if r.Duplicates > 0 {
		parts = append(parts, plural(r.Duplicates, "duplicate"))
	}
	if r.Lost > 0 {
		parts = append(parts, fmt.Sprintf("%d lost", r.Lost))
	}
	if r.Stuck > 0 {
		parts = append(parts, fmt.Sprintf("%d stuck", r.Stuck))
	}
	return strings.Join(parts, ", ")
}
