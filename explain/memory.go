package explain

import (
	"fmt"
	"sort"

	"github.com/idemsim/idemsim/run"
)

// An instance's own memory (strategies.Memory) is no store, but its calls
// are recorded (run.Memory): where a run's trace has them, the story tells
// what a handler's memory held from them, as facts, each with the record
// it comes from (ClaimMemCall, ClaimMemHeld, ClaimMemNone). A lookup right
// after a receive is told with the receive ("receives m2 (event 1) and
// looks in its cache: event 1 is not there"), an Add or a Remove right
// before the handler returns with the return; any other call is a step of
// its own. A strategy whose memory is of its own, which the trace does not
// show, is told by its description's rule (Teaching.Remembers) or, without
// one, only by what its handlers did.

// memKnown reports whether the story may say what the memory holds: the
// trace records it, or the description's rule says when it is written.
func (n *narrator) memKnown() bool { return n.memRec || n.memRule }

// memHeldClaim states whether inst's memory held ev just after record i:
// by its recorded calls, or by the description's rule.
func (n *narrator) memHeldClaim(i int, inst int32, ev uint32) Claim {
	c := claim(ClaimMemory)
	if n.memRec {
		c.Kind = ClaimMemHeld
	}
	c.Rec, c.Inst, c.Event, c.Yes = i, inst, ev, n.f.Remembers(inst, ev, i)
	return c
}

// memCallClaim states memory call m, as the trace records it.
func memCallClaim(m *MemCall) Claim {
	c := claim(ClaimMemCall)
	c.Rec, c.Inst, c.Event, c.Op, c.Yes = m.Rec, m.Inst, m.Event, m.Op, m.Yes
	return c
}

// memNoneClaim states that inst made no memory call op about ev before
// record before, in the attempt that began at rec (-1: at all).
func memNoneClaim(rec int, inst int32, ev uint32, op run.Op, before int) Claim {
	c := claim(ClaimMemNone)
	c.Rec, c.Inst, c.Event, c.Op, c.N = rec, inst, ev, op, before
	return c
}

// memCallAt is the memory call of record i, nil if it is none (or about
// an id that is no event of the run).
func (f *Facts) memCallAt(i int) *MemCall {
	k := sort.Search(len(f.MemCalls), func(k int) bool { return f.MemCalls[k].Rec >= i })
	if k < len(f.MemCalls) && f.MemCalls[k].Rec == i {
		return &f.MemCalls[k]
	}
	return nil
}

// nextOf is the index of instance inst's first record after record i,
// -1 if none; prevOf of its last record before i.
func (f *Facts) nextOf(inst int32, i int) int {
	for j := i + 1; j < len(f.Trace); j++ {
		if f.Trace[j].Inst == inst {
			return j
		}
	}
	return -1
}

func (f *Facts) prevOf(inst int32, i int) int {
	for j := i - 1; j >= 0; j-- {
		if f.Trace[j].Inst == inst {
			return j
		}
	}
	return -1
}

// lookupAfter is the lookup of ev that instance inst made right after
// receive record i, with nothing of its own between, nil if none.
func (n *narrator) lookupAfter(inst int32, ev uint32, i int) *MemCall {
	if !n.memRec {
		return nil
	}
	j := n.f.nextOf(inst, i)
	if j < 0 {
		return nil
	}
	if m := n.f.memCallAt(j); m != nil && m.Op == run.MemHas && m.Event == ev {
		return m
	}
	return nil
}

// writeBefore is the Add or Remove of ev that instance inst made right
// before its handler returned at record i, nil if none.
func (n *narrator) writeBefore(inst int32, ev uint32, i int) *MemCall {
	if !n.memRec {
		return nil
	}
	j := n.f.prevOf(inst, i)
	if j < 0 {
		return nil
	}
	if m := n.f.memCallAt(j); m != nil && m.Op != run.MemHas && m.Event == ev {
		return m
	}
	return nil
}

// toldWithNeighbour reports whether memory call m is told with the
// receive before it or the return after it.
func (n *narrator) toldWithNeighbour(m *MemCall) bool {
	f := n.f
	if m.Op == run.MemHas {
		j := f.prevOf(m.Inst, m.Rec)
		return j >= 0 && f.Trace[j].Kind == run.Receive && f.Trace[j].Event == m.Event
	}
	j := f.nextOf(m.Inst, m.Rec)
	return j >= 0 && f.Trace[j].Kind == run.Handled && f.Trace[j].Event == m.Event
}

// memCall tells memory call i, unless a neighbouring step tells it.
func (n *narrator) memCall(i int) {
	m := n.f.memCallAt(i)
	if m == nil || n.toldWithNeighbour(m) {
		return
	}
	n.claim(memCallClaim(m))
	n.say(i, m.Inst, n.memCallText(m), true)
}

// memCallText says what memory call m did, as "looks in its cache: event
// 1 is not there".
func (n *narrator) memCallText(m *MemCall) string {
	mem := n.w.memory()
	switch m.Op {
	case run.MemHas:
		if m.Yes {
			return fmt.Sprintf("looks in its %s: event %d is there", mem, m.Event)
		}
		return fmt.Sprintf("looks in its %s: event %d is not there", mem, m.Event)
	case run.MemAdd:
		if m.Yes {
			return fmt.Sprintf("puts event %d in its %s", m.Event, mem)
		}
		return fmt.Sprintf("puts event %d in its %s, which held it already", m.Event, mem)
	}
	if m.Yes {
		return fmt.Sprintf("takes event %d out of its %s", m.Event, mem)
	}
	return fmt.Sprintf("takes event %d out of its %s, which did not hold it", m.Event, mem)
}

