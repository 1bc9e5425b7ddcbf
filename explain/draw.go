//go:build !(js && wasm)

// The timeline as a picture (PNG and SVG) needs gonum/plot and its fonts,
// megabytes the playground's WebAssembly has no use for: the page draws
// the timeline itself, from Story.Timeline. This file is the only one of
// the package that imports gonum, and it is left out of that build.

package explain

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"

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
	p.X.Scale, p.X.Tick.Marker = gapAxis{t.scale}, gapAxis{t.scale}
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
			l, err := plotter.NewLine(plotXYs(seg[:]))
			if err != nil {
				return err
			}
			l.LineStyle.Width = vg.Length(m.size)
			l.LineStyle.Color = m.color
			p.Add(l)
		}
		if len(t.spans[m]) > 0 {
			l, _ := plotter.NewLine(plotter.XYs{{}, {X: 1}})
			l.LineStyle.Width, l.LineStyle.Color = vg.Length(m.size), m.color
			legend.Add(m.name, l)
			entries++
		}
	}
	for _, m := range allMarks {
		pts := t.points[m]
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(plotXYs(pts))
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: m.color, Radius: vg.Length(m.size), Shape: glyphDrawer(m.shape)}
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

// WriteFiles writes the story's history visualization and its timeline,
// as PNG and SVG, into dir, which must exist, and returns the paths written.
func WriteFiles(dir string, s *Story) ([]string, error) {
	var paths []string
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{HistoryFile, func(w io.Writer) error { return WriteHistoryHTML(w, s) }},
		{TimelinePNGFile, func(w io.Writer) error { return WriteTimeline(w, s, PNG) }},
		{TimelineSVGFile, func(w io.Writer) error { return WriteTimeline(w, s, SVG) }},
	} {
		path := filepath.Join(dir, f.name)
		if err := writeFile(path, f.write); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// gapAxis is the timeline's shortened time axis as gonum/plot wants it:
// a plot.Normalizer and a plot.Ticker.
type gapAxis struct{ *gapScale }

// Normalize implements plot.Normalizer.
func (g gapAxis) Normalize(_, _, x float64) float64 { return g.at(x) }

// Ticks implements plot.Ticker with the scale's ticks.
func (g gapAxis) Ticks(_, _ float64) []plot.Tick {
	var ticks []plot.Tick
	for _, tk := range g.ticks() {
		ticks = append(ticks, plot.Tick{Value: tk.Value, Label: tk.Label})
	}
	return ticks
}

// plotXYs converts the timeline's points to gonum's.
func plotXYs(pts []xy) plotter.XYs {
	xys := make(plotter.XYs, len(pts))
	for i, p := range pts {
		xys[i] = plotter.XY{X: p.X, Y: p.Y}
	}
	return xys
}

// glyphDrawer is gonum's glyph for a mark's shape.
func glyphDrawer(g glyph) draw.GlyphDrawer {
	switch g {
	case glyphRing:
		return draw.RingGlyph{}
	case glyphTriangle:
		return draw.TriangleGlyph{}
	case glyphPyramid:
		return draw.PyramidGlyph{}
	case glyphSquare:
		return draw.SquareGlyph{}
	case glyphBox:
		return draw.BoxGlyph{}
	case glyphCross:
		return draw.CrossGlyph{}
	case glyphPlus:
		return draw.PlusGlyph{}
	}
	return draw.CircleGlyph{}
}

// labelThumb is the legend's sample of a step label.
type labelThumb struct{}

// Thumbnail draws a small "N".
func (labelThumb) Thumbnail(c *draw.Canvas) {
	sty := draw.TextStyle{Color: color.RGBA{60, 60, 60, 255}, Font: font.From(plot.DefaultFont, 9), XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2}, "N")
}
