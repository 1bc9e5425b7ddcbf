package cli

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

func plotFlags() []string { var o plotOpts; return flagsOf(o.flagSet()) }

// allFigures are the figures plot draws, in the order it reports them.
var allFigures = []string{plots.NameViolations, plots.NameInstances, plots.NameTTL, plots.NameThroughput, plots.NameLatency}

// allOutputs are allFigures and the benchmark ratios' table, in the order
// plot reports them.
var allOutputs = append(slices.Clone(allFigures), plots.NameRatios)

// requirePNGAndSVG checks that dir holds name.png, which decodes, and
// name.svg.
func requirePNGAndSVG(t *testing.T, dir, name string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name+".png"))
	require.NoError(t, err)
	defer f.Close()
	_, err = png.Decode(f)
	require.NoError(t, err, "%s.png decodes", name)
	svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg", "%s.svg", name)
}

// strategyBench is benchmark output with BenchmarkStrategy lines, sim and
// real, at two concurrency levels, two runs each: enough for the figures
// and one ratio (db-unique-fast over redis).
func strategyBench() string {
	var b strings.Builder
	b.WriteString("goos: linux\ncpu: Test CPU\n")
	for _, st := range []string{"redis", "db-unique", "db-unique-fast"} {
		for _, backend := range []string{"sim", "real"} {
			p99 := "p99-ms"
			if backend == "sim" {
				p99 = "sim-p99-ms"
			}
			for _, n := range []int{1, 4} {
				for c := range 2 {
					fmt.Fprintf(&b, "BenchmarkStrategy/%s/%s/consumers=%d-2 \t 100\t 1000 ns/op\t %d events/s\t %d.5 %s\n", st, backend, n, 1000*n+c, n+c, p99)
				}
			}
		}
	}
	b.WriteString("PASS\n")
	return b.String()
}

// savedData is what plot reads, as the commands that make it would save
// it: compare.json of a small comparison, both sweeps over seed 1, and
// bench.txt with BenchmarkStrategy lines. It is computed once; nothing is
// drawn.
var savedData = sync.OnceValue(func() map[string][]byte {
	files := map[string][]byte{"bench.txt": []byte(strategyBench())}
	cmp, err := sweep.Compare(sweep.CompareConfig{Seeds: 2, Events: 30, Strategies: []string{"none", "db-unique"},
		Scenarios: []faults.Set{faults.Of(faults.Crash), faults.AllFaults}})
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, cmp); err != nil {
		panic(err)
	}
	files["compare.json"] = buf.Bytes()
	in, err := sweep.Instances(sweep.SeriesConfig{Seeds: 1})
	if err != nil {
		panic(err)
	}
	ttl, err := sweep.TTL(sweep.SeriesConfig{Seeds: 1})
	if err != nil {
		panic(err)
	}
	for name, v := range map[string]any{plots.NameInstances: in, plots.NameTTL: ttl} {
		var buf bytes.Buffer
		if err := writeJSON(&buf, v); err != nil {
			panic(err)
		}
		files[name+".json"] = buf.Bytes()
	}
	return files
})

// savedResults writes the named files of savedData to dir, every file
// when names is empty.
func savedResults(t *testing.T, dir string, names ...string) {
	t.Helper()
	for name, data := range savedData() {
		if len(names) == 0 || slices.Contains(names, name) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		}
	}
}

