package faults

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// numFaults is how many faults there are: the size of an Injector's
// arrays, which a test holds equal to len(described).
const numFaults = int(IDReuse) + 1

// Decision is one positive decision of a run's injector: fault Fault struck
// at its Point-th injection point, counted from 0 per fault and per run.
// Its text form, "crash@3", is what --drop takes and the JSON shows.
type Decision struct {
	Fault Fault
	Point uint32
}

// String is the decision as --drop takes it: "crash@3".
func (d Decision) String() string {
	return d.Fault.String() + "@" + strconv.FormatUint(uint64(d.Point), 10)
}

// MarshalText writes the decision as String does, for JSON.
func (d Decision) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (d *Decision) UnmarshalText(b []byte) error {
	got, err := ParseDecision(string(b))
	if err != nil {
		return err
	}
	*d = got
	return nil
}

// ParseDecision reads one decision, "crash@3". The error matches
// ErrUnknownFault for an unknown fault, and says what is accepted.
func ParseDecision(s string) (Decision, error) {
	name, point, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok {
		return Decision{}, &parseError{msg: fmt.Sprintf("decision %q: want fault@point, such as crash@3", s)}
	}
	f, found := lookup(name)
	if !found {
		return Decision{}, parseErrorf("decision %q: unknown fault %q", s, name)
	}
	n, err := strconv.ParseUint(point, 10, 32)
	if err != nil {
		return Decision{}, &parseError{msg: fmt.Sprintf("decision %q: the point must be a number from 0, not %q", s, point)}
	}
	return Decision{Fault: f, Point: uint32(n)}, nil
}

// ParseDecisions reads a comma-separated list of decisions, "crash@3,slow@12",
// as --drop takes it; "" is none. A decision given twice is an error, as a
// fault given twice is for Parse.
func ParseDecisions(list string) ([]Decision, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []Decision
	for _, p := range strings.Split(list, ",") {
		d, err := ParseDecision(p)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, d) {
			return nil, &parseError{msg: fmt.Sprintf("decision %s is given twice in %q", d, list)}
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatDecisions joins ds as ParseDecisions reads them: "crash@3,slow@12".
func FormatDecisions(ds []Decision) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// Verdict is what an injection point decided.
type Verdict uint8

const (
	// Spare: the fault does not strike here.
	Spare Verdict = iota
	// Strike: the fault strikes here; the backend carries it out.
	Strike
	// Dropped: the fault would strike here, but the decision is in the
	// injector's drop set. The backend makes every draw the strike would
	// have made, so that the fault's stream, and so every later decision
	// of it, stays as it was, and carries out nothing.
	Dropped
)

// Hit reports whether the fault would strike: Strike or Dropped. Both make
// the same draws.
func (v Verdict) Hit() bool { return v != Spare }

// Injector makes a run's fault decisions, one per injection point, each
// from its fault's own stream, and records the positive ones. Both
// backends use it: the decisions (when a fault strikes, what its
// mechanism draws) are made here once, and each backend has only its
// mechanism (what a crash or a stall does to a simulated instance or to a
// real consumer).
//
// An injection point is either a chance (Randomly: strike with probability
// p, pebble's Randomly) or a planned strike (Planned: a partition window, a
// store loss, a leave laid out ahead of the run; pebble's OnIndex with
// every index). The points of a fault are counted from 0 in the order they
// are drawn, so a Decision names a point across runs of one seed: dropping
// one (Reset's drop) keeps the numbers, and the draws, of all others.
//
// An Injector is not safe for concurrent use; its zero value is not ready
// until Reset.
type Injector struct {
	src    [numFaults]rand.PCG
	rng    [numFaults]*rand.Rand
	points [numFaults]uint32
	drop   []Decision
	made   []Decision
}

// Reset readies the injector for a run of seed: fault f draws from stream
// streamOf(f), its points count from 0, the decisions in drop will not be
// injected, and none are recorded yet. It keeps its buffers.
func (in *Injector) Reset(seed uint64, streamOf func(Fault) uint64, drop []Decision) {
	for f := range in.src {
		in.src[f].Seed(seed, streamOf(Fault(f)))
	}
	in.points = [numFaults]uint32{}
	in.drop = drop
	in.made = in.made[:0]
}

// Stream is fault f's stream: what the mechanism of a strike draws
// (a restart's delay, a cut's length) comes from it, right after the
// decision.
func (in *Injector) Stream(f Fault) *rand.Rand {
	if in.rng[f] == nil {
		// Made on first use: a run that never needs a fault's
		// mechanism (the workload needs two) allocates none.
		in.rng[f] = rand.New(&in.src[f])
	}
	return in.rng[f]
}

// Randomly decides fault f's next injection point: it strikes with
// probability p. The one draw is the only cost of a point where nothing
// strikes, which is most of them.
func (in *Injector) Randomly(f Fault, p float64) Verdict {
	pt := in.points[f]
	in.points[f] = pt + 1
	// rand.Rand.Float64's formula, on the concrete source: the same
	// number, without the call through the Source interface.
	if float64(in.src[f].Uint64()<<11>>11)/(1<<53) >= p {
		return Spare
	}
	return in.hit(f, pt)
}

// Planned decides fault f's next injection point, one that strikes unless
// it is dropped: a strike laid out ahead of the run.
func (in *Injector) Planned(f Fault) Verdict {
	pt := in.points[f]
	in.points[f] = pt + 1
	return in.hit(f, pt)
}

// hit records the strike of f at point pt, or says it is dropped. It is
// kept out of line so that Randomly, on the simulator's hot path, stays
// small enough to inline.
//
//go:noinline
func (in *Injector) hit(f Fault, pt uint32) Verdict {
	d := Decision{Fault: f, Point: pt}
	for _, x := range in.drop {
		if x == d {
			return Dropped
		}
	}
	in.made = append(in.made, d)
	return Strike
}

// Made lists the decisions that struck, in the order they were made. The
// slice is the injector's until its next Reset: clone it to keep it.
func (in *Injector) Made() []Decision { return in.made }

// Any reports whether f struck at any point so far.
func (in *Injector) Any(f Fault) bool {
	for _, d := range in.made {
		if d.Fault == f {
			return true
		}
	}
	return false
}
