package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// compareSynopsis is the usage line of `idemsim compare`.
const compareSynopsis = "idemsim compare [--seeds 200] [--instances 3] [--events 200] [--strategies S[,S...]] [--faults F[,F...]] [--out DIR] [--json] [--workers N] [--max-memory 1GiB]"

const compareAbout = `
Run every strategy under every fault scenario, for seeds 1..N each, and
print the outcome table: one row per strategy, one column per scenario, and
in each cell "ok" (no violation in any seed) or the kinds of violation seen
in some seeds ("dup", "lost", "stuck", joined by "+"). Below the table, each
violating cell's first failing seed and the command that replays it.

The result does not depend on --workers. Large runs go fewer at a time, so
that their memory stays within --max-memory (1 GiB by default): a run of E
events and I instances is counted as 1 MiB + E x (2560 + 32 x I) bytes
(441 MiB for the largest, so 2 of those at once), and one run always goes,
however large. Progress is shown on stderr when it is a terminal, and with
--out the files written are named there.
'idemsim compare --out results' regenerates the committed results/
directory.
`

// compareOrder is the order in which compare's help lists its flags, each
// with the placeholder of its value.
var compareOrder = []string{"seeds N", "instances N", "events N", "strategies S[,S...]", "faults F[,F...]", "out DIR", "json", "workers N", "max-memory SIZE"}

// maxWorkers bounds --workers: far more than any machine's CPUs.
const maxWorkers = 1024

// compareOpts are the flags of `idemsim compare`.
type compareOpts struct {
	seeds      int
	instances  int
	events     int
	strategies string
	faults     string
	out        string
	json       bool
	workers    int
	maxMemory  int64
}

// flagSet defines compare's flags on a new FlagSet that writes into o.
func (o *compareOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.Var(newIntValue(&o.seeds, 200, 1, sim.MaxSeeds), "seeds",
		fmt.Sprintf("run seeds 1..N in every cell, N from 1 to %d", sim.MaxSeeds))
	fs.Var(newIntValue(&o.instances, 3, 1, sim.MaxInstances), "instances",
		fmt.Sprintf("consumer instances per run, 1 to %d", sim.MaxInstances))
	fs.Var(newIntValue(&o.events, 200, 1, sim.MaxEvents), "events",
		fmt.Sprintf("events published per run, 1 to %d", sim.MaxEvents))
	fs.StringVar(&o.strategies, "strategies", "",
		"table rows: a comma-separated list of strategies (default: all), from:\n"+acceptedStrategies())
	fs.StringVar(&o.faults, "faults", "",
		"table columns: a comma-separated list of scenarios, each name one scenario\n"+
			"(default: all but none), from: "+acceptedFaults()+"\n("+faultsHelp+")")
	fs.StringVar(&o.out, "out", "",
		"also write compare.json, compare.csv, compare.md and the violations figure\n"+
			"(violations.png, violations.svg) to DIR, creating it; '--out results'\n"+
			"regenerates the committed results/, and 'idemsim plot' the other figures\n"+
			"(default: write nothing)")
	fs.BoolVar(&o.json, "json", false,
		"print the comparison as one JSON object instead of the table")
	fs.Var(newIntValue(&o.workers, 0, 0, maxWorkers), "workers",
		fmt.Sprintf("runs at once at most, 0 to %d; 0 means one per CPU (the result is the same)", maxWorkers))
	fs.Var(newSizeValue(&o.maxMemory, sim.DefaultMaxMemory, minMaxMemory, maxMaxMemory), "max-memory",
		"memory budget of the runs in flight: fewer large runs go at once to stay\n"+
			"within it, and always at least one (the result is the same); a whole\n"+
			"number and a unit from "+formatSize(minMaxMemory)+" to "+formatSize(maxMaxMemory)+", e.g. 512MiB or 2GiB")
	return fs
}

// Bounds of --max-memory.
const (
	minMaxMemory = 1 << 20
	maxMaxMemory = 1 << 40
)

