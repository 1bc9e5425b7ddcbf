package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// mergeSynopsis is the usage line of `idemsim merge`.
const mergeSynopsis = "idemsim merge [--out DIR] [--json] FILE..."

const mergeAbout = `
Join the slices of one comparison, the JSON files that
'idemsim compare --shard K/N' printed or wrote, one per slice, and print
what one 'idemsim compare' with the same flags prints: the outcome table,
or its JSON with --json. With --out DIR it writes the same compare.json,
compare.csv, compare.md and violations figure, byte for byte.

The slices of a comparison of several brokers (compare --broker queue,log
--shard K/N) hold one part per broker, and merge prints and writes one
table and one set of files per broker, as compare does.

Every slice 1/N to N/N must be given exactly once, in any order, and all
must be slices of the same comparison; otherwise merge writes nothing,
says which slices are missing, repeated or different, and exits 2. Flags
may come before, between or after the files. For example:

  idemsim compare --shard 1/2 --out parts
  idemsim compare --shard 2/2 --out parts
  idemsim merge --out results parts/compare-shard-*-of-2.json
`

// acceptedParts says what merge reads, for messages.
const acceptedParts = "the JSON files that 'idemsim compare --shard K/N' writes, one per slice"

// mergeOrder is the order in which merge's help lists its flags, each with
// the placeholder of its value.
var mergeOrder = []string{"out DIR", "json"}

// mergeOpts are the flags of `idemsim merge`.
type mergeOpts struct {
	out  string
	json bool
}

// flagSet defines merge's flags on a new FlagSet that writes into o.
func (o *mergeOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "",
		"also write compare.json, compare.csv, compare.md and the violations figure\n"+
			"(violations.png, violations.svg) to DIR, creating it, as compare --out does\n"+
			"(default: write nothing)")
	fs.BoolVar(&o.json, "json", false,
		"print the comparison as one JSON object instead of the table")
	return fs
}

// mergeCmd is `idemsim merge`.
func (e *env) mergeCmd(args []string) error {
	var o mergeOpts
	fs := o.flagSet()
	files, help, err := parseFlagsAndFiles(fs, args)
	if help {
		return printCommandHelp(e.stdout, mergeSynopsis, mergeAbout, fs, mergeOrder)
	}
	if err != nil {
		return err
	}
	if setFlags(fs)["out"] && o.out == "" {
		return usagef("--out needs a directory (default: write nothing)")
	}
	if len(files) == 0 {
		return usagef("no file to merge (accepted: %s; usage: %s)", acceptedParts, mergeSynopsis)
	}
	var parts []*sweep.Part
	for _, f := range files {
		ps, err := readParts(f)
		if err != nil {
			return err
		}
		parts = append(parts, ps...)
	}
	cmps, err := sweep.MergeBrokers(parts)
	if err != nil {
		return usagef("%v", err)
	}
	// MergeBrokers checked that every part is of the same comparison,
	// with scenarios that parse.
	whole := parts[0]
	cols := make([]faults.Set, len(whole.Scenarios))
	for i, name := range whole.Scenarios {
		cols[i], _ = faults.Parse(name)
	}
	regenerate := ""
	if o.out != "" {
		if err := prepareOutDir(o.out); err != nil {
			return err
		}
		regenerate = whole.Command + " --out " + o.out
	}
	return e.showComparisons(cmps, whole.Strategies, cols, o.out, o.json, regenerate)
}

// readParts reads the slice in file, one part per broker model; what is
// not one is bad usage, named with where it broke.
func readParts(file string) ([]*sweep.Part, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // the path is named once, below
		}
		return nil, usagef("cannot read %s: %v (accepted: %s)", file, err, acceptedParts)
	}
	// What does not decode as a slice is told by where it breaks, not by
	// the bare decoder message; sweep.ReadParts checks the rest.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var into any = new(sweep.Part)
	if isPartsByBroker(b) {
		into = new(sweep.PartsByBroker)
	}
	if err := dec.Decode(into); err != nil {
		return nil, usagef("%s is not a compare JSON of a slice (accepted: %s): %s", file, acceptedParts, describeJSONError(b, err))
	}
	parts, err := sweep.ReadParts(bytes.NewReader(b), file)
	if err != nil {
		// A compare.json has a slice's fields but no shard.
		if _, notWhole := decodeComparison(b); notWhole == nil {
			return nil, usagef("%s is a whole comparison (a compare.json), not a slice: merge joins %s; there is nothing to merge", file, acceptedParts)
		}
		return nil, usagef("%v", err)
	}
	return parts, nil
}

