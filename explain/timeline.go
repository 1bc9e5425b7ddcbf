package explain

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/idemsim/idemsim/strategies"
)

// marker is one kind of mark on the timeline, as its legend shows it.
type marker struct {
	name  string
	shape draw.GlyphDrawer
	color color.Color
	size  vg.Length
}

// The marks of the timeline, in legend order.
var (
	mPublish  = marker{"publish (a copy of the event)", draw.RingGlyph{}, color.RGBA{90, 90, 90, 255}, 4}
	mDeliver  = marker{"delivery received", draw.TriangleGlyph{}, color.RGBA{31, 119, 180, 255}, 4.5}
	mEffect   = marker{"effect committed", draw.CircleGlyph{}, color.RGBA{44, 160, 44, 255}, 4.5}
	mID       = marker{"id committed (processed ids)", draw.BoxGlyph{}, color.RGBA{44, 160, 44, 255}, 4}
	mKeySet   = marker{"Redis key set", draw.SquareGlyph{}, color.RGBA{23, 190, 207, 255}, 4}
	mCall     = marker{"store call answered", draw.CircleGlyph{}, color.RGBA{150, 150, 150, 255}, 2.5}
	mApplied  = marker{"handler returned applied", draw.CircleGlyph{}, color.RGBA{31, 119, 180, 255}, 2.5}
	mSkip     = marker{"skipped as a duplicate", draw.BoxGlyph{}, color.RGBA{255, 127, 14, 255}, 4.5}
	mFail     = marker{"timeout or handler error", draw.PyramidGlyph{}, color.RGBA{214, 39, 40, 255}, 4.5}
	mAck      = marker{"ack reached the broker", draw.SquareGlyph{}, color.RGBA{0, 100, 0, 255}, 4}
	mAckLost  = marker{"ack lost", draw.CrossGlyph{}, color.RGBA{255, 127, 14, 255}, 5}
	mRequeue  = marker{"back in the queue", draw.PyramidGlyph{}, color.RGBA{148, 103, 189, 255}, 4.5}
	mCrash    = marker{"crash", draw.CrossGlyph{}, color.RGBA{214, 39, 40, 255}, 6}
	mRestart  = marker{"restart (empty memory)", draw.PlusGlyph{}, color.RGBA{44, 160, 44, 255}, 6}
	mKeyGone  = marker{"Redis key expired or lost", draw.CrossGlyph{}, color.RGBA{148, 103, 189, 255}, 5}
	allMarks  = []*marker{&mPublish, &mDeliver, &mCall, &mEffect, &mID, &mKeySet, &mApplied, &mSkip, &mFail, &mAck, &mAckLost, &mRequeue, &mCrash, &mRestart, &mKeyGone}
	spanCut   = marker{"cut off by a partition", nil, color.NRGBA{214, 39, 40, 90}, 9}
	spanStall = marker{"stalled (slow)", nil, color.NRGBA{255, 127, 14, 110}, 9}
	spanDown  = marker{"Redis down", nil, color.NRGBA{148, 103, 189, 110}, 9}
	allSpans  = []*marker{&spanCut, &spanStall, &spanDown}
)

// timeline is what the picture shows: points and spans per lane.
type timeline struct {
	lanes  []string
	points map[*marker]plotter.XYs
	spans  map[*marker][][2]plotter.XY
	labels []label
	scale  *gapScale
}

type label struct {
	x, y float64
	text string
}

// lane numbers: instances first, top to bottom, then the broker and the
// stores. The y value of lane k is -k.
func (t *timeline) instLane(i int32) float64 { return -float64(i) }

// lane is the y value of the lane called name, NaN if there is none (no
// Redis lane for a strategy that does not use it).
func (t *timeline) lane(name string) float64 {
	if i := slices.Index(t.lanes, name); i >= 0 {
		return -float64(i)
	}
	return math.NaN()
}

