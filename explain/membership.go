package explain

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/idemsim/idemsim/run"
)

// Instances that come and go: the rebalance fault's graceful leaves and
// returns and its late start (a scale-out), and the zombie fault's pause
// of a whole instance. Each is told as its records show it, on any
// broker; what a broker model does about it (the queue takes back what
// the instance held, the log rebalances) is told from the broker's own
// records.

// leaveClaim states leave l.
func leaveClaim(l *Leave) Claim {
	c := claim(ClaimLeave)
	if l == nil {
		return c
	}
	c.Rec, c.Inst, c.Yes = l.Rec, l.Inst, l.Stops()
	return c
}

// stallClaim states stall s: a slow handler's, or a pause of the whole
// instance.
func stallClaim(s *Stall) Claim {
	c := claim(ClaimStall)
	c.Rec, c.Inst, c.Msg, c.Dur, c.Yes = s.Rec, s.Inst, s.Msg, s.Dur, s.Paused
	return c
}

// stallWords says what stall s was, as "stalled for 2.5 s (slow)" or
// "paused whole for 7.2 s (zombie)".
func stallWords(s *Stall) string {
	return fmt.Sprintf("%s for %s (%s)", stalledWord(s), durWords(roundMS(s.Dur)), map[bool]string{false: "slow", true: "zombie"}[s.Paused])
}

// stalledWord is "stalled", or "paused whole" for a pause.
func stalledWord(s *Stall) string {
	if s.Paused {
		return "paused whole"
	}
	return "stalled"
}

// processEnd is what ended instance inst's process between records from
// and to (exclusive): its first crash or graceful leave there, claimed,
// and the words for it and for its restart ("it crashed at ... and
// restarted with empty memory"); a restart alone if the trace shows only
// that.
func (n *narrator) processEnd(inst int32, from, to int) (int, string) {
	f := n.f
	for j := from + 1; j < to && j < len(f.Trace); j++ {
		r := &f.Trace[j]
		if r.Inst != inst {
			continue
		}
		switch {
		case r.Kind == run.Crash:
			cr := n.crashOf(inst, j)
			n.claim(crashClaim(cr))
			return j, fmt.Sprintf("it crashed at %s and restarted with empty memory", at(r.At))
		case r.Kind == run.Leave && r.Cause == run.Graceful:
			l := f.LeaveAt(j)
			n.claim(leaveClaim(l))
			if l.RestartRec >= 0 {
				n.claim(restartClaim(l.RestartRec, inst))
				return j, fmt.Sprintf("it left gracefully at %s (a rebalance) and came back at %s as a new process, with empty memory", at(r.At), at(l.Restart))
			}
			return j, fmt.Sprintf("it left gracefully at %s (a rebalance), and its process with it", at(r.At))
		case r.Kind == run.Restart:
			n.claim(restartClaim(j, inst))
			return j, fmt.Sprintf("it restarted at %s as a new process, with empty memory", at(r.At))
		}
	}
	return from, "it restarted with empty memory"
}

// restartClaim states that inst restarted at record i.
func restartClaim(i int, inst int32) Claim {
	c := claim(ClaimRestart)
	c.Rec, c.Inst = i, inst
	return c
}

// leave tells instance r.Inst leaving, if it matters to the story: it
// had handled the focus event (its memory may have held it), or it was
// sent or handled the event within the story. Its return is told with
// it.
func (n *narrator) leave(i int, r *run.Record) {
	l := n.f.LeaveAt(i)
	if l == nil || r.Inst < 0 {
		return
	}
	inst := r.Inst
	if !l.Stops() {
		if n.inSpan(r.At) && n.ev.Insts&(1<<inst) != 0 {
			n.claim(leaveClaim(l))
			n.say(i, inst, "leaves the group: it did not poll within the max-poll interval (it keeps running)", false)
		}
		return
	}
	held := n.memory && n.handledSinceRestart(inst, i)
	n.leftTold[inst] = held || n.inSpan(r.At) && n.ev.Insts&(1<<inst) != 0
	if !n.leftTold[inst] {
		return
	}
	n.claim(leaveClaim(l))
	text := "stops gracefully (a rebalance): it finishes what it was handling, and leaves"
	if n.f.Group != nil {
		text += " the group, which rebalances"
	}
	if n.memory {
		text += fmt.Sprintf(": what it kept in its %s is gone", n.w.memory())
	}
	if l.RestartRec >= 0 {
		n.claim(restartClaim(l.RestartRec, inst))
		text += "; it will come back later, as a new process"
	}
	n.say(i, inst, text, n.memKnown())
}

