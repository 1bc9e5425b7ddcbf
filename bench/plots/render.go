package plots

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// The size of a one-panel figure, of a figure of several panels side by
// side, and the resolution of every PNG. Side by side, panels need the
// extra room for their titles and their rotated group names.
const (
	Width      = 8 * vg.Inch
	Height     = 5 * vg.Inch
	WideWidth  = 11 * vg.Inch
	WideHeight = 6 * vg.Inch
	DPI        = 150
)

// Formats are the file formats each figure is written in, as extensions.
var Formats = []string{"png", "svg"}

// ErrNoData reports that the input lacks what a figure needs; nothing was
// written. Its message says what is missing.
var ErrNoData = errors.New("plots: no data")

// Files returns the files a figure called name is written to in dir.
func Files(dir, name string) []string {
	out := make([]string, len(Formats))
	for i, ext := range Formats {
		out[i] = filepath.Join(dir, name+"."+ext)
	}
	return out
}

// sans is the typeface of every text: Liberation Sans, which gonum embeds.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// textStyle is a text style in sans of the given size.
func textStyle(size vg.Length) text.Style {
	return text.Style{Color: color.Black, Font: font.From(sans, size), Handler: plot.DefaultTextHandler}
}

// newPlot returns a plot whose texts are all in sans, with a light grid.
func newPlot() *plot.Plot {
	p := plot.New()
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font.Typeface, s.Font.Variant = sans.Typeface, sans.Variant
	}
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.Title.TextStyle.Font.Size = vg.Points(11)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 225}
	g.Horizontal.Color = color.Gray{Y: 225}
	g.Vertical.Width = 0 // grid lines across, not along, the category axis
	p.Add(g)
	return p
}

// figure is one picture: a title and a subtitle across the top, one or
// more panels side by side sharing one legend on the right, and an
// optional note along the bottom.
type figure struct {
	title    string
	subtitle string // what was run, in a smaller font; may hold "\n"
	panels   []*plot.Plot
	// weights, if set, are the relative widths of the panels' data areas,
	// one per panel; without them the data areas are equally wide.
	weights []float64
	legend  []legendEntry
	note    string // along the bottom, in a small font; may hold "\n"
	// fill, if set, adds to the panels what depends on the size of their
	// data areas (bar widths), once the layout is known and before they
	// are drawn; widths[i] is panel i's data area width.
	fill func(widths []vg.Length)
}

// legendEntry is one line of a figure's legend: a text and the thumbnails
// drawn beside it (none for a heading).
type legendEntry struct {
	text   string
	thumbs []plot.Thumbnailer
}

// size is f's width and height: Width by Height for one panel, WideWidth
// by WideHeight for several.
func (f *figure) size() (w, h vg.Length) {
	if len(f.panels) > 1 {
		return WideWidth, WideHeight
	}
	return Width, Height
}

// save writes f to dir as name.png and name.svg.
func (f *figure) save(dir, name string) error {
	w, h := f.size()
	for _, ext := range Formats {
		var c vg.CanvasWriterTo
		switch ext {
		case "png":
			c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))}
		case "svg":
			c = vgsvg.New(w, h)
		default:
			panic("plots: unknown format " + ext)
		}
		f.draw(draw.New(c))
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			return fmt.Errorf("plots: %s.%s: %w", name, ext, err)
		}
		out := buf.Bytes()
		if ext == "svg" {
			// Liberation Sans has Arial's metrics: a viewer without it
			// keeps the layout with Arial or Helvetica.
			out = bytes.ReplaceAll(out, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
		}
		if err := os.WriteFile(filepath.Join(dir, name+"."+ext), out, 0o644); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
	}
	return nil
}

// Layout constants, in points.
const (
	margin     = 10 // around the whole figure
	legendGap  = 14 // between the panels and the legend
	panelGap   = 24 // between two panels
	titleSize  = 14
	subSize    = 10
	legendSize = 10
	noteSize   = 9
)