func (t *timeline) point(m *marker, x, y float64) {
	if !math.IsNaN(y) {
		t.points[m] = append(t.points[m], plotter.XY{X: x, Y: y})
	}
}

func (t *timeline) span(m *marker, x0, x1, y float64) {
	if !math.IsNaN(y) {
		t.spans[m] = append(t.spans[m], [2]plotter.XY{{X: x0, Y: y}, {X: x1, Y: y}})
	}
}

// buildTimeline gathers the marks of the story's run.
func buildTimeline(s *Story) *timeline {
	n := s.Config.Instances
	t := &timeline{points: map[*marker]plotter.XYs{}, spans: map[*marker][][2]plotter.XY{}}
	for i := 0; i < n; i++ {
		t.lanes = append(t.lanes, fmt.Sprintf("instance %d", i))
	}
	t.lanes = append(t.lanes, "broker")
	if needsMarks(s.Config.Strategy) {
		t.lanes = append(t.lanes, "redis")
	}
	t.lanes = append(t.lanes, "database")
	broker, redis, db := t.lane("broker"), t.lane("redis"), t.lane("database")

	for _, id := range s.a.ids() {
		f := s.a.facts[id]
		for _, p := range f.applied {
			t.point(&mEffect, ms(p.at), db)
			t.point(&mEffect, ms(p.at), t.instLane(p.inst))
		}
		for _, p := range f.idCommits {
			t.point(&mID, ms(p.at), db)
		}
		for _, p := range f.keySets {
			t.point(&mKeySet, ms(p.at), redis)
		}
		for _, p := range f.skips {
			t.point(&mSkip, ms(p.at), t.instLane(p.inst))
		}
		for _, e := range f.expired {
			if e <= s.a.end() {
				t.point(&mKeyGone, ms(e), redis)
			}
		}
		for _, l := range f.keyLost {
			t.point(&mKeyGone, ms(l.at), redis)
		}
	}
	cutSince := make([]float64, n)
	stallEnd := make([]float64, n)
	downSince := -1.0
	for _, r := range legacy(s.Result.Trace) {
		x := ms(r.At)
		switch r.Kind {
		case recPublish:
			t.point(&mPublish, x, broker)
		case recReceive:
			t.point(&mDeliver, x, t.instLane(r.Inst))
		case recServe:
			t.point(&mCall, x, t.instLane(r.Inst))
		case recAcked:
			t.point(&mAck, x, broker)
		case recAckLost:
			t.point(&mAckLost, x, broker)
		case recRequeue:
			t.point(&mRequeue, x, broker)
		case recTimeout:
			t.point(&mFail, x, t.instLane(r.Inst))
		case recHandled:
			switch strategies.Outcome(r.Arg) {
			case strategies.Applied:
				t.point(&mApplied, x, t.instLane(r.Inst))
			case strategies.Skipped:
			default:
				t.point(&mFail, x, t.instLane(r.Inst))
			}
		case recCrash:
			t.point(&mCrash, x, t.instLane(r.Inst))
		case recRestart:
			t.point(&mRestart, x, t.instLane(r.Inst))
		case recStall:
			end := ms(r.At + r.Arg)
			stallEnd[r.Inst] = end
			t.span(&spanStall, x, end, t.instLane(r.Inst))
		case recPartition:
			if r.Arg != 0 {
				if cutSince[r.Inst] == 0 {
					cutSince[r.Inst] = x + 1e-9 // 0 means "not cut"
				}
			} else if cutSince[r.Inst] != 0 {
				t.span(&spanCut, cutSince[r.Inst], x, t.instLane(r.Inst))
				cutSince[r.Inst] = 0
			}
		case recStoreLoss:
			downSince = x
		case recStoreUp:
			if downSince >= 0 {
				t.span(&spanDown, downSince, x, redis)
				downSince = -1
			}
		case recHeal:
			for i, since := range cutSince {
				if since != 0 {
					t.span(&spanCut, since, x, t.instLane(int32(i)))
					cutSince[i] = 0
				}
			}
		}
	}
	// Step numbers beside the marks they tell; steps close together on
	// one lane share a label.
	t.scale = newGapScale(t.xs())
	near := 0.012
	for _, st := range s.Steps {
		y, ok := t.stepLane(st)
		if !ok {
			continue
		}
		x := ms(int64(st.At))
		if k := len(t.labels) - 1; k >= 0 {
			for j := k; j >= 0; j-- {
				if l := &t.labels[j]; l.y == y && math.Abs(t.scale.at(l.x)-t.scale.at(x)) <= near {
					l.text += fmt.Sprintf(",%d", st.N)
					ok = false
					break
				}
			}
		}
		if ok {
			t.labels = append(t.labels, label{x: x, y: y, text: fmt.Sprint(st.N)})
		}
	}
	return t
}

