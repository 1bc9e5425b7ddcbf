package explain

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"
	"strconv"
)

// TimelineView is the timeline of WriteTimeline as data, built from the
// same marks (buildTimeline), for a page that draws it itself: lanes top
// to bottom, each mark and span placed on the same shortened time axis
// (positions from 0 to 1), and each mark tied to the step of the story it
// belongs to, so that a click on it can show that step.
type TimelineView struct {
	Title string   `json:"title"`
	Axis  string   `json:"axis"`  // the x axis's label
	Lanes []string `json:"lanes"` // "instance 0", ..., "broker", "redis", "database"
	// Marks are in the legend's order, then by time.
	Marks  []TimelineMark `json:"marks"`
	Spans  []TimelineSpan `json:"spans"`
	Legend []LegendEntry  `json:"legend"`
	Ticks  []AxisTick     `json:"ticks"`
	Gaps   []AxisTick     `json:"gaps"` // the shortened idle stretches: where, and how long
	// Notes are small texts under a lane from a position on (on the log,
	// the partitions an instance owns).
	Notes []TimelineNote `json:"notes"`
	// Steps are where each step of the story is on the axis, by step
	// (Steps[0] is step 1), and on which lane (-1: none).
	Steps []StepSpot `json:"steps"`
	// Labels are the picture's step numbers above the marks: "3" or, for
	// steps close together on a lane, "3,4".
	Labels []TimelineNote `json:"labels"`
}

// StepSpot is where a step is on the timeline.
type StepSpot struct {
	Pos  float64 `json:"pos"`
	Lane int     `json:"lane"`
}

// TimelineMark is one mark of the timeline.
type TimelineMark struct {
	Kind string  `json:"kind"` // its legend entry, as "delivery received"
	Lane int     `json:"lane"`
	Pos  float64 `json:"pos"`
	At   string  `json:"at"` // "9.630 ms"
	// Step is the step the mark belongs to: the step that tells it (Told:
	// a step whose record is drawn here, on this lane, at this time), or
	// else the last step at or before it (the first step for a mark
	// before any).
	Step int  `json:"step"`
	Told bool `json:"told"`
	// Steps are all the steps that tell it, in order (Steps[0] is Step),
	// when Told: two steps of one instant share a mark.
	Steps []int `json:"steps,omitempty"`
}

// TimelineSpan is a bar across a lane: a partition, a stall, an outage.
type TimelineSpan struct {
	Kind     string  `json:"kind"`
	Lane     int     `json:"lane"`
	From, To float64 `json:"-"`
	FromPos  float64 `json:"from"`
	ToPos    float64 `json:"to"`
}

// LegendEntry is one kind of mark or span: its shape ("ring", "circle",
// "triangle", "pyramid", "square", "box", "cross", "plus", or "bar" for a
// span) and its colour, which is never the only difference between two
// entries that look alike: their shape or their name tells them apart.
type LegendEntry struct {
	Kind  string  `json:"kind"`
	Shape string  `json:"shape"`
	Color string  `json:"color"`
	Size  float64 `json:"size"` // the glyph's radius in the picture, in points
}

// AxisTick is a labelled position on the time axis.
type AxisTick struct {
	Pos   float64 `json:"pos"`
	Label string  `json:"label"`
}

// TimelineNote is a small text under a lane.
type TimelineNote struct {
	Lane int     `json:"lane"`
	Pos  float64 `json:"pos"`
	Text string  `json:"text"`
}

