package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// compareSynopsis is the usage line of `idemsim compare`.
const compareSynopsis = "idemsim compare [--seeds 200] [--instances 3] [--events 200] [--strategies S[,S...]] [--faults F[,F...]] [--broker queue[,log]] [--ack-deadline D|none] [--nack-retry D] [--prefetch N] [--max-deliveries N] [--partitions N] [--batch N] [--commit batch|record] [--session-timeout D] [--max-poll-interval D] [--out DIR] [--json] [--workers N] [--max-memory 1GiB] [--shard K/N]"

const compareAbout = `
Run every strategy under every fault scenario, for seeds 1..N each, and
print the outcome table: one row per strategy, one column per scenario, and
in each cell "ok" (no violation in any seed) or the kinds of violation seen
in some seeds ("dup", "lost", "stuck", joined by "+"), and "dead" where the
broker dead-lettered events (--max-deliveries) or a handler refused them to
a dead-letter queue (under id-reuse, a reused id whose payload is not the
first one's: db-unique-payload), which is no violation but not ok either. Below the table, each violating cell's first failing seed
and the command that replays it. --broker and its parameters apply to every
run; the table names them when they are not the default.

--broker takes a list: --broker queue,log prints one table per broker,
each headed by it, with "-" in the row of a strategy that does not run on
that broker; each model takes its own parameters. --json then prints
{"comparisons": [...]}, one comparison per broker, and --out writes the
queue's files as ever and the log's beside them (compare-log.json,
compare-log.csv, compare-log.md, violations-log.png and .svg).

The result does not depend on --workers. Large runs go fewer at a time, so
that their memory stays within --max-memory (1 GiB by default): a run of E
events and I instances is counted as 1 MiB + E x (2560 + 32 x I) bytes
(441 MiB for the largest, so 2 of those at once), and one run always goes,
however large. Progress is shown on stderr when it is a terminal, and with
--out the files written are named there.
'idemsim compare --broker queue,log --out results' regenerates the
committed results/ directory, both brokers' files.

With --shard K/N it runs only slice K of N of the seeds (N contiguous
ranges: --shard 2/16 of seeds 1..200 is seeds 13..25) and prints that
slice's JSON, for a batch system to run the N slices at once, anywhere;
'idemsim merge' then joins the N files into what one compare with the same
flags prints and writes.
`

// compareOrder is the order in which compare's help lists its flags, each
// with the placeholder of its value.
var compareOrder = []string{"seeds N", "instances N", "events N", "strategies S[,S...]", "faults F[,F...]", "broker B", "ack-deadline D|none", "nack-retry D", "prefetch N", "max-deliveries N", "partitions N", "batch N", "commit batch|record", "session-timeout D", "max-poll-interval D", "out DIR", "json", "workers N", "max-memory SIZE", "shard K/N"}

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
	shard      string
	broker     brokerFlags
}

