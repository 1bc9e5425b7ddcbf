package explain

import (
	"math"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// analysis is a run's facts and the event whose violation the story
// tells: its kind, when it was sealed, and which faults of the run's set
// play a part in it.
type analysis struct {
	cfg      run.Config
	facts    *Facts
	strategy strategies.Strategy
	focus    uint32
	kind     Kind  // the focus event's violation
	cut      int64 // when it is sealed: the story ends there
	involved []faults.Fault
	// allInvolved reports whether every fault of the run's set plays a
	// part in the focus event's story.
	allInvolved bool
	// decisions are the run's fault decisions that struck
	// (Result.Decisions), when the teller knows them: the note says from
	// them which faults struck at all.
	decisions []faults.Decision
	told      *Story
}

// analyze derives the facts of trace, the run of cfg, and picks the event
// to tell: one that shows a violation of kind (any kind if none does),
// preferring one in which the most faults of cfg.Faults play a part.
func analyze(cfg run.Config, trace []run.Record, kind Kind) *analysis {
	f := NewFacts(cfg, trace)
	st, _ := strategies.Lookup(cfg.Strategy)
	a := &analysis{cfg: f.Config, facts: f, strategy: st, cut: math.MaxInt64}
	var candidates []uint32
	for id := uint32(1); int(id) < len(f.Events); id++ {
		if a.kindOf(id) == kind {
			candidates = append(candidates, id)
		}
	}
	if len(candidates) == 0 {
		for id := uint32(1); int(id) < len(f.Events); id++ {
			if a.kindOf(id) != NoViolation {
				candidates = append(candidates, id)
			}
		}
	}
	if len(candidates) == 0 && len(f.Events) > 1 && f.Events[1].FirstRec >= 0 {
		candidates = []uint32{1}
	}
	for i, id := range candidates {
		inv, all := a.involvement(id)
		if i == 0 || len(inv) > len(a.involved) {
			a.focus, a.involved, a.allInvolved = id, inv, all
		}
		if all {
			break
		}
	}
	a.kind = a.kindOf(a.focus)
	if a.focus != 0 {
		a.cut = a.cutoff(a.focus)
	}
	return a
}

// kindOf is the violation event id shows, by the facts' ledger and acks.
func (a *analysis) kindOf(id uint32) Kind {
	e := a.facts.Event(id)
	if e == nil {
		return NoViolation
	}
	switch n := len(e.Applications); {
	case n > 1:
		return Duplicate
	case e.Refused:
		// Dead: refused to a dead-letter queue, surfaced, not lost.
		return NoViolation
	case n == 0 && e.Done:
		return Lost
	}
	if k := a.downKind(id); k != NoViolation {
		return k
	}
	if !e.Settled {
		return Stuck
	}
	return NoViolation
}

// cutoff is when event id's violation is sealed: for a duplicate, when the
// attempt that applied it a second time is over (its ack in, or lost, or
// held back by a stall or a crash); for a lost event, when the broker took the ack that made it
// done. The story ends there: what follows cannot undo it. A stuck event
// has no cutoff.
func (a *analysis) cutoff(id uint32) int64 {
	f := a.facts
	e := f.Event(id)
	switch a.kindOf(id) {
	case Duplicate:
		q := e.Applications[1]
		end := q.At
		if k := f.AttemptOf(q); k >= 0 {
			att := &f.Attempts[k]
			end = max(end, att.End)
			// Its ack, if it went out as the handler returned (not after
			// a stall) and arrived.
			if att.Ack >= 0 && f.Acks[att.Ack].At == att.End && f.Acks[att.Ack].AcceptedRec >= 0 {
				end = max(end, f.Acks[att.Ack].Accepted)
			}
		}
		if f.Group != nil {
			// On the log, a zombie's commit that the broker fenced,
			// after its effect landed, is part of the lesson.
			end = max(end, f.fencedAfterApplying(e))
		}
		return end
	case Lost:
		return a.firstAck(e).AckedAt
	case Ghost:
		return a.firstGhost(id).At
	}
	return math.MaxInt64
}

// firstAck is the copy of e whose ack the broker accepted first.
func (a *analysis) firstAck(e *Event) *Message {
	var first *Message
	for _, m := range e.Copies {
		if msg := &a.facts.Messages[m]; msg.AckedRec >= 0 && (first == nil || msg.AckedRec < first.AckedRec) {
			first = msg
		}
	}
	return first
}

// lateCopy is how long after an event's first copy another must come to be
// a late copy (the ttl fault's, seconds later) rather than a second copy
// sent at once (redeliver's, within milliseconds).
const lateCopy = int64(time.Second)

// involvement lists the faults of the run's set that play a part in event
// id's story before its violation is sealed, and reports whether all of
// them do.
func (a *analysis) involvement(id uint32) ([]faults.Fault, bool) {
	f := a.facts
	e := f.Event(id)
	cut := a.cutoff(id)
	cutRec := len(f.Trace)
	for i, r := range f.Trace {
		if r.At > cut {
			cutRec = i
			break
		}
	}
	before := func(rec int) bool { return rec >= 0 && rec < cutRec }
	var played faults.Set
	mark := func(fl faults.Fault, ok bool) {
		if ok {
			played |= faults.Of(fl)
		}
	}
	// The copies whose handling applied the event: a second or late copy.
	for _, ap := range e.Applications {
		k := f.AttemptOf(ap)
		if k < 0 || !before(ap.Rec) {
			continue
		}
		if m := f.Messages[f.Attempts[k].Msg]; m.Copy > 0 {
			first := f.Messages[e.Copies[0]]
			late := m.At-first.At >= lateCopy
			mark(faults.Redeliver, !late)
			// Late copies are ttl's, or key-expiry's where ttl is not
			// in the scenario (run.NewWorkload).
			lateFault := faults.TTL
			if !a.cfg.Faults.Has(faults.TTL) && a.cfg.Faults.Has(faults.KeyExpiry) {
				lateFault = faults.KeyExpiry
			}
			mark(lateFault, late)
		}
	}
	// Two charges with one idempotency key, the second answered as new:
	// the provider no longer kept the key, which under key-expiry is the
	// fault's part (its retention is 24 h otherwise).
	if a.cfg.Faults.Has(faults.KeyExpiry) && len(e.Applications) > 1 {
		if c1, c2 := e.Applications[0].Call, e.Applications[1].Call; c1 != 0 && c2 != 0 && before(e.Applications[1].Rec) {
			mark(faults.KeyExpiry, f.Calls[c1].Key != "" && f.Calls[c1].Key == f.Calls[c2].Key)
		}
	}
	// An event under another's id, or whose id another took.
	mark(faults.IDReuse, e.ReusedID != 0 || len(e.Twins) > 0)
	for _, c := range f.Crashes {
		mark(faults.Crash, c.Event == id && before(c.Rec))
	}
	if a.strategy.Memory || f.MemoryRecorded {
		// A crash emptied a memory that may have held the event: that of
		// an instance that had handled it.
		for _, c := range f.Crashes {
			handled := false
			for _, k := range e.Attempts {
				handled = handled || f.Attempts[k].Inst == c.Inst && f.Attempts[k].Rec < c.Rec
			}
			mark(faults.Crash, handled && before(c.Rec))
		}
	}
	for _, d := range f.Deliveries {
		if d.DropRec >= 0 && f.Messages[d.Msg].Event == id && before(d.DropRec) {
			mark(faults.Partition, f.CutAt(d.Inst, d.DropRec)&run.Broker != 0)
			mark(faults.Crash, f.DownWhy(d.Inst, d.DropRec) == run.Crash)
			mark(faults.Rebalance, f.DownWhy(d.Inst, d.DropRec) == run.Leave)
		}
	}
	for _, ack := range f.Acks {
		mark(faults.Partition, ack.Event == id && ack.Cut && before(ack.LostRec))
	}
	for _, s := range f.Stalls {
		mark(faults.Slow, s.Event == id && before(s.Rec) && !s.Paused)
		mark(faults.Zombie, s.Event == id && before(s.Rec) && s.Paused)
	}
	// A graceful leave emptied a memory that may have held the event, or
	// the second application came from the instance a scale-out started
	// late.
	if a.strategy.Memory || f.MemoryRecorded {
		for _, l := range f.Leaves {
			handled := false
			for _, k := range e.Attempts {
				handled = handled || f.Attempts[k].Inst == l.Inst && f.Attempts[k].Rec < l.Rec
			}
			mark(faults.Rebalance, l.Stops() && handled && before(l.Rec))
		}
	}
	if f.Late != nil && len(e.Applications) > 1 {
		for _, ap := range e.Applications[1:] {
			mark(faults.Rebalance, ap.Inst == f.Late.Inst && before(ap.Rec))
		}
	}
	for k := 1; k < len(f.Calls); k++ {
		c := &f.Calls[k]
		if c.Event != id {
			continue
		}
		for _, h := range c.Holds {
			mark(faults.Partition, before(h.Rec))
		}
		mark(faults.StoreLoss, c.Answer == run.Refused && before(c.ServeRec))
		// A lock held by a transaction whose instance stalled, was cut
		// off or crashed.
		lock := func(holder uint32, rec int) {
			if !before(rec) {
				return
			}
			switch a.holderState(holder, rec) {
			case holderStalled:
				s := f.StalledAt(f.Txs[holder].Inst, f.Trace[rec].At)
				mark(faults.Zombie, s != nil && s.Paused)
				mark(faults.Slow, s == nil || !s.Paused)
			case holderLeft:
				mark(faults.Rebalance, true)
			case holderCut:
				mark(faults.Partition, true)
			case holderCrashed:
				mark(faults.Crash, true)
			}
		}
		for _, p := range c.Parks {
			lock(p.Holder, p.Rec)
		}
		if p := c.WaitingAt(c.TimeoutRec); p != nil {
			lock(p.Holder, c.TimeoutRec)
		}
	}
	// A key that expired plays the ttl fault's part if its TTL is the one
	// the fault drew (not, say, a lease's).
	var ttl int64
	if a.cfg.MarkTTL == 0 {
		ttl = int64(faults.Draw(a.cfg.Faults, a.cfg.Seed).MarkTTL)
	}
	for _, k := range e.Keys {
		key := &f.Keys[k]
		mark(faults.StoreLoss, key.Lost >= 0 && before(key.EndRec))
		if exp := f.Expiry(k); exp >= 0 && ttl > 0 && key.TTL == ttl && len(e.Applications) > 1 && exp < e.Applications[1].At {
			mark(faults.TTL, true)
		}
	}
	if f.Group != nil {
		// On the log, a move of the event's partition that a graceful
		// leave or a (late or returning) join set off is the
		// rebalance fault's part; one an eviction set off is the
		// crash's, the zombie's or the partition's, told by theirs.
		for _, fl := range f.groupMoves(e, cutRec) {
			mark(fl, true)
		}
	}
	var inv []faults.Fault
	all := true
	for _, fl := range a.cfg.Faults.Faults() {
		if played.Has(fl) {
			inv = append(inv, fl)
		} else {
			all = false
		}
	}
	return inv, all
}

// holderState says why transaction id, which holds a lock another call
// waits for at record i, does not end: its client crashed or gave up on
// it and the database has not noticed yet, or its instance stalled, or is
// cut off from the database.
func (a *analysis) holderState(id uint32, i int) holderWhy {
	f := a.facts
	t := &f.Txs[id]
	at := f.Trace[i].At
	switch {
	case t.Dropped == DropCrash && t.DroppedRec <= i:
		return holderCrashed
	case t.Dropped == DropTimeout && t.DroppedRec <= i:
		return holderGaveUp
	case t.Dropped == DropLeave && t.DroppedRec <= i:
		return holderLeft
	case f.StalledAt(t.Inst, at) != nil:
		return holderStalled
	case f.CutAt(t.Inst, i)&run.Database != 0:
		return holderCut
	}
	return holderBusy
}

// holderWhy is why a transaction holding a lock does not end.
type holderWhy uint8

const (
	holderBusy    holderWhy = iota // none of the below: it is on its way
	holderCrashed                  // its instance crashed, and the database has not noticed
	holderGaveUp                   // its instance gave up on it, and the database has not noticed
	holderStalled                  // its instance stalled before committing it
	holderCut                      // its instance is cut off from the database
	holderLeft                     // its instance left gracefully, and the database has not noticed
)
