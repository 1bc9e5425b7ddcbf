package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// logOnly is a strategy that runs only on the log, as the log's offset
// strategies do, registered for the test's length.
func logOnly(t *testing.T) string {
	t.Helper()
	none, ok := strategies.Lookup("none")
	require.True(t, ok)
	const name = "test-log-only"
	require.NoError(t, strategies.Register(strategies.Strategy{Name: name, New: none.New, Brokers: []string{run.LogBroker}}))
	t.Cleanup(func() { strategies.Unregister(name) })
	return name
}

// fakeCells are the cells of cc over seeds first..last, without running
// anything: the strategy none violates in seed 1 and only there, so that
// slices add up to the whole.
func fakeCells(cc sweep.CompareConfig, first, last int) []sweep.Cell {
	naming := run.NameBroker(cc.BrokerModel, cc.Broker)
	cells := []sweep.Cell{}
	for _, st := range cc.Strategies {
		if !sweep.RunsOn(st, cc.BrokerModel) {
			continue
		}
		for _, sc := range cc.Scenarios {
			c := sweep.Cell{Strategy: st, Faults: sc.Names(), Scenario: sc.String(), BrokerNaming: naming,
				Stats: sweep.Stats{Runs: last - first + 1}, Instances: cc.Instances, Events: cc.Events}
			if st == "none" && first == 1 {
				seed := uint64(1)
				c.ViolatingRuns, c.Duplicates, c.FirstFailingSeed = 1, 1, &seed
			}
			c.ReproduceCmd = c.Reproduce()
			cells = append(cells, c)
		}
	}
	return cells
}

// brokersEnv is an env whose comparisons are fakeCells, recording the
// configs it was given.
func brokersEnv(compares *[]sweep.CompareConfig) (*env, *bytes.Buffer, *bytes.Buffer) {
	e, out, errOut := fakeEnv(func(cfg sim.Config) (*sim.Result, error) {
		return &sim.Result{Strategy: cfg.Strategy, Linearizable: boolPtr(true), AuditOK: true}, nil
	}, func(cc sweep.CompareConfig) (*sweep.Comparison, error) {
		*compares = append(*compares, cc)
		return &sweep.Comparison{Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events,
			BrokerNaming: run.NameBroker(cc.BrokerModel, cc.Broker), Results: fakeCells(cc, 1, cc.Seeds)}, nil
	})
	e.compareShard = func(cc sweep.CompareConfig, s sweep.Shard) (*sweep.Part, error) {
		first, last := s.Seeds(cc.Seeds)
		p := &sweep.Part{Shard: s, FirstSeed: first, LastSeed: last, Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events,
			BrokerNaming: run.NameBroker(cc.BrokerModel, cc.Broker), Strategies: cc.Strategies, Results: fakeCells(cc, first, last)}
		for _, sc := range cc.Scenarios {
			p.Scenarios = append(p.Scenarios, sc.String())
		}
		return p, nil
	}
	return e, out, errOut
}

func TestLogFlagsSetTheRunsAndTheComparison(t *testing.T) {
	flags := []string{"--broker", "log", "--partitions", "3", "--batch", "2", "--commit", "record", "--session-timeout", "2s", "--max-poll-interval", "4500ms"}
	want := run.BrokerParams{Partitions: 3, Batch: 2, Commit: run.CommitRecord, SessionTimeout: 2 * time.Second, MaxPollInterval: 4500 * time.Millisecond}
	r := newRecordingEnv()
	args := append([]string{"run", "--strategy", "none", "--faults", "crash", "--seed", "1"}, flags...)
	require.Equal(t, ExitOK, r.main(args), r.errOut())
	require.Len(t, r.runs, 1)
	assert.Equal(t, run.LogBroker, r.runs[0].BrokerModel)
	assert.Equal(t, want, r.runs[0].Broker)
	assert.Equal(t, "idemsim run --strategy none --faults crash --seed 1 --instances 3 --events 200 --broker log --partitions 3 --batch 2 --commit record --session-timeout 2s --max-poll-interval 4.5s", r.runs[0].Reproduce())

	// compare gives each model of its list its own parameters.
	var compares []sweep.CompareConfig
	e, _, errOut := brokersEnv(&compares)
	code := e.main([]string{"compare", "--seeds", "2", "--broker", "queue,log", "--prefetch", "2", "--partitions", "3", "--commit", "record"})
	require.Equal(t, ExitOK, code, errOut.String())
	require.Len(t, compares, 2)
	assert.Equal(t, "queue", compares[0].BrokerModel)
	assert.Equal(t, run.BrokerParams{Prefetch: 2}, compares[0].Broker)
	assert.Equal(t, "log", compares[1].BrokerModel)
	assert.Equal(t, run.BrokerParams{Partitions: 3, Commit: run.CommitRecord}, compares[1].Broker)
}

