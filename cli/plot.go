package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sweep"
)

// plotSynopsis is the usage line of `idemsim plot`.
const plotSynopsis = "idemsim plot [--in results] [--out DIR] [--sweep] [--seeds 50] [--workers N]"

const plotAbout = `
Draw the figures, each as a PNG and an SVG, from the results saved in --in:

  violations        violating runs per strategy and fault scenario,
                    from compare.json ('idemsim compare --out DIR' writes it);
                    violations-log from compare-log.json, the log's
                    ('idemsim compare --broker queue,log --out DIR'), when
                    --in has it
  sweep-instances   duplicates as consumer instances grow from 1 to 8,
                    from sweep-instances.json
  sweep-ttl         duplicates as the Redis mark TTL shrinks below the
                    redelivery horizon, from sweep-ttl.json
  bench-throughput  throughput per strategy, simulated and real,
                    from bench.txt (scripts/bench writes it)
  bench-latency     p99 latency per strategy, simulated and real,
                    from bench.txt
  bench-ratios      a Markdown table (bench-ratios.md, not a figure):
                    db-unique-fast against redis and against its raw
                    statement, and the batched modes against pipelined
                    SET NX, and strategies through NATS, RabbitMQ and
                    Kafka against their raw loops (alone, and with none's
                    PostgreSQL transaction), each ratio taken within one
                    round of bench.txt

With --sweep, it first runs the two sweeps on the simulator (deterministic:
the same --seeds give the same files) and saves them to --out as
sweep-instances.json and sweep-ttl.json. It says which figures it wrote and
which it skipped, and why, on stdout. A figure whose input is missing is
skipped; when none can be drawn, the exit status is 1. An input that does
not parse is named, with where it broke, and the exit status is 2; the
other figures are still drawn.

'idemsim compare --broker queue,log --out results' then
'idemsim plot --sweep' regenerate every figure of the committed results/.
`

// plotOrder is the order in which plot's help lists its flags, each with
// the placeholder of its value.
var plotOrder = []string{"in DIR", "out DIR", "sweep", "seeds N", "workers N"}

// plotOpts are the flags of `idemsim plot`.
type plotOpts struct {
	in      string
	out     string
	sweep   bool
	seeds   int
	workers int
}

// flagSet defines plot's flags on a new FlagSet that writes into o.
func (o *plotOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.StringVar(&o.in, "in", "results",
		"read the saved results from DIR: compare.json, sweep-instances.json,\nsweep-ttl.json and bench.txt")
	fs.StringVar(&o.out, "out", "",
		"write the figures (and, with --sweep, the sweeps) to DIR, creating it\n(default: the --in directory)")
	fs.BoolVar(&o.sweep, "sweep", false,
		"first run the instances and TTL sweeps on the simulator and save them\n(a few seconds; the same --seeds give the same result)")
	fs.Var(newIntValue(&o.seeds, sweep.DefaultSeriesSeeds, 1, sweep.MaxSeeds), "seeds",
		fmt.Sprintf("with --sweep: run seeds 1..N at every point of a sweep, N from 1 to %d", sweep.MaxSeeds))
	fs.Var(newIntValue(&o.workers, 0, 0, maxWorkers), "workers",
		fmt.Sprintf("with --sweep: runs at once, 0 to %d; 0 means one per CPU (the result is the same)", maxWorkers))
	return fs
}

// The files plot reads in --in.
const (
	compareJSON = "compare.json"
	benchTxt    = "bench.txt"
)

// plotCmd is `idemsim plot`.
func (e *env) plotCmd(args []string) error {
	var o plotOpts
	fs := o.flagSet()
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, plotSynopsis, plotAbout, fs, plotOrder)
	}
	if err != nil {
		return err
	}
	set := setFlags(fs)
	for _, name := range []string{"seeds", "workers"} {
		if set[name] && !o.sweep {
			return usagef("--%s is only for --sweep: without it, plot runs nothing", name)
		}
	}
	if o.in == "" {
		return usagef("--in needs a directory (default results)")
	}
	if set["out"] && o.out == "" {
		return usagef("--out needs a directory (default: the --in directory)")
	}
	if o.out == "" {
		o.out = o.in
	}
	if st, err := os.Stat(o.in); !o.sweep && (err != nil || !st.IsDir()) {
		// Checked before --out is created, which may be the same directory.
		return fmt.Errorf("--in: no directory %s, so nothing to draw (%s)", o.in, o.makeAll())
	}
	if err := prepareOutDir(o.out); err != nil {
		return err
	}

	r := &plotReport{}
	var instances *sweep.InstancesData
	var ttl *sweep.TTLData
	if o.sweep {
		instances, ttl, err = e.sweepAndSave(o, r)
	}
	if err == nil {
		e.drawFigures(o, instances, ttl, r)
		err = r.finish(e, o)
	} else {
		// The report still lists what was written before the error.
		r.print(e)
	}
	return err
}

