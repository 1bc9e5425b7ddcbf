package explain

import (
	"fmt"
	"strings"
	"time"

	"github.com/idemsim/idemsim/run"
)

// violation says what went wrong with the focus event.
func (n *narrator) violation() string {
	e, f := n.ev, n.f
	if e == nil {
		return "none: exactly-once held"
	}
	switch n.a.kind {
	case Duplicate:
		var by []string
		for _, ap := range e.Applications {
			by = append(by, fmt.Sprintf("by instance %d at %s", ap.Inst, at(ap.At)))
		}
		c := len(e.Applications)
		return fmt.Sprintf("event %d was %s (%s): %s.", e.ID, times(c), strings.Join(by, ", "), plural(c-1, "duplicate"))
	case Lost:
		m := n.a.firstAck(e)
		return fmt.Sprintf("event %d is lost: the broker considers it done (instance %d's ack reached it at %s), but its effect was never applied.", e.ID, m.AckedBy, at(m.AckedAt))
	case Stuck:
		var open []string
		for _, m := range e.Copies {
			if f.Messages[m].AckedRec < 0 {
				open = append(open, fmt.Sprintf("m%d", m))
			}
		}
		when := "when the run ended"
		if f.Heal >= 0 {
			when += ", " + durWords(roundMS(f.End-f.Heal)) + " after the faults healed"
		}
		return fmt.Sprintf("event %d never settled: %s still had no ack %s.", e.ID, strings.Join(open, ", "), when)
	}
	return fmt.Sprintf("none: event %d was applied exactly once.", e.ID)
}

// why says why the strategy let the focus event's violation through: the
// strategy's own lead, if its description gives one for the situation,
// then what the run shows.
func (n *narrator) why() string {
	if n.ev == nil {
		return "nothing went wrong."
	}
	switch n.a.kind {
	case Duplicate:
		return n.whyDuplicate()
	case Lost:
		return n.whyLost()
	case Stuck:
		lead := n.w.why(Stuck, "", fills{event: n.focus})
		return sentences(lead, fmt.Sprintf("The broker never got an ack of event %d's last delivery: every attempt failed or was cut off, and the liveness bound ran out.", n.focus))
	}
	return "exactly-once held."
}

// sentences joins a lead and what follows it. Without a lead, or after
// a lead that ends in a colon, what follows goes on in lower case.
func sentences(lead, body string) string {
	lower := strings.ToLower(body[:1]) + body[1:]
	switch {
	case lead == "":
		return lower
	case strings.HasSuffix(lead, ":"):
		return lead + " " + lower
	}
	return lead + " " + body
}

// whyDuplicate explains a duplicate: how the second copy came, and why the
// handler that applied it did not know the event was done.
func (n *narrator) whyDuplicate() string {
	f, e := n.f, n.ev
	if len(e.Applications) < 2 {
		return fmt.Sprintf("event %d's effect was committed more than once.", e.ID)
	}
	p, q := e.Applications[0], e.Applications[1]
	first, second := f.AttemptOf(p), f.AttemptOf(q)
	cause, later, causeFail := n.copyCause(first, second)
	if later < 0 {
		later = q.Inst
	}
	d := dup{p: p, q: q, first: first, second: second, cause: cause, causeFail: causeFail,
		came: fmt.Sprintf("The second copy reached instance %d because %s.", later, cause)}
	situation, neutral, body := n.dupMemory(&d)
	if !n.memory {
		situation, neutral, body = n.dupMark(&d)
	}
	fl := fills{event: e.ID, first: p.Inst, second: q.Inst}
	lead := n.w.why(Duplicate, situation, fl)
	if lead == "" {
		lead = n.w.fill(neutral, fl)
	}
	return sentences(lead, body)
}

// dup is what the two applications of a duplicate were.
type dup struct {
	p, q          Application
	first, second int // their attempts, -1 if unknown
	cause, came   string
	causeFail     *failure
}

