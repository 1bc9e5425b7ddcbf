package explain

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

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
// At most maxBursts bursts are told apart.
const (
	gapShare  = 0.07
	minShare  = 0.3
	idleMin   = 50.0
	maxBursts = 8
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
	split := func(idle float64) []burst {
		bursts := []burst{{xs[0], xs[0]}}
		for _, x := range xs[1:] {
			if last := &bursts[len(bursts)-1]; x-last.b > idle {
				bursts = append(bursts, burst{x, x})
			} else {
				last.b = x
			}
		}
		return bursts
	}
	bursts := split(idle)
	// A handler that retries later every few hundred milliseconds makes
	// a burst of each try: past maxBursts, only the pauses well over the
	// typical one between bursts (and only the maxBursts-1 longest) are
	// shortened, so that the retries make one regular stretch.
	if len(bursts) > maxBursts {
		var gaps []float64
		for i := 1; i < len(bursts); i++ {
			gaps = append(gaps, bursts[i].a-bursts[i-1].b)
		}
		slices.Sort(gaps)
		idle = math.Max(idle, 2*gaps[len(gaps)/2])
		if k := len(gaps) - (maxBursts - 1); k > 0 {
			idle = math.Max(idle, gaps[k-1])
		}
		bursts = split(idle)
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
		// Center the burst in its width, padded with time on each side,
		// but never past halfway to the next burst or the one before: the
		// padded stretches must not overlap, or the axis would go back in
		// time (and a shortened stretch last less than nothing).
		extra := (widths[i] - (b.b - b.a)) / 2
		lo, hi := extra, extra
		if i > 0 {
			lo = math.Min(lo, 0.45*(b.a-bursts[i-1].b))
		}
		if i+1 < len(bursts) {
			hi = math.Min(hi, 0.45*(bursts[i+1].a-b.b))
		}
		a0, b0 := b.a-lo, b.b+hi
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

// tick is a labelled position on the time axis, in milliseconds.
type tick struct {
	Value float64
	Label string
}

// ticks are the axis's labelled ticks: a few within each burst, as many
// as its share of the axis leaves room for, none in the shortened
// stretches. Each burst's ticks are round: multiples of a step of 1, 2 or
// 5 times a power of ten, labelled with no more decimals than the step
// has.
func (g *gapScale) ticks() []tick {
	var ticks []tick
	for i := 0; i+1 < len(g.t); i += 2 {
		t0, t1 := g.t[i], g.t[i+1]
		room := max(1, int((g.p[i+1]-g.p[i])*10))
		step := niceStep((t1 - t0) / float64(room))
		// A burst narrower than its step gets a finer one, so that every
		// burst has a tick.
		for tries := 0; tries < 30; tries++ {
			if math.Ceil(t0/step)*step <= t1 {
				break
			}
			step = niceStep(step * 0.99 / 2)
		}
		first := math.Ceil(t0/step) * step
		for k := 0; ; k++ {
			v := first + float64(k)*step
			if v > t1 {
				break
			}
			ticks = append(ticks, tick{Value: v, Label: tickLabel(v, step)})
		}
	}
	return ticks
}

// niceStep is the smallest step of 1, 2 or 5 times a power of ten that is
// at least x.
func niceStep(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	base := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5} {
		if m*base >= x*(1-1e-9) {
			return m * base
		}
	}
	return 10 * base
}

// tickLabel renders tick value v, a multiple of step, with as many
// decimals as step has.
func tickLabel(v, step float64) string {
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	return strconv.FormatFloat(v, 'f', decimals, 64)
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