// flagSet defines compare's flags on a new FlagSet that writes into o.
func (o *compareOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.Var(newIntValue(&o.seeds, 200, 1, sweep.MaxSeeds), "seeds",
		fmt.Sprintf("run seeds 1..N in every cell, N from 1 to %d", sweep.MaxSeeds))
	fs.Var(newIntValue(&o.instances, 3, 1, sim.MaxInstances), "instances",
		fmt.Sprintf("consumer instances per run, 1 to %d", sim.MaxInstances))
	fs.Var(newIntValue(&o.events, 200, 1, sim.MaxEvents), "events",
		fmt.Sprintf("events published per run, 1 to %d", sim.MaxEvents))
	fs.StringVar(&o.strategies, "strategies", "",
		"table rows: a comma-separated list of strategies (default: all), from:\n"+acceptedStrategies())
	fs.StringVar(&o.faults, "faults", "",
		"table columns: a comma-separated list of scenarios, each name one scenario\n"+
			"(default: all but none), from: "+acceptedFaults()+"\n("+faultsHelp+")")
	o.broker.define(fs, true)
	fs.StringVar(&o.out, "out", "",
		"also write compare.json, compare.csv, compare.md and the violations figure\n"+
			"(violations.png, violations.svg) to DIR, creating it; '--out results'\n"+
			"regenerates the committed results/, and 'idemsim plot' the other figures\n"+
			"(default: write nothing)")
	fs.BoolVar(&o.json, "json", false,
		"print the comparison as one JSON object instead of the table")
	fs.Var(newIntValue(&o.workers, 0, 0, maxWorkers), "workers",
		fmt.Sprintf("runs at once at most, 0 to %d; 0 means one per CPU (the result is the same)", maxWorkers))
	fs.Var(newSizeValue(&o.maxMemory, sweep.DefaultMaxMemory, minMaxMemory, maxMaxMemory), "max-memory",
		"memory budget of the runs in flight: fewer large runs go at once to stay\n"+
			"within it, and always at least one (the result is the same); a whole\n"+
			"number and a unit from "+formatSize(minMaxMemory)+" to "+formatSize(maxMaxMemory)+", e.g. 512MiB or 2GiB")
	fs.StringVar(&o.shard, "shard", "",
		"run only slice K of N of the seeds (N contiguous ranges; K from 1 to N, N at\n"+
			"most --seeds), e.g. 3/16, and print that slice's JSON, for 'idemsim merge',\n"+
			"instead of the table; with --out, also write it to\n"+
			"DIR/compare-shard-K-of-N.json, and no table or figure (default: every seed)")
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
	cc := sweep.CompareConfig{Seeds: o.seeds, Instances: o.instances, Events: o.events, Workers: o.workers, MaxMemory: o.maxMemory}
	models, params, err := o.broker.configs(set)
	if err != nil {
		return err
	}
	if cc.Strategies, err = parseStrategies(o.strategies, set["strategies"], models); err != nil {
		return err
	}
	if cc.Scenarios, err = parseScenarios(o.faults, set["faults"]); err != nil {
		return err
	}
	shard := sweep.Whole
	if set["shard"] {
		if shard, err = parseShard(o.shard, o.seeds); err != nil {
			return err
		}
	}
	if o.out != "" {
		if err := prepareOutDir(o.out); err != nil {
			return err
		}
	}

	if n, asked := cc.InFlight(), o.workersAsked(); n < asked {
		fmt.Fprintf(e.stderr, "compare: %s at a time, not %d: a run of %s and %s may hold %s, and --max-memory is %s\n",
			plural(n, "run"), asked, plural(o.events, "event"), plural(o.instances, "instance"),
			formatMiB(sweep.EstimateRunMemory(o.events, o.instances)), formatSize(o.maxMemory))
	}

	// One comparison per model, in the order given, each of the models'
	// own parameters; the progress line counts the runs of all.
	first, last := shard.Seeds(o.seeds)
	configs := make([]sweep.CompareConfig, len(models))
	total := 0
	for i, m := range models {
		configs[i] = cc
		configs[i].BrokerModel, configs[i].Broker = m, params.Of(m)
		total += len(rowsOn(cc.Strategies, m)) * len(cc.Scenarios) * (last - first + 1)
	}
	var prog *progress
	if e.isTerminal(e.stderr) {
		prog = newProgress(e.stderr, e.now)
		before := 0
		for i := range configs {
			offset := before
			configs[i].Progress = func(done, _ int) { prog.update(offset+done, total) }
			before += len(rowsOn(cc.Strategies, models[i])) * len(cc.Scenarios) * (last - first + 1)
		}
	}
	finish := func() {
		if prog != nil {
			prog.finish()
		}
	}
	if set["shard"] {
		compareShard := e.compareShard
		if compareShard == nil {
			compareShard = sweep.CompareShard
		}
		var parts []*sweep.Part
		for _, c := range configs {
			var part *sweep.Part
			if len(rowsOn(c.Strategies, c.BrokerModel)) == 0 {
				part = emptyPart(c, shard)
			} else if part, err = compareShard(c, shard); err != nil {
				finish()
				return err
			}
			part.Command = o.command(set)
			if len(models) > 1 {
				part.Brokers = models
			}
			parts = append(parts, part)
		}
		finish()
		return e.showParts(parts, o.out)
	}
	var cmps []*sweep.Comparison
	for _, c := range configs {
		if len(rowsOn(c.Strategies, c.BrokerModel)) == 0 {
			// No strategy given runs on this model: its table is all "-".
			cmps = append(cmps, &sweep.Comparison{Seeds: c.Seeds, Instances: c.Instances, Events: c.Events, BrokerNaming: run.NameBroker(c.BrokerModel, c.Broker)})
			continue
		}
		cmp, err := e.simCompare(c)
		if err != nil {
			finish()
			return err
		}
		cmps = append(cmps, cmp)
	}
	finish()
	regenerate := ""
	if o.out != "" {
		regenerate = o.command(set) + " --out " + o.out
	}
	return e.showComparisons(cmps, cc.Strategies, cc.Scenarios, o.out, o.json, regenerate)
}