// draw lays f out on dc and draws it.
func (f *figure) draw(dc draw.Canvas) {
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	top := dc.Max.Y - margin
	maxW := dc.Max.X - dc.Min.X - 2*margin
	title := textStyle(titleSize)
	title.XAlign, title.YAlign = draw.XCenter, draw.YTop
	title.Font.Weight = xfont.WeightBold
	title = fitted(title, f.title, maxW)
	mid := (dc.Min.X + dc.Max.X) / 2
	dc.FillText(title, vg.Point{X: mid, Y: top}, f.title)
	top -= title.Height(f.title) + 3
	if f.subtitle != "" {
		sub := fitted(textStyle(subSize), f.subtitle, maxW)
		sub.XAlign, sub.YAlign = draw.XCenter, draw.YTop
		sub.Color = color.Gray{Y: 60}
		dc.FillText(sub, vg.Point{X: mid, Y: top}, f.subtitle)
		top -= sub.Height(f.subtitle)
	}
	top -= 6

	bottom := dc.Min.Y + margin
	if f.note != "" {
		note := fitted(textStyle(noteSize), f.note, maxW)
		note.XAlign, note.YAlign = draw.XLeft, draw.YBottom
		note.Color = color.Gray{Y: 60}
		dc.FillText(note, vg.Point{X: dc.Min.X + margin, Y: bottom}, f.note)
		bottom += note.Height(f.note) + 6
	}

	leg := plot.NewLegend()
	leg.TextStyle = textStyle(legendSize)
	leg.Top, leg.Left = true, true
	leg.Padding = 3
	leg.ThumbnailWidth = vg.Points(18)
	for _, e := range f.legend {
		leg.Add(e.text, e.thumbs...)
	}
	legRect := leg.Rectangle(dc)
	legW := legRect.Max.X - legRect.Min.X
	right := dc.Max.X - margin - legW - legendGap

	area := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: dc.Min.X + margin, Y: bottom},
		Max: vg.Point{X: right, Y: top},
	}}
	canvases := f.layout(area)
	if f.fill != nil {
		widths := make([]vg.Length, len(f.panels))
		for i, p := range f.panels {
			da := p.DataCanvas(canvases[i])
			widths[i] = da.Max.X - da.Min.X
		}
		f.fill(widths)
	}
	for i, p := range f.panels {
		p.Draw(canvases[i])
	}

	// The legend's top lines up with the first panel's data area.
	legTop := f.panels[0].DataCanvas(canvases[0]).Max.Y
	leg.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: dc.Max.X - margin - legW, Y: bottom},
		Max: vg.Point{X: dc.Max.X - margin, Y: legTop},
	}})
}

// layout places f's panels side by side in area and returns their
// canvases. It does what plot.Align does for draw.Tiles, whose columns are
// all equally wide, but sizes each panel's data area by its weight: a
// panel of six groups gets six times the room of one, so that every group
// is as wide as in its neighbours. Each panel's title is wrapped to the
// panel's width, and the data areas share their top and bottom edges.
func (f *figure) layout(area draw.Canvas) []draw.Canvas {
	n := len(f.panels)
	// The axes' room (Y tick labels and label) doesn't depend on the
	// canvas's size: measure it on the whole area.
	left := make([]vg.Length, n)
	right := make([]vg.Length, n)
	dataW := area.Max.X - area.Min.X - vg.Length(n-1)*panelGap
	for i, p := range f.panels {
		da := p.DataCanvas(area)
		left[i], right[i] = da.Min.X-area.Min.X, area.Max.X-da.Max.X
		dataW -= left[i] + right[i]
	}
	widths := shares(dataW, f.weights, n)

	canvases := make([]draw.Canvas, n)
	x := area.Min.X
	for i, p := range f.panels {
		w := left[i] + widths[i] + right[i]
		fitTitle(p, w)
		canvases[i] = draw.Canvas{Canvas: area.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: area.Min.Y},
			Max: vg.Point{X: x + w, Y: area.Max.Y},
		}}
		x += w + panelGap
	}
	return alignRows(f.panels, canvases)
}