// dupMemory explains a duplicate of a strategy with Memory: it returns the
// situation, a neutral lead for a strategy that gives none, and the body.
func (n *narrator) dupMemory(d *dup) (string, string, string) {
	f, w, id := n.f, n.w, n.focus
	A, B := d.p.Inst, d.q.Inst
	mem := w.memory()
	if d.first >= 0 && f.Attempts[d.first].Outcome != run.Applied {
		fl := n.failureOf(d.first)
		what := "failed"
		if fl != nil {
			what = fl.what
		}
		s := fmt.Sprintf("Instance %d %s, but its commit had landed: event %d's effect was applied, yet the handler never returned applied, so event %d never entered instance %d's %s", A, what, id, id, A, mem)
		if strings.HasPrefix(what, "crashed") {
			s += fmt.Sprintf(" (and the crash emptied that %s anyway)", mem)
		}
		s += "."
		if d.causeFail != nil && fl != nil && d.causeFail.rec == fl.rec {
			s += fmt.Sprintf(" With no ack, the broker delivered m%d again", f.Attempts[d.first].Msg)
		} else {
			s += " " + strings.TrimSuffix(d.came, ".")
		}
		if A == B {
			return "unremembered", "", s + fmt.Sprintf("; instance %d's %s could not know event %d was done, so it said new, and the effect was applied a second time.", B, mem, id)
		}
		return "unremembered", "", s + fmt.Sprintf("; instance %d had never seen event %d, so its %s said new, and the effect was applied a second time.", B, id, mem)
	}
	if A != B {
		already := ""
		if d.second >= 0 && f.Attempts[d.second].At > d.p.At {
			already = fmt.Sprintf(", though instance %d had applied it %.3f ms earlier", A, ms(f.Attempts[d.second].At-d.p.At))
		}
		return "unseen", "{strategy} keeps what it handled in instance {first}'s memory, which no other instance can read.",
			fmt.Sprintf("Instance %d had never seen event %d, so its own %s said new%s, and it applied the effect a second time. %s", B, id, mem, already, d.came)
	}
	for _, m := range f.Memory {
		if m.Inst == A && m.Event == id && m.EndRec >= 0 && m.Rec > d.p.Rec && m.EndRec < d.q.Rec {
			return "forgotten", "", fmt.Sprintf("Instance %d remembered event %d in its %s, but it crashed at %s and restarted with empty memory: the %s that knew event %d was gone, so when the event came again its %s said new, and it applied the effect a second time. %s",
				A, id, mem, at(f.Trace[m.EndRec].At), mem, id, mem, d.came)
		}
	}
	return "", "", fmt.Sprintf("Instance %d's %s did not hold event %d when the second copy came. %s", B, mem, id, d.came)
}

