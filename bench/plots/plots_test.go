package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// requireFigure checks that dir holds name.png, a PNG of a one-panel
// figure's size that decodes, and name.svg, an SVG that holds each of
// texts.
func requireFigure(t *testing.T, dir, name string, texts ...string) {
	t.Helper()
	requireFigureOfSize(t, dir, name, Width, Height, texts...)
}

// requireWideFigure is requireFigure for a figure of several panels.
func requireWideFigure(t *testing.T, dir, name string, texts ...string) {
	t.Helper()
	requireFigureOfSize(t, dir, name, WideWidth, WideHeight, texts...)
}

// requireFigureOfSize is requireFigure for a figure of w by h.
func requireFigureOfSize(t *testing.T, dir, name string, w, h vg.Length, texts ...string) {
	t.Helper()
	files := Files(dir, name)
	require.Len(t, files, 2)

	f, err := os.Open(files[0])
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, "%s decodes as PNG", files[0])
	assert.Equal(t, int(float64(w/vg.Inch)*DPI), img.Bounds().Dx())
	assert.Equal(t, int(float64(h/vg.Inch)*DPI), img.Bounds().Dy())

	svg, err := os.ReadFile(files[1])
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(svg, []byte("<?xml")), "%s is XML", files[1])
	assert.Contains(t, string(svg), "<svg")
	assert.True(t, bytes.HasSuffix(bytes.TrimSpace(svg), []byte("</svg>")), "%s is complete", files[1])
	for _, s := range texts {
		assert.Contains(t, string(svg), escapeXML(s), "%s shows %q", files[1], s)
	}
}

// escapeXML escapes s as SVG text does.
func escapeXML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&#39;", `"`, "&#34;").Replace(s)
}

// requireNoFiles checks that dir holds nothing.
func requireNoFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// smallComparison is a comparison of three strategies under two scenarios,
// with a clean cell, violating cells of each kind and a missing cell.
func smallComparison() *sweep.Comparison {
	seed := uint64(3)
	crash, ttl := faults.Of(faults.Crash), faults.Of(faults.TTL)
	cell := func(st string, sc faults.Set, violating, dups, lost int) sweep.Cell {
		c := sweep.Cell{Strategy: st, Faults: sc.Names(), Scenario: sc.String(),
			Stats: sweep.Stats{Runs: 20, ViolatingRuns: violating, Duplicates: dups, Lost: lost}, Instances: 3, Events: 50}
		if violating > 0 {
			c.FirstFailingSeed = &seed
		}
		return c
	}
	return &sweep.Comparison{Seeds: 20, Instances: 3, Events: 50, Results: []sweep.Cell{
		cell("local-cache", crash, 20, 40, 0),
		cell("local-cache", ttl, 17, 30, 0),
		cell("redis", crash, 12, 0, 15),
		cell("redis", ttl, 9, 11, 2),
		cell("db-unique", crash, 0, 0, 0),
		// db-unique under ttl is missing: its bar is absent, labelled "?".
	}}
}

func TestViolationsWritesPNGAndSVG(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Violations(smallComparison(), dir))
	requireFigure(t, dir, NameViolations,
		"Exactly-once violations by strategy and fault scenario",
		"violating runs (% of seeds)", "deduplication strategy", // axes, with units
		"fault scenario", "crash", "ttl", // legend
		"local-cache", "redis", "db-unique", // groups
		"dup", "lost", "dup+lost", "ok", "?", // verdicts over the bars
		"seeds 1..20", "3 consumer instances, 50 events per run")
}

// TestViolationsSlantsTheStrategyNames: with every registered strategy
// side by side, the names under the groups are turned, as the benchmark
// figures turn theirs, instead of running into each other
// ("redis-afterdb-unique").
func TestViolationsSlantsTheStrategyNames(t *testing.T) {
	names := strategies.Names()
	require.GreaterOrEqual(t, len(names), 9, "the nine built-in strategies")
	cmp := &sweep.Comparison{Seeds: 1, Instances: 3, Events: 10}
	for _, st := range names {
		for _, sc := range faults.Scenarios() {
			cmp.Results = append(cmp.Results, sweep.Cell{Strategy: st, Faults: sc.Names(), Scenario: sc.String(),
				Stats: sweep.Stats{Runs: 1}, Instances: 3, Events: 10})
		}
	}
	dir := t.TempDir()
	require.NoError(t, Violations(cmp, dir))
	svg, err := os.ReadFile(Files(dir, NameViolations)[1])
	require.NoError(t, err)
	for _, st := range names {
		// Each name is one <text> element; a turned one is the only
		// child of a rotating group.
		end := bytes.Index(svg, []byte(">"+escapeXML(st)+"</text>"))
		require.GreaterOrEqual(t, end, 0, "%s is drawn", st)
		start := bytes.LastIndex(svg[:end], []byte("<text "))
		before := strings.TrimSpace(string(svg[:start]))
		assert.True(t, strings.HasSuffix(before, `<g transform="rotate(45)">`), "%s is turned 45 degrees", st)
	}
}

func TestViolationsWithoutCellsWritesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []*sweep.Comparison{nil, {Seeds: 3}} {
		err := Violations(c, dir)
		require.ErrorIs(t, err, ErrNoData)
	}
	requireNoFiles(t, dir)
}

func TestViolationsOfARealComparison(t *testing.T) {
	cmp, err := sweep.Compare(sweep.CompareConfig{Seeds: 2, Events: 20, Strategies: []string{"none", "db-unique"},
		Scenarios: []faults.Set{faults.Of(faults.Redeliver), faults.AllFaults}})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, Violations(cmp, dir))
	requireFigure(t, dir, NameViolations, "none", "db-unique", "redeliver", "all")
}

// smallSweeps are the two series over seeds 1..2, computed once: data to
// draw.
var smallSweeps = sync.OnceValues(func() (*sweep.InstancesData, *sweep.TTLData) {
	in, err := sweep.Instances(sweep.SeriesConfig{Seeds: 2})
	if err != nil {
		panic(err)
	}
	ttl, err := sweep.TTL(sweep.SeriesConfig{Seeds: 2})
	if err != nil {
		panic(err)
	}
	return in, ttl
})

func TestSweepFiguresWritePNGAndSVG(t *testing.T) {
	in, ttl := smallSweeps()
	dir := t.TempDir()
	require.NoError(t, InstancesSweep(in, dir))
	requireFigure(t, dir, NameInstances,
		"Duplicates as consumer instances grow",
		"consumer instances", "duplicate effects per run (mean of 2 seeds)",
		"strategy", "local-cache", "db-unique (0 everywhere)")
	require.NoError(t, TTLSweep(ttl, dir))
	requireFigure(t, dir, NameTTL,
		"Redis: duplicates as the mark TTL shrinks below the redelivery horizon",
		"mark TTL (s, log scale)", "duplicate effects per run (mean of 2 seeds)",
		"strategy", "redis", "redis-after", "redelivery horizon:", "4s to 20s after")
}

func TestSweepFiguresWithoutDataWriteNothing(t *testing.T) {
	dir := t.TempDir()
	assert.ErrorIs(t, InstancesSweep(nil, dir), ErrNoData)
	assert.ErrorIs(t, InstancesSweep(&sweep.InstancesData{Seeds: 1}, dir), ErrNoData)
	assert.ErrorIs(t, TTLSweep(nil, dir), ErrNoData)
	assert.ErrorIs(t, TTLSweep(&sweep.TTLData{Seeds: 1}, dir), ErrNoData)
	zeroTTL := &sweep.TTLData{Seeds: 1, Series: []sweep.TTLSeries{{Strategy: "redis", Points: []sweep.TTLPoint{{MarkTTLMS: 0}}}}}
	assert.ErrorIs(t, TTLSweep(zeroTTL, dir), sweep.ErrBadData, "no log axis through 0")
	requireNoFiles(t, dir)
}

func TestLegendSaysWhenALineHidesAnother(t *testing.T) {
	type (
		pt    = sweep.InstancesPoint
		stats = sweep.Stats
	)
	d := &sweep.InstancesData{Scenario: "redeliver", Seeds: 1, Events: 10, Series: []sweep.InstancesSeries{
		{Strategy: "a", Points: []pt{{Instances: 1, Stats: stats{Runs: 1, Duplicates: 2}}, {Instances: 2, Stats: stats{Runs: 1, Duplicates: 4}}}},
		{Strategy: "b", Points: []pt{{Instances: 1, Stats: stats{Runs: 1, Duplicates: 2}}, {Instances: 2, Stats: stats{Runs: 1, Duplicates: 4}}}},
		{Strategy: "c", Points: []pt{{Instances: 1, Stats: stats{Runs: 1}}, {Instances: 2, Stats: stats{Runs: 1}}}},
	}}
	dir := t.TempDir()
	require.NoError(t, InstancesSweep(d, dir))
	requireFigure(t, dir, NameInstances, "b (on a)", "c (0 everywhere)", "(mean of 1 seed)")
}

