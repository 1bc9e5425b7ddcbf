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
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// compareSynopsis is the usage line of `idemsim compare`.
const compareSynopsis = "idemsim compare [--seeds 200] [--instances 3] [--events 200] [--strategies S[,S...]] [--faults F[,F...]] [--out DIR] [--json] [--workers N]"

const compareAbout = `
Run every strategy under every fault scenario, for seeds 1..N each, and
print the outcome table: one row per strategy, one column per scenario, and
in each cell "ok" (no violation in any seed) or the kinds of violation seen
in some seeds ("dup", "lost", "stuck", joined by "+"). Below the table, each
violating cell's first failing seed and the command that replays it.

The result does not depend on --workers. Progress is shown on stderr when it
is a terminal. 'idemsim compare --out results' regenerates the committed
results/ directory.
`

// compareOrder is the order in which compare's help lists its flags, each
// with the placeholder of its value.
var compareOrder = []string{"seeds N", "instances N", "events N", "strategies S[,S...]", "faults F[,F...]", "out DIR", "json", "workers N"}

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
			"(default: all of them), from: "+acceptedFaults())
	fs.StringVar(&o.out, "out", "",
		"also write compare.json, compare.csv, compare.md and the violations figure\n"+
			"(violations.png, violations.svg) to DIR, creating it; '--out results'\n"+
			"regenerates the committed results/, and 'idemsim plot' the other figures\n"+
			"(default: write nothing)")
	fs.BoolVar(&o.json, "json", false,
		"print the comparison as one JSON object instead of the table")
	fs.Var(newIntValue(&o.workers, 0, 0, maxWorkers), "workers",
		fmt.Sprintf("runs at once, 0 to %d; 0 means one per CPU (the result is the same)", maxWorkers))
	return fs
}

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
	cc := sim.CompareConfig{Seeds: o.seeds, Instances: o.instances, Events: o.events, Workers: o.workers}
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
		if err := writeCompareFiles(o.out, cmp, rows, cols, o.regenerate(set)); err != nil {
			return err
		}
		if err := plots.Violations(cmp, o.out); err != nil && !errors.Is(err, plots.ErrNoData) {
			return fmt.Errorf("--out: %w", err)
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
			return nil, usagef("unknown strategy %q in --strategies (accepted: %s)", n, acceptedStrategies())
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
	fmt.Fprintf(w, "seeds 1..%d, %d instances, %d events per run\n\n", c.Seeds, c.Instances, c.Events)
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
		fmt.Fprintf(tw, "  %s\t%s\t%d/%d runs\treproduce with: %s\n",
			cell.Strategy, cell.Scenario, cell.ViolatingRuns, cell.Runs, cell.Reproduce())
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
			out = append(out, fmt.Sprintf("%s/%s (%d of %d runs)", cell.Strategy, cell.Scenario, cell.Disagreements, cell.Runs))
		}
	}
	return out
}

// writeCompareFiles writes compare.json, compare.csv and compare.md to dir.
func writeCompareFiles(dir string, c *sim.Comparison, rows []string, cols []faults.Set, regenerate string) error {
	var js, cs, md bytes.Buffer
	if err := writeJSON(&js, c); err != nil {
		return err
	}
	if err := writeCompareCSV(&cs, c); err != nil {
		return err
	}
	writeCompareMarkdown(&md, c, rows, cols, regenerate)
	for _, f := range []struct {
		name string
		data []byte
	}{{"compare.json", js.Bytes()}, {"compare.csv", cs.Bytes()}, {"compare.md", md.Bytes()}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
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
	fmt.Fprintf(w, "Seeds 1..%d, %d instances, %d events per run. `ok`: no violation in any seed;\n", c.Seeds, c.Instances, c.Events)
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
