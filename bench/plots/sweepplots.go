package plots

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// Names, without extension, of the sweep figures' files; the series'
// data (sweep.InstancesData, sweep.TTLData) go to the same names with
// .json.
const (
	NameInstances = "sweep-instances"
	NameTTL       = "sweep-ttl"
)

// seriesStyle draws series i of a line figure: the strategy's colour, its
// own glyph and dash pattern, so that series lying on top of each other
// still show; emphasized series are thicker.
func seriesStyle(strategy string, i int, emphasized bool) (draw.LineStyle, draw.GlyphStyle) {
	ls := draw.LineStyle{Color: strategyColor(strategy, i), Width: vg.Points(1.5), Dashes: plotutil.Dashes(i)}
	if emphasized {
		ls.Width = vg.Points(3)
		ls.Dashes = nil
	}
	gs := draw.GlyphStyle{Color: ls.Color, Radius: vg.Points(3.5), Shape: plotutil.Shape(i)}
	return ls, gs
}

// lineSet adds lines with points to a plot and makes their legend
// entries, saying when a line is 0 everywhere or lies on an earlier one,
// so that a hidden line is still accounted for.
type lineSet struct {
	p     *plot.Plot
	names []string
	xys   []plotter.XYs
}

// add adds one line with points and returns its legend entry.
func (ls *lineSet) add(name string, xys plotter.XYs, line draw.LineStyle, glyph draw.GlyphStyle) (legendEntry, error) {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return legendEntry{}, fmt.Errorf("plots: %s: %w", name, err)
	}
	l.LineStyle = line
	s.GlyphStyle = glyph
	ls.p.Add(l, s)
	text := name
	if allZero(xys) {
		text += " (0 everywhere)"
	} else {
		for i, prev := range ls.xys {
			if sameXYs(prev, xys) {
				text += " (on " + ls.names[i] + ")"
				break
			}
		}
	}
	ls.names = append(ls.names, name)
	ls.xys = append(ls.xys, xys)
	return legendEntry{text: text, thumbs: []plot.Thumbnailer{l, s}}, nil
}

// allZero reports whether every y of xys is 0.
func allZero(xys plotter.XYs) bool {
	for _, xy := range xys {
		if xy.Y != 0 {
			return false
		}
	}
	return true
}

// sameXYs reports whether a and b would draw the same line: the same xs,
// and ys within 1% of the larger.
func sameXYs(a, b plotter.XYs) bool {
	if len(a) != len(b) {
		return false
	}
	top := 0.0
	for i := range a {
		top = max(top, math.Abs(a[i].Y), math.Abs(b[i].Y))
	}
	for i := range a {
		if a[i].X != b[i].X || math.Abs(a[i].Y-b[i].Y) > 0.01*top {
			return false
		}
	}
	return true
}