// isPartsByBroker reports whether b is a JSON object with a "parts" field:
// the slice of a comparison of several broker models.
func isPartsByBroker(b []byte) bool {
	var probe map[string]json.RawMessage
	return json.Unmarshal(b, &probe) == nil && probe["parts"] != nil
}

// aCompareJSON says what compare.json is, for messages.
const aCompareJSON = "a compare JSON ('idemsim compare --out DIR' writes it)"

// decodeComparison reads a whole comparison, the JSON of compare.json or
// of 'idemsim compare --json': one JSON object with a comparison's fields
// and no other, holding at least one cell.
func decodeComparison(b []byte) (*sweep.Comparison, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c sweep.Comparison
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more follows the JSON object")
	}
	if len(c.Results) == 0 {
		return nil, errors.New("it holds no results")
	}
	return &c, nil
}

// describeJSONError says what err, an error from decoding the JSON in b,
// means for its reader: where in b it broke, by line and column, and why.
func describeJSONError(b []byte, err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return "the file is empty"
	case errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &syntax) && syntax.Error() == "unexpected end of JSON input":
		return fmt.Sprintf("it ends at %s before its JSON is complete: the file is cut short", lineCol(b, int64(len(b))))
	case errors.As(err, &syntax):
		return fmt.Sprintf("it breaks at %s: %s", lineCol(b, syntax.Offset-1), syntax.Error())
	case errors.As(err, &typ):
		where := "the top level"
		if typ.Field != "" {
			where = "field " + typ.Field
		}
		return fmt.Sprintf("%s holds a JSON %s where %s belongs (it ends at %s)", where, typ.Value, jsonKind(typ.Type), lineCol(b, typ.Offset))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return "it has a field " + name + ", which a compare JSON does not have"
	}
	return msg
}

// jsonKind names what JSON value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

// lineCol names the place of byte off of b as "line L, column C", both
// counted from 1.
func lineCol(b []byte, off int64) string {
	off = max(0, min(off, int64(len(b))))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// parseFlagsAndFiles parses fs from args, in which flags may come before,
// between and after the files, and returns the files in order; every
// argument after "--" is a file. Help is asked for as parseFlags says.
func parseFlagsAndFiles(fs *flag.FlagSet, args []string) (files []string, help bool, err error) {
	fs.SetOutput(io.Discard) // messages are ours, not flag's usage dump
	fs.Usage = func() {}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, false, flagError(fs, err)
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(files, rest...), false, nil
		}
		if len(rest) == 0 {
			return files, false, nil
		}
		if isHelpArg(rest[0]) {
			return nil, true, nil
		}
		files, args = append(files, rest[0]), rest[1:]
	}
}

// What follows is what a whole comparison prints and writes, the same
// for compare and for merge, so that a merge of slices gives, byte for
// byte, what one compare gives.