// plotReport collects what plot wrote, skipped and failed to draw. It is
// plot's only list of the files it wrote, on stdout; stderr has only
// progress and errors.
type plotReport struct {
	lines  []string // printed in order: wrote ..., skipped ..., FAILED ...
	wrote  int      // figures written
	failed []string // figures that could not be drawn, with the error
	// badInput says that a file in --in did not parse: bad input, exit
	// status 2, as for a bad flag.
	badInput bool
}

func (r *plotReport) wroteFiles(what string, files ...string) {
	r.lines = append(r.lines, fmt.Sprintf("wrote    %-20s %s", what, strings.Join(files, " ")))
}

func (r *plotReport) skip(what, why string) {
	r.lines = append(r.lines, fmt.Sprintf("skipped  %-20s %s", what, why))
}

func (r *plotReport) fail(what string, err error) {
	r.failed = append(r.failed, fmt.Sprintf("%s: %v", what, err))
	r.lines = append(r.lines, fmt.Sprintf("FAILED   %-20s %v", what, err))
}

// finish prints the report and returns the command's error: one naming
// the figures that failed, or saying that none could be drawn.
func (r *plotReport) finish(e *env, o plotOpts) error {
	r.print(e)
	switch {
	case len(r.failed) > 0 && r.badInput:
		return usagef("could not draw: %s", strings.Join(r.failed, "; "))
	case len(r.failed) > 0:
		return fmt.Errorf("could not draw: %s", strings.Join(r.failed, "; "))
	case r.wrote == 0:
		return fmt.Errorf("nothing to draw: no saved results in %s (%s)", o.in, o.makeAll())
	}
	return nil
}

// print prints the report's lines on stdout.
func (r *plotReport) print(e *env) {
	for _, l := range r.lines {
		fmt.Fprintln(e.stdout, l)
	}
}

// makeCompare, makeSweep and makeAll are the commands that make plot's
// inputs in --in.
func (o plotOpts) makeCompare() string { return "run 'idemsim compare --out " + o.in + "'" }
func (o plotOpts) makeSweep() string {
	if o.in == "results" {
		return "run 'idemsim plot --sweep'"
	}
	return "run 'idemsim plot --sweep --in " + o.in + "'"
}
func (o plotOpts) makeAll() string {
	return o.makeCompare() + ", " + strings.TrimPrefix(o.makeSweep(), "run ") + ", or scripts/bench"
}

// runSweeps runs both sweeps: plot --sweep's computation.
func runSweeps(sc sweep.SeriesConfig) (*sweep.InstancesData, *sweep.TTLData, error) {
	instances, err := sweep.Instances(sc)
	if err != nil {
		return nil, nil, err
	}
	ttl, err := sweep.TTL(sc)
	if err != nil {
		return nil, nil, err
	}
	return instances, ttl, nil
}

// sweepAndSave runs both sweeps and saves them to --out.
func (e *env) sweepAndSave(o plotOpts, r *plotReport) (*sweep.InstancesData, *sweep.TTLData, error) {
	sc := sweep.SeriesConfig{Seeds: o.seeds, Workers: o.workers}
	if e.isTerminal(e.stderr) {
		start := e.now()
		fmt.Fprintf(e.stderr, "plot: running the sweeps: %s...", plural(sweep.SeriesRuns(o.seeds), "run"))
		defer func() { fmt.Fprintf(e.stderr, " %.1fs\n", e.now().Sub(start).Seconds()) }()
	}
	sweeps := e.sweeps
	if sweeps == nil {
		sweeps = runSweeps
	}
	instances, ttl, err := sweeps(sc)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range []struct {
		name string
		data any
	}{{plots.NameInstances, instances}, {plots.NameTTL, ttl}} {
		var buf bytes.Buffer
		if err := writeJSON(&buf, f.data); err != nil {
			return nil, nil, err
		}
		path := filepath.Join(o.out, f.name+".json")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return nil, nil, fmt.Errorf("--out: %w", err)
		}
		r.wroteFiles(f.name+" data", path)
	}
	return instances, ttl, nil
}

