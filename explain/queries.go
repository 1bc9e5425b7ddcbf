package explain

import (
	"slices"
	"time"

	"github.com/idemsim/idemsim/run"
)

// The questions the story, the timeline and the history page ask of the
// facts. "At record i" means just after record i took place.

// Event returns the facts of event id, nil if the run has no such event.
func (f *Facts) Event(id uint32) *Event {
	if id == 0 || int(id) >= len(f.Events) {
		return nil
	}
	return &f.Events[id]
}

// Up reports whether instance inst is running at record i: not between a
// crash and its restart, nor between a graceful leave and its return, nor
// before the late start of a scale-out.
func (f *Facts) Up(inst int32, i int) bool {
	return f.DownWhy(inst, i) == 0
}

// DownWhy is why instance inst is not running at record i: run.Crash
// (it crashed and has not restarted), run.Leave (it left gracefully and
// is not back), run.Restart (it starts late and has not started yet), or
// 0 if it is running.
func (f *Facts) DownWhy(inst int32, i int) run.Kind {
	t := int64(-1)
	if i >= 0 && i < len(f.Trace) {
		t = f.Trace[i].At
	}
	return f.DownWhyAt(inst, i, t)
}

// DownWhyAt is DownWhy at time t, just after record i (-1: before the
// first): a step between records (the late start itself) is later than
// its record.
func (f *Facts) DownWhyAt(inst int32, i int, t int64) run.Kind {
	for _, c := range f.Crashes {
		if c.Inst == inst && c.Rec <= i && (c.RestartRec < 0 || c.RestartRec > i) {
			return run.Crash
		}
	}
	for _, l := range f.Leaves {
		if l.Inst == inst && l.Stops() && l.Rec <= i && (l.RestartRec < 0 || l.RestartRec > i) {
			return run.Leave
		}
	}
	if l := f.Late; l != nil && l.Inst == inst && t < l.At {
		return run.Restart
	}
	return 0
}

// EndedBetween reports whether instance inst's process ended between
// records from and to (exclusive): it crashed, left gracefully, or a new
// process restarted in its place. Its memory, and anything a handler of
// it kept, is gone after.
func (f *Facts) EndedBetween(inst int32, from, to int) bool {
	for _, k := range f.Restarts {
		if k > from && k < to && f.Trace[k].Inst == inst {
			return true
		}
	}
	for _, c := range f.Crashes {
		if c.Inst == inst && c.Rec > from && c.Rec < to {
			return true
		}
	}
	for _, l := range f.Leaves {
		if l.Inst == inst && l.Stops() && l.Rec > from && l.Rec < to {
			return true
		}
	}
	return false
}

// LeaveAt is the leave of record i, nil if it is none.
func (f *Facts) LeaveAt(i int) *Leave {
	for k := range f.Leaves {
		if f.Leaves[k].Rec == i {
			return &f.Leaves[k]
		}
	}
	return nil
}

// CutAt is what instance inst is cut off from at record i: the union of
// its windows open then.
func (f *Facts) CutAt(inst int32, i int) run.Stores {
	var s run.Stores
	for _, w := range f.Windows {
		if w.Inst == inst && w.Rec <= i && (w.EndRec < 0 || w.EndRec > i) {
			s |= w.Stores
		}
	}
	return s
}

// Span is a stretch of time, by records.
type Span struct {
	From, To    int64
	Rec, EndRec int // EndRec is -1 if it lasted to the end of the run
}

// CutSpans are the stretches in which instance inst was cut off from
// something: its partition windows, overlapping ones merged. The story
// tells them (cut off, then reachable again), and the timeline and the
// history page draw them.
func (f *Facts) CutSpans(inst int32) []Span {
	var out []Span
	for _, w := range f.Windows {
		if w.Inst != inst {
			continue
		}
		if n := len(out); n > 0 && (out[n-1].EndRec < 0 || out[n-1].EndRec > w.Rec) {
			last := &out[n-1]
			if last.EndRec >= 0 && (w.EndRec < 0 || w.EndRec > last.EndRec) {
				last.To, last.EndRec = w.To, w.EndRec
			}
			continue
		}
		out = append(out, Span{From: w.From, To: w.To, Rec: w.Rec, EndRec: w.EndRec})
	}
	for k := range out {
		if out[k].EndRec < 0 {
			out[k].To = f.End
		}
	}
	return out
}

// OutageSpans are the stretches in which Redis refused calls after a data
// loss.
func (f *Facts) OutageSpans() []Span {
	var out []Span
	for _, o := range f.Outages {
		s := Span{From: o.At, To: o.Up, Rec: o.Rec, EndRec: o.UpRec}
		if o.UpRec < 0 {
			s.To = f.End
		}
		out = append(out, s)
	}
	return out
}

// Remembers reports whether instance inst's memory holds event ev at
// record i.
func (f *Facts) Remembers(inst int32, ev uint32, i int) bool {
	for _, m := range f.Memory {
		if m.Inst == inst && m.Event == ev && m.Rec <= i && (m.EndRec < 0 || m.EndRec > i) {
			return true
		}
	}
	return false
}