// shares splits total among n parts in proportion to weights, or equally
// when weights are not one positive weight per part.
func shares(total vg.Length, weights []float64, n int) []vg.Length {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	out := make([]vg.Length, n)
	for i := range out {
		if len(weights) == n && sum > 0 {
			out[i] = total * vg.Length(weights[i]/sum)
		} else {
			out[i] = total / vg.Length(n)
		}
	}
	return out
}

// alignRows makes the data areas of the panels drawn in canvases, whose
// titles and X tick labels differ in height, span the same heights: a
// panel with less under its data area gets a larger gap above its X label,
// so that the X labels line up too; one with less over it gets a shorter
// canvas.
func alignRows(panels []*plot.Plot, canvases []draw.Canvas) []draw.Canvas {
	var below, above vg.Length // the most room taken under and over a data area
	for i, p := range panels {
		da := p.DataCanvas(canvases[i])
		below = max(below, da.Min.Y-canvases[i].Min.Y)
		above = max(above, canvases[i].Max.Y-da.Max.Y)
	}
	out := make([]draw.Canvas, len(canvases))
	for i, p := range panels {
		c := canvases[i]
		da := p.DataCanvas(c)
		raise := below - (da.Min.Y - c.Min.Y)
		if p.X.Label.Text != "" {
			p.X.Label.Padding += raise
			raise = 0
		}
		out[i] = draw.Crop(c, 0, 0, raise, -(above - (c.Max.Y - da.Max.Y)))
	}
	return out
}

// fitTitle wraps p's title to width, and shrinks it if a word is still
// too long.
func fitTitle(p *plot.Plot, width vg.Length) {
	p.Title.Text = wrapped(p.Title.TextStyle, p.Title.Text, width)
	p.Title.TextStyle = fitted(p.Title.TextStyle, p.Title.Text, width)
}

// wrapped is txt with each of its lines broken at spaces into lines that
// fit in width when drawn in sty, as far as its words allow.
func wrapped(sty text.Style, txt string, width vg.Length) string {
	var out []string
	for _, line := range strings.Split(txt, "\n") {
		cur := ""
		for _, word := range strings.Fields(line) {
			switch {
			case cur == "":
				cur = word
			case sty.Width(cur+" "+word) <= width:
				cur += " " + word
			default:
				out = append(out, cur)
				cur = word
			}
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

// fitted is sty with its font shrunk, down to 6 points, until every line
// of txt fits in width.
func fitted(sty text.Style, txt string, width vg.Length) text.Style {
	for sty.Width(txt) > width && sty.Font.Size > 6 {
		sty.Font.Size -= 0.5
	}
	return sty
}

// Okabe–Ito colours: distinguishable with the common colour-vision
// deficiencies.
var (
	black     = color.RGBA{0, 0, 0, 255}
	orange    = color.RGBA{230, 159, 0, 255}
	skyBlue   = color.RGBA{86, 180, 233, 255}
	green     = color.RGBA{0, 158, 115, 255}
	yellow    = color.RGBA{240, 228, 66, 255}
	blue      = color.RGBA{0, 114, 178, 255}
	vermilion = color.RGBA{213, 94, 0, 255}
	purple    = color.RGBA{204, 121, 167, 255}
	grey      = color.RGBA{130, 130, 130, 255}
)

// palette is the colour of the i-th of several series with no colour of
// their own.
func palette(i int) color.Color {
	p := []color.Color{blue, orange, green, vermilion, skyBlue, purple, yellow, black, grey}
	return p[i%len(p)]
}

// strategyColors gives the strategies one colour each in every figure, by
// their place in table order among those that run on the queue
// (strategies.NamesOn), so that a strategy of the log alone moves no
// other's colour.
var strategyColors = []color.Color{grey, vermilion, blue, skyBlue, green, purple, orange, yellow, black}

// strategyColor is strategy's colour; i, its position in a figure, picks
// one for a strategy beyond strategyColors.
func strategyColor(strategy string, i int) color.Color {
	if k := slices.Index(strategies.NamesOn(run.DefaultBroker), strategy); k >= 0 && k < len(strategyColors) {
		return strategyColors[k]
	}
	return palette(i)
}

// heading is a legend line with no thumbnail.
func heading(s string) legendEntry { return legendEntry{text: s} }