// dupMark explains a duplicate of a strategy that keeps marks, by what
// the second handler's check of the mark found and why.
func (n *narrator) dupMark(d *dup) (string, string, string) {
	f, w, id := n.f, n.w, n.focus
	A := d.p.Inst
	// The check that should have found the mark is the one of the handler
	// that started second, which may apply first (the first stalled).
	early, late, lateApp := d.first, d.second, d.q
	if d.first >= 0 && d.second >= 0 && f.Attempts[d.first].Rec > f.Attempts[d.second].Rec {
		early, late, lateApp = d.second, d.first, d.p
	}
	B := lateApp.Inst
	check := n.checkBefore(late, lateApp.Rec)
	if check == nil {
		if late >= 0 && n.unguarded(late) {
			return "unguarded", "{strategy} reads no record of what it has processed before it applies the effect, so every copy that reaches an instance applies it.",
				fmt.Sprintf("Event %d reached the consumers twice because %s.", id, d.cause)
		}
		return "", "", fmt.Sprintf("Event %d's effect was committed by two transactions. %s", id, d.came)
	}
	took := fmt.Sprintf("instance %d applied the effect a second time", B)
	if (check.Op == run.SetNX || check.Op == run.PutNX) && check.Answer == run.Yes {
		took = fmt.Sprintf("instance %d %s again and applied the effect a second time", B, w.marked(check, id))
	}
	var last *Key
	for k := range f.Keys {
		if key := &f.Keys[k]; n.sameSlot(key, check) && key.Rec < check.ServeRec {
			last = key
		}
	}
	noKey := "no key was there"
	if check.Op.KV() {
		noKey = check.Key + " was not there"
	}
	if last == nil {
		// No mark was ever there: the first handler set it too late, or
		// never.
		var setAfter *Key
		for k := range f.Keys {
			if key := &f.Keys[k]; n.sameSlot(key, check) && f.Calls[key.Call].Attempt == early && key.Rec > check.ServeRec && setAfter == nil {
				setAfter = key
			}
		}
		if setAfter != nil && early >= 0 && A != d.q.Inst {
			return "raced", "{strategy} checks for its {mark} and sets it in separate steps, with the effect in between.",
				fmt.Sprintf("Instance %d checked at %s and found no key, because instance %d, which was applying event %d too, set it only at %s. Both checks found nothing, so both applied the effect. %s",
					B, at(check.Served), f.Attempts[early].Inst, id, at(setAfter.At), d.came)
		}
		what, came := "it never set the key", d.came
		if fl := n.failureOf(d.first); fl != nil {
			what = fmt.Sprintf("then %s, so it never set the key", fl.what)
			if d.causeFail != nil && d.causeFail.rec == fl.rec {
				came = fmt.Sprintf("With no ack, the broker delivered m%d again.", f.Attempts[d.first].Msg)
			}
		}
		return "unmarked", "{strategy} sets its {mark} only after the effect.",
			fmt.Sprintf("Instance %d applied event %d at %s, %s. The next copy found no key at %s, so %s. %s", A, id, at(d.p.At), what, at(check.Served), took, came)
	}
	if last.EndCall != 0 && f.Calls[last.EndCall].Op == run.Del && last.EndRec < check.ServeRec {
		return "released", "{strategy} deleted its {mark} on event {event} after the effect had committed:", n.released(d, last, check, took, noKey)
	}
	if last.Lost >= 0 && last.EndRec < check.ServeRec {
		how := "restarted empty"
		if f.Outages[last.Lost].Cause == run.Failover {
			how = "failed over to a replica that lagged behind"
		}
		if last.Name != "" {
			return "mark-lost", "", fmt.Sprintf("%s kept %s only in Redis, and Redis %s at %s, losing it. When the next copy came, %s, so %s. %s",
				w.st.Name, n.valueWords(last), how, at(f.Outages[last.Lost].At), noKey, took, d.came)
		}
		return "mark-lost", "", fmt.Sprintf("%s's %s on event %d lived only in Redis, and Redis %s at %s, losing it. When the next copy came, no key was there, so %s. %s",
			w.st.Name, w.mark(), id, how, at(f.Outages[last.Lost].At), took, d.came)
	}
	if exp := last.Expires; last.TTL > 0 && exp <= check.Served {
		if last.Name != "" && early >= 0 && f.Calls[last.Call].Attempt == early && !n.appliedBy(early, last.Rec) && !n.finishedBy(early, exp) {
			return "lease-expired", "{strategy}'s {mark} on event {event} lives only its TTL, whether or not the handler that took it has finished:",
				n.leaseExpired(d, last, check, early, late)
		}
		if last.Name != "" {
			return "mark-expired", "", fmt.Sprintf("%s gives %s a TTL of %s: it expired at %s, before the next copy came. That copy found %s gone, so %s. %s",
				w.st.Name, n.valueWords(last), ttlWords(last.TTL), at(exp), last.Name, took, d.came)
		}
		return "mark-expired", "", fmt.Sprintf("%s's %s on event %d lives only its TTL of %s: it expired at %s, before the next copy came. That copy found no key, so %s. %s",
			w.st.Name, w.mark(), id, ttlWords(last.TTL), at(exp), took, d.came)
	}
	return "", "", fmt.Sprintf("The %s on event %d was not in Redis when the second copy came. %s", w.mark(), id, d.came)
}

// sameSlot reports whether key is a value of what check looked for: the
// same key, or the focus event's mark.
func (n *narrator) sameSlot(key *Key, check *Call) bool {
	if check.Op.KV() {
		return key.Name == check.Key
	}
	return key.Name == "" && key.Event == n.focus
}

// checkBefore is the last call of attempt k before record rec that looked
// for the event's mark and found none: a SET NX that set it (a mark or a
// key), a key check or GET that found nothing, an insert of the id that
// went through. nil if none.
func (n *narrator) checkBefore(k, rec int) *Call {
	if k < 0 {
		return nil
	}
	var check *Call
	for _, id := range n.f.Attempts[k].Calls {
		c := &n.f.Calls[id]
		if c.ServeRec < 0 || c.ServeRec > rec {
			continue
		}
		switch {
		case c.Op == run.SetNX && c.Answer == run.Yes, c.Op == run.Exists && c.Answer == run.No, c.Op == run.Insert && c.Answer == run.Yes,
			c.Op == run.PutNX && c.Answer == run.Yes, c.Op == run.Get && c.Answer == run.No:
			check = c
		}
	}
	return check
}