// strategyBenchText is benchmark output in BenchmarkStrategy's format:
// every strategy on sim and real at 1, 4 and 16 consumers, count runs
// each.
func strategyBenchText(count int) string {
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/idemsim/idemsim/bench\ncpu: Test CPU @ 1GHz\n")
	for i, st := range []string{"none", "local-cache", "redis", "redis-after", "db-unique", "db-unique-split"} {
		for _, n := range []int{1, 4, 16} {
			for c := range count {
				v := float64(1+c) * 0.01
				fmt.Fprintf(&b, "BenchmarkStrategy/%s/sim/consumers=%d-2   \t     100\t   2000000 ns/op\t %.0f events/s\t %.3f sim-p50-ms\t %.3f sim-p99-ms\t 3.0 dups/op\n",
					st, n, 150000*(1+v), 2.0, 5+float64(n)/4+v)
				fmt.Fprintf(&b, "BenchmarkStrategy/%s/real/consumers=%d-2  \t    5000\t    200000 ns/op\t %.0f events/s\t %.3f p50-ms\t %.3f p99-ms\t 0 dups/op\n",
					st, n, float64(20000/(i+1)*min(n, 4))*(1+v), 0.3, float64(n)*float64(i+1)*(1+v))
			}
		}
	}
	b.WriteString("PASS\nok  \tgithub.com/idemsim/idemsim/bench\t12.3s\n")
	return b.String()
}

// simRunBenchText is benchmark output with only BenchmarkSimRun and other
// benchmarks, as results/bench.txt held before BenchmarkStrategy existed.
const simRunBenchText = `goos: linux
cpu: AMD EPYC
BenchmarkSimRun/strategy=none/faults=all/instances=3/events=200-2         	     686	   1985516 ns/op	         0.4068 check-share	    193417 deliveries/s	    326083 sim-deliveries/s	     27014 sim-s/wall-s
BenchmarkSimRun/strategy=none/faults=all/instances=3/events=200-2         	     494	   2084041 ns/op	         0.4519 check-share	    190556 deliveries/s	    347666 sim-deliveries/s	     26615 sim-s/wall-s
BenchmarkSimRun/strategy=redis/faults=all/instances=3/events=200-2        	     399	   2785130 ns/op	         0.5014 check-share	    151467 deliveries/s	    303764 sim-deliveries/s	     20618 sim-s/wall-s
BenchmarkPorcupine/history=1x/events=200-2                                           	    1086	   1078492 ns/op	       761.0 history-ops	      1417 ns/history-op
BenchmarkCompareDefault-2                                                            	       1	10121174081 ns/op	        10.12 wall-s/compare
PASS
`

func parseText(t *testing.T, s string) *BenchFile {
	t.Helper()
	f, err := ParseBench(strings.NewReader(s))
	require.NoError(t, err)
	return f
}

func TestBenchFiguresFromStrategyLines(t *testing.T) {
	f := parseText(t, strategyBenchText(3))
	dir := t.TempDir()
	require.NoError(t, Throughput(f, dir))
	requireWideFigure(t, dir, NameThroughput,
		"Throughput per strategy, simulated and real", "throughput (events/s)",
		"simulator", "real Redis and PostgreSQL", "consumers", "16", "bar: median of 3 runs", "whisker: min to max",
		"db-unique-split", "cpu Test CPU @ 1GHz, GOMAXPROCS 2")
	require.NoError(t, Latency(f, dir))
	requireWideFigure(t, dir, NameLatency,
		"p99 latency per strategy, simulated and real", "p99 latency (ms)",
		"simulator", "real Redis and PostgreSQL", "consumers")
}