// showComparisons prints the comparisons, one per broker model, as the
// outcome tables, each headed by its broker when there are several, or as
// JSON (a comparison alone for one model, as it has always been; a
// sweep.ByBroker for several), and with out first writes each one's files
// there (regenerate, the command that makes them, goes into each
// Markdown file): what compare and merge both end with. A checker
// disagreement is an error, after all is written.
func (e *env) showComparisons(cmps []*sweep.Comparison, rows []string, cols []faults.Set, out string, asJSON bool, regenerate string) error {
	if out != "" {
		var files []string
		var err error
		for _, cmp := range cmps {
			var wrote []string
			wrote, err = writeCompareFiles(out, cmp, rows, cols, regenerate)
			files = append(files, wrote...)
			if err != nil {
				break
			}
			if err = plots.Violations(cmp, out); err == nil {
				files = append(files, plots.Files(out, plots.ViolationsName(cmp.Broker))...)
			} else if errors.Is(err, plots.ErrNoData) {
				err = nil
			} else {
				err = fmt.Errorf("--out: %w", err)
				break
			}
		}
		if len(files) > 0 {
			fmt.Fprintf(e.stderr, "wrote %s\n", strings.Join(files, ", "))
		}
		if err != nil {
			return err
		}
	}
	var err error
	switch {
	case asJSON && len(cmps) == 1:
		err = writeJSON(e.stdout, cmps[0])
	case asJSON:
		err = writeJSON(e.stdout, sweep.ByBroker{Comparisons: cmps})
	case len(cmps) == 1:
		err = writeCompareText(e.stdout, cmps[0], rows, cols)
	default:
		for i, cmp := range cmps {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "== broker %s ==\n", cmp.Broker)
			if err = writeCompareText(e.stdout, cmp, rows, cols); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	var cells []sweep.Cell
	for _, cmp := range cmps {
		cells = append(cells, cmp.Results...)
	}
	return checkerBug(cells)
}

// checkerBug is the error that reports the cells in which the checkers
// disagreed, or nil.
func checkerBug(cells []sweep.Cell) error {
	if bad := disagreeingCells(cells); len(bad) > 0 {
		return &checkerBugError{msg: fmt.Sprintf(
			"the two checkers disagreed, or porcupine could not decide, in: %s; replay a seed with 'idemsim run' and report it",
			strings.Join(bad, ", "))}
	}
	return nil
}

// verdictAt is the verdict of a cell: "-" where the strategy does not
// run on the comparison's broker, "?" when the comparison lacks it.
func verdictAt(c *sweep.Comparison, strategy string, scenario faults.Set) string {
	if !sweep.RunsOn(strategy, c.Broker) {
		return "-"
	}
	if cell := c.Cell(strategy, scenario); cell != nil {
		return cell.Verdict()
	}
	return "?"
}

// writeCompareText writes the outcome table and, below it, each violating
// cell's first failing seed and the command that replays it.
func writeCompareText(w io.Writer, c *sweep.Comparison, rows []string, cols []faults.Set) error {
	fmt.Fprintf(w, "seeds 1..%d, %s, %s per run%s\n\n", c.Seeds, plural(c.Instances, "instance"), plural(c.Events, "event"), brokerNote(c.BrokerNaming))
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

	if dead := deadCells(c, rows, cols); dead != "" {
		fmt.Fprintf(w, "\ndead (dead-lettered after the last delivery, or refused by a handler as a conflict, never applied; not a violation): %s\n", dead)
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
func violatingCells(c *sweep.Comparison, rows []string, cols []faults.Set) []*sweep.Cell {
	var out []*sweep.Cell
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
func disagreeingCells(cells []sweep.Cell) []string {
	var out []string
	for _, cell := range cells {
		if cell.Disagreements > 0 {
			out = append(out, fmt.Sprintf("%s/%s (%d of %s)", cell.Strategy, cell.Scenario, cell.Disagreements, plural(cell.Runs, "run")))
		}
	}
	return out
}

// compareFile is the name of the file of a comparison on the broker model
// with the extension ext: compare.ext for the queue, as it has always
// been, and compare-MODEL.ext beside it for another model.
func compareFile(model, ext string) string {
	if model == "" || model == run.DefaultBroker {
		return "compare." + ext
	}
	return "compare-" + model + "." + ext
}

// writeCompareFiles writes the comparison's JSON, CSV and Markdown files
// to dir (compareFile: compare.json, ... for the queue, compare-log.json,
// ... for the log) and returns the paths it wrote, even on error.
func writeCompareFiles(dir string, c *sweep.Comparison, rows []string, cols []faults.Set, regenerate string) ([]string, error) {
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
	}{{compareFile(c.Broker, "json"), js.Bytes()}, {compareFile(c.Broker, "csv"), cs.Bytes()}, {compareFile(c.Broker, "md"), md.Bytes()}} {
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
func writeCompareCSV(w io.Writer, c *sweep.Comparison) error {
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
func writeCompareMarkdown(w *bytes.Buffer, c *sweep.Comparison, rows []string, cols []faults.Set, regenerate string) {
	// The queue's title reads as it always has; another model's names it.
	if c.Broker == "" || c.Broker == run.DefaultBroker {
		fmt.Fprintf(w, "# Outcome table\n\n")
	} else {
		fmt.Fprintf(w, "# Outcome table: broker %s\n\n", c.Broker)
	}
	fmt.Fprintf(w, "Seeds 1..%d, %s, %s per run%s. `ok`: no violation in any seed;\n", c.Seeds, plural(c.Instances, "instance"), plural(c.Events, "event"), brokerNote(c.BrokerNaming))
	fmt.Fprintf(w, "otherwise the kinds of violation seen in some seeds (`dup`, `lost`, `stuck`).\n")
	if publishes(rows) {
		// Said only where a row sends events on, so that other tables
		// read as they always have.
		fmt.Fprintf(w, "For a strategy that sends events on, the downstream counts too: `lost`, a committed effect\n"+
			"whose downstream event was never applied; `dup`, a second one applied; `ghost`, a downstream\n"+
			"event applied for an effect that rolled back.\n")
	}
	fmt.Fprint(w, "\n| strategy |")
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

	if bad := disagreeingCells(c.Results); len(bad) > 0 {
		fmt.Fprintf(w, "\n**Bug in idemsim:** the two checkers disagreed, or porcupine could not decide, in: %s.\n", strings.Join(bad, ", "))
	}
	if dead := deadCells(c, rows, cols); dead != "" {
		fmt.Fprintf(w, "\ndead (dead-lettered after the last delivery, or refused by a handler as a conflict, never applied; not a violation): %s\n", dead)
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

// brokerNote names a comparison's broker, after its size, when it is not
// the default queue: "" for the default, so that today's table reads as it
// always has.
func brokerNote(n run.BrokerNaming) string {
	if n == (run.BrokerNaming{}) || n == (run.BrokerNaming{Broker: run.DefaultBroker}) {
		return ""
	}
	s := ", broker " + n.Broker
	var params []string
	if n.AckDeadline != "" {
		params = append(params, "ack deadline "+n.AckDeadline)
	}
	if n.NackRetry != "" {
		params = append(params, "nack retry "+n.NackRetry)
	}
	if n.Prefetch > 0 {
		params = append(params, fmt.Sprintf("prefetch %d", n.Prefetch))
	}
	if n.MaxDeliveries > 0 {
		params = append(params, fmt.Sprintf("max deliveries %d", n.MaxDeliveries))
	}
	if n.Partitions > 0 {
		params = append(params, fmt.Sprintf("partitions %d", n.Partitions))
	}
	if n.Batch > 0 {
		params = append(params, fmt.Sprintf("batch %d", n.Batch))
	}
	if n.Commit != "" {
		params = append(params, "commit "+n.Commit)
	}
	if n.SessionTimeout != "" {
		params = append(params, "session timeout "+n.SessionTimeout)
	}
	if n.MaxPollInterval != "" {
		params = append(params, "max-poll interval "+n.MaxPollInterval)
	}
	if len(params) > 0 {
		s += " (" + strings.Join(params, ", ") + ")"
	}
	return s
}

// deadCells lists the cells with dead events, in table order, as
// "strategy/scenario N events", or "" when none has any.
func deadCells(c *sweep.Comparison, rows []string, cols []faults.Set) string {
	var out []string
	for _, st := range rows {
		for _, sc := range cols {
			if cell := c.Cell(st, sc); cell != nil && cell.Dead > 0 {
				out = append(out, fmt.Sprintf("%s/%s %s", st, sc, plural(cell.Dead, "event")))
			}
		}
	}
	return strings.Join(out, ", ")
}

// publishes reports whether a strategy of rows sends events on
// (strategies.NeedsPublisher).
func publishes(rows []string) bool {
	for _, name := range rows {
		if st, ok := strategies.Lookup(name); ok && st.Needs.Has(strategies.NeedsPublisher) {
			return true
		}
	}
	return false
}