// unguarded reports whether attempt k made no call but its effect's.
func (n *narrator) unguarded(k int) bool {
	for _, id := range n.f.Attempts[k].Calls {
		switch n.f.Calls[id].Op {
		case run.Apply, run.Commit, run.Rollback:
		default:
			return false
		}
	}
	return true
}

// copyCause says how the event reached an instance a second time, given
// the attempts that applied it first and second: why the later of the two
// to start was delivered at all, while the earlier one had the event. It
// returns the instance the later one ran on, and the failure of the
// earlier one that caused it, if one did, so that a caller that has told
// that failure already can say it shorter. (The later delivery may apply
// first: a stalled handler applies after its redelivery did.)
func (n *narrator) copyCause(first, second int) (string, int32, *failure) {
	f, e := n.f, n.ev
	if first < 0 || second < 0 {
		return "the broker delivered it again (at-least-once)", -1, nil
	}
	if f.Attempts[second].Rec < f.Attempts[first].Rec {
		first, second = second, first
	}
	A, B := &f.Attempts[first], &f.Attempts[second]
	if A.Msg != B.Msg {
		// Two copies: whichever was handled first, the later one exists
		// because the producer published the event again.
		m := &f.Messages[B.Msg]
		if a := &f.Messages[A.Msg]; a.Copy > m.Copy {
			m = a
		}
		gap := m.At - f.Messages[e.Copies[0]].At
		if gap < lateCopy {
			return fmt.Sprintf("the producer published event %d twice, as m%d and m%d, %.3f ms apart, so two copies were in flight at once", e.ID, e.Copies[0], m.ID, ms(gap)), B.Inst, nil
		}
		return fmt.Sprintf("a late copy of event %d, m%d, was published %.3f s after the first", e.ID, m.ID, float64(gap)/1e9), B.Inst, nil
	}
	if A.Ack >= 0 && f.Acks[A.Ack].LostRec >= 0 && f.Acks[A.Ack].LostRec < B.Rec {
		return fmt.Sprintf("instance %d's ack of m%d was lost, so after its %sack deadline the broker delivered m%d again", A.Inst, A.Msg, n.deadline(A.Msg), A.Msg), B.Inst, nil
	}
	if fl := n.failureOf(first); fl != nil && fl.rec < B.Rec {
		return fmt.Sprintf("instance %d %s and never acked m%d, so the broker delivered m%d again", A.Inst, fl.what, A.Msg, A.Msg), B.Inst, fl
	}
	for _, s := range f.Stalls {
		if s.Inst == A.Inst && s.Msg == A.Msg && s.Rec > A.Rec && s.Rec < B.Rec {
			return fmt.Sprintf("instance %d stalled past m%d's %sack deadline, so the broker delivered m%d again while it still ran", A.Inst, A.Msg, n.deadline(A.Msg), A.Msg), B.Inst, nil
		}
	}
	return fmt.Sprintf("the broker delivered m%d again (at-least-once)", B.Msg), B.Inst, nil
}

// deadline renders message msg's ack deadline as the run showed it, with a
// trailing space ("5 s "), or "" if no deadline of the run passed.
func (n *narrator) deadline(msg uint32) string {
	d := n.f.Deadline(msg)
	if d == 0 {
		d = n.f.AckDeadline()
	}
	if d == 0 {
		return ""
	}
	return durWords(d) + " "
}