func TestPlotFromSavedResultsDrawsEveryFigure(t *testing.T) {
	in := t.TempDir()
	savedResults(t, in)
	out := filepath.Join(t.TempDir(), "figures")
	code, stdout, stderr := runCLI(t, "plot", "--in", in, "--out", out)
	require.Equal(t, ExitOK, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, len(allOutputs), stdout)
	for i, name := range allFigures {
		assert.Equal(t, []string{"wrote", name, filepath.Join(out, name+".png"), filepath.Join(out, name+".svg")},
			strings.Fields(lines[i]))
		requirePNGAndSVG(t, out, name)
	}
	ratios := filepath.Join(out, plots.NameRatios+".md")
	assert.Equal(t, []string{"wrote", plots.NameRatios, ratios}, strings.Fields(lines[len(allFigures)]))
	md, err := os.ReadFile(ratios)
	require.NoError(t, err)
	assert.Contains(t, string(md), "| db-unique-fast ÷ redis, real, events/s | ≥ 1.5 at 1 consumer | 1.00 (1.00–1.00) | 1.00 (1.00–1.00) |",
		"each round's db-unique-fast over its redis: equal figures in the test data")
	assert.Empty(t, stderr, "the files are listed once, on stdout: stderr is for progress and errors")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, 2*len(allFigures)+1, "the figures, the ratios and nothing else: the sweeps are read, not run")
}

func TestPlotSweepWritesDeterministicDataAndShowsProgressOnATerminal(t *testing.T) {
	var out, errOut bytes.Buffer
	clock := time.Unix(1000, 0)
	e := &env{
		stdout: &out, stderr: &errOut,
		isTerminal: func(w io.Writer) bool { return w == &errOut },
		now:        func() time.Time { clock = clock.Add(time.Second); return clock },
		simRun:     sim.Run, simCompare: sweep.Compare,
	}
	dir := t.TempDir()
	require.Equal(t, ExitOK, e.main([]string{"plot", "--in", dir, "--sweep", "--seeds", "1", "--workers", "3"}), errOut.String())

	runs := sweep.SeriesRuns(1)
	assert.Equal(t, fmt.Sprintf("plot: running the sweeps: %d runs... 1.0s\n", runs), errOut.String(),
		"progress, and nothing else: the files are listed once, on stdout")
	assert.NotContains(t, out.String(), "runs...", "progress never goes to stdout")
	assert.Contains(t, out.String(), "skipped  violations", "no compare.json in --in")
	for _, name := range []string{plots.NameInstances, plots.NameTTL} {
		assert.Contains(t, out.String(), filepath.Join(dir, name+".json"))
		requirePNGAndSVG(t, dir, name)
		got, err := os.ReadFile(filepath.Join(dir, name+".json"))
		require.NoError(t, err)
		assert.Equal(t, string(savedData()[name+".json"]), string(got),
			"%s: the same --seeds give the same sweep, whatever --workers", name)
	}
}

func TestPlotReportsMissingInputs(t *testing.T) {
	dir := t.TempDir()
	savedResults(t, dir, "compare.json")
	// Only BenchmarkSimRun lines: throughput from them, no p99.
	simRun := "cpu: X\nBenchmarkSimRun/strategy=none/faults=all/instances=3/events=200-2 \t 10\t 2000000 ns/op\t 190000 deliveries/s\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bench.txt"), []byte(simRun), 0o644))

	code, stdout, stderr := runCLI(t, "plot", "--in", dir)
	require.Equal(t, ExitOK, code, "figures were drawn, so missing inputs are not an error: %s", stderr)
	want := []struct{ prefix, contains string }{
		{"wrote    violations", filepath.Join(dir, "violations.png")},
		{"skipped  sweep-instances", "no " + filepath.Join(dir, "sweep-instances.json") + ": run 'idemsim plot --sweep --in " + dir + "' to compute it"},
		{"skipped  sweep-ttl", "no " + filepath.Join(dir, "sweep-ttl.json")},
		{"wrote    bench-throughput", filepath.Join(dir, "bench-throughput.svg")},
		{"skipped  bench-latency", "no BenchmarkStrategy lines with a p99-ms metric; run scripts/bench"},
		{"skipped  bench-ratios", "no BenchmarkStrategy/db-unique-fast/real, BenchmarkRaw, BenchmarkBatch or raw broker loop results to compare"},
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, len(want), stdout)
	for i, w := range want {
		assert.True(t, strings.HasPrefix(lines[i], w.prefix), "line %d: %q", i, lines[i])
		assert.Contains(t, lines[i], w.contains)
	}
	requirePNGAndSVG(t, dir, plots.NameThroughput)
	assert.NoFileExists(t, filepath.Join(dir, plots.NameLatency+".png"))
}