func TestRealMarksPanelIsExplained(t *testing.T) {
	text := strategyBenchText(1) +
		"BenchmarkStrategy/redis/real-marks/consumers=1-2 \t 5000\t 100000 ns/op\t 12000 events/s\t 0.2 p99-ms\n"
	f := parseText(t, text)
	dir := t.TempDir()
	require.NoError(t, Throughput(f, dir))
	requireWideFigure(t, dir, NameThroughput, "real-marks: Redis only", "Real-marks: as Real")
	require.NoError(t, Latency(f, dir))
	requireWideFigure(t, dir, NameLatency, "real-marks: Redis only", "Real-marks: as Real")
}

// barPanelsOf are plots set up as barFigure sets up its panels, one per
// number of groups, each with a long two-line title.
func barPanelsOf(groups ...int) (panels []*plot.Plot, weights []float64) {
	for _, n := range groups {
		p := newPlot()
		p.Title.Text = "a panel title far too long for a narrow panel\nand a second line"
		p.X.Label.Text = groupsLabel(n, len(groups))
		names := make([]string, n)
		for g := range names {
			names[g] = fmt.Sprintf("strategy-%d", g)
		}
		weights = append(weights, groupSlots(p, names))
		panels = append(panels, p)
	}
	return panels, weights
}

func TestPanelsAreAsWideAsTheirGroups(t *testing.T) {
	// Six groups beside one, and nine (the registered strategies today)
	// beside one, which leaves the lone group's panel narrower than an
	// axis label.
	for _, many := range []int{6, 9} {
		panels, weights := barPanelsOf(many, many, 1)
		assert.Equal(t, []float64{float64(many), float64(many), minSlots}, weights, "one group takes minSlots")
		assert.Equal(t, -0.5-float64(minSlots-1)/2, panels[2].X.Min, "the lone group is centred")

		f := &figure{panels: panels, weights: weights}
		dc := draw.New(vgimg.New(WideWidth, WideHeight))
		canvases := f.layout(dc)
		require.Len(t, canvases, 3)
		var data []draw.Canvas
		for i, p := range panels {
			data = append(data, p.DataCanvas(canvases[i]))
			c := canvases[i]
			assert.LessOrEqual(t, p.Title.TextStyle.Width(p.Title.Text), c.Max.X-c.Min.X, "panel %d's title fits", i)
			if i > 0 {
				assert.GreaterOrEqual(t, c.Min.X, canvases[i-1].Max.X, "panel %d is right of panel %d", i, i-1)
			}
		}
		width := func(c draw.Canvas) float64 { return float64(c.Max.X - c.Min.X) }
		assert.InDelta(t, width(data[0]), width(data[1]), 0.01)
		assert.InDelta(t, float64(minSlots)/float64(many), width(data[2])/width(data[0]), 0.01,
			"%d groups beside 1: data areas in proportion to their groups", many)
		for i := range data {
			assert.InDelta(t, float64(data[0].Min.Y), float64(data[i].Min.Y), 0.01, "panel %d's data area starts at the same height", i)
			assert.InDelta(t, float64(data[0].Max.Y), float64(data[i].Max.Y), 0.01, "panel %d's data area ends at the same height", i)
		}
	}
}

func TestShares(t *testing.T) {
	assert.Equal(t, []vg.Length{40, 40, 20}, shares(100, []float64{6, 6, 3}, 3))
	assert.Equal(t, []vg.Length{50, 50}, shares(100, nil, 2), "no weights: equal shares")
	assert.Equal(t, []vg.Length{50, 50}, shares(100, []float64{1}, 2), "a weight missing: equal shares")
}

func TestWrappedBreaksAtSpaces(t *testing.T) {
	sty := textStyle(11)
	width := sty.Width("simulated deliveries per")
	got := wrapped(sty, "simulator\nsimulated deliveries per wall-clock second", width)
	assert.Equal(t, "simulator\nsimulated deliveries per\nwall-clock second", got, "each line wrapped on its own")
	assert.Equal(t, "unbreakable-word", wrapped(sty, "unbreakable-word", 1), "a word too long stays whole")
}

func TestBenchFiguresWithOnlySimulatedLines(t *testing.T) {
	var sim strings.Builder
	for _, l := range strings.Split(strategyBenchText(2), "\n") {
		if !strings.Contains(l, "/real/") {
			sim.WriteString(l + "\n")
		}
	}
	dir := t.TempDir()
	f := parseText(t, sim.String())
	require.NoError(t, Throughput(f, dir))
	requireFigure(t, dir, NameThroughput, "simulator", "No real-server lines in bench.txt")
	require.NoError(t, Latency(f, dir))
	requireFigure(t, dir, NameLatency, "simulator", "No real-server lines in bench.txt")
}