// whyLost explains a lost event: a mark was taken, the effect never
// committed, and every later copy found the mark.
func (n *narrator) whyLost() string {
	f, w, e := n.f, n.w, n.ev
	id := e.ID
	c := n.firstMark()
	if c == nil {
		// No store holds a mark of the event: whatever the strategy kept,
		// it kept it where explain cannot see (its memory), so its own
		// words, if it has any, come first.
		lead := w.why(Lost, "", fills{event: id, first: -1, second: -1})
		return sentences(lead, fmt.Sprintf("Event %d was marked as processed without its effect, and every later copy skipped it.", id))
	}
	store, mark, did := storeName(c.Op), w.mark(), w.marked(c, id)
	skip := fmt.Sprintf("every later copy found the %s and skipped", mark)
	for _, k := range e.Attempts {
		if a := &f.Attempts[k]; a.Outcome == run.Skipped {
			skip += fmt.Sprintf(" (instance %d at %s)", a.Inst, at(a.End))
			break
		}
	}
	var story string
	switch fl := n.failureOf(c.Attempt); {
	case fl != nil && fl.lock != "" && fl.rec > c.ServeRec:
		// The effect's Apply waited for a row lock another transaction
		// held, past the call timeout.
		story = fmt.Sprintf("Instance %d %s at %s, but %s. An Apply updates its account's row, and the database lets one open transaction at a time hold a row's lock, until it commits or aborts. After %s instance %d gave up on its Apply, so the effect never committed.",
			c.Inst, did, at(c.Served), fl.lock, durWords(fl.waited), c.Inst)
	case fl == nil:
		story = fmt.Sprintf("Instance %d %s at %s, and its effect never committed.", c.Inst, did, at(c.Served))
	case fl.rec < c.ServeRec:
		story = fmt.Sprintf("Instance %d %s; yet the request still reached %s at %s, so the %s was taken, and no one applied the effect.", c.Inst, fl.what, store, at(c.Served), mark)
	default:
		story = fmt.Sprintf("Instance %d %s at %s, then %s before the effect committed.", c.Inst, did, at(c.Served), fl.what)
	}
	if late := n.lateUndo(c); late != "" {
		story += " " + late
	}
	body := fmt.Sprintf("%s After that %s, and the ack told the broker event %d was done: no one will ever apply it.", story, skip, id)
	lead := w.why(Lost, "marked-first", fills{event: id, first: c.Inst, second: -1})
	if lead == "" {
		lead = w.fill("{strategy} takes its {mark} on an event before the effect commits, and not in the same transaction.", fills{event: id})
	}
	return sentences(lead, body)
}

// lateUndo tells of a mark that its taker meant to remove after a failure
// (a DEL of its key, such as redis-release's release) but removed too
// late: it stalled first, and the next copy found the mark meanwhile and
// skipped. It is "" when the attempt that took mark c made no such call.
func (n *narrator) lateUndo(c *Call) string {
	f, w := n.f, n.w
	if c.Attempt < 0 || c.Key == "" {
		return ""
	}
	a := &f.Attempts[c.Attempt]
	var del *Call
	for _, id := range a.Calls {
		if d := &f.Calls[id]; d.Op == run.Del && d.Key == c.Key && d.SentRec > c.ServeRec {
			del = d
			break
		}
	}
	if del == nil {
		return ""
	}
	var skipped int64 = -1
	for _, k := range n.ev.Attempts {
		if o := &f.Attempts[k]; o.Outcome == run.Skipped && o.EndRec >= 0 && o.EndRec < del.SentRec {
			skipped = o.End
			break
		}
	}
	if skipped < 0 {
		return ""
	}
	for _, st := range f.Stalls {
		if st.Inst == c.Inst && st.Msg == c.Msg && st.Rec > c.ServeRec && st.Rec < del.SentRec {
			return fmt.Sprintf("Its handler then stalled for %s (slow), so its %s came only at %s, after another copy had found the %s at %s.",
				durWords(time.Duration(st.Dur)), w.callName(del.Op), at(del.Sent), w.mark(), at(skipped))
		}
	}
	return ""
}

// firstMark is the call that first took the focus event's mark: a Redis
// write of its key, or the commit of its id; nil if none did.
func (n *narrator) firstMark() *Call {
	f, e := n.f, n.ev
	var best *Call
	if len(e.Keys) > 0 {
		best = &f.Calls[f.Keys[e.Keys[0]].Call]
	}
	if len(e.IDCommits) > 0 {
		t := &f.Txs[e.IDCommits[0]]
		if c := &f.Calls[t.Calls[len(t.Calls)-1]]; best == nil || c.ServeRec < best.ServeRec {
			best = c
		}
	}
	return best
}

// roundMS rounds simulated nanoseconds to the millisecond.
func roundMS(ns int64) time.Duration { return time.Duration(ns).Round(time.Millisecond) }
