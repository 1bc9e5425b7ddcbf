package plots

import (
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// groupShare is the part of a group's unit width its bars take; the rest
// separates groups.
const groupShare = 0.82

// barX is the x of the k-th of m bars in group g of a grouped bar chart,
// whose groups are at x = 0, 1, 2, ...
func barX(g, k, m int) float64 {
	return float64(g) + (float64(k)-float64(m-1)/2)*groupShare/float64(m)
}

// groupedBars adds to p, whose X axis names groups (nominalX), one bar
// chart per series: values[k][g] is series k's value in group g. It
// returns the charts, in series order, and a function that sets their
// width from the width of p's data area, once the layout knows it.
func groupedBars(p *plot.Plot, values [][]float64, colors []color.Color) ([]*plotter.BarChart, func(dataW vg.Length)) {
	m := len(values)
	bars := make([]*plotter.BarChart, m)
	for k, vs := range values {
		b, err := plotter.NewBarChart(plotter.Values(vs), 1)
		if err != nil {
			panic("plots: a bar chart of " + err.Error()) // values are finite and the width positive
		}
		b.XMin = barX(0, k, m)
		b.Color = colors[k]
		b.LineStyle.Width = vg.Points(0.5)
		b.LineStyle.Color = color.Gray{Y: 70}
		bars[k] = b
		p.Add(b)
	}
	setWidth := func(dataW vg.Length) {
		unit := dataW / vg.Length(p.X.Max-p.X.Min)
		w := unit * groupShare / vg.Length(m) * 0.9
		for _, b := range bars {
			b.Width = max(w, 1)
		}
	}
	return bars, setWidth
}

// nominalX names p's X positions 0, 1, 2, ... and sets its range to hold
// them with half a unit to spare on each side.
func nominalX(p *plot.Plot, names []string) {
	pad := p.Y.Padding
	p.NominalX(names...)
	p.Y.Padding = pad
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
}

// slantNames turns p's X tick labels, the groups' names, by 45 degrees,
// each ending under its group: side by side, long names such as
// "redis-after" and "db-unique" would run into each other.
func slantNames(p *plot.Plot) {
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
}

// linearTicks are the ticks of a linear axis from 0 that must show v: 4
// to 8 steps of 1, 2, 2.5 or 5 times a power of ten, labelled with a "k"
// or "M" suffix when large. It returns them and the axis maximum, the last
// tick.
func linearTicks(v float64) (plot.ConstantTicks, float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		v = 1
	}
	raw := v / 5
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * e
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*e >= raw {
			step = f * e
			break
		}
	}
	n := int(math.Ceil(v/step - 1e-9))
	ticks := make(plot.ConstantTicks, 0, n+1)
	for i := 0; i <= n; i++ {
		x := float64(i) * step
		ticks = append(ticks, plot.Tick{Value: x, Label: tickLabel(x, float64(n)*step)})
	}
	return ticks, float64(n) * step
}

// tickLabel formats x, a tick of an axis up to top.
func tickLabel(x, top float64) string {
	switch {
	case x == 0:
		return "0"
	case top >= 1e6:
		return strconv.FormatFloat(x/1e6, 'g', 4, 64) + "M"
	case top >= 1e4:
		return strconv.FormatFloat(x/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(x, 'g', 6, 64)
}