// TestCompareOfTwoBrokersPrintsATablePerBroker: compare --broker queue,log
// prints the queue's table as compare alone prints it, then the log's, each
// headed by its broker, with "-" where a strategy does not run; the JSON
// carries both, each with its broker; --out writes the queue's files where
// they have always been and the log's beside them; every reproduce line
// names its broker.
func TestCompareOfTwoBrokersPrintsATablePerBroker(t *testing.T) {
	lo := logOnly(t)
	var compares []sweep.CompareConfig
	base := []string{"compare", "--seeds", "4", "--events", "20", "--strategies", "none,db-unique," + lo, "--faults", "crash,slow"}

	e, out, errOut := brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main(append(base, "--strategies", "none,db-unique")), errOut.String())
	queueAlone := out.String()

	e, out, errOut = brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main(append(base, "--broker", "queue,log", "--partitions", "4")), errOut.String())
	text := out.String()
	queue, logTable, ok := strings.Cut(text, "\n== broker log ==\n")
	require.True(t, ok, text)
	require.True(t, strings.HasPrefix(queue, "== broker queue ==\n"), text)
	queue = strings.TrimPrefix(queue, "== broker queue ==\n")
	// The queue's table is compare's alone, with the log's strategy as a
	// row of "-".
	assert.Regexp(t, `(?m)^test-log-only +- +-$`, queue)
	withoutRow := regexp.MustCompile(`(?m)^test-log-only .*\n`).ReplaceAllString(queue, "")
	spaces := regexp.MustCompile(` +`)
	assert.Equal(t, spaces.ReplaceAllString(tableOnly(queueAlone), " "), spaces.ReplaceAllString(tableOnly(withoutRow), " "),
		"the queue's table is compare's of the queue alone, but for the log's row (and the width of its first column)")
	assert.Contains(t, logTable, "seeds 1..4, 3 instances, 20 events per run, broker log (partitions 4)\n")
	assert.Regexp(t, `(?m)^test-log-only +ok +ok$`, logTable)
	assert.Regexp(t, `(?m)reproduce with: idemsim run --strategy none --faults crash --seed 1 --instances 3 --events 20 --broker log --partitions 4$`, logTable)
	assert.Regexp(t, `(?m)reproduce with: idemsim run --strategy none --faults crash --seed 1 --instances 3 --events 20 --broker queue$`, queue)

	// The JSON: one comparison per broker, each naming it.
	e, out, errOut = brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main(append(base, "--broker", "queue,log", "--partitions", "4", "--json")), errOut.String())
	var both sweep.ByBroker
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&both))
	require.Len(t, both.Comparisons, 2)
	assert.Equal(t, "queue", both.Comparisons[0].Broker)
	assert.Len(t, both.Comparisons[0].Results, 4, "no cell of the log's strategy on the queue")
	assert.Equal(t, "log", both.Comparisons[1].Broker)
	assert.Equal(t, 4, both.Comparisons[1].Partitions)
	assert.Len(t, both.Comparisons[1].Results, 6)
	for _, c := range both.Comparisons[1].Results {
		assert.Equal(t, "log", c.Broker, "each cell names its broker")
	}

	// --out: the queue's files where they were, the log's beside them.
	dir := t.TempDir()
	e, _, errOut = brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main(append(base, "--broker", "queue,log", "--out", dir)), errOut.String())
	for _, f := range []string{"compare.json", "compare.csv", "compare.md", "violations.png", "violations.svg",
		"compare-log.json", "compare-log.csv", "compare-log.md", "violations-log.png", "violations-log.svg"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	md, err := os.ReadFile(filepath.Join(dir, "compare-log.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| test-log-only | ok | ok |")
	assert.True(t, strings.HasPrefix(string(md), "# Outcome table: broker log\n"), "the log's Markdown is headed by its broker")
	assert.Contains(t, string(md), "Regenerate with `idemsim compare --seeds 4 --instances 3 --events 20 --strategies none,db-unique,test-log-only --faults crash,slow --broker queue,log --out "+dir+"`")
	md, err = os.ReadFile(filepath.Join(dir, "compare.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| test-log-only | - | - |")
	assert.True(t, strings.HasPrefix(string(md), "# Outcome table\n"), "the queue's reads as it always has")
	js, err := os.ReadFile(filepath.Join(dir, "compare.json"))
	require.NoError(t, err)
	cmp, err := decodeComparison(js)
	require.NoError(t, err)
	assert.Equal(t, "queue", cmp.Broker, "compare.json is the queue's")
	svg, err := os.ReadFile(filepath.Join(dir, "violations-log.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(svg), "broker log", "the log's figure names its broker")
	assert.Contains(t, string(svg), "compare-log.md")

	// plot draws both figures from the files.
	plotDir := t.TempDir()
	e, out, errOut = brokersEnv(&compares)
	code := e.main([]string{"plot", "--in", dir, "--out", plotDir})
	assert.Contains(t, out.String(), "wrote    violations-log", errOut.String(), code)
	assert.FileExists(t, filepath.Join(plotDir, "violations-log.png"))
	assert.FileExists(t, filepath.Join(plotDir, "violations.png"))
}

// tableOnly is the table of compare's text: its lines up to the blank
// line after it.
func tableOnly(text string) string {
	head, rest, _ := strings.Cut(text, "\n\n")
	table, _, _ := strings.Cut(rest, "\n\n")
	return head + "\n\n" + table
}

// TestShardsOfTwoBrokersMergeToTheirComparison: the slices of compare
// --broker queue,log carry both brokers, and merge prints and writes what
// one compare does, byte for byte.
func TestShardsOfTwoBrokersMergeToTheirComparison(t *testing.T) {
	lo := logOnly(t)
	var compares []sweep.CompareConfig
	base := []string{"compare", "--seeds", "5", "--events", "20", "--strategies", "none," + lo, "--faults", "crash", "--broker", "queue,log"}
	whole := t.TempDir()
	e, wholeOut, errOut := brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main(append(base, "--out", whole)), errOut.String())

	parts := t.TempDir()
	for _, k := range []string{"1/2", "2/2"} {
		e, out, errOut := brokersEnv(&compares)
		require.Equal(t, ExitOK, e.main(append(base, "--shard", k, "--out", parts)), errOut.String())
		var pb sweep.PartsByBroker
		require.NoError(t, json.Unmarshal(out.Bytes(), &pb))
		require.Len(t, pb.Parts, 2)
		for _, p := range pb.Parts {
			assert.Equal(t, []string{"queue", "log"}, p.Brokers, "each part carries the list")
		}
	}
	merged := t.TempDir()
	e, out, errOut := brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main([]string{"merge", "--out", merged, filepath.Join(parts, "compare-shard-2-of-2.json"), filepath.Join(parts, "compare-shard-1-of-2.json")}), errOut.String())
	assert.Equal(t, wholeOut.String(), out.String(), "merge prints what compare printed")
	for _, f := range []string{"compare.json", "compare.csv", "compare-log.json", "compare-log.csv", "compare-log.md"} {
		want, err := os.ReadFile(filepath.Join(whole, f))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(merged, f))
		require.NoError(t, err)
		assert.Equal(t, strings.ReplaceAll(string(want), whole, "DIR"), strings.ReplaceAll(string(got), merged, "DIR"), f)
	}

	// A slice missing is refused, naming it.
	code, _, stderr := runCLI(t, "merge", filepath.Join(parts, "compare-shard-1-of-2.json"))
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "slice missing: 2/2 (seeds 3..5)")
}