func TestThroughputFallsBackToSimRun(t *testing.T) {
	f := parseText(t, simRunBenchText)
	dir := t.TempDir()
	require.NoError(t, Throughput(f, dir))
	requireFigure(t, dir, NameThroughput, "Simulator throughput per strategy", "throughput (deliveries/s)",
		"none", "redis", "faults=all, instances=3, events=200", "bar: median of 2 runs")
	err := Latency(f, dir)
	require.ErrorIs(t, err, ErrNoData)
	assert.Contains(t, err.Error(), "p99-ms")
	_, statErr := os.Stat(filepath.Join(dir, NameLatency+".png"))
	assert.ErrorIs(t, statErr, os.ErrNotExist)
}

func TestBenchFiguresWithoutDataWriteNothing(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []*BenchFile{nil, parseText(t, ""), parseText(t, "BenchmarkPorcupine/history=1x-2 10 100 ns/op\n")} {
		assert.ErrorIs(t, Throughput(f, dir), ErrNoData)
		assert.ErrorIs(t, Latency(f, dir), ErrNoData)
	}
	requireNoFiles(t, dir)
}

func TestParseBench(t *testing.T) {
	f := parseText(t, `goos: linux
cpu: AMD EPYC 7B13
Some log line: with a colon
BenchmarkStrategy/redis/real/consumers=4-2 	 1000	 20000 ns/op	 50000 events/s	 1.5 p99-ms
BenchmarkNoProcs 	 5	 3.5 ns/op
Benchmarking is not a benchmark 1 2 ns/op
BenchmarkOdd 10 20
BenchmarkBadIters x 20 ns/op
BenchmarkZeroIters 0 20 ns/op
BenchmarkBadValue 10 NaN ns/op
BenchmarkStrategy/redis/sim/consumers=16-8 	 7	 1e6 ns/op	 2.5e5 events/s
--- FAIL: BenchmarkX
PASS
`)
	assert.Equal(t, map[string]string{"goos": "linux", "cpu": "AMD EPYC 7B13"}, f.Config)
	require.Len(t, f.Results, 3)
	assert.Equal(t, BenchResult{Name: "BenchmarkStrategy/redis/real/consumers=4", Procs: 2, Iters: 1000,
		Metrics: map[string]float64{"ns/op": 20000, "events/s": 50000, "p99-ms": 1.5}}, f.Results[0])
	assert.Equal(t, BenchResult{Name: "BenchmarkNoProcs", Iters: 5, Metrics: map[string]float64{"ns/op": 3.5}}, f.Results[1])
	assert.Equal(t, "BenchmarkStrategy/redis/sim/consumers=16", f.Results[2].Name)
	assert.Equal(t, 8, f.Results[2].Procs)
	assert.Equal(t, 2.5e5, f.Results[2].Metrics["events/s"])
}

func TestParseCommittedBench(t *testing.T) {
	fh, err := os.Open(filepath.Join("..", "..", "results", "bench.txt"))
	if os.IsNotExist(err) {
		t.Skip("no results/bench.txt")
	}
	require.NoError(t, err)
	defer fh.Close()
	f, err := ParseBench(fh)
	require.NoError(t, err)
	assert.NotEmpty(t, f.Results, "results/bench.txt holds benchmark lines")
	for _, r := range f.Results {
		assert.True(t, strings.HasPrefix(r.Name, "Benchmark"), r.Name)
		assert.Positive(t, r.Iters, r.Name)
	}
}

func TestSpreadAndTicks(t *testing.T) {
	med, lo, hi := spread([]float64{5, 1, 3})
	assert.Equal(t, []float64{3, 1, 5}, []float64{med, lo, hi})
	med, _, _ = spread([]float64{4, 1, 3, 2})
	assert.Equal(t, 2.5, med)

	for _, v := range []float64{0, 0.3, 1, 7.2, 31.3, 99, 100, 250000, 3.7e6} {
		ticks, top := linearTicks(v)
		require.GreaterOrEqual(t, len(ticks), 2, "v=%v", v)
		assert.Equal(t, 0.0, ticks[0].Value)
		assert.Equal(t, "0", ticks[0].Label)
		assert.Equal(t, top, ticks[len(ticks)-1].Value)
		assert.GreaterOrEqual(t, top, v, "the axis shows v=%v", v)
		assert.LessOrEqual(t, len(ticks), 9, "v=%v", v)
	}
	ticks, _ := linearTicks(250000)
	assert.Equal(t, "50k", ticks[1].Label)
	assert.Equal(t, "250k", ticks[len(ticks)-1].Label)
}