// compareCmd is `idemsim compare`.
func (e *env) compareCmd(args []string) error {
	var o compareOpts
	fs := o.flagSet()
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, compareSynopsis, compareAbout, fs, compareOrder)
	}
	if err != nil {
		return err
	}
	set := setFlags(fs)
	if set["out"] && o.out == "" {
		return usagef("--out needs a directory (default: write nothing)")
	}
	cc := sim.CompareConfig{Seeds: o.seeds, Instances: o.instances, Events: o.events, Workers: o.workers, MaxMemory: o.maxMemory}
	if cc.Strategies, err = parseStrategies(o.strategies, set["strategies"]); err != nil {
		return err
	}
	if cc.Scenarios, err = parseScenarios(o.faults, set["faults"]); err != nil {
		return err
	}
	if o.out != "" {
		if err := prepareOutDir(o.out); err != nil {
			return err
		}
	}

	if n, asked := cc.InFlight(), o.workersAsked(); n < asked {
		fmt.Fprintf(e.stderr, "compare: %s at a time, not %d: a run of %s and %s may hold %s, and --max-memory is %s\n",
			plural(n, "run"), asked, plural(o.events, "event"), plural(o.instances, "instance"),
			formatMiB(sim.EstimateRunMemory(o.events, o.instances)), formatSize(o.maxMemory))
	}

	var prog *progress
	if e.isTerminal(e.stderr) {
		prog = newProgress(e.stderr, e.now)
		cc.Progress = prog.update
	}
	cmp, err := e.simCompare(cc)
	if prog != nil {
		prog.finish()
	}
	if err != nil {
		return err
	}
	rows := cc.Strategies
	cols := cc.Scenarios

	if o.out != "" {
		files, err := writeCompareFiles(o.out, cmp, rows, cols, o.regenerate(set))
		if err == nil {
			err = plots.Violations(cmp, o.out)
			if err == nil {
				files = append(files, plots.Files(o.out, plots.NameViolations)...)
			} else if errors.Is(err, plots.ErrNoData) {
				err = nil
			} else {
				err = fmt.Errorf("--out: %w", err)
			}
		}
		if len(files) > 0 {
			fmt.Fprintf(e.stderr, "wrote %s\n", strings.Join(files, ", "))
		}
		if err != nil {
			return err
		}
	}
	if o.json {
		err = writeJSON(e.stdout, cmp)
	} else {
		err = writeCompareText(e.stdout, cmp, rows, cols)
	}
	if err != nil {
		return err
	}
	if bad := disagreeingCells(cmp); len(bad) > 0 {
		return &checkerBugError{msg: fmt.Sprintf(
			"the two checkers disagreed, or porcupine could not decide, in: %s; replay a seed with 'idemsim run' and report it",
			strings.Join(bad, ", "))}
	}
	return nil
}

// workersAsked is how many runs at once --workers asks for: one per CPU
// for 0.
func (o *compareOpts) workersAsked() int {
	if o.workers > 0 {
		return o.workers
	}
	return runtime.GOMAXPROCS(0)
}

// formatMiB writes n bytes in MiB, rounded up.
func formatMiB(n int64) string { return fmt.Sprintf("%d MiB", (n+1<<20-1)>>20) }

// parseStrategies reads --strategies; not given means every strategy.
func parseStrategies(list string, given bool) ([]string, error) {
	if !given {
		return append([]string(nil), strategies.Names...), nil
	}
	names, err := splitList("strategies", list, acceptedStrategies())
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !strategies.Valid(n) {
			return nil, usagef("--strategies: %v", unknownName("strategy", n, strategies.Names))
		}
	}
	return names, nil
}

// parseScenarios reads --faults, where each name is one scenario; not
// given means every named scenario.
func parseScenarios(list string, given bool) ([]faults.Set, error) {
	if !given {
		return faults.Scenarios(), nil
	}
	names, err := splitList("faults", list, acceptedFaults())
	if err != nil {
		return nil, err
	}
	var sets []faults.Set
	seen := make(map[faults.Set]bool)
	for _, n := range names {
		s, err := faults.Parse(n)
		if err != nil {
			return nil, faultsError("faults", err)
		}
		if !seen[s] {
			seen[s] = true
			sets = append(sets, s)
		}
	}
	return sets, nil
}

// regenerate is the command line that regenerates the files of --out.
func (o *compareOpts) regenerate(set map[string]bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "idemsim compare --seeds %d --instances %d --events %d", o.seeds, o.instances, o.events)
	if set["strategies"] {
		fmt.Fprintf(&b, " --strategies %s", o.strategies)
	}
	if set["faults"] {
		fmt.Fprintf(&b, " --faults %s", o.faults)
	}
	fmt.Fprintf(&b, " --out %s", o.out)
	return b.String()
}