// Remembered lists the events instance inst's memory holds at record i.
func (f *Facts) Remembered(inst int32, i int) []uint32 {
	var ids []uint32
	for _, m := range f.Memory {
		if m.Inst == inst && m.Rec <= i && (m.EndRec < 0 || m.EndRec > i) && !slices.Contains(ids, m.Event) {
			ids = append(ids, m.Event)
		}
	}
	slices.Sort(ids)
	return ids
}

// Live reports whether key value k is in Redis at record i, at time t
// (a key expires on the clock, between records).
func (f *Facts) Live(k int, i int, t int64) bool {
	key := &f.Keys[k]
	return key.Rec <= i && (key.EndRec < 0 || key.EndRec > i) && key.Expires > t
}

// Expiry is when key value k expired, or -1 if it did not: a later write
// or a data loss ended it first, or the run ended first.
func (f *Facts) Expiry(k int) int64 {
	key := &f.Keys[k]
	if key.TTL == 0 || key.Expires > f.End {
		return -1
	}
	if key.EndRec >= 0 && f.Trace[key.EndRec].At <= key.Expires {
		return -1
	}
	return key.Expires
}

// End is when the record that ended key value k before it expired took
// place (a later write, a DEL, a data loss), -1 if none did.
func (k *Key) End(f *Facts) int64 {
	if k.EndRec < 0 {
		return -1
	}
	return f.Trace[k.EndRec].At
}

// Ledger is how often event ev's effect is in the ledger at record i.
func (f *Facts) Ledger(ev uint32, i int) int {
	n := 0
	for _, a := range f.Events[ev].Applications {
		if a.Rec <= i {
			n++
		}
	}
	return n
}

// IDCommitted reports whether event ev's id is committed in the
// processed-ids table at record i: its latest committed insert or delete
// by then is an insert.
func (f *Facts) IDCommitted(ev uint32, i int) bool {
	last, in := -1, false
	for _, id := range f.Events[ev].IDCommits {
		if r := f.Txs[id].EndRec; r <= i && r > last {
			last, in = r, true
		}
	}
	for _, id := range f.Events[ev].IDDeletes {
		if r := f.Txs[id].EndRec; r <= i && r > last {
			last, in = r, false
		}
	}
	return in
}

// AttemptOf is the attempt that applied a, -1 if none is known.
func (f *Facts) AttemptOf(a Application) int {
	if a.Call != 0 {
		return f.Calls[a.Call].Attempt // a charge
	}
	return f.Txs[a.Tx].Attempt
}

// Deadline is how long message msg waited for an ack before the broker
// put it back, by its first requeue after a deadline; 0 if it never was.
func (f *Facts) Deadline(msg uint32) time.Duration {
	for _, r := range f.Requeues {
		if r.Msg == msg && r.Cause == run.DeadlinePassed && r.Delivery >= 0 {
			return time.Duration(r.At - f.Deliveries[r.Delivery].At)
		}
	}
	return 0
}

// AckDeadline is the broker's ack deadline, as the run shows it: how long
// a message waited before its first requeue after a deadline; 0 if no
// deadline passed in the run.
func (f *Facts) AckDeadline() time.Duration {
	for _, r := range f.Requeues {
		if r.Cause == run.DeadlinePassed && r.Delivery >= 0 {
			return time.Duration(r.At - f.Deliveries[r.Delivery].At)
		}
	}
	return 0
}

// StalledAt is the stall of instance inst under way at time t, nil if none.
func (f *Facts) StalledAt(inst int32, t int64) *Stall {
	for k := range f.Stalls {
		if s := &f.Stalls[k]; s.Inst == inst && s.At <= t && t < s.At+s.Dur {
			return s
		}
	}
	return nil
}

// Holds reports whether transaction t's statements include an accepted op
// about event ev: run.Insert or run.Apply.
func (t *Tx) Holds(op run.Op, ev uint32) bool {
	list := t.Applied
	if op == run.Insert {
		list = t.Inserted
	}
	return slices.Contains(list, ev)
}

// AppliedTo returns the event whose effect t applied to account acct,
// which is why it holds that row's lock; 0 if none.
func (f *Facts) AppliedTo(t *Tx, acct int) uint32 {
	for _, ev := range t.Applied {
		if f.Events[ev].Account == acct {
			return ev
		}
	}
	return 0
}

// WaitingAt is the park call c was waiting in at record i (parked and
// not yet served), nil if it was not waiting for a lock then.
func (c *Call) WaitingAt(i int) *Park {
	if i < 0 || c.ServeRec >= 0 && c.ServeRec <= i {
		return nil
	}
	var p *Park
	for k := range c.Parks {
		if c.Parks[k].Rec <= i {
			p = &c.Parks[k]
		}
	}
	return p
}

// LastRecord is the time of the last record before the run's heal and
// end: the timeline stops there.
func (f *Facts) LastRecord() int64 {
	var last int64
	for _, r := range f.Trace {
		if r.Kind != run.Heal && r.Kind != run.End {
			last = r.At
		}
	}
	return last
}
