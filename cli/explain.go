package cli

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// explainSynopsis is the usage line of `idemsim explain`.
const explainSynopsis = "idemsim explain --strategy S [--faults F[,F...]] [--instances 3] [--seeds 200] [--out DIR]"

const explainAbout = `
Find a run in which the strategy breaks exactly-once, shrink it to the
smallest run that still breaks it the same way, and tell that run step by
step: the simulated time, the instance, what it did, and the state that
matters at that moment (each instance's local cache, the Redis keys or the
processed ids, the committed ledger rows). The story ends with the
violation, why the strategy let it through, and the command that replays
the run.

The search runs seeds 1..N with --instances instances and 200 events under
--faults (several names: those faults together). Without --faults,
local-cache is tried under redeliver, and any other strategy under each
scenario in table order until one fails. The shrinker then tries fewer
events, fewer instances and fewer faults (keeping at least one), each over
seeds 1..200, until nothing smaller fails the same way, and takes the seed
whose story has the fewest steps. The same flags always tell the same story.

A strategy with no violation is reported as such, with how many seeds and
scenarios were tried (exit status 0).
`

// explainOrder is the order in which explain's help lists its flags, each
// with the placeholder of its value.
var explainOrder = []string{"strategy S", "faults F[,F...]", "instances N", "seeds N", "out DIR"}

// explainOpts are the flags of `idemsim explain`.
type explainOpts struct {
	strategy  string
	faults    string
	instances int
	seeds     int
	out       string
}

// flagSet defines explain's flags on a new FlagSet that writes into o.
func (o *explainOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.StringVar(&o.strategy, "strategy", "",
		"deduplication strategy to explain (required), one of:\n"+acceptedStrategies())
	fs.StringVar(&o.faults, "faults", "",
		"faults to inject together, a comma-separated list of:\n"+acceptedFaults()+"\n("+faultsHelp+")\n"+
			"(default: redeliver for local-cache; otherwise each scenario but none in\nturn until one fails)")
	fs.Var(newIntValue(&o.instances, 3, 1, sim.MaxInstances), "instances",
		fmt.Sprintf("consumer instances the search starts with, 1 to %d", sim.MaxInstances))
	fs.Var(newIntValue(&o.seeds, explain.DefaultSeeds, 1, sweep.MaxSeeds), "seeds",
		fmt.Sprintf("search seeds 1..N of each scenario, N from 1 to %d", sweep.MaxSeeds))
	fs.StringVar(&o.out, "out", "",
		"also write into DIR, creating it: "+explain.HistoryFile+" (porcupine's visualization of\n"+
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
	scenarios, err := o.scenarios(setFlags(fs))
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
	search := e.search
	if search == nil {
		search = explain.Search
	}
	var found sim.Config
	ok := false
	for _, sc := range scenarios {
		fmt.Fprintf(w, "searching seeds 1..%d of %s %s (%s, 200 events): ", o.seeds, o.strategy, explain.Under(sc), plural(o.instances, "instance"))
		if found, ok = search(o.strategy, sc, o.instances, o.seeds); ok {
			break
		}
		fmt.Fprintln(w, "no violation")
	}
	if !ok {
		names := make([]string, len(scenarios))
		for i, sc := range scenarios {
			names[i] = sc.String()
		}
		_, err := fmt.Fprintf(w, "%s: no violation in %s x %s (%s), %s and 200 events per run; nothing to explain\n",
			o.strategy, plural(o.seeds, "seed"), plural(len(scenarios), "scenario"), strings.Join(names, ", "), plural(o.instances, "instance"))
		return err
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

	shrunk := explain.Shrink(found)
	story, err := explain.Tell(shrunk)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "shrunk to %s, %s, faults %s, seed %d: %s, %s\n\n",
		plural(shrunk.Instances, "instance"), plural(shrunk.Events, "event"), shrunk.Faults, shrunk.Seed,
		plural(len(story.Result.Trace), "trace record"), plural(len(story.Steps), "step"))
	if _, err := story.WriteTo(w); err != nil {
		return err
	}
	if !story.Result.CheckersAgree() {
		return &checkerBugError{msg: disagreement(story.Result)}
	}
	if o.out != "" {
		paths, err := explain.WriteFiles(o.out, story)
		if len(paths) > 0 {
			fmt.Fprintf(e.stderr, "wrote %s\n", strings.Join(paths, ", "))
		}
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
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
	if !set["faults"] {
		return explain.Scenarios(o.strategy), nil
	}
	fset, err := faults.Parse(o.faults)
	if err != nil {
		return nil, faultsError("faults", err)
	}
	return []faults.Set{fset}, nil
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