// drawFigures draws every figure it has data for: the sweeps just run, if
// any, else the saved ones in --in.
func (e *env) drawFigures(o plotOpts, instances *sweep.InstancesData, ttl *sweep.TTLData, r *plotReport) {
	drawFiles := func(name string, files []string, fn func() error) {
		err := fn()
		switch {
		case err == nil:
			r.wrote++
			r.wroteFiles(name, files...)
		case errors.Is(err, errMissing), errors.Is(err, plots.ErrNoData):
			r.skip(name, skipReason(err))
		default:
			r.badInput = r.badInput || errors.Is(err, errBadInput)
			r.fail(name, err)
		}
	}
	draw := func(name string, fn func() error) { drawFiles(name, plots.Files(o.out, name), fn) }
	in := func(name string) string { return filepath.Join(o.in, name) }

	// One violations figure per broker model: the queue's from
	// compare.json, as it has always been, and another model's from its
	// own file (compare-log.json) when --in has one.
	for _, model := range brokerNames() {
		name := plots.ViolationsName(model)
		if _, err := os.Stat(in(compareFile(model, "json"))); model != run.DefaultBroker && err != nil {
			continue
		}
		draw(name, func() error {
			var cmp *sweep.Comparison
			if err := readInput(in(compareFile(model, "json")), o.makeCompare(), aCompareJSON, func(b []byte) (err error) {
				cmp, err = decodeComparison(b)
				return err
			}); err != nil {
				return err
			}
			if cmp.Broker != "" && cmp.Broker != model {
				return &badInputError{msg: fmt.Sprintf("%s is the comparison of the %s broker, not of the %s", in(compareFile(model, "json")), cmp.Broker, model)}
			}
			return plots.Violations(cmp, o.out)
		})
	}
	draw(plots.NameInstances, func() error {
		if instances == nil {
			err := readInput(in(plots.NameInstances+".json"), o.makeSweep()+" to compute it", "the instances sweep's JSON ('idemsim plot --sweep' writes it)", func(b []byte) (err error) {
				instances, err = sweep.ReadInstances(bytes.NewReader(b))
				return err
			})
			if err != nil {
				return err
			}
		}
		return plots.InstancesSweep(instances, o.out)
	})
	draw(plots.NameTTL, func() error {
		if ttl == nil {
			err := readInput(in(plots.NameTTL+".json"), o.makeSweep()+" to compute it", "the TTL sweep's JSON ('idemsim plot --sweep' writes it)", func(b []byte) (err error) {
				ttl, err = sweep.ReadTTL(bytes.NewReader(b))
				return err
			})
			if err != nil {
				return err
			}
		}
		return plots.TTLSweep(ttl, o.out)
	})

	var bench *plots.BenchFile
	benchErr := readInput(in(benchTxt), "run scripts/bench to measure", "benchmark output (scripts/bench writes it)", func(b []byte) (err error) {
		bench, err = plots.ParseBench(bytes.NewReader(b))
		return err
	})
	// fromBench draws one output of bench.txt with fn, saying how to
	// measure what it lacks.
	fromBench := func(fn func(*plots.BenchFile, string) error) func() error {
		return func() error {
			if benchErr != nil {
				return benchErr
			}
			err := fn(bench, o.out)
			if errors.Is(err, plots.ErrNoData) {
				return fmt.Errorf("%w; run scripts/bench (with redis-server and PostgreSQL installed) to measure them", err)
			}
			return err
		}
	}
	draw(plots.NameThroughput, fromBench(plots.Throughput))
	draw(plots.NameLatency, fromBench(plots.Latency))
	drawFiles(plots.NameRatios, []string{filepath.Join(o.out, plots.NameRatios+".md")}, fromBench(plots.WriteRatios))
}

// skipReason is why a figure was skipped: err's message without the
// sentinel's own words.
func skipReason(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{errMissing, plots.ErrNoData} {
		msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
	}
	return msg
}

// errMissing reports an input file that does not exist.
var errMissing = errors.New("missing input")

// errBadInput reports an input file that does not parse; its message
// names the file, says what it should be and where it broke.
var errBadInput = errors.New("bad input")

// badInputError is an input file that does not parse: it matches
// errBadInput, and its text is the message alone.
type badInputError struct{ msg string }

func (e *badInputError) Error() string        { return e.msg }
func (e *badInputError) Is(target error) bool { return target == errBadInput }

// readInput reads the file at path and hands its bytes to parse. A file
// that does not exist is errMissing, with hint, the command that makes it;
// one that does not parse is errBadInput, saying that it is not what (a
// description of what it should be) and where it broke.
func readInput(path, hint, what string, parse func([]byte) error) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no %s: %s", errMissing, path, hint)
	}
	if err != nil {
		return err
	}
	if err := parse(b); err != nil {
		return &badInputError{msg: fmt.Sprintf("%s is not %s: %s", path, what, describeJSONError(b, err))}
	}
	return nil
}
