package run

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

// PublishGapMax bounds the producer's gap between events: uniform in
// [0, PublishGapMax], 50 ms on average. Accounts is how many accounts the
// events add to (1..Accounts).
const (
	PublishGapMax = 100 * time.Millisecond
	Accounts      = 10
)

// Publication is one copy of an event the producer publishes, at a time
// since the start of the run.
type Publication struct {
	At    time.Duration
	Event strategies.EventID
}

// Workload is what the producer of a run publishes: the events and, in time
// order, every copy of them.
type Workload struct {
	Events    []strategies.Event // by id; index 0 unused
	Publishes []Publication      // in time order
	Span      time.Duration      // when the last event's first copy goes out
	// Extra counts the copies beyond the first, per fault that adds them
	// (indexed by faults.Fault): redeliver's copies published twice at
	// once, ttl's late ones. Both backends report them as that fault's
	// injections, so a fault that only adds copies is written here alone.
	Extra []int
	// Decisions are the workload's fault decisions that struck, in the
	// order drawn: redeliver's and ttl's extra copies, one injection point
	// per event each. A decision of cfg.Drop adds no copy, but draws its
	// delay all the same.
	Decisions []faults.Decision
}

// NewWorkload draws the workload of cfg: the same for the simulator and for
// a real run of the same seed, which scales its times. Events come every
// 0 to 100 ms on accounts 1..10; redeliver and ttl add copies. Each draws
// from its own stream.
func NewWorkload(cfg Config) Workload {
	cfg = cfg.WithDefaults()
	p := faults.Draw(cfg.Faults, cfg.Seed)
	producer := rand.New(rand.NewPCG(cfg.Seed, StreamProducer))
	var inj faults.Injector
	inj.Reset(cfg.Seed, StreamFaultRuntime, cfg.Drop)
	// Late copies are ttl's, or key-expiry's when ttl is not in the
	// scenario.
	lateFault := faults.TTL
	if !cfg.Faults.Has(faults.TTL) && cfg.Faults.Has(faults.KeyExpiry) {
		lateFault = faults.KeyExpiry
	}
	dup, late := inj.Stream(faults.Redeliver), inj.Stream(lateFault)
	w := Workload{Events: make([]strategies.Event, cfg.Events+1), Extra: make([]int, len(faults.All()))}
	var t int64
	for id := 1; id <= cfg.Events; id++ {
		ev := strategies.EventID(id)
		t += UniformDur(producer, 0, PublishGapMax)
		w.Events[id] = strategies.Event{ID: ev, Account: 1 + producer.IntN(Accounts), Amount: 1 + producer.Int64N(100)}
		w.Publishes = append(w.Publishes, Publication{time.Duration(t), ev})
		if p.DupPublish > 0 {
			if v := inj.Randomly(faults.Redeliver, p.DupPublish); v.Hit() {
				at := time.Duration(t + UniformDur(dup, 0, p.DupDelayMax))
				if v == faults.Strike {
					w.Publishes = append(w.Publishes, Publication{at, ev})
					w.Extra[faults.Redeliver]++
				}
			}
		}
		if p.LatePublish > 0 {
			if v := inj.Randomly(lateFault, p.LatePublish); v.Hit() {
				at := time.Duration(t + UniformDur(late, p.LateMin, p.LateMax))
				if v == faults.Strike {
					w.Publishes = append(w.Publishes, Publication{at, ev})
					w.Extra[lateFault]++
				}
			}
		}
	}
	w.Span = time.Duration(t)
	w.Decisions = slices.Clone(inj.Made())
	// Copies make the schedule unsorted. The sort is stable, so equal times
	// keep their drawing order.
	slices.SortStableFunc(w.Publishes, func(a, b Publication) int { return cmp.Compare(a.At, b.At) })
	return w
}

// UniformDur draws a duration in [lo, hi], in nanoseconds.
func UniformDur(r *rand.Rand, lo, hi time.Duration) int64 {
	if hi <= lo {
		return int64(lo)
	}
	return int64(lo) + r.Int64N(int64(hi-lo)+1)
}