func TestPlotWithNothingToDrawExitsOne(t *testing.T) {
	empty := t.TempDir()
	code, stdout, stderr := runCLI(t, "plot", "--in", empty)
	assert.Equal(t, ExitError, code)
	assert.Equal(t, len(allOutputs), strings.Count(stdout, "skipped"), stdout)
	assert.Contains(t, stderr, "nothing to draw")
	assert.Contains(t, stderr, "idemsim compare --out "+empty)
	entries, err := os.ReadDir(empty)
	require.NoError(t, err)
	assert.Empty(t, entries, "no probe file left")

	missing := filepath.Join(t.TempDir(), "no-such-dir")
	code, stdout, stderr = runCLI(t, "plot", "--in", missing)
	assert.Equal(t, ExitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "no directory "+missing)
	assert.NoDirExists(t, missing, "--out defaults to --in, and is not created for nothing")
}

func TestPlotBadInputFileIsAnErrorButTheOthersAreDrawn(t *testing.T) {
	dir := t.TempDir()
	savedResults(t, dir, plots.NameInstances+".json")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "compare.json"), []byte("{not json"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sweep-ttl.json"), []byte(`{"results": []}`), 0o644))
	code, stdout, stderr := runCLI(t, "plot", "--in", dir)
	assert.Equal(t, ExitUsage, code, "an input that does not parse is bad input")
	assert.Contains(t, stdout, "FAILED   violations")
	assert.Contains(t, stdout, "FAILED   sweep-ttl")
	assert.Contains(t, stdout, "wrote    sweep-instances", "the other figures are drawn")
	assert.Contains(t, stdout, "skipped  bench-latency")
	assert.Contains(t, stderr, filepath.Join(dir, "compare.json")+" is not a compare JSON ('idemsim compare --out DIR' writes it): it breaks at line 1, column 2: ")
	assert.Contains(t, stderr, filepath.Join(dir, "sweep-ttl.json")+" is not the TTL sweep's JSON")
}

// A compare.json that is cut short, or not a comparison at all, is named,
// with what it should be and where it broke, and exits 2; the other
// figures are drawn.
func TestPlotCorruptCompareJSONSaysWhereItBroke(t *testing.T) {
	whole := savedData()["compare.json"]
	half := string(whole[:len(whole)/2])
	for _, tc := range []struct {
		name, data, want string
	}{
		{"cut short", half, fmt.Sprintf("it ends at line %d, column %d before its JSON is complete: the file is cut short",
			strings.Count(half, "\n")+1, len(half)-strings.LastIndex(half, "\n"))},
		{"empty", "", "the file is empty"},
		{"another JSON", `{"seeds": 3, "shard": "1/2"}`, `it has a field "shard", which a compare JSON does not have`},
		{"no results", `{"seeds": 3, "instances": 3, "events": 10, "results": []}`, "it holds no results"},
		{"wrong type", "{\n  \"seeds\": \"many\"\n}", `field seeds holds a JSON string where a whole number belongs (it ends at line 2, column 18)`},
		{"two objects", string(whole) + string(whole), "more follows the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			savedResults(t, dir, plots.NameInstances+".json")
			require.NoError(t, os.WriteFile(filepath.Join(dir, "compare.json"), []byte(tc.data), 0o644))
			code, stdout, stderr := runCLI(t, "plot", "--in", dir)
			assert.Equal(t, ExitUsage, code, stderr)
			assert.Contains(t, stdout, "wrote    sweep-instances", "the other figures are drawn")
			assert.Contains(t, stderr, filepath.Join(dir, "compare.json")+" is not a compare JSON ('idemsim compare --out DIR' writes it): "+tc.want)
			assert.NotContains(t, stderr, "unexpected end of JSON input", "no bare decoder message")
			assert.NoFileExists(t, filepath.Join(dir, plots.NameViolations+".png"))
		})
	}
}