// stepLane is the lane a step's label goes on.
func (t *timeline) stepLane(st Step) (float64, bool) {
	switch {
	case st.Inst >= 0:
		return t.instLane(int32(st.Inst)), true
	case st.Actor == "producer" || st.Actor == "broker":
		return t.lane("broker"), true
	case st.Actor == "redis" || st.Actor == "database":
		y := t.lane(st.Actor)
		return y, !math.IsNaN(y)
	}
	return 0, false
}

// xs lists the times of every mark, in milliseconds; spans (partitions,
// stalls, outages) are drawn across whatever scale the marks make.
func (t *timeline) xs() []float64 {
	var xs []float64
	for _, pts := range t.points {
		for _, p := range pts {
			xs = append(xs, p.X)
		}
	}
	return xs
}

// gapScale is the timeline's x axis: linear within each burst of activity,
// with the idle stretches between bursts (a 5 s ack deadline, a restart)
// shortened to a fixed width, so that the bursts stay readable. It maps
// time to [0, 1] through the breakpoints (t[i], p[i]).
type gapScale struct {
	t, p []float64
	// gaps are the shortened stretches: their start, end and middle
	// position on the axis.
	gaps [][3]float64
}

// Shares of the axis: an idle stretch takes gapShare of it; a burst at
// least minShare of the longest burst's width.
// A pause shorter than idleMin (milliseconds) is never shortened.
const (
	gapShare = 0.07
	minShare = 0.3
	idleMin  = 50.0
)

// newGapScale builds the scale for marks at xs (milliseconds).
func newGapScale(xs []float64) *gapScale {
	slices.Sort(xs)
	if len(xs) == 0 {
		return &gapScale{t: []float64{0, 1}, p: []float64{0, 1}}
	}
	// Bursts: split where nothing happens for over idleMin and ten times
	// the typical pause between two marks.
	var pauses []float64
	for i := 1; i < len(xs); i++ {
		if d := xs[i] - xs[i-1]; d > 0 {
			pauses = append(pauses, d)
		}
	}
	slices.Sort(pauses)
	idle := idleMin
	if len(pauses) > 0 {
		idle = math.Max(idle, 10*pauses[len(pauses)/2])
	}
	type burst struct{ a, b float64 }
	bursts := []burst{{xs[0], xs[0]}}
	for _, x := range xs[1:] {
		if last := &bursts[len(bursts)-1]; x-last.b > idle {
			bursts = append(bursts, burst{x, x})
		} else {
			last.b = x
		}
	}
	longest := 0.0
	for _, b := range bursts {
		longest = math.Max(longest, b.b-b.a)
	}
	if longest == 0 {
		longest = 1
	}
	pad := 0.05 * longest
	widths := make([]float64, len(bursts))
	total := 0.0
	for i, b := range bursts {
		widths[i] = math.Max(b.b-b.a, minShare*longest) + 2*pad
		total += widths[i]
	}
	gap := gapShare * total
	total += gap * float64(len(bursts)-1)
	g := &gapScale{}
	pos := 0.0
	for i, b := range bursts {
		// Center the burst in its width.
		extra := (widths[i] - (b.b - b.a)) / 2
		a0, b0 := b.a-extra, b.b+extra
		if i > 0 {
			g.gaps = append(g.gaps, [3]float64{g.t[len(g.t)-1], a0, (pos - gap/2) / total})
		}
		g.t = append(g.t, a0, b0)
		g.p = append(g.p, pos/total, (pos+widths[i])/total)
		pos += widths[i] + gap
	}
	return g
}