// comeBack tells the return, as a new process, of an instance whose
// graceful leave the story told.
func (n *narrator) comeBack(i int, r *run.Record) {
	n.leftTold[r.Inst] = false
	n.claim(restartClaim(i, r.Inst))
	text := "comes back as a new process, with empty memory"
	if n.memory && n.w.memory() != "memory" {
		text += fmt.Sprintf(": its %s is empty", n.w.memory())
	}
	n.say(i, r.Inst, text, n.memKnown())
}

// lateStart is the scale-out's late start, if the story should tell it:
// the late instance had a part in the focus event's story; nil if not.
func (n *narrator) lateStart() *LateStart {
	l := n.f.Late
	if l == nil || n.ev.Insts&(1<<l.Inst) == 0 || !n.inSpan(l.At) {
		return nil
	}
	return l
}

// tellLateStart tells instance l.Inst starting late, as a step between
// records (the trace records no start), with the state after record
// after.
func (n *narrator) tellLateStart(l *LateStart, after int) {
	c := claim(ClaimLateStart)
	c.Inst, c.At = l.Inst, l.At
	n.claim(c)
	n.add(-1, after, l.At, l.Inst, fmt.Sprintf("instance %d", l.Inst),
		"starts, later than the others (a scale-out): a new consumer joins with empty memory", n.memKnown())
}

// pause tells a whole instance pausing (zombie), if it held the focus
// event, or a delivery of it waited in its inbox meanwhile: no progress,
// no heartbeat, and what its broker makes of the silence.
func (n *narrator) pause(i int, r *run.Record) {
	f := n.f
	var s *Stall
	for k := range f.Stalls {
		if f.Stalls[k].Rec == i {
			s = &f.Stalls[k]
		}
	}
	if s == nil || !n.inSpan(r.At) || r.Event != n.focus && !n.waitedThrough(s) {
		return
	}
	n.claim(stallClaim(s))
	text := fmt.Sprintf("pauses whole for %s (zombie): no progress, no heartbeat", durWords(roundMS(s.Dur)))
	if d := f.AckDeadline(); r.Msg != 0 && d > 0 && time.Duration(s.Dur) > d {
		dc := claim(ClaimDeadline)
		dc.Dur = int64(d)
		n.claim(dc)
		text += fmt.Sprintf(", longer than m%d's %s ack deadline: it holds m%d all the while", r.Msg, durWords(d), r.Msg)
	}
	if q := n.closesChannel(i); q != nil {
		cc := claim(ClaimChannelClosed)
		cc.Rec, cc.Msg, cc.Inst, cc.N = q.Rec, q.Msg, q.Inst, i
		n.claim(cc)
		text += "; the broker hears nothing from it and closes its channel"
	}
	n.say(i, r.Inst, text, false)
	n.resumes = append(n.resumes, s)
	slices.SortStableFunc(n.resumes, func(a, b *Stall) int { return cmp.Compare(a.At+a.Dur, b.At+b.Dur) })
}

// tellResume tells a told pause ending, as a step between records (the
// trace records no resume), with the state after record after.
func (n *narrator) tellResume(s *Stall, after int) {
	n.claim(stallClaim(s))
	text := "resumes where it paused, as if no time had passed"
	if s.Msg != 0 {
		text = fmt.Sprintf("resumes where it paused, as if no time had passed: it goes on handling m%d", s.Msg)
	}
	n.add(-1, after, s.At+s.Dur, s.Inst, fmt.Sprintf("instance %d", s.Inst), text, false)
}

// waitedThrough reports whether a delivery of the focus event to pause
// s's instance waited through the pause: sent before it ended, and not
// taken up before it began.
func (n *narrator) waitedThrough(s *Stall) bool {
	f := n.f
	end := s.At + s.Dur
	for _, m := range n.ev.Copies {
		for _, k := range f.Messages[m].Deliveries {
			d := &f.Deliveries[k]
			if d.Inst != s.Inst || d.DropRec >= 0 || d.At >= end {
				continue
			}
			if d.Attempt < 0 || f.Attempts[d.Attempt].At >= s.At {
				return true
			}
		}
	}
	return false
}
