package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sweep"
)

// NameViolations is the file name, without extension, of Violations'
// figure.
const NameViolations = "violations"

// scenarioColors gives each fault scenario one colour.
var scenarioColors = map[string]color.Color{
	"redeliver":  orange,
	"crash":      vermilion,
	"partition":  skyBlue,
	"slow":       yellow,
	"store-loss": purple,
	"ttl":        green,
	"rebalance":  blue,
	"zombie":     color.RGBA{140, 90, 40, 255},
	"key-expiry": color.RGBA{200, 120, 170, 255},
	"id-reuse":   color.RGBA{120, 180, 160, 255},
	"all":        color.RGBA{70, 70, 70, 255},
}

// ViolationsName is the file name, without extension, of Violations'
// figure of a comparison on the broker model: NameViolations for the
// queue, as it has always been, and violations-MODEL beside it for
// another model (violations-log).
func ViolationsName(model string) string {
	if model == "" || model == run.DefaultBroker {
		return NameViolations
	}
	return NameViolations + "-" + model
}

// Violations draws cmp, the outcome of `idemsim compare`, to
// dir/violations.png and .svg (ViolationsName: violations-log.png for a
// comparison on the log), its title naming the broker: for each strategy, one bar per fault
// scenario, as high as the share of seeds whose run violated
// exactly-once, labelled with the kinds of violation seen ("dup", "lost",
// "stuck", or "ok"). Strategies and scenarios keep the order of
// cmp.Results.
func Violations(cmp *sweep.Comparison, dir string) error {
	if cmp == nil || len(cmp.Results) == 0 {
		return fmt.Errorf("%w: the comparison has no cells", ErrNoData)
	}
	var strategies, scenarios []string
	seenSt, seenSc := map[string]bool{}, map[string]bool{}
	for _, c := range cmp.Results {
		if !seenSt[c.Strategy] {
			seenSt[c.Strategy] = true
			strategies = append(strategies, c.Strategy)
		}
		if !seenSc[c.Scenario] {
			seenSc[c.Scenario] = true
			scenarios = append(scenarios, c.Scenario)
		}
	}
	cell := func(st, sc string) *sweep.Cell {
		for i := range cmp.Results {
			if c := &cmp.Results[i]; c.Strategy == st && c.Scenario == sc {
				return c
			}
		}
		return nil
	}

	p := newPlot()
	nominalX(p, strategies)
	slantNames(p)
	p.X.Label.Text = "deduplication strategy"
	p.Y.Label.Text = "violating runs (% of seeds)"
	// Room above 100% for the labels over the bars.
	p.Y.Min, p.Y.Max = 0, 122
	p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 25, Label: "25"}, {Value: 50, Label: "50"}, {Value: 75, Label: "75"}, {Value: 100, Label: "100"}}

	m := len(scenarios)
	values := make([][]float64, m)
	colors := make([]color.Color, m)
	labels := make([]*plotter.Labels, m)
	for k, sc := range scenarios {
		values[k] = make([]float64, len(strategies))
		var xys plotter.XYLabels
		for g, st := range strategies {
			verdict := "?"
			if c := cell(st, sc); c != nil {
				verdict = c.Verdict()
				if c.Runs > 0 {
					values[k][g] = 100 * float64(c.ViolatingRuns) / float64(c.Runs)
				}
			}
			xys.XYs = append(xys.XYs, plotter.XY{X: barX(g, k, m), Y: values[k][g]})
			xys.Labels = append(xys.Labels, verdict)
		}
		l, err := plotter.NewLabels(xys)
		if err != nil {
			return fmt.Errorf("plots: %w", err)
		}
		for i := range l.TextStyle {
			s := textStyle(7.5)
			s.Rotation = math.Pi / 2
			s.XAlign, s.YAlign = draw.XLeft, draw.YCenter
			l.TextStyle[i] = s
		}
		l.Offset = vg.Point{Y: 2}
		labels[k] = l
		colors[k] = scenarioColors[sc]
		if colors[k] == nil {
			colors[k] = palette(k)
		}
	}
	bars, setWidth := groupedBars(p, values, colors)
	for _, l := range labels {
		p.Add(l)
	}

	legend := []legendEntry{heading("fault scenario")}
	for k, sc := range scenarios {
		legend = append(legend, legendEntry{text: sc, thumbs: []plot.Thumbnailer{bars[k]}})
	}
	f := &figure{
		title: "Exactly-once violations by strategy and fault scenario, broker " + brokerOf(cmp),
		subtitle: fmt.Sprintf("bar: share of seeds 1..%d whose run broke exactly-once (%s, %s per run)\n"+
			"label: the kinds of violation seen: dup = an effect applied twice, lost = never applied, stuck = never settled; ok = none",
			cmp.Seeds, plural(cmp.Instances, "consumer instance"), plural(cmp.Events, "event")),
		panels: []*plot.Plot{p},
		legend: legend,
		note: "Every scenario adds its faults to the broker's ordinary lost acks.\n" +
			compareMarkdown(cmp) + " lists the command that replays each violating cell's first failing seed.",
		fill: func(widths []vg.Length) { setWidth(widths[0]) },
	}
	return f.save(dir, ViolationsName(cmp.Broker))
}

// brokerOf names cmp's broker model.
func brokerOf(cmp *sweep.Comparison) string {
	if cmp.Broker == "" {
		return run.DefaultBroker
	}
	return cmp.Broker
}

// compareMarkdown is the name of the Markdown file beside cmp's figure,
// as idemsim compare --out writes it.
func compareMarkdown(cmp *sweep.Comparison) string {
	if b := brokerOf(cmp); b != run.DefaultBroker {
		return "compare-" + b + ".md"
	}
	return "compare.md"
}
