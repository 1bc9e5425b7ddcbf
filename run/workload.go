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
// since the start of the run. Event is the event's number, its index in
// Workload.Events: its id, unless id-reuse gave it an earlier event's id
// (Events[Event].ID says which).
type Publication struct {
	At    time.Duration
	Event strategies.EventID
}

// Workload is what the producer of a run publishes: the events and, in time
// order, every copy of them.
type Workload struct {
	// Events are the run's events by number (index 0 unused). An event's
	// number is its id, but where id-reuse gave it an earlier event's id
	// (Reused): numbers are what the checkers judge, one per event, so
	// the truth is by id and payload.
	Events    []strategies.Event
	Publishes []Publication // in time order
	Span      time.Duration // when the last event's first copy goes out
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
	// Reused lists, in order, the numbers of the events that id-reuse
	// gave an earlier event's id, each with a payload (account, amount)
	// unlike every other event's under that id; empty without id-reuse.
	Reused []strategies.EventID

	// What drawing it needs, kept so that Redraw allocates nothing
	// once it has grown: the first copies, the extra ones, and the
	// producer's stream and the injector, made on the first Redraw (the
	// injector by pointer: its random sources point into it, and a copy
	// of the Workload shares it rather than pointing into another).
	firsts, extra []Publication
	producer      *rand.PCG
	inj           *faults.Injector
}

// NewWorkload draws the workload of cfg: the same for the simulator and for
// a real run of the same seed, which scales its times. Events come every
// 0 to 100 ms on accounts 1..10; redeliver and ttl add copies. Each draws
// from its own stream.
func NewWorkload(cfg Config) Workload {
	var w Workload
	w.Redraw(cfg)
	return w
}

// Redraw draws the workload of cfg into w, as NewWorkload does, reusing
// w's arrays: a backend that runs seed after seed draws each workload
// without allocating, but for its Decisions, which are the new
// workload's own. What w held before is overwritten.
func (w *Workload) Redraw(cfg Config) {
	cfg = cfg.WithDefaults()
	p := faults.Draw(cfg.Faults, cfg.Seed)
	if w.inj == nil {
		w.producer, w.inj = new(rand.PCG), new(faults.Injector)
	}
	w.producer.Seed(cfg.Seed, StreamProducer)
	producer := rand.New(w.producer)
	inj := w.inj
	inj.Reset(cfg.Seed, StreamFaultRuntime, cfg.Drop)
	// Late copies are ttl's, or key-expiry's when ttl is not in the
	// scenario.
	lateFault := faults.TTL
	if !cfg.Faults.Has(faults.TTL) && cfg.Faults.Has(faults.KeyExpiry) {
		lateFault = faults.KeyExpiry
	}
	dup, late := inj.Stream(faults.Redeliver), inj.Stream(lateFault)
	w.Reused = w.Reused[:0]
	w.Events = slices.Grow(w.Events[:0], cfg.Events+1)[:cfg.Events+1]
	w.Events[0] = strategies.Event{}
	w.Extra = slices.Grow(w.Extra[:0], len(faults.All()))[:len(faults.All())]
	clear(w.Extra)
	// The first copies come in time order as they are drawn; the extra
	// copies, drawn right after their event's first, come later, out of
	// order. They are sorted on their own and merged in (mergeCopies).
	firsts, extra := w.firsts[:0], w.extra[:0]
	var t int64
	for id := 1; id <= cfg.Events; id++ {
		ev := strategies.EventID(id)
		t += UniformDur(producer, 0, PublishGapMax)
		w.Events[id] = strategies.Event{ID: ev, Account: 1 + producer.IntN(Accounts), Amount: 1 + producer.Int64N(100)}
		if p.IDReuse > 0 && id > 1 {
			if v := inj.Randomly(faults.IDReuse, p.IDReuse); v.Hit() {
				back := 1 + inj.Stream(faults.IDReuse).IntN(min(id-1, p.ReuseBack))
				if v == faults.Strike {
					w.reuse(id, id-back)
				}
			}
		}
		firsts = append(firsts, Publication{time.Duration(t), ev})
		if p.DupPublish > 0 {
			if v := inj.Randomly(faults.Redeliver, p.DupPublish); v.Hit() {
				at := time.Duration(t + UniformDur(dup, 0, p.DupDelayMax))
				if v == faults.Strike {
					extra = append(extra, Publication{at, ev})
					w.Extra[faults.Redeliver]++
				}
			}
		}
		if p.LatePublish > 0 {
			if v := inj.Randomly(lateFault, p.LatePublish); v.Hit() {
				at := time.Duration(t + UniformDur(late, p.LateMin, p.LateMax))
				if v == faults.Strike {
					extra = append(extra, Publication{at, ev})
					w.Extra[lateFault]++
				}
			}
		}
	}
	w.Span = time.Duration(t)
	w.Decisions = slices.Clone(inj.Made())
	w.firsts, w.extra = firsts, extra
	w.Publishes = mergeCopies(w.Publishes[:0], firsts, extra)
}