// TestAStrategyNamedWhereItDoesNotRunIsRefused: a strategy that does not
// run on the one broker named exits 2 saying where it runs; with a list,
// it shows "-" where it does not run, and is refused only when it runs on
// none of them.
func TestAStrategyNamedWhereItDoesNotRunIsRefused(t *testing.T) {
	lo := logOnly(t)
	for _, args := range [][]string{
		{"run", "--strategy", lo, "--faults", "crash", "--seed", "1"},
		{"run", "--strategy", lo, "--faults", "crash", "--seed", "1", "--broker", "queue"},
		{"compare", "--strategies", "none," + lo, "--broker", "queue"},
	} {
		r := newRecordingEnv()
		assert.Equal(t, ExitUsage, r.main(args), "%q", args)
		assert.Contains(t, r.errOut(), "test-log-only runs only on the log broker (--broker log), not on the queue", "%q", args)
		assert.Empty(t, r.runs)
		assert.Empty(t, r.compares)
	}
	r := newRecordingEnv()
	require.Equal(t, ExitOK, r.main([]string{"run", "--strategy", lo, "--faults", "crash", "--seed", "1", "--broker", "log"}), r.errOut())

	// compare's default rows are the strategies that run on a model given:
	// the queue's alone are as they have always been.
	var compares []sweep.CompareConfig
	e, _, errOut := brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main([]string{"compare", "--seeds", "1"}), errOut.String())
	require.Len(t, compares, 1)
	assert.NotContains(t, compares[0].Strategies, lo)
	compares = nil
	e, _, errOut = brokersEnv(&compares)
	require.Equal(t, ExitOK, e.main([]string{"compare", "--seeds", "1", "--broker", "log,queue"}), errOut.String())
	require.Len(t, compares, 2)
	assert.Equal(t, "log", compares[0].BrokerModel, "in the order given")
	assert.Contains(t, compares[0].Strategies, lo)
	assert.Equal(t, compares[0].Strategies, compares[1].Strategies, "one list of rows for both tables")
}