// lastLookup is the last lookup of ev that attempt k made before record
// before, nil if none.
func (n *narrator) lastLookup(k int, ev uint32, before int) *MemCall {
	if k < 0 {
		return nil
	}
	var last *MemCall
	for _, j := range n.f.Attempts[k].Mem {
		if m := &n.f.MemCalls[j]; m.Op == run.MemHas && m.Event == ev && m.Rec < before {
			last = m
		}
	}
	return last
}

// heldBefore is the last time instance inst's memory took ev in before
// record i (an Add that changed it), and what took it out (the Remove or
// crash record), -1 if it was still in; nil if it never held it.
func (n *narrator) heldBefore(inst int32, ev uint32, i int) (in *MemCall, outRec int) {
	f := n.f
	for k := range f.Memory {
		if m := &f.Memory[k]; m.Inst == inst && m.Event == ev && m.Rec < i {
			in, outRec = f.memCallAt(m.Rec), m.EndRec
		}
	}
	return in, outRec
}

// dupRecorded explains a duplicate of a strategy whose memory the trace
// records, by what the lookup of the handler that applied the effect a
// second time found, and why: the instance had never held the event, a
// crash or a Remove had taken it out, or the handler did not look.
func (n *narrator) dupRecorded(d *dup) (string, string, string) {
	f, w, id := n.f, n.w, n.focus
	A, B := d.p.Inst, d.q.Inst
	mem := w.memory()
	second := &f.Attempts[d.second]
	again := "and it applied the effect a second time"
	look := n.lastLookup(d.second, id, d.q.Rec)
	if look == nil {
		n.claim(memNoneClaim(second.Rec, B, id, run.MemHas, d.q.Rec))
		return "", "", fmt.Sprintf("Instance %d's handler applied the effect a second time without looking in its %s for event %d. %s", B, mem, id, n.came(d))
	}
	n.claim(memCallClaim(look))
	if look.Yes {
		return "", "", fmt.Sprintf("Instance %d's %s held event %d when it looked, at %s, and its handler applied the effect a second time all the same. %s", B, mem, id, at(look.At), n.came(d))
	}
	missed := fmt.Sprintf("its %s did not hold event %d when it looked, at %s", mem, id, at(look.At))
	in, out := n.heldBefore(B, id, look.Rec)
	if in == nil {
		ever, _ := n.memoryBefore(B, second.Rec)
		n.claim(memNoneClaim(-1, B, id, run.MemAdd, look.Rec))
		if len(ever) == 0 {
			n.claim(n.handledClaim(B, second.Rec, 0, true))
			already := ""
			if look.At > d.p.At {
				dc := appliedClaim(id, d.p)
				dc.Dur = look.At - d.p.At
				n.claim(dc)
				already = fmt.Sprintf(", though instance %d had applied it %.3f ms earlier", A, ms(dc.Dur))
			}
			body := fmt.Sprintf("Instance %d had never seen event %d: %s%s, %s. %s", B, id, missed, already, again, n.came(d))
			if A == B {
				return "unseen", "", body
			}
			return "unseen", "{strategy} keeps what it handled in instance {first}'s memory, which no other instance can read.", body
		}
		// It had handled the event, but never put it in its memory.
		prev := &f.Attempts[ever[len(ever)-1]]
		n.claim(n.handledClaim(B, second.Rec, len(ever), true), outcomeClaim(prev))
		what := returned(prev.Outcome)
		if prev.EndRec < 0 {
			what = "never returned"
		}
		if fl := n.failureOf(ever[len(ever)-1]); fl != nil {
			n.claim(fl.claims...)
			what = fl.what
		}
		return "unremembered", "", fmt.Sprintf("Instance %d had handled event %d before (m%d at %s, whose handler %s), but never put it in its %s: %s, %s. %s",
			B, id, prev.Msg, at(prev.At), what, mem, missed, again, n.came(d))
	}
	n.claim(memCallClaim(in))
	if out >= 0 && f.Trace[out].Kind != run.Memory {
		// A crash, a graceful leave or a restart emptied it.
		_, ended := n.processEnd(B, out-1, out+1)
		return "forgotten", "", fmt.Sprintf("Instance %d had put event %d in its %s at %s, but %s: %s, %s. %s",
			B, id, mem, at(in.At), ended, missed, again, n.came(d))
	}
	// A Remove took it out.
	rm := f.memCallAt(out)
	n.claim(memCallClaim(rm))
	return "", "", fmt.Sprintf("Instance %d had put event %d in its %s at %s, and took it out at %s: %s, %s. %s",
		B, id, mem, at(in.At), at(rm.At), missed, again, n.came(d))
}

// skipRecorded says, of attempt a that skipped without asking any store,
// what its memory held when it looked, from the records: "" if it did
// not look.
func (n *narrator) skipRecorded(a *Attempt, k int) string {
	look := n.lastLookup(k, a.Event, a.EndRec)
	if !n.memRec || look == nil || !look.Yes {
		return ""
	}
	n.claim(memCallClaim(look))
	s := fmt.Sprintf("its %s held event %d when it looked, at %s", n.w.memory(), a.Event, at(look.At))
	if in, _ := n.heldBefore(a.Inst, a.Event, look.Rec); in != nil {
		n.claim(memCallClaim(in))
		s += fmt.Sprintf(" (instance %d had put it there at %s)", in.Inst, at(in.At))
	}
	return s
}