// rowsOn returns the strategies of rows that run on the broker model.
func rowsOn(rows []string, model string) []string {
	var out []string
	for _, st := range rows {
		if sweep.RunsOn(st, model) {
			out = append(out, st)
		}
	}
	return out
}

// emptyPart is slice s of the comparison c in which no strategy runs on
// c's broker: no cells, but its place in the list of models.
func emptyPart(c sweep.CompareConfig, s sweep.Shard) *sweep.Part {
	first, last := s.Seeds(c.Seeds)
	p := &sweep.Part{Shard: s, FirstSeed: first, LastSeed: last, Seeds: c.Seeds, Instances: c.Instances, Events: c.Events,
		BrokerNaming: run.NameBroker(c.BrokerModel, c.Broker), Strategies: c.Strategies, Results: []sweep.Cell{}}
	for _, sc := range c.Scenarios {
		p.Scenarios = append(p.Scenarios, sc.String())
	}
	return p
}

// parseShard reads --shard K/N, a slice of seeds 1..seeds.
func parseShard(s string, seeds int) (sweep.Shard, error) {
	sh, err := sweep.ParseShard(s)
	if err != nil {
		return sh, usagef("--shard %q: want K/N, slice K of N of the seeds, two whole numbers with K from 1 to N, e.g. 3/16", s)
	}
	if sh.N > seeds {
		return sh, usagef("--shard %s: seeds 1..%d cannot be cut into %d slices: N must be 1 to %d, the number of --seeds", sh, seeds, sh.N, seeds)
	}
	return sh, nil
}

// shardFile is the name of the file that holds slice sh.
func shardFile(sh sweep.Shard) string { return fmt.Sprintf("compare-shard-%d-of-%d.json", sh.K, sh.N) }

// showParts prints a slice's JSON, one part per broker model (a Part
// alone for one model, as it has always been; a sweep.PartsByBroker for
// several) and, with out, writes it to its file in out. A checker
// disagreement is an error, after both.
func (e *env) showParts(parts []*sweep.Part, out string) error {
	var v any = parts[0]
	if len(parts) > 1 {
		v = sweep.PartsByBroker{Parts: parts}
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		return err
	}
	if out != "" {
		path := filepath.Join(out, shardFile(parts[0].Shard))
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		fmt.Fprintf(e.stderr, "wrote %s\n", path)
	}
	if _, err := e.stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	var cells []sweep.Cell
	for _, p := range parts {
		cells = append(cells, p.Results...)
	}
	return checkerBug(cells)
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

// parseStrategies reads --strategies, the table's rows; not given means
// every strategy that runs on one of the models at least. A strategy
// given that runs on none of them is refused, saying where it runs.
func parseStrategies(list string, given bool, models []string) ([]string, error) {
	runsOnOne := func(st string) bool {
		return slices.ContainsFunc(models, func(m string) bool { return sweep.RunsOn(st, m) })
	}
	if !given {
		var names []string
		for _, st := range strategies.Names() {
			if runsOnOne(st) {
				names = append(names, st)
			}
		}
		return names, nil
	}
	names, err := splitList("strategies", list, acceptedStrategies())
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !strategies.Valid(n) {
			return nil, usagef("--strategies: %v", unknownName("strategy", n, strategies.Names()))
		}
		if !runsOnOne(n) {
			var on []string
			for _, st := range strategies.Names() {
				if runsOnOne(st) {
					on = append(on, st)
				}
			}
			return nil, usagef("--strategies: %s, not on the %s (accepted: %s with --broker %s)", sweep.RunsOnWords(n), strings.Join(models, " or the "), strings.Join(on, ", "), strings.Join(models, ","))
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

// command is the command line of the comparison, without --out and
// --shard: with --out DIR, it regenerates the files of DIR.
func (o *compareOpts) command(set map[string]bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "idemsim compare --seeds %d --instances %d --events %d", o.seeds, o.instances, o.events)
	if set["strategies"] {
		fmt.Fprintf(&b, " --strategies %s", o.strategies)
	}
	if set["faults"] {
		fmt.Fprintf(&b, " --faults %s", o.faults)
	}
	if models, p, err := o.broker.configs(set); err == nil && (!slices.Equal(models, []string{run.DefaultBroker}) || p != (run.BrokerParams{})) {
		fmt.Fprintf(&b, " --broker %s%s", strings.Join(models, ","), p.Flags())
	}
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
