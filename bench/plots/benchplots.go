package plots

import (
	"fmt"
	"image/color"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Names, without extension, of the benchmark figures' files.
const (
	NameThroughput = "bench-throughput"
	NameLatency    = "bench-latency"
)

// The benchmarks the figures read: BenchmarkStrategy/<strategy>/<backend>/
// consumers=N, with events/s and p99-ms (sim-p99-ms on the simulator), and,
// when those are missing, BenchmarkSimRun/strategy=S/... with
// deliveries/s.
const (
	strategyBench  = "BenchmarkStrategy"
	simRunBench    = "BenchmarkSimRun"
	unitThroughput = "events/s"
	unitSimRun     = "deliveries/s"
	unitP99        = "p99-ms"
)

// isP99 reports whether unit is a p99 latency in milliseconds: p99-ms, or
// a prefixed form such as sim-p99-ms.
func isP99(unit string) bool { return unit == unitP99 || strings.HasSuffix(unit, "-"+unitP99) }

// benchKey is one sub-benchmark of BenchmarkStrategy.
type benchKey struct {
	backend, strategy string
	consumers         int
}

// strategyRuns gathers BenchmarkStrategy's samples of the metric whose
// unit matches: per sub-benchmark, one value per result line (-count).
type strategyRuns struct {
	backends, strategies []string // in order of first appearance, sim and real first
	consumers            []int    // ascending
	samples              map[benchKey][]float64
}

// collectStrategy reads BenchmarkStrategy/<strategy>/<backend>/consumers=N
// lines for the metric whose unit matches.
func collectStrategy(f *BenchFile, match func(unit string) bool) *strategyRuns {
	r := &strategyRuns{samples: map[benchKey][]float64{}}
	for _, res := range f.Results {
		parts := strings.Split(res.Name, "/")
		if len(parts) != 4 || parts[0] != strategyBench {
			continue
		}
		last, _, _ := strings.Cut(parts[3], "#") // go test's "#01" for repeated names
		n, err := strconv.Atoi(strings.TrimPrefix(last, "consumers="))
		if !strings.HasPrefix(last, "consumers=") || err != nil || n < 1 {
			continue
		}
		v, ok := metric(res, match)
		if !ok {
			continue
		}
		k := benchKey{backend: parts[2], strategy: parts[1], consumers: n}
		if !slices.Contains(r.strategies, k.strategy) {
			r.strategies = append(r.strategies, k.strategy)
		}
		if !slices.Contains(r.backends, k.backend) {
			r.backends = append(r.backends, k.backend)
		}
		if !slices.Contains(r.consumers, n) {
			r.consumers = append(r.consumers, n)
		}
		r.samples[k] = append(r.samples[k], v)
	}
	sort.Ints(r.consumers)
	rank := func(b string) int {
		switch b {
		case "sim":
			return 0
		case "real":
			return 1
		}
		return 2
	}
	sort.SliceStable(r.backends, func(i, j int) bool { return rank(r.backends[i]) < rank(r.backends[j]) })
	return r
}

// metric is res's value of the first unit, in sorted order, that matches.
func metric(res BenchResult, match func(unit string) bool) (float64, bool) {
	units := make([]string, 0, len(res.Metrics))
	for u := range res.Metrics {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		if match(u) {
			return res.Metrics[u], true
		}
	}
	return 0, false
}

// barPanel is one panel of a benchmark figure: groups along x, one bar
// per series in each group; samples[k][g] are the bar's samples, none for
// a missing bar.
type barPanel struct {
	title, ylabel string
	groups        []string
	samples       [][][]float64
}

// spread is the median, minimum and maximum of vs, which is not empty.
func spread(vs []float64) (med, lo, hi float64) {
	s := slices.Clone(vs)
	sort.Float64s(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// barFigure draws panels of grouped bars, each bar the median of its
// samples with a whisker from the minimum to the maximum, and one legend
// for the series.
func barFigure(dir, name, title, subtitle, note, seriesHeading string, series []string, colors []color.Color, panels []barPanel) error {
	var plots []*plot.Plot
	var weights []float64
	var setWidths []func(vg.Length)
	var thumbs []*plotter.BarChart
	maxRuns := 0
	for _, bp := range panels {
		p := newPlot()
		p.Title.Text = bp.title
		p.Title.Padding = vg.Points(8) // clear of the top Y tick label
		weights = append(weights, groupSlots(p, bp.groups))
		p.X.Label.Text = groupsLabel(len(bp.groups), len(panels))
		if len(panels) > 1 {
			// Side by side, the panels are too narrow for the names.
			slantNames(p)
		}
		p.Y.Label.Text = bp.ylabel
		p.Y.Min = 0
		values := make([][]float64, len(series))
		top := 0.0
		var whiskers []*plotter.YErrorBars
		for k := range series {
			values[k] = make([]float64, len(bp.groups))
			var pts struct {
				plotter.XYs
				plotter.YErrors
			}
			for g := range bp.groups {
				vs := bp.samples[k][g]
				if len(vs) == 0 {
					continue
				}
				maxRuns = max(maxRuns, len(vs))
				med, lo, hi := spread(vs)
				values[k][g] = med
				top = max(top, hi)
				pts.XYs = append(pts.XYs, plotter.XY{X: barX(g, k, len(series)), Y: med})
				pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{med - lo, hi - med})
			}
			if len(pts.XYs) > 0 {
				w, err := plotter.NewYErrorBars(pts)
				if err != nil {
					return fmt.Errorf("plots: %w", err)
				}
				w.CapWidth = vg.Points(3)
				w.LineStyle.Width = vg.Points(0.8)
				whiskers = append(whiskers, w)
			}
		}
		p.Y.Tick.Marker, p.Y.Max = linearTicks(top * 1.04)
		bars, setWidth := groupedBars(p, values, colors)
		for _, w := range whiskers {
			p.Add(w)
		}
		if thumbs == nil {
			thumbs = bars
		}
		plots = append(plots, p)
		setWidths = append(setWidths, setWidth)
	}
	legend := []legendEntry{heading(seriesHeading)}
	for k, s := range series {
		legend = append(legend, legendEntry{text: s, thumbs: []plot.Thumbnailer{thumbs[k]}})
	}
	legend = append(legend, heading(""), heading("bar: median of "+plural(maxRuns, "run")), heading("whisker: min to max"))
	f := &figure{
		title: title, subtitle: subtitle, note: note,
		panels: plots, weights: weights, legend: legend,
		fill: func(widths []vg.Length) {
			for i, set := range setWidths {
				set(widths[i])
			}
		},
	}
	return f.save(dir, name)
}

// groupsLabel is the X axis label of a panel of n groups among panels:
// none for a panel of fewer than minSlots groups beside others, which is
// narrower than the label (gonum would make it fit by squeezing the bars);
// its tick labels name the strategies anyway.
func groupsLabel(n, panels int) string {
	if panels > 1 && n < minSlots {
		return ""
	}
	return "deduplication strategy"
}

// minSlots is the fewest groups a panel of a bar figure is as wide as:
// one group alone gets room for its panel's title and axis label.
const minSlots = 3

// groupSlots names p's X positions after groups and returns how many
// groups wide its data area is to be: the number of groups, or minSlots
// with fewer groups centred in it. Panels as wide as their slots have
// groups and bars of one width.
func groupSlots(p *plot.Plot, groups []string) float64 {
	nominalX(p, groups)
	slots := max(len(groups), minSlots)
	spare := float64(slots-len(groups)) / 2
	p.X.Min -= spare
	p.X.Max += spare
	return float64(slots)
}

// machine describes where the benchmarks ran, from the file's
// configuration lines.
func machine(f *BenchFile) string {
	var parts []string
	if cpu := f.Config["cpu"]; cpu != "" {
		parts = append(parts, "cpu "+cpu)
	}
	for _, r := range f.Results {
		if r.Procs > 0 {
			parts = append(parts, fmt.Sprintf("GOMAXPROCS %d", r.Procs))
			break
		}
	}
	return strings.Join(parts, ", ")
}

// strategySubtitle says what the BenchmarkStrategy figures show, and where.
func strategySubtitle(f *BenchFile) string {
	return "BenchmarkStrategy in bench.txt, " + machine(f) +
		"\nsimulated: consumers are simulated instances; real: goroutines sharing one Redis client and one PostgreSQL pool"
}

// backendTitle names a backend's panel.
func backendTitle(backend string) string {
	switch backend {
	case "sim":
		return "simulator"
	case "real":
		return "real Redis and PostgreSQL"
	case "real-marks":
		return "real-marks: Redis only" // the figure's note says more
	}
	return backend
}

// strategyPanels makes one panel per backend of r, each titled with the
// backend's name and what measures mean there, and with the Y label
// yLabel.
func strategyPanels(r *strategyRuns, yLabel string, measures func(backend string) string) []barPanel {
	var panels []barPanel
	for _, b := range r.backends {
		title := backendTitle(b)
		if m := measures(b); m != "" {
			title += "\n" + m
		}
		bp := barPanel{title: title, ylabel: yLabel}
		// Only the strategies this backend measured.
		for _, st := range r.strategies {
			for _, n := range r.consumers {
				if len(r.samples[benchKey{b, st, n}]) > 0 {
					bp.groups = append(bp.groups, st)
					break
				}
			}
		}
		bp.samples = make([][][]float64, len(r.consumers))
		for k, n := range r.consumers {
			bp.samples[k] = make([][]float64, len(bp.groups))
			for g, st := range bp.groups {
				bp.samples[k][g] = r.samples[benchKey{b, st, n}]
			}
		}
		panels = append(panels, bp)
	}
	return panels
}

// consumerSeries names and colours the consumer counts.
func consumerSeries(counts []int) ([]string, []color.Color) {
	names := make([]string, len(counts))
	colors := make([]color.Color, len(counts))
	ramp := []color.Color{skyBlue, blue, color.RGBA{0, 60, 110, 255}, purple, vermilion}
	for i, n := range counts {
		names[i] = strconv.Itoa(n)
		colors[i] = ramp[i%len(ramp)]
		if len(counts) > len(ramp) {
			colors[i] = palette(i)
		}
	}
	return names, colors
}

// moreNotes are the lines, each after a "\n", that a benchmark figure's
// note adds for r: what the real-marks panel is, and which backend the
// file lacks.
func moreNotes(r *strategyRuns) string {
	var s string
	if slices.Contains(r.backends, "real-marks") {
		s += "\nReal-marks: as Real, for the redis strategy against the real Redis alone, its effect applied in process instead of in PostgreSQL."
	}
	if !slices.Contains(r.backends, "real") {
		s += "\nNo real-server lines in bench.txt: scripts/bench measures them when redis-server and PostgreSQL are installed."
	}
	return s
}

// Throughput draws the throughput of each strategy from f, the output of
// the benchmarks, to dir/bench-throughput.png and .svg: from
// BenchmarkStrategy's events/s, one panel per backend (simulated, real),
// one bar per consumer count; without those lines, from BenchmarkSimRun's
// deliveries/s, the simulator alone. It returns an error wrapping
// ErrNoData when f has neither.
func Throughput(f *BenchFile, dir string) error {
	if f == nil {
		return fmt.Errorf("%w: no benchmark results", ErrNoData)
	}
	r := collectStrategy(f, func(u string) bool { return u == unitThroughput })
	if len(r.samples) > 0 {
		series, colors := consumerSeries(r.consumers)
		panels := strategyPanels(r, "throughput (events/s)", func(b string) string {
			switch b {
			case "sim":
				return "simulated deliveries per wall-clock second"
			case "real":
				return "deliveries handled per second"
			}
			return ""
		})
		note := "Simulator: simulated deliveries handled per second of wall time, the simulator's own speed, not a server's.\n" +
			"Real: deliveries handled per second by all consumers together, through the strategy against the servers."
		note += moreNotes(r)
		return barFigure(dir, NameThroughput,
			"Throughput per strategy, simulated and real",
			strategySubtitle(f),
			note, "consumers", series, colors, panels)
	}
	return simRunThroughput(f, dir)
}

// simRunThroughput draws BenchmarkSimRun's deliveries/s, one bar per
// strategy.
func simRunThroughput(f *BenchFile, dir string) error {
	var strategies []string
	samples := map[string][]float64{}
	shape := ""
	for _, res := range f.Results {
		parts := strings.Split(res.Name, "/")
		if len(parts) < 2 || parts[0] != simRunBench || !strings.HasPrefix(parts[1], "strategy=") {
			continue
		}
		v, ok := res.Metrics[unitSimRun]
		if !ok {
			continue
		}
		st := strings.TrimPrefix(parts[1], "strategy=")
		if _, seen := samples[st]; !seen {
			strategies = append(strategies, st)
		}
		samples[st] = append(samples[st], v)
		shape = strings.Join(parts[2:], ", ")
	}
	if len(strategies) == 0 {
		return fmt.Errorf("%w: bench.txt has no %s lines with %s, nor %s lines with %s", ErrNoData,
			strategyBench, unitThroughput, simRunBench, unitSimRun)
	}
	bp := barPanel{title: "simulator\nsimulated deliveries per wall-clock second", ylabel: "throughput (deliveries/s)", groups: strategies,
		samples: [][][]float64{make([][]float64, len(strategies))}}
	for g, st := range strategies {
		bp.samples[0][g] = samples[st]
	}
	return barFigure(dir, NameThroughput,
		"Simulator throughput per strategy",
		fmt.Sprintf("%s in bench.txt (%s), %s\none op is one whole simulated run, both checkers included", simRunBench, shape, machine(f)),
		"bench.txt has no BenchmarkStrategy lines yet, so no real-server figures: scripts/bench measures them when\nredis-server and PostgreSQL are installed.",
		"backend", []string{"simulator"}, []color.Color{blue}, []barPanel{bp})
}

// Latency draws the p99 latency of each strategy from f to
// dir/bench-latency.png and .svg: BenchmarkStrategy's p99-ms (simulated
// time on the simulator, wall time on the real servers), one panel per
// backend, one bar per consumer count. It returns an error wrapping
// ErrNoData when f has no such lines.
func Latency(f *BenchFile, dir string) error {
	if f == nil {
		return fmt.Errorf("%w: no benchmark results", ErrNoData)
	}
	r := collectStrategy(f, isP99)
	if len(r.samples) == 0 {
		return fmt.Errorf("%w: bench.txt has no %s lines with a %s metric", ErrNoData, strategyBench, unitP99)
	}
	series, colors := consumerSeries(r.consumers)
	panels := strategyPanels(r, "p99 latency (ms)", func(b string) string {
		switch b {
		case "sim":
			return "handling attempt, in simulated time"
		case "real":
			return "one Handle call, in wall-clock time"
		}
		return ""
	})
	note := "Simulator: simulated time from receiving a delivery to the strategy's answer, attempts with a known outcome only.\n" +
		"Real: wall time of one Handle call against the servers, with the consumers sharing them."
	note += moreNotes(r)
	return barFigure(dir, NameLatency,
		"p99 latency per strategy, simulated and real",
		strategySubtitle(f),
		note, "consumers", series, colors, panels)
}