func TestPlotUnwritableOut(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	code, stdout, stderr := runCLI(t, "plot", "--sweep", "--seeds", "1", "--out", filepath.Join(file, "results"))
	assert.Equal(t, ExitError, code)
	assert.Empty(t, stdout, "a bad --out fails before the sweep")
	assert.Contains(t, stderr, "--out")
}

func TestPlotBadUsageExitsTwo(t *testing.T) {
	seedsRange := fmt.Sprintf("1 to %d", sweep.MaxSeeds)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"plot", "--seed", "3"}, append([]string{"--seed"}, plotFlags()...)},
		{"zero seeds", []string{"plot", "--sweep", "--seeds", "0"}, []string{"--seeds", seedsRange}},
		{"seeds not a number", []string{"plot", "--sweep", "--seeds", "many"}, []string{"--seeds", seedsRange}},
		{"seeds without sweep", []string{"plot", "--seeds", "5"}, []string{"--seeds", "--sweep"}},
		{"workers without sweep", []string{"plot", "--workers", "2"}, []string{"--workers", "--sweep"}},
		{"negative workers", []string{"plot", "--sweep", "--workers", "-1"}, []string{"--workers", "0 to"}},
		{"empty in", []string{"plot", "--in", ""}, []string{"--in", "directory"}},
		{"empty out", []string{"plot", "--out", ""}, []string{"--out", "directory"}},
		{"malformed bool", []string{"plot", "--sweep=often"}, []string{"--sweep", "true or false"}},
		{"positional argument", []string{"plot", "results"}, append([]string{`"results"`}, plotFlags()...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			assert.Equal(t, ExitUsage, code, "stderr: %s", stderr)
			assert.Empty(t, stdout)
			for _, w := range tt.want {
				assert.Contains(t, stderr, w)
			}
			assert.Contains(t, stderr, "idemsim plot -h")
		})
	}
}

func TestPlotHelpExplainsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"plot", "-h"}, {"plot", "--help"}, {"help", "plot"}, {"plot", "--sweep", "-h"}} {
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, ExitOK, code, "%v", args)
		assert.Empty(t, stderr)
		assert.Contains(t, stdout, "usage: "+plotSynopsis)
		for _, f := range plotFlags() {
			assert.Contains(t, stdout, f, "%v", args)
		}
		for _, name := range allFigures {
			assert.Contains(t, stdout, name, "%v: help names every figure", args)
		}
		assert.Contains(t, stdout, "(default 50)")
		assert.Contains(t, stdout, "(default results)")
	}
}

// TestCommittedSweepsAreCurrent recomputes the sweeps with the command the
// README names and requires the committed data to be identical, so that
// nothing in results/ is edited by hand or left stale.
func TestCommittedSweepsAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs both sweeps over 50 seeds")
	}
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "plot", "--in", dir, "--sweep")
	require.Equal(t, ExitOK, code, stderr)
	for _, name := range []string{plots.NameInstances, plots.NameTTL} {
		want, err := os.ReadFile(filepath.Join("..", "results", name+".json"))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, name+".json"))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "results/%s.json is stale: run `go run ./cmd/idemsim plot --sweep`", name)
	}
}

// TestCommittedFiguresExist checks that results/ holds the figures that
// the committed data can draw.
func TestCommittedFiguresExist(t *testing.T) {
	results := filepath.Join("..", "results")
	for _, name := range []string{plots.NameViolations, plots.NameInstances, plots.NameTTL, plots.NameThroughput} {
		requirePNGAndSVG(t, results, name)
	}
}