// InstancesSweep draws d to dir/sweep-instances.png and .svg: for each
// strategy, the mean duplicates per run against the number of consumer
// instances; the local cache is drawn thicker, for it is the strategy
// whose answer depends on the count.
func InstancesSweep(d *sweep.InstancesData, dir string) error {
	if d == nil || len(d.Series) == 0 {
		return fmt.Errorf("%w: the instances sweep has no series", ErrNoData)
	}
	p := newPlot()
	p.X.Label.Text = "consumer instances"
	p.Y.Label.Text = "duplicate effects per run (mean of " + plural(d.Seeds, "seed") + ")"
	p.Y.Min = 0
	maxN, maxY := 1, 0.0
	legend := []legendEntry{heading("strategy")}
	lines := lineSet{p: p}
	for i, s := range d.Series {
		var xys plotter.XYs
		for _, pt := range s.Points {
			xys = append(xys, plotter.XY{X: float64(pt.Instances), Y: pt.DuplicatesPerRun()})
			maxN = max(maxN, pt.Instances)
			maxY = max(maxY, pt.DuplicatesPerRun())
		}
		st, _ := strategies.Lookup(s.Strategy)
		ls, gs := seriesStyle(s.Strategy, i, st.Memory)
		e, err := lines.add(s.Strategy, xys, ls, gs)
		if err != nil {
			return err
		}
		legend = append(legend, e)
	}
	var ticks plot.ConstantTicks
	for n := 1; n <= maxN; n++ {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = 0.7, float64(maxN)+0.3
	p.Y.Tick.Marker, p.Y.Max = linearTicks(maxY * 1.05)

	f := &figure{
		title: "Duplicates as consumer instances grow: the local cache against the others",
		subtitle: fmt.Sprintf("scenario %s: extra lost acks, and events published twice so that both copies can be in flight at once\n"+
			"seeds 1..%d per point, %s per run", d.Scenario, d.Seeds, plural(d.Events, "event")),
		panels: []*plot.Plot{p},
		legend: legend,
		note: "A duplicate is an effect applied beyond the first, summed over a run's events. With one instance the local cache\n" +
			"sees every copy; with more, a copy handled by another instance is applied again.",
	}
	return f.save(dir, NameInstances)
}

// TTLSweep draws d to dir/sweep-ttl.png and .svg: for each Redis strategy,
// the mean duplicates per run against the mark TTL, on a log axis, with the
// span in which late copies arrive shaded.
func TTLSweep(d *sweep.TTLData, dir string) error {
	if d == nil || len(d.Series) == 0 {
		return fmt.Errorf("%w: the TTL sweep has no series", ErrNoData)
	}
	for _, s := range d.Series {
		for _, pt := range s.Points {
			if pt.MarkTTLMS <= 0 {
				// The axis is logarithmic.
				return fmt.Errorf("%w: %s: mark TTL %d ms is not positive", sweep.ErrBadData, s.Strategy, pt.MarkTTLMS)
			}
		}
	}
	p := newPlot()
	p.X.Label.Text = "mark TTL (s, log scale)"
	p.Y.Label.Text = "duplicate effects per run (mean of " + plural(d.Seeds, "seed") + ")"
	p.X.Scale = plot.LogScale{}
	minX, maxX, maxY := 0.0, 0.0, 0.0
	type line struct {
		name string
		xys  plotter.XYs
	}
	var lines []line
	for _, s := range d.Series {
		var xys plotter.XYs
		for _, pt := range s.Points {
			x := pt.MarkTTL().Seconds()
			xys = append(xys, plotter.XY{X: x, Y: pt.DuplicatesPerRun()})
			if minX == 0 || x < minX {
				minX = x
			}
			maxX, maxY = max(maxX, x), max(maxY, pt.DuplicatesPerRun())
		}
		lines = append(lines, line{s.Strategy, xys})
	}
	p.Y.Min = 0
	p.Y.Tick.Marker, p.Y.Max = linearTicks(maxY * 1.05)
	p.X.Min, p.X.Max = minX/1.15, maxX*1.15

	lateMin := time.Duration(d.LateMinMS) * time.Millisecond
	lateMax := time.Duration(d.LateMaxMS) * time.Millisecond
	var band *plotter.Polygon
	if d.LateMinMS > 0 && d.LateMaxMS >= d.LateMinMS {
		// The band goes first, under the lines.
		lo, hi := lateMin.Seconds(), lateMax.Seconds()
		var err error
		band, err = plotter.NewPolygon(plotter.XYs{{X: lo, Y: 0}, {X: hi, Y: 0}, {X: hi, Y: p.Y.Max}, {X: lo, Y: p.Y.Max}})
		if err != nil {
			return fmt.Errorf("plots: %w", err)
		}
		band.Color = color.RGBA{255, 236, 179, 255}
		band.LineStyle.Width = 0
		p.Add(band)
	}
	// Thin tick labels on the log axis: the powers of two and the band's
	// edges, with an unlabelled tick at every other swept value.
	labelled := map[float64]bool{0.5: true, 1: true, 2: true, 4: true, 8: true, 16: true, 30: true, 60: true,
		lateMin.Seconds(): true, lateMax.Seconds(): true}
	var ticks plot.ConstantTicks
	seen := map[float64]bool{}
	for _, xy := range lines[0].xys {
		seen[xy.X] = true
		t := plot.Tick{Value: xy.X}
		if labelled[xy.X] {
			t.Label = strconv.FormatFloat(xy.X, 'g', -1, 64)
		}
		ticks = append(ticks, t)
	}
	for _, v := range []float64{lateMin.Seconds(), lateMax.Seconds()} {
		if !seen[v] && v > 0 {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	p.X.Tick.Marker = ticks

	legend := []legendEntry{heading("strategy")}
	set := lineSet{p: p}
	for i, l := range lines {
		ls, gs := seriesStyle(l.name, i, false)
		ls.Width = vg.Points(2)
		e, err := set.add(l.name, l.xys, ls, gs)
		if err != nil {
			return err
		}
		legend = append(legend, e)
	}
	if band != nil {
		legend = append(legend, heading(""), heading("redelivery horizon:"),
			legendEntry{text: "late copies arrive", thumbs: []plot.Thumbnailer{band}},
			heading(fmt.Sprintf("%v to %v after", lateMin, lateMax)), heading("the first copy"))
	}

	f := &figure{
		title: "Redis: duplicates as the mark TTL shrinks below the redelivery horizon",
		subtitle: fmt.Sprintf("scenario %s with the mark TTL fixed: some events get a late copy %v to %v after the first\n"+
			"seeds 1..%d per point, %s, %s per run", d.Scenario, lateMin, lateMax, d.Seeds, plural(d.Instances, "consumer instance"), plural(d.Events, "event")),
		panels: []*plot.Plot{p},
		legend: legend,
		note: "A mark that expires before a late copy arrives lets that copy apply the effect again. Marks that outlive the\n" +
			"horizon catch every copy; marks shorter than its start catch none of the late ones.",
	}
	return f.save(dir, NameTTL)
}

// plural is n things: "1 seed", "2 seeds".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