// reuse gives event number n the id of event number earlier (id-reuse),
// and a payload unlike every other event's under that id: the producer's
// bug makes two events of one id, never two copies of one.
func (w *Workload) reuse(n, earlier int) {
	e := &w.Events[n]
	e.ID = w.Events[earlier].ID
	for w.samePayload(n) {
		e.Amount = e.Amount%100 + 1
	}
	w.Reused = append(w.Reused, strategies.EventID(n))
	w.Extra[faults.IDReuse]++
}

// samePayload reports whether another event under event n's id has its
// payload.
func (w *Workload) samePayload(n int) bool {
	e := w.Events[n]
	same := func(x strategies.Event) bool { return x.Account == e.Account && x.Amount == e.Amount }
	if same(w.Events[e.ID]) {
		return true
	}
	for _, k := range w.Reused {
		if x := w.Events[k]; x.ID == e.ID && same(x) {
			return true
		}
	}
	return false
}

// Number is the number of the event e is a copy of (its index in Events):
// its id, unless id-reuse gave that id to more than one event, and then
// the one with e's payload (account and amount). A backend counts the
// effects it finds by Number, so that the checkers judge by id and
// payload. An id no event has, or a payload none has under e's id, is
// e's id.
func (w *Workload) Number(e strategies.Event) strategies.EventID {
	if len(w.Reused) == 0 || uint64(e.ID) >= uint64(len(w.Events)) {
		return e.ID
	}
	same := func(x strategies.Event) bool { return x.ID == e.ID && x.Account == e.Account && x.Amount == e.Amount }
	if same(w.Events[e.ID]) {
		return e.ID
	}
	for _, k := range w.Reused {
		if same(w.Events[k]) {
			return k
		}
	}
	return e.ID
}

// mergeCopies returns, in out's array, the first copies, firsts (one per
// event, in time and id order), and the extra copies, extra (in the order
// drawn, each right after its event's first), all in time order. Copies at the same
// time keep the order they were drawn in, as a stable sort of all of them
// in drawing order would: a first copy was drawn before an extra one
// exactly when its event's id is not above the extra's.
func mergeCopies(out, firsts, extra []Publication) []Publication {
	slices.SortStableFunc(extra, func(a, b Publication) int { return cmp.Compare(a.At, b.At) })
	out = slices.Grow(out[:0], len(firsts)+len(extra))
	i, j := 0, 0
	for i < len(firsts) && j < len(extra) {
		f, x := firsts[i], extra[j]
		if f.At < x.At || (f.At == x.At && f.Event <= x.Event) {
			out = append(out, f)
			i++
		} else {
			out = append(out, x)
			j++
		}
	}
	out = append(out, firsts[i:]...)
	return append(out, extra[j:]...)
}

// UniformDur draws a duration in [lo, hi], in nanoseconds.
func UniformDur(r *rand.Rand, lo, hi time.Duration) int64 {
	if hi <= lo {
		return int64(lo)
	}
	return int64(lo) + r.Int64N(int64(hi-lo)+1)
}