// prepareOutDir creates dir and checks that a file can be written in it,
// so that a bad --out fails before a long sweep rather than after it.
func prepareOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	f, err := os.CreateTemp(dir, ".idemsim-probe-*")
	if err != nil {
		return fmt.Errorf("--out: cannot write in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// verdictAt is the verdict of a cell, "?" when the comparison lacks it.
func verdictAt(c *sim.Comparison, strategy string, scenario faults.Set) string {
	if cell := c.Cell(strategy, scenario); cell != nil {
		return cell.Verdict()
	}
	return "?"
}

// writeCompareText writes the outcome table and, below it, each violating
// cell's first failing seed and the command that replays it.
func writeCompareText(w io.Writer, c *sim.Comparison, rows []string, cols []faults.Set) error {
	fmt.Fprintf(w, "seeds 1..%d, %s, %s per run\n\n", c.Seeds, plural(c.Instances, "instance"), plural(c.Events, "event"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "strategy")
	for _, sc := range cols {
		fmt.Fprintf(tw, "\t%s", sc)
	}
	fmt.Fprintln(tw)
	for _, st := range rows {
		fmt.Fprint(tw, st)
		for _, sc := range cols {
			fmt.Fprintf(tw, "\t%s", verdictAt(c, st, sc))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	violating := violatingCells(c, rows, cols)
	if len(violating) == 0 {
		_, err := fmt.Fprintln(w, "\nno violation in any run")
		return err
	}
	fmt.Fprintln(w, "\nfirst failing seed per violating cell:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cell := range violating {
		fmt.Fprintf(tw, "  %s\t%s\t%d/%s\treproduce with: %s\n",
			cell.Strategy, cell.Scenario, cell.ViolatingRuns, plural(cell.Runs, "run"), cell.Reproduce())
	}
	return tw.Flush()
}

// violatingCells lists the cells with a violation, in table order.
func violatingCells(c *sim.Comparison, rows []string, cols []faults.Set) []*sim.Cell {
	var out []*sim.Cell
	for _, st := range rows {
		for _, sc := range cols {
			if cell := c.Cell(st, sc); cell != nil && cell.FirstFailingSeed != nil {
				out = append(out, cell)
			}
		}
	}
	return out
}

// disagreeingCells names the cells in which the checkers disagreed, with
// the number of runs, in result order.
func disagreeingCells(c *sim.Comparison) []string {
	var out []string
	for _, cell := range c.Results {
		if cell.Disagreements > 0 {
			out = append(out, fmt.Sprintf("%s/%s (%d of %s)", cell.Strategy, cell.Scenario, cell.Disagreements, plural(cell.Runs, "run")))
		}
	}
	return out
}

// writeCompareFiles writes compare.json, compare.csv and compare.md to dir
// and returns the paths it wrote, even on error.
func writeCompareFiles(dir string, c *sim.Comparison, rows []string, cols []faults.Set, regenerate string) ([]string, error) {
	var js, cs, md bytes.Buffer
	if err := writeJSON(&js, c); err != nil {
		return nil, err
	}
	if err := writeCompareCSV(&cs, c); err != nil {
		return nil, err
	}
	writeCompareMarkdown(&md, c, rows, cols, regenerate)
	var paths []string
	for _, f := range []struct {
		name string
		data []byte
	}{{"compare.json", js.Bytes()}, {"compare.csv", cs.Bytes()}, {"compare.md", md.Bytes()}} {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return paths, fmt.Errorf("--out: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// csvHeader names the columns of compare.csv.
var csvHeader = []string{"strategy", "scenario", "faults", "runs", "violating_runs", "duplicates", "lost", "stuck", "first_failing_seed", "checker_disagreements"}

// writeCompareCSV writes one row per cell, in result order, under
// csvHeader; faults are joined by ";" and first_failing_seed is empty when
// no seed failed.
func writeCompareCSV(w io.Writer, c *sim.Comparison) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, cell := range c.Results {
		first := ""
		if cell.FirstFailingSeed != nil {
			first = strconv.FormatUint(*cell.FirstFailingSeed, 10)
		}
		if err := cw.Write([]string{
			cell.Strategy, cell.Scenario, strings.Join(cell.Faults, ";"),
			strconv.Itoa(cell.Runs), strconv.Itoa(cell.ViolatingRuns),
			strconv.Itoa(cell.Duplicates), strconv.Itoa(cell.Lost), strconv.Itoa(cell.Stuck),
			first, strconv.Itoa(cell.Disagreements),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeCompareMarkdown writes the outcome table as Markdown, like the
// spec's, with what it was run with, the command that regenerates it, and
// each violating cell's replay command.
func writeCompareMarkdown(w *bytes.Buffer, c *sim.Comparison, rows []string, cols []faults.Set, regenerate string) {
	fmt.Fprintf(w, "# Outcome table\n\n")
	fmt.Fprintf(w, "Seeds 1..%d, %s, %s per run. `ok`: no violation in any seed;\n", c.Seeds, plural(c.Instances, "instance"), plural(c.Events, "event"))
	fmt.Fprintf(w, "otherwise the kinds of violation seen in some seeds (`dup`, `lost`, `stuck`).\n\n")
	fmt.Fprint(w, "| strategy |")
	for _, sc := range cols {
		fmt.Fprintf(w, " %s |", sc)
	}
	fmt.Fprint(w, "\n| --- |")
	for range cols {
		fmt.Fprint(w, " --- |")
	}
	fmt.Fprintln(w)
	for _, st := range rows {
		fmt.Fprintf(w, "| %s |", st)
		for _, sc := range cols {
			fmt.Fprintf(w, " %s |", verdictAt(c, st, sc))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nRegenerate with `%s`.\n", regenerate)

	if bad := disagreeingCells(c); len(bad) > 0 {
		fmt.Fprintf(w, "\n**Bug in idemsim:** the two checkers disagreed, or porcupine could not decide, in: %s.\n", strings.Join(bad, ", "))
	}
	violating := violatingCells(c, rows, cols)
	if len(violating) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## First failing seeds\n\n| strategy | scenario | violating runs | reproduce with |\n| --- | --- | --- | --- |\n")
	for _, cell := range violating {
		fmt.Fprintf(w, "| %s | %s | %d/%d | `%s` |\n", cell.Strategy, cell.Scenario, cell.ViolatingRuns, cell.Runs, cell.Reproduce())
	}
}
