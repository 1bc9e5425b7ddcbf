package explain

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Timeline formats WriteTimeline can write.
const (
	PNG = "png"
	SVG = "svg"
)

// WriteTimeline draws the story's run as a picture in format (PNG or SVG):
// simulated time left to right, one lane per instance, one for the broker
// and one per store; deliveries, effects, skips, acks, crashes, restarts
// and Redis keys marked, partitions, stalls and Redis outages drawn as
// bars, and each mark the story tells labelled with its step number.
func WriteTimeline(w io.Writer, s *Story, format string) error {
	if s.Result == nil || s.a == nil {
		return fmt.Errorf("explain: the story has no replayed run to draw (use Tell)")
	}
	t := buildTimeline(s)
	p := plot.New()
	p.Title.Text = timelineTitle(s)
	p.Title.TextStyle.Font.Size = 13
	p.X.Label.Text = "simulated time (ms)"
	p.Y.Label.Text = ""
	p.X.Min, p.X.Max = t.scale.t[0], t.scale.t[len(t.scale.t)-1]
	p.X.Scale, p.X.Tick.Marker = t.scale, t.scale
	if len(t.scale.gaps) > 0 {
		p.X.Label.Text = "simulated time (ms); idle stretches shortened"
	}
	p.Y.Min, p.Y.Max = -float64(len(t.lanes))+0.4, 0.6
	var ticks []plot.Tick
	for i, name := range t.lanes {
		ticks = append(ticks, plot.Tick{Value: -float64(i), Label: name})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(plotter.NewGrid())
	for _, gp := range t.scale.gaps {
		// A shortened stretch: a dashed line and how long it lasted.
		mid := t.scale.inverse(gp[2])
		l, err := plotter.NewLine(plotter.XYs{{X: mid, Y: p.Y.Min}, {X: mid, Y: p.Y.Max}})
		if err != nil {
			return err
		}
		l.LineStyle.Color = color.Gray{150}
		l.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(l)
		// Its label goes beside the line, clear of its dashes.
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: mid, Y: p.Y.Min + 0.05}}, Labels: []string{gapWords(gp[1] - gp[0])}})
		if err != nil {
			return err
		}
		lab.TextStyle[0].Font.Size = 8
		lab.TextStyle[0].XAlign = draw.XLeft
		lab.Offset = vg.Point{X: vg.Points(3)}
		lab.TextStyle[0].Color = color.Gray{100}
		p.Add(lab)
	}

	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = 10
	legend.Padding = 3
	entries := 0
	for _, m := range allSpans {
		for _, seg := range t.spans[m] {
			l, err := plotter.NewLine(plotter.XYs{seg[0], seg[1]})
			if err != nil {
				return err
			}
			l.LineStyle.Width = m.size
			l.LineStyle.Color = m.color
			p.Add(l)
		}
		if len(t.spans[m]) > 0 {
			l, _ := plotter.NewLine(plotter.XYs{{}, {X: 1}})
			l.LineStyle.Width, l.LineStyle.Color = m.size, m.color
			legend.Add(m.name, l)
			entries++
		}
	}
	for _, m := range allMarks {
		pts := t.points[m]
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: m.color, Radius: m.size, Shape: m.shape}
		p.Add(sc)
		legend.Add(m.name, sc)
		entries++
	}
	if len(t.labels) > 0 {
		xys := make(plotter.XYs, len(t.labels))
		texts := make([]string, len(t.labels))
		for i, l := range t.labels {
			xys[i] = plotter.XY{X: l.x, Y: l.y + 0.22}
			texts[i] = l.text
		}
		labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
		if err != nil {
			return err
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].Font.Size = 9
			labels.TextStyle[i].XAlign = draw.XCenter
			labels.TextStyle[i].Color = color.RGBA{60, 60, 60, 255}
		}
		p.Add(labels)
		legend.Add("N: step N of the story", labelThumb{})
		entries++
	}
	if len(t.notes) > 0 {
		xys := make(plotter.XYs, len(t.notes))
		texts := make([]string, len(t.notes))
		for i, l := range t.notes {
			xys[i] = plotter.XY{X: l.x, Y: l.y - 0.16}
			texts[i] = l.text
		}
		notes, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
		if err != nil {
			return err
		}
		for i := range notes.TextStyle {
			notes.TextStyle[i].Font.Size = 7
			notes.TextStyle[i].XAlign = draw.XLeft
			notes.TextStyle[i].Color = color.RGBA{31, 119, 180, 255}
		}
		p.Add(notes)
	}

	width := 11 * vg.Inch
	height := max(vg.Length(1.4+0.5*float64(len(t.lanes)))*vg.Inch, vg.Length(entries)*15+70)
	var c vg.CanvasWriterTo
	switch format {
	case PNG:
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
	case SVG:
		c = vgsvg.New(width, height)
	default:
		return fmt.Errorf("explain: unknown timeline format %q (accepted: %s, %s)", format, PNG, SVG)
	}
	dc := draw.New(c)
	legendW := 2.6 * vg.Inch
	plotArea := dc
	plotArea.Max.X -= legendW
	p.Draw(plotArea)
	legendArea := dc
	legendArea.Min.X = dc.Max.X - legendW + 8
	legendArea.Max.Y -= 30
	legend.Draw(legendArea)
	_, err := c.WriteTo(w)
	return err
}

// labelThumb is the legend's sample of a step label.
type labelThumb struct{}

// Thumbnail draws a small "N".
func (labelThumb) Thumbnail(c *draw.Canvas) {
	sty := draw.TextStyle{Color: color.RGBA{60, 60, 60, 255}, Font: font.From(plot.DefaultFont, 9), XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2}, "N")
}

// timelineTitle says what the picture shows.
func timelineTitle(s *Story) string {
	cfg := s.Config
	title := fmt.Sprintf("%s %s, seed %d (%s, %s)", cfg.Strategy, Under(cfg.Faults), cfg.Seed, plural(cfg.Instances, "instance"), plural(cfg.Events, "event"))
	switch s.Kind {
	case Duplicate:
		title += fmt.Sprintf(": event %d %s", s.Event, times(len(s.a.facts.Events[s.Event].Applications)))
	case Lost:
		title += fmt.Sprintf(": event %d lost", s.Event)
	case Stuck:
		title += fmt.Sprintf(": event %d never settled", s.Event)
	case Ghost:
		title += fmt.Sprintf(": event %d's downstream event a ghost", s.Event)
	case Unsent:
		title += fmt.Sprintf(": event %d's downstream event lost", s.Event)
	}
	return title
}