func TestLogFlagsHelpSaysTheDefaultAndWhatTheyMatchInKafka(t *testing.T) {
	for _, cmd := range []string{"run", "compare", "explain"} {
		code, out, _ := runCLI(t, cmd, "-h")
		require.Equal(t, ExitOK, code)
		for _, want := range []string{
			"--partitions N", "(default 6)",
			"--batch N", "max.poll.records", "(default 5)",
			"--commit batch|record", "(default batch)",
			"--session-timeout D", "session.timeout.ms", "(default 3s)",
			"--max-poll-interval D", "max.poll.interval.ms", "(default 5s)",
			"log: ",
		} {
			assert.Contains(t, out, want, "%s -h", cmd)
		}
	}
	_, out, _ := runCLI(t, "compare", "-h")
	assert.Contains(t, out, "a comma-separated list, each in a table of its own")
}

// The merge of a slice of the old form (one model, no list) still reads:
// the part's own broker is its list.
func TestMergeReadsSlicesOfOneBroker(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"1/2", "2/2"} {
		code, _, stderr := runCLI(t, "compare", "--seeds", "2", "--events", "10", "--strategies", "none", "--faults", "crash", "--shard", k, "--out", dir)
		require.Equal(t, ExitOK, code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "compare-shard-1-of-2.json"))
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"brokers"`, "a slice of one model is as it has always been")
	code, out, stderr := runCLI(t, "merge", filepath.Join(dir, "compare-shard-1-of-2.json"), filepath.Join(dir, "compare-shard-2-of-2.json"))
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^none +dup$`, out)
}

// TestProgressCountsTheRunsOfEveryBroker: compare's progress line counts
// the runs of all its brokers' comparisons in one total, the strategies
// that do not run on a broker left out.
func TestProgressCountsTheRunsOfEveryBroker(t *testing.T) {
	lo := logOnly(t)
	var compares []sweep.CompareConfig
	e, _, errOut := brokersEnv(&compares)
	inner := e.simCompare
	e.simCompare = func(cc sweep.CompareConfig) (*sweep.Comparison, error) {
		n := len(rowsOn(cc.Strategies, cc.BrokerModel)) * len(cc.Scenarios) * cc.Seeds
		for done := 1; done <= n; done++ {
			cc.Progress(done, n)
		}
		return inner(cc)
	}
	e.isTerminal = func(io.Writer) bool { return true }
	require.Equal(t, ExitOK, e.main([]string{"compare", "--seeds", "3", "--strategies", "none," + lo, "--faults", "crash,slow", "--broker", "queue,log"}), errOut.String())
	// The queue: none under 2 scenarios, 3 seeds (6 runs); the log: both
	// strategies (12 runs).
	assert.Contains(t, errOut.String(), "compare: 1/18 runs (5%)")
	assert.Contains(t, errOut.String(), "compare: 18/18 runs (100%)")
	assert.NotContains(t, errOut.String(), "/6 runs", "one total for both brokers")
}