// at maps a time to its position on the axis, in [0, 1].
func (g *gapScale) at(x float64) float64 {
	n := len(g.t)
	switch {
	case x <= g.t[0]:
		return g.p[0] - (g.t[0]-x)/(g.t[1]-g.t[0])*(g.p[1]-g.p[0])
	case x >= g.t[n-1]:
		return g.p[n-1] + (x-g.t[n-1])/(g.t[n-1]-g.t[n-2])*(g.p[n-1]-g.p[n-2])
	}
	i := sort.SearchFloat64s(g.t, x)
	if i == 0 {
		return g.p[0]
	}
	t0, t1, p0, p1 := g.t[i-1], g.t[i], g.p[i-1], g.p[i]
	if t1 == t0 {
		return p0
	}
	return p0 + (x-t0)/(t1-t0)*(p1-p0)
}

// Normalize implements plot.Normalizer.
func (g *gapScale) Normalize(_, _, x float64) float64 { return g.at(x) }

// Ticks implements plot.Ticker: a few labelled ticks within each burst, as
// many as its share of the axis leaves room for, none in the shortened
// stretches.
func (g *gapScale) Ticks(_, _ float64) []plot.Tick {
	var ticks []plot.Tick
	for i := 0; i+1 < len(g.t); i += 2 {
		room := max(1, int((g.p[i+1]-g.p[i])*12))
		var major []plot.Tick
		for _, tk := range (plot.DefaultTicks{}).Ticks(g.t[i], g.t[i+1]) {
			if tk.Label != "" && tk.Value >= g.t[i] && tk.Value <= g.t[i+1] {
				major = append(major, tk)
			}
		}
		if len(major) == 0 {
			mid := (g.t[i] + g.t[i+1]) / 2
			major = []plot.Tick{{Value: mid}}
		}
		step := (len(major) + room - 1) / room
		for k := 0; k < len(major); k += step {
			v := major[k].Value
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)})
		}
	}
	return ticks
}

// inverse maps a position on the axis back to a time.
func (g *gapScale) inverse(pos float64) float64 {
	for i := 1; i < len(g.p); i++ {
		if pos <= g.p[i] {
			p0, p1, t0, t1 := g.p[i-1], g.p[i], g.t[i-1], g.t[i]
			if p1 == p0 {
				return t0
			}
			return t0 + (pos-p0)/(p1-p0)*(t1-t0)
		}
	}
	return g.t[len(g.t)-1]
}

// gapWords says how long a shortened stretch lasted.
func gapWords(d float64) string {
	if d >= 1000 {
		return fmt.Sprintf("~%.1f s", d/1000)
	}
	return fmt.Sprintf("~%.0f ms", d)
}

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
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: mid, Y: p.Y.Min + 0.05}}, Labels: []string{gapWords(gp[1] - gp[0])}})
		if err != nil {
			return err
		}
		lab.TextStyle[0].Font.Size = 8
		lab.TextStyle[0].XAlign = draw.XCenter
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
		title += fmt.Sprintf(": event %d %s", s.Event, times(s.a.ledger[s.Event]))
	case Lost:
		title += fmt.Sprintf(": event %d lost", s.Event)
	case Stuck:
		title += fmt.Sprintf(": event %d never settled", s.Event)
	}
	return title
}

// end is the time of the last record but the run's heal and end: the
// timeline stops there.
func (a *analysis) end() int64 {
	var last int64
	for _, r := range a.recs {
		if r.Kind != recHeal && r.Kind != recEnd {
			last = r.At
		}
	}
	return last
}