func TestLongTextShrinksToFit(t *testing.T) {
	width := vg.Points(300)
	short := fitted(textStyle(12), "fits", width)
	assert.Equal(t, vg.Points(12), short.Font.Size, "text that fits keeps its size")
	long := strings.Repeat("a long line ", 10) + "\nshort"
	got := fitted(textStyle(12), long, width)
	assert.Less(t, got.Font.Size, vg.Points(12))
	assert.LessOrEqual(t, got.Width(long), width, "the longest line fits")

	// A machine with a very long CPU name still gets its figure.
	f := parseText(t, strings.Replace(simRunBenchText, "cpu: AMD EPYC", "cpu: "+strings.Repeat("Very Long Processor Name ", 8), 1))
	dir := t.TempDir()
	require.NoError(t, Throughput(f, dir))
	requireFigure(t, dir, NameThroughput, "Very Long Processor Name")
}

func FuzzParseBench(f *testing.F) {
	f.Add(simRunBenchText)
	f.Add(strategyBenchText(1))
	f.Add("BenchmarkX-4 1 1 ns/op 2 p99-ms\ncpu: x\n")
	f.Add("Benchmark 1 1 a\nBenchmarkY--1 1 +Inf x\nkey:\n")
	f.Fuzz(func(t *testing.T, s string) {
		bf, err := ParseBench(strings.NewReader(s))
		if err != nil {
			t.Skip() // a line longer than the scanner's buffer
		}
		for _, r := range bf.Results {
			if !strings.HasPrefix(r.Name, "Benchmark") || r.Iters <= 0 || r.Procs < 0 {
				t.Fatalf("bad result %+v", r)
			}
			for u, v := range r.Metrics {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("metric %s is %v", u, v)
				}
			}
		}
		// The panels hold every sample, each in one bar.
		for _, match := range []func(string) bool{isP99, func(u string) bool { return u == unitThroughput }} {
			r := collectStrategy(bf, match)
			inPanels, total := 0, 0
			for _, p := range strategyPanels(r, "y", func(string) string { return "" }) {
				for _, series := range p.samples {
					for _, vs := range series {
						inPanels += len(vs)
					}
				}
			}
			for _, vs := range r.samples {
				total += len(vs)
			}
			if inPanels != total {
				t.Fatalf("panels hold %d samples, want %d", inPanels, total)
			}
		}
	})
}

// TestEveryScenarioHasAColourOfItsOwn: the violations figure tells the
// scenarios apart by colour, so no two of them share one.
func TestEveryScenarioHasAColourOfItsOwn(t *testing.T) {
	seen := map[color.Color]string{}
	for _, sc := range faults.Scenarios() {
		c, ok := scenarioColors[sc.String()]
		require.True(t, ok, "%s has a colour", sc)
		if other, dup := seen[c]; dup {
			t.Errorf("%s and %s share a colour", sc, other)
		}
		seen[c] = sc.String()
	}
}

// TestViolationsNamesItsBroker: the log's figure goes beside the queue's,
// in a file and under a title that name its broker.
func TestViolationsNamesItsBroker(t *testing.T) {
	assert.Equal(t, "violations", ViolationsName("queue"))
	assert.Equal(t, "violations", ViolationsName(""))
	assert.Equal(t, "violations-log", ViolationsName("log"))
	cmp := &sweep.Comparison{Seeds: 2, Instances: 3, Events: 20, BrokerNaming: run.NameBroker("log", run.BrokerParams{}),
		Results: []sweep.Cell{{Strategy: "none", Scenario: "crash", Faults: []string{"crash"}, Stats: sweep.Stats{Runs: 2, ViolatingRuns: 1, Duplicates: 1}}}}
	dir := t.TempDir()
	require.NoError(t, Violations(cmp, dir))
	requireFigure(t, dir, "violations-log", "Exactly-once violations by strategy and fault scenario, broker log", "compare-log.md")
}