// Timeline returns the story's timeline as data, nil for a story not told
// from a run.
func (s *Story) Timeline() *TimelineView {
	if s.Result == nil || s.a == nil {
		return nil
	}
	f := s.a.facts
	t := buildTimeline(s)
	v := &TimelineView{Title: timelineTitle(s), Axis: "simulated time (ms)", Lanes: t.lanes,
		Marks: []TimelineMark{}, Spans: []TimelineSpan{}, Legend: []LegendEntry{}, Ticks: []AxisTick{}, Gaps: []AxisTick{}, Notes: []TimelineNote{}}
	if len(t.scale.gaps) > 0 {
		v.Axis = "simulated time (ms); idle stretches shortened"
	}
	pos := func(x float64) float64 { return math.Min(1, math.Max(0, t.scale.at(x))) }
	lane := func(y float64) int { return int(math.Round(-y)) }
	// Where each step's label goes: a mark there is the one it tells.
	type spot struct {
		y, x float64
	}
	told := map[spot][]int{}
	for _, st := range s.Steps {
		if y, ok := t.stepLane(st, f); ok {
			sp := spot{y, t.stepAt(st, f)}
			told[sp] = append(told[sp], st.N)
		}
	}
	// A mark no step tells belongs to the last step, in the story's
	// order, at or before it. With thousands of marks in a long run, the
	// steps' times are sorted once and each mark found by a binary search
	// (latest[k]: the last step, in the story's order, among the k+1
	// earliest).
	type stepTime struct {
		at float64
		i  int
	}
	byTime := make([]stepTime, len(s.Steps))
	for i, st := range s.Steps {
		byTime[i] = stepTime{t.stepAt(st, f), i}
	}
	slices.SortStableFunc(byTime, func(a, b stepTime) int { return cmp.Compare(a.at, b.at) })
	latest := make([]int, len(byTime))
	for k, st := range byTime {
		latest[k] = st.i
		if k > 0 {
			latest[k] = max(latest[k], latest[k-1])
		}
	}
	before := func(x float64) int {
		k := sort.Search(len(byTime), func(k int) bool { return byTime[k].at > x })
		if k == 0 {
			return 1
		}
		return s.Steps[latest[k-1]].N
	}
	for _, m := range allSpans {
		if len(t.spans[m]) == 0 {
			continue
		}
		v.Legend = append(v.Legend, LegendEntry{Kind: m.name, Shape: "bar", Color: hexColor(m.color), Size: m.size})
		for _, seg := range t.spans[m] {
			v.Spans = append(v.Spans, TimelineSpan{Kind: m.name, Lane: lane(seg[0].Y), From: seg[0].X, To: seg[1].X, FromPos: pos(seg[0].X), ToPos: pos(seg[1].X)})
		}
	}
	marks := 0
	for _, pts := range t.points {
		marks += len(pts)
	}
	v.Marks = make([]TimelineMark, 0, marks)
	for _, m := range allMarks {
		pts := t.points[m]
		if len(pts) == 0 {
			continue
		}
		v.Legend = append(v.Legend, LegendEntry{Kind: m.name, Shape: glyphName(m.shape), Color: hexColor(m.color), Size: m.size})
		for _, p := range pts {
			mk := TimelineMark{Kind: m.name, Lane: lane(p.Y), Pos: pos(p.X), At: strconv.FormatFloat(p.X, 'f', 3, 64) + " ms"}
			if ns, ok := told[spot{p.Y, p.X}]; ok {
				mk.Step, mk.Told, mk.Steps = ns[0], true, ns
			} else {
				mk.Step = before(p.X)
			}
			v.Marks = append(v.Marks, mk)
		}
	}
	v.Steps = []StepSpot{}
	for _, st := range s.Steps {
		sp := StepSpot{Pos: pos(t.stepAt(st, f)), Lane: -1}
		if y, ok := t.stepLane(st, f); ok {
			sp.Lane = lane(y)
		}
		v.Steps = append(v.Steps, sp)
	}
	for _, tk := range t.scale.ticks() {
		v.Ticks = append(v.Ticks, AxisTick{Pos: pos(tk.Value), Label: tk.Label})
	}
	for _, gp := range t.scale.gaps {
		v.Gaps = append(v.Gaps, AxisTick{Pos: gp[2], Label: gapWords(gp[1] - gp[0])})
	}
	v.Labels = []TimelineNote{}
	for _, l := range t.labels {
		v.Labels = append(v.Labels, TimelineNote{Lane: lane(l.y), Pos: pos(l.x), Text: l.text})
	}
	for _, n := range t.notes {
		v.Notes = append(v.Notes, TimelineNote{Lane: lane(n.y), Pos: pos(n.x), Text: n.text})
	}
	return v
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

// glyphName names the shape of a timeline glyph for a page.
func glyphName(g glyph) string {
	if g == "" {
		return string(glyphCircle)
	}
	return string(g)
}

// hexColor renders c as "#rrggbb".
func hexColor(c color.Color) string {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return fmt.Sprintf("#%02x%02x%02x", n.R, n.G, n.B)
}
