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
	if f.Group != nil && (n.a.kind == Lost || n.a.kind == Stuck) {
		return n.groupViolation()
	}
	if n.a.kind == Ghost || n.a.kind == Unsent {
		return n.downViolation()
	}
	switch n.a.kind {
	case Duplicate:
		var by []string
		for _, ap := range e.Applications {
			n.claim(appliedClaim(e.ID, ap))
			by = append(by, fmt.Sprintf("by instance %d at %s", ap.Inst, at(ap.At)))
		}
		c := len(e.Applications)
		lc := claim(ClaimLedger)
		lc.Event, lc.N = e.ID, c
		n.claim(lc)
		return fmt.Sprintf("event %d was %s (%s): %s.", e.ID, times(c), strings.Join(by, ", "), plural(c-1, "duplicate"))
	case Lost:
		m := n.a.firstAck(e)
		ac := claim(ClaimAck)
		ac.Inst, ac.Msg, ac.To, ac.Yes = m.AckedBy, m.ID, m.AckedAt, true
		na := claim(ClaimNotApplied)
		na.Event = e.ID
		n.claim(ac, na)
		return fmt.Sprintf("event %d is lost: the broker considers it done (instance %d's ack reached it at %s), but its effect was never applied.", e.ID, m.AckedBy, at(m.AckedAt))
	case Stuck:
		var open []string
		for _, m := range e.Copies {
			if f.Messages[m].AckedRec < 0 {
				c := claim(ClaimNotAcked)
				c.Msg = m
				n.claim(c)
				open = append(open, fmt.Sprintf("m%d", m))
			}
		}
		when := "when the run ended"
		if f.Heal >= 0 {
			hc := claim(ClaimHeal)
			hc.Rec = f.HealRec
			n.claim(hc)
			when += ", " + durWords(roundMS(f.End-f.Heal)) + " after the faults healed"
		}
		return fmt.Sprintf("event %d never settled: %s still had no ack %s.", e.ID, strings.Join(open, ", "), when)
	}
	if e.Refused {
		return n.refusedViolation()
	}
	if e.Dead {
		k := n.lastDeadLetter(e)
		r := &f.Trace[k]
		dc := claim(ClaimDeadLetter)
		dc.Rec, dc.Msg, dc.Event, dc.N = k, r.Msg, r.Event, int(r.Tag)
		d := claim(ClaimDead)
		d.Event = e.ID
		n.claim(dc, d)
		return fmt.Sprintf("none, but event %d is dead: the broker dead-lettered m%d after %s at %s, and its effect was never applied. A dead event is an outcome of its own, not a violation of exactly-once: the broker gave up on it as it was told to, and said so.", e.ID, r.Msg, deliveriesWords(int(r.Tag)), at(r.At))
	}
	lc := claim(ClaimLedger)
	lc.Event, lc.N = e.ID, len(e.Applications)
	n.claim(lc)
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
	case Ghost, Unsent:
		return n.whyDown()
	case Stuck:
		lead := n.w.why(Stuck, "", fills{event: n.focus})
		return sentences(lead, n.whyStuck())
	}
	return n.whyHeld()
}

// whyHeld says how exactly-once held for the focus event: the handling
// that applied it, and what became of every other handling of it.
func (n *narrator) whyHeld() string {
	f, e := n.f, n.ev
	if e.Refused {
		return n.whyRefused()
	}
	if e.Dead {
		return n.whyDead()
	}
	if len(e.Applications) != 1 {
		return "exactly-once held."
	}
	ap := e.Applications[0]
	n.claim(appliedClaim(e.ID, ap))
	mine := f.AttemptOf(ap)
	var others []string
	count := 0
	for _, k := range e.Attempts {
		if k == mine {
			continue
		}
		count++
		if len(others) == 6 {
			continue
		}
		a := &f.Attempts[k]
		n.claim(outcomeClaim(a))
		switch {
		case a.Outcome == run.Skipped && n.skipCall(a) != nil:
			c := n.skipCall(a)
			n.claim(callClaim(c))
			others = append(others, fmt.Sprintf("instance %d's %s found it there at %s, and its handler skipped", a.Inst, n.w.callName(c), at(c.Served)))
		case a.EndRec >= 0 && a.Outcome != run.Errored:
			others = append(others, fmt.Sprintf("instance %d's handler %s at %s", a.Inst, returned(a.Outcome), at(a.End)))
		default:
			if fl := n.failureOf(k); fl != nil {
				n.claim(fl.claims...)
				others = append(others, fmt.Sprintf("instance %d %s", a.Inst, fl.what))
			} else {
				others = append(others, fmt.Sprintf("instance %d's handling of m%d never returned", a.Inst, a.Msg))
			}
		}
	}
	s := fmt.Sprintf("event %d was applied once, by instance %d at %s.", e.ID, ap.Inst, at(ap.At))
	switch {
	case count == 0:
		return s + " No other handling of it began."
	case count > len(others):
		return s + fmt.Sprintf(" Of the %d other handlings of it: %s; and %d more.", count, strings.Join(others, "; "), count-len(others))
	}
	return s + " Every other handling of it: " + strings.Join(others, "; ") + "."
}

// whyDead says what became of each handling of a dead event: why none
// of them got an ack through before the broker gave up on it.
func (n *narrator) whyDead() string {
	f, e := n.f, n.ev
	var out []string
	count := 0
	for _, k := range e.Attempts {
		a := &f.Attempts[k]
		count++
		if len(out) == 6 {
			continue
		}
		n.claim(outcomeClaim(a))
		switch {
		case a.EndRec >= 0 && a.Outcome != run.Errored:
			out = append(out, fmt.Sprintf("instance %d's handler %s at %s", a.Inst, returned(a.Outcome), at(a.End)))
		default:
			if fl := n.failureOf(k); fl != nil {
				n.claim(fl.claims...)
				out = append(out, fmt.Sprintf("instance %d %s", a.Inst, fl.what))
			} else if a.EndRec >= 0 {
				out = append(out, fmt.Sprintf("instance %d's handler %s at %s", a.Inst, returned(a.Outcome), at(a.End)))
			} else {
				out = append(out, fmt.Sprintf("instance %d's handling of m%d never returned", a.Inst, a.Msg))
			}
		}
	}
	s := "No handling of it got " + n.anAck() + " through before its last delivery: "
	switch {
	case count == 0:
		return "No handling of it ever began: no delivery of it arrived."
	case count > len(out):
		return s + strings.Join(out, "; ") + fmt.Sprintf("; and %d more.", count-len(out))
	}
	return s + strings.Join(out, "; ") + "."
}

// skipCall is the last call of attempt a, but for rollbacks, if its
// answer says what it asked about was there; nil otherwise.
func (n *narrator) skipCall(a *Attempt) *Call {
	k := len(a.Calls) - 1
	for k > 0 && n.f.Calls[a.Calls[k]].Op == run.Rollback {
		k--
	}
	if k < 0 {
		return nil
	}
	if c := &n.f.Calls[a.Calls[k]]; present(c) && c.ServeRec >= 0 {
		return c
	}
	return nil
}

// whyStuck says what became of the last delivery of the focus event's
// copies that never got an ack through.
func (n *narrator) whyStuck() string {
	f, e := n.f, n.ev
	var last *Attempt
	for _, k := range e.Attempts {
		if a := &f.Attempts[k]; f.Messages[a.Msg].AckedRec < 0 {
			last = a
		}
	}
	if last == nil {
		var msgs []string
		for _, m := range e.Copies {
			if f.Messages[m].AckedRec < 0 {
				c := claim(ClaimNotAcked)
				c.Msg = m
				n.claim(c)
				msgs = append(msgs, fmt.Sprintf("m%d", m))
			}
		}
		return fmt.Sprintf("No instance ever began handling %s: no delivery of it arrived before the run ended.", strings.Join(msgs, " or "))
	}
	c := claim(ClaimNotAcked)
	c.Msg = last.Msg
	n.claim(c, receiveClaim(last))
	body := fmt.Sprintf("No %s of m%d reached the broker before the run ended. Its last handling began on instance %d at %s, and ", n.ack(), last.Msg, last.Inst, at(last.At))
	k := n.attemptIndex(last)
	switch {
	case last.EndRec < 0:
		n.claim(outcomeClaim(last))
		if fl := n.failureOf(k); fl != nil {
			n.claim(fl.claims...)
			return body + fmt.Sprintf("instance %d %s: its handler never returned.", last.Inst, fl.what)
		}
		return body + "its handler never returned."
	case last.Outcome == run.Applied || last.Outcome == run.Skipped || last.Outcome == run.Dropped:
		n.claim(outcomeClaim(last))
		body += fmt.Sprintf("its handler returned %s", last.Outcome)
		if last.Ack >= 0 && f.Acks[last.Ack].LostRec >= 0 {
			ac := claim(ClaimAck)
			ac.Inst, ac.Msg, ac.At = last.Inst, last.Msg, f.Acks[last.Ack].At
			n.claim(ac)
			return body + ", but its " + n.ack() + " was lost."
		}
		return body + ", but no " + n.ack() + " of it reached the broker."
	}
	n.claim(outcomeClaim(last))
	if fl := n.failureOf(k); fl != nil && last.Outcome == run.Errored {
		n.claim(fl.claims...)
		return body + fmt.Sprintf("instance %d %s, so it did not %s.", last.Inst, fl.what, n.ack())
	}
	return body + fmt.Sprintf("its handler %s, so it did not %s.", returned(last.Outcome), n.ack())
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
	cause, later, causeFail, causeClaims := n.copyCause(first, second)
	if later < 0 {
		later = q.Inst
	}
	d := dup{p: p, q: q, first: first, second: second, cause: cause, causeFail: causeFail, causeClaims: causeClaims,
		came: fmt.Sprintf("The second copy reached instance %d because %s.", later, cause)}
	n.claim(appliedClaim(e.ID, p), appliedClaim(e.ID, q))
	var situation, neutral, body string
	switch {
	case p.Call != 0 && q.Call != 0:
		situation, neutral, body = n.dupCharge(&d)
	case n.memRec && d.second >= 0:
		situation, neutral, body = n.dupRecorded(&d)
	case n.memory:
		situation, neutral, body = n.dupMemory(&d)
	case n.checkBefore(d.lateOf(f).late, d.lateOf(f).app.Rec) != nil:
		situation, neutral, body = n.dupMark(&d)
	default:
		situation, neutral, body = n.dupKeys(&d)
	}
	fl := fills{event: e.ID, first: p.Inst, second: q.Inst}
	lead := n.w.why(Duplicate, situation, fl)
	if lead == "" {
		lead = n.w.fill(neutral, fl)
	}
	return sentences(lead, body)
}

// dupCharge explains a duplicate of a strategy that charges the payment
// provider: two charges of one event. Without an idempotency key the
// provider has nothing to go by, so the question is why the second
// handler did not know of the first charge (the mark it keeps elsewhere
// never committed); with the same key, the provider answered the second
// charge as new, which it does only once it no longer keeps the key.
func (n *narrator) dupCharge(d *dup) (string, string, string) {
	f, id := n.f, n.focus
	c1, c2 := &f.Calls[d.p.Call], &f.Calls[d.q.Call]
	n.claim(callClaim(c1), callClaim(c2), before(d.p.Rec, d.q.Rec))
	what := ""
	if d.first >= 0 {
		if fl := n.failureOf(d.first); fl != nil {
			n.claim(fl.claims...)
			what = fmt.Sprintf(" The handler that made it %s.", fl.what)
		} else if a := &f.Attempts[d.first]; a.EndRec >= 0 {
			n.claim(outcomeClaim(a))
			what = fmt.Sprintf(" The handler that made it %s.", returned(a.Outcome))
		}
	}
	switch {
	case c1.Key == "" && c2.Key == "":
		return "unkeyed", "{strategy} charges with no idempotency key, so the provider charges every request it gets.",
			fmt.Sprintf("Instance %d charged event %d at %s (%s) with no idempotency key.%s Instance %d charged it again at %s (%s), with no key either, and the provider charged again. %s",
				c1.Inst, id, at(d.p.At), c1.Value, what, c2.Inst, at(d.q.At), c2.Value, n.came(d))
	case c1.Key == c2.Key:
		return "key-forgotten", "{strategy}'s idempotency key protects a charge only for as long as the provider keeps the key.",
			fmt.Sprintf("Both charges of event %d carried the idempotency key %s. The first took effect at %s (%s); the second, %s later, was answered as a new charge (%s), not from the key, which a provider does only once it no longer keeps the key (its retention window ended; the key-expiry fault shortens it). %s",
				id, c1.Key, at(d.p.At), c1.Value, time.Duration(d.q.At-d.p.At).Round(time.Millisecond), c2.Value, n.came(d))
	}
	return "", "", fmt.Sprintf("Instance %d charged event %d at %s with key %q, and instance %d at %s with key %q: the provider tells requests apart by their keys only. %s",
		c1.Inst, id, at(d.p.At), c1.Key, c2.Inst, at(d.q.At), c2.Key, n.came(d))
}

// dup is what the two applications of a duplicate were.
type dup struct {
	p, q          Application
	first, second int // their attempts, -1 if unknown
	cause, came   string
	causeFail     *failure
	causeClaims   []Claim
}

// cameClaims claims what d.came says, and returns it.
func (n *narrator) came(d *dup) string {
	n.claim(d.causeClaims...)
	return d.came
}

// noAckAgain says "With no ack, the broker delivered mX again." of the
// failed attempt k, when the failure told is the one that caused the
// second copy, with its claims.
func (n *narrator) noAckAgain(k int) string {
	a := &n.f.Attempts[k]
	n.claim(outcomeClaim(a))
	for _, d := range n.f.Messages[a.Msg].Deliveries {
		if dl := &n.f.Deliveries[d]; dl.Rec > a.Rec && dl.Attempt >= 0 {
			n.claim(receiveClaim(&n.f.Attempts[dl.Attempt]))
			break
		}
	}
	return fmt.Sprintf("With no ack, the broker delivered m%d again.", a.Msg)
}

// order is the attempts of a duplicate in the order they began: the check
// that should have found the mark is the one of the handler that began
// second, which may apply first (the first stalled).
type order struct {
	early, late       int
	earlyApp, app     Application
	earlyAt, lateInst int32
}

// lateOf orders d's attempts by when they began.
func (d *dup) lateOf(f *Facts) order {
	o := order{early: d.first, late: d.second, earlyApp: d.p, app: d.q}
	if d.first >= 0 && d.second >= 0 && f.Attempts[d.first].Rec > f.Attempts[d.second].Rec {
		o = order{early: d.second, late: d.first, earlyApp: d.q, app: d.p}
	}
	o.lateInst = o.app.Inst
	return o
}

// memoryBefore is what the trace shows of instance inst's handlings of
// the focus event before record rec: every attempt of it on inst, and
// those of the incarnation that was up at rec.
func (n *narrator) memoryBefore(inst int32, rec int) (ever, incarnation []int) {
	for _, k := range n.ev.Attempts {
		a := &n.f.Attempts[k]
		if a.Inst != inst || a.Rec >= rec {
			continue
		}
		ever = append(ever, k)
		if !n.f.EndedBetween(inst, a.Rec, rec) {
			incarnation = append(incarnation, k)
		}
	}
	return ever, incarnation
}

// handledClaim states how many attempts of the focus event instance inst
// began before record rec: in any incarnation if ever, else in the one up
// at rec.
func (n *narrator) handledClaim(inst int32, rec, count int, ever bool) Claim {
	c := claim(ClaimHandledBefore)
	c.Rec, c.Inst, c.Event, c.N, c.Yes = rec, inst, n.focus, count, ever
	return c
}

// dupMemory explains a duplicate of a strategy with Memory: it returns the
// situation, a neutral lead for a strategy that gives none, and the body.
// What the memory held it says only where the description says when the
// memory is written; otherwise only that an incarnation that had not
// handled the event could not remember it.
func (n *narrator) dupMemory(d *dup) (string, string, string) {
	f, w, id := n.f, n.w, n.focus
	A, B := d.p.Inst, d.q.Inst
	mem := w.memory()
	if d.second < 0 {
		return "", "", n.came(d)
	}
	secondRec := f.Attempts[d.second].Rec
	ever, inc := n.memoryBefore(B, secondRec)
	if n.memRule && d.first >= 0 && f.Attempts[d.first].Outcome != run.Applied {
		fa := &f.Attempts[d.first]
		n.claim(outcomeClaim(fa))
		fl := n.failureOf(d.first)
		what := "failed"
		if fl != nil {
			n.claim(fl.claims...)
			what = fl.what
		}
		mc := claim(ClaimMemory)
		mc.Rec, mc.Inst, mc.Event = secondRec, A, id
		n.claim(mc)
		s := fmt.Sprintf("Instance %d %s, but its commit had landed: event %d's effect was applied, yet the handler never returned applied, so event %d never entered instance %d's %s", A, what, id, id, A, mem)
		if fa.Crash >= 0 {
			s += fmt.Sprintf(" (and the crash emptied that %s anyway)", mem)
		}
		s += "."
		if d.causeFail != nil && fl != nil && d.causeFail.rec == fl.rec {
			s += " " + strings.TrimSuffix(n.noAckAgain(d.first), ".")
		} else {
			s += " " + strings.TrimSuffix(n.came(d), ".")
		}
		mb := claim(ClaimMemory)
		mb.Rec, mb.Inst, mb.Event = secondRec, B, id
		n.claim(mb)
		if A == B {
			return "unremembered", "", s + fmt.Sprintf("; instance %d's %s could not know event %d was done, so it said new, and the effect was applied a second time.", B, mem, id)
		}
		return "unremembered", "", s + fmt.Sprintf("; instance %d had never seen event %d, so its %s said new, and the effect was applied a second time.", B, id, mem)
	}
	if len(inc) == 0 && len(ever) == 0 {
		n.claim(n.handledClaim(B, secondRec, 0, true))
		already := ""
		if f.Attempts[d.second].At > d.p.At {
			dc := appliedClaim(id, d.p)
			dc.Dur = f.Attempts[d.second].At - d.p.At
			n.claim(dc)
			already = fmt.Sprintf(", though instance %d had applied it %.3f ms earlier", A, ms(dc.Dur))
		}
		if A == B {
			return "unseen", "", fmt.Sprintf("Instance %d had never seen event %d, so its own %s said new%s, and it applied the effect a second time. %s", B, id, mem, already, n.came(d))
		}
		return "unseen", "{strategy} keeps what it handled in instance {first}'s memory, which no other instance can read.",
			fmt.Sprintf("Instance %d had never seen event %d, so its own %s said new%s, and it applied the effect a second time. %s", B, id, mem, already, n.came(d))
	}
	if len(inc) == 0 {
		// It had handled the event before a crash; the restart emptied
		// its memory.
		n.claim(n.handledClaim(B, secondRec, 0, false), n.handledClaim(B, secondRec, len(ever), true))
		last := &f.Attempts[ever[len(ever)-1]]
		end, ended := n.processEnd(B, last.Rec, secondRec)
		held := fmt.Sprintf("Instance %d had handled event %d before, but %s", B, id, ended)
		if n.memRule && f.Remembers(B, id, end-1) {
			mc := claim(ClaimMemory)
			mc.Rec, mc.Inst, mc.Event, mc.Yes = end-1, B, id, true
			n.claim(mc)
			held = fmt.Sprintf("Instance %d remembered event %d in its %s, but %s", B, id, mem, ended)
		}
		return "forgotten", "", fmt.Sprintf("%s: the %s that knew event %d was gone, so when the event came again its %s said new, and it applied the effect a second time. %s",
			held, mem, id, mem, n.came(d))
	}
	// This incarnation had handled the event before.
	prev := &f.Attempts[inc[len(inc)-1]]
	n.claim(n.handledClaim(B, secondRec, len(inc), false), outcomeClaim(prev))
	what := returned(prev.Outcome)
	if prev.EndRec < 0 {
		what = "never returned"
	}
	if fl := n.failureOf(inc[len(inc)-1]); fl != nil {
		n.claim(fl.claims...)
		what = fl.what
	}
	if n.memRule {
		mc := claim(ClaimMemory)
		mc.Rec, mc.Inst, mc.Event = secondRec, B, id
		n.claim(mc)
		return "unremembered", "", fmt.Sprintf("Instance %d had handled event %d before (m%d at %s), but its handler %s and never returned applied, so its %s did not hold event %d when the next copy came, and it applied the effect a second time. %s",
			B, id, prev.Msg, at(prev.At), what, mem, id, n.came(d))
	}
	return "", "", fmt.Sprintf("This incarnation of instance %d had handled event %d before (m%d at %s, whose handler %s), and when the next copy came its handler applied the effect a second time: what its %s held then, the trace does not show, and %s's description does not say when it writes it. %s",
		B, id, prev.Msg, at(prev.At), what, mem, w.st.Name, n.came(d))
}

// dupMark explains a duplicate of a strategy whose mark explain knows (a
// MarkStore's, the processed id, or the key the description names), by
// what the second handler's check of the mark found and why.
func (n *narrator) dupMark(d *dup) (string, string, string) {
	f, w, id := n.f, n.w, n.focus
	o := d.lateOf(f)
	early, late, lateApp := o.early, o.late, o.app
	B := lateApp.Inst
	check := n.checkBefore(late, lateApp.Rec)
	n.claim(callClaim(check), appliedClaim(id, lateApp))
	took := fmt.Sprintf("instance %d applied the effect a second time", B)
	if (check.Op == run.SetNX || check.Op == run.PutNX) && check.Answer == run.Yes {
		if check.Op.KV() {
			n.claim(n.markKeyClaim(check))
		}
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
		// No mark was ever there before the check: the handler that
		// began first set it too late, or never.
		var setAfter *Key
		for k := range f.Keys {
			if key := &f.Keys[k]; n.sameSlot(key, check) && f.Calls[key.Call].Attempt == early && key.Rec > check.ServeRec && setAfter == nil {
				setAfter = key
			}
		}
		if early < 0 {
			return "", "", fmt.Sprintf("When instance %d checked at %s, %s, so %s. %s", B, at(check.Served), noKey, took, n.came(d))
		}
		E := &f.Attempts[early]
		if setAfter != nil {
			n.claim(callClaim(&f.Calls[setAfter.Call]), before(check.ServeRec, setAfter.Rec), before(E.Rec, check.ServeRec), appliedClaim(id, o.earlyApp))
			both := "Both checks found nothing, so both applied the effect."
			if ec := n.checkBefore(early, o.earlyApp.Rec); ec != nil {
				n.claim(callClaim(ec))
			} else {
				both = "So both applied the effect."
			}
			return "raced", "{strategy} checks for its {mark} and sets it in separate steps, with the effect in between.",
				fmt.Sprintf("Instance %d checked at %s and found no key, because instance %d, which was handling event %d too, set it only at %s. %s %s",
					B, at(check.Served), E.Inst, id, at(setAfter.At), both, n.came(d))
		}
		nw := claim(ClaimNoWrite)
		nw.Rec, nw.Key, nw.Event = E.Rec, check.Key, id
		n.claim(nw, appliedClaim(id, o.earlyApp))
		what, came := "it never set the key", ""
		if check.Op.KV() {
			what = "it never set " + check.Key
		}
		if o.earlyApp.Rec > check.ServeRec {
			// It applied only after the other's check, and never set
			// the mark at all.
			n.claim(before(E.Rec, check.ServeRec), before(check.ServeRec, o.earlyApp.Rec))
			if fl := n.failureOf(early); fl != nil {
				n.claim(fl.claims...)
				what += " (it " + fl.what + ")"
			}
			return "raced", "{strategy} checks for its {mark} and sets it in separate steps, with the effect in between.",
				fmt.Sprintf("Instance %d checked at %s and found no key: instance %d, which was handling event %d too, applied it only at %s, and %s. So both applied the effect. %s",
					B, at(check.Served), E.Inst, id, at(o.earlyApp.At), what, n.came(d))
		}
		n.claim(before(o.earlyApp.Rec, check.ServeRec))
		if fl := n.failureOf(early); fl != nil {
			n.claim(fl.claims...)
			what = fmt.Sprintf("then %s, so %s", fl.what, what)
			if d.causeFail != nil && d.causeFail.rec == fl.rec {
				came = n.noAckAgain(early)
			}
		}
		if came == "" {
			came = n.came(d)
		}
		found := "found no key"
		if check.Op.KV() {
			found = "found " + check.Key + " absent"
		}
		return "unmarked", "{strategy} sets its {mark} only after the effect.",
			fmt.Sprintf("Instance %d applied event %d at %s, %s. The next copy %s at %s, so %s. %s", E.Inst, id, at(o.earlyApp.At), what, found, at(check.Served), took, came)
	}
	n.claim(callClaim(&f.Calls[last.Call]))
	if last.EndCall != 0 && isDelete(f.Calls[last.EndCall].Op) && last.EndRec < check.ServeRec {
		lead := "{strategy} deleted its {mark} on event {event} after the effect had committed:"
		del := &f.Calls[last.EndCall]
		if mine := n.applicationOf(del.Attempt); mine == nil || mine.Rec > del.ServeRec {
			lead = "{strategy} deleted its {mark} on event {event} while the effect's commit was still on its way:"
		}
		return "released", lead, n.released(d, last, check, took, noKey)
	}
	if last.Lost >= 0 && last.EndRec < check.ServeRec {
		o := &f.Outages[last.Lost]
		how := "restarted empty"
		if o.Cause == run.Failover {
			how = "failed over to a replica that lagged behind"
		}
		kc := claim(ClaimKeyEnded)
		kc.Call, kc.Rec, kc.Key, kc.Event = last.Call, last.EndRec, last.Name, id
		n.claim(kc)
		if last.Name != "" {
			return "mark-lost", "", fmt.Sprintf("%s kept %s only in Redis, and Redis %s at %s, losing it. When the next copy came, %s, so %s. %s",
				w.st.Name, n.valueWords(last), how, at(o.At), noKey, took, n.came(d))
		}
		return "mark-lost", "", fmt.Sprintf("%s's %s on event %d lived only in Redis, and Redis %s at %s, losing it. When the next copy came, no key was there, so %s. %s",
			w.st.Name, w.mark(), id, how, at(o.At), took, n.came(d))
	}
	if exp := last.Expires; last.TTL > 0 && exp <= check.Served {
		n.claim(n.expiredClaim(n.keyIndex(last)))
		if last.Name != "" && early >= 0 && f.Calls[last.Call].Attempt == early && !n.appliedBy(early, last.Rec) && !n.finishedBy(early, exp) {
			return "lease-expired", "{strategy}'s {mark} on event {event} lives only its TTL, whether or not the handler that took it has finished:",
				n.leaseExpired(d, last, check, early, late)
		}
		if last.Name != "" {
			return "mark-expired", "", fmt.Sprintf("%s gives %s a TTL of %s: it expired at %s, before the next copy came. That copy found %s gone, so %s. %s",
				w.st.Name, n.valueWords(last), ttlWords(last.TTL), at(exp), last.Name, took, n.came(d))
		}
		return "mark-expired", "", fmt.Sprintf("%s's %s on event %d lives only its TTL of %s: it expired at %s, before the next copy came. That copy found no key, so %s. %s",
			w.st.Name, w.mark(), id, ttlWords(last.TTL), at(exp), took, n.came(d))
	}
	return "", "", fmt.Sprintf("The %s on event %d was not in Redis when the second copy came. %s", w.mark(), id, n.came(d))
}

// keyIndex is key's index in Facts.Keys.
func (n *narrator) keyIndex(key *Key) int {
	for k := range n.f.Keys {
		if &n.f.Keys[k] == key {
			return k
		}
	}
	return -1
}

// isDelete reports whether op deletes a key (or a set's member).
func isDelete(op run.Op) bool { return op == run.Del || op == run.DelIfEq || op == run.SRem }

// sameSlot reports whether key is a value of what check looked for: the
// same key, or the focus event's mark.
func (n *narrator) sameSlot(key *Key, check *Call) bool {
	if check.Op.KV() {
		return key.Name == check.Key && !key.Set
	}
	return key.Name == "" && key.Event == n.focus
}

// absent reports whether call c's answer shows that what it asked about
// was not there: a SET NX that set it, a check or read that found nothing,
// an insert of the id that went through, a member not in its set.
func absent(c *Call) bool {
	switch c.Op {
	case run.SetNX, run.PutNX, run.Insert, run.SAdd:
		return c.Answer == run.Yes
	case run.Exists, run.Get, run.PutXX, run.SIsMember, run.Read:
		return c.Answer == run.No
	}
	return false
}

// present reports whether call c's answer shows that what it asked about
// was there.
func present(c *Call) bool {
	switch c.Op {
	case run.SetNX, run.PutNX, run.Insert, run.InsertApply, run.SAdd:
		return c.Answer == run.No
	case run.Exists, run.Get, run.PutXX, run.SIsMember, run.Read:
		return c.Answer == run.Yes
	}
	return false
}

// checkBefore is the last call of attempt k before record rec that looked
// for the event's mark, as the strategy's description knows it, and found
// none: a SET NX that set it, a key check or GET that found nothing, an
// insert of the id that went through. nil if none.
func (n *narrator) checkBefore(k, rec int) *Call {
	if k < 0 {
		return nil
	}
	var check *Call
	for _, id := range n.f.Attempts[k].Calls {
		c := &n.f.Calls[id]
		if c.ServeRec < 0 || c.ServeRec > rec || !n.isMarkCall(c) {
			continue
		}
		if absent(c) && c.Op != run.PutXX {
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

// dupKeys explains a duplicate of a strategy whose mark explain does not
// know: by what each call of the handler that applied second found, before
// its effect, and what had become of each key it found absent.
func (n *narrator) dupKeys(d *dup) (string, string, string) {
	f, id := n.f, n.focus
	o := d.lateOf(f)
	late, lateApp := o.late, o.app
	B := lateApp.Inst
	n.claim(appliedClaim(id, lateApp))
	if late >= 0 && n.unguarded(late) {
		cc := claim(ClaimCalls)
		cc.Rec, cc.N = f.Attempts[late].Rec, len(f.Attempts[late].Calls)
		n.claim(cc)
		return "unguarded", "{strategy} reads no record of what it has processed before it applies the effect, so every copy that reaches an instance applies it.",
			fmt.Sprintf("Event %d reached the consumers twice because %s.", id, n.causeOf(d))
	}
	if late < 0 {
		return "", "", fmt.Sprintf("Event %d's effect was committed by two transactions. %s", id, n.came(d))
	}
	var found []string
	for _, cid := range f.Attempts[late].Calls {
		c := &f.Calls[cid]
		if c.ServeRec < 0 || c.ServeRec > lateApp.Rec || c.Op.Store() != run.Redis || !absent(c) {
			continue
		}
		n.claim(callClaim(c))
		found = append(found, n.absentWhy(c, o))
	}
	if len(found) == 0 {
		return "", "", fmt.Sprintf("Instance %d applied the effect a second time at %s. %s", B, at(lateApp.At), n.came(d))
	}
	return "", "", fmt.Sprintf("Before instance %d applied the effect a second time, at %s, %s. %s", B, at(lateApp.At), strings.Join(found, "; and "), n.came(d))
}

// causeOf is how the second copy came, with its claims.
func (n *narrator) causeOf(d *dup) string {
	n.claim(d.causeClaims...)
	return d.cause
}

// absentWhy says what call c of the handler that applied second found
// absent, and what had become of it: nothing had ever written it, or the
// last value written was deleted, lost or expired before c.
func (n *narrator) absentWhy(c *Call, o order) string {
	f := n.f
	what := c.Key
	if c.Op == run.SAdd || c.Op == run.SIsMember {
		what = c.Value + " in " + c.Key
	}
	found := fmt.Sprintf("its %s at %s found %s absent", n.w.callName(c), at(c.Served), what)
	var last *Key
	for k := range f.Keys {
		key := &f.Keys[k]
		same := key.Name == c.Key && (key.Set == (c.Op == run.SAdd || c.Op == run.SIsMember)) && (!key.Set || key.Value == c.Value)
		if same && key.Rec < c.ServeRec {
			last = key
		}
	}
	if last == nil {
		nw := claim(ClaimNoWrite)
		nw.Rec, nw.Key, nw.To = -1, c.Key, c.Served
		n.claim(nw)
		s := found + ": no handler had written it before"
		if o.early >= 0 {
			for _, cid := range f.Attempts[o.early].Calls {
				w := &f.Calls[cid]
				if w.Key == c.Key && w.ServeRec > c.ServeRec && w.Answer == run.Yes && isWriteOp(w.Op) {
					n.claim(callClaim(w), before(c.ServeRec, w.ServeRec))
					return s + fmt.Sprintf(" (instance %d wrote it only at %s)", w.Inst, at(w.Served))
				}
			}
			nw := claim(ClaimNoWrite)
			nw.Rec, nw.Key = f.Attempts[o.early].Rec, c.Key
			n.claim(nw)
			return s + fmt.Sprintf(", and instance %d's handling that applied it first never wrote it", f.Attempts[o.early].Inst)
		}
		return s
	}
	n.claim(callClaim(&f.Calls[last.Call]))
	set := fmt.Sprintf("instance %d had written it at %s", last.Inst, at(last.At))
	switch {
	case last.EndCall != 0 && isDelete(f.Calls[last.EndCall].Op) && last.EndRec < c.ServeRec:
		del := &f.Calls[last.EndCall]
		n.claim(callClaim(del))
		return found + fmt.Sprintf(": %s, and instance %d deleted it at %s with its %s", set, del.Inst, at(del.Served), n.w.callName(del))
	case last.Lost >= 0 && last.EndRec < c.ServeRec:
		kc := claim(ClaimKeyEnded)
		kc.Call, kc.Rec, kc.Key = last.Call, last.EndRec, last.Name
		n.claim(kc)
		return found + fmt.Sprintf(": %s, and Redis lost it at %s", set, at(f.Outages[last.Lost].At))
	case last.TTL > 0 && last.Expires <= c.Served:
		n.claim(n.expiredClaim(n.keyIndex(last)))
		return found + fmt.Sprintf(": %s with a TTL of %s, and it expired at %s", set, ttlWords(last.TTL), at(last.Expires))
	}
	return found
}

// isWriteOp reports whether op writes a key-value key or member.
func isWriteOp(op run.Op) bool {
	return op == run.Put || op == run.PutNX || op == run.PutXX || op == run.SetIfEq || op == run.SAdd
}

// copyCause says how the event reached an instance a second time, given
// the attempts that applied it first and second: why the later of the two
// to start was delivered at all, while the earlier one had the event. It
// returns the instance the later one ran on, the failure of the earlier
// one that caused it, if one did, so that a caller that has told that
// failure already can say it shorter, and the claims of its text. (The
// later delivery may apply first: a stalled handler applies after its
// redelivery did.)
func (n *narrator) copyCause(first, second int) (string, int32, *failure, []Claim) {
	f, e := n.f, n.ev
	mark := len(n.pending)
	done := func(s string, inst int32, fl *failure) (string, int32, *failure, []Claim) {
		cs := append([]Claim(nil), n.pending[mark:]...)
		n.pending = n.pending[:mark]
		return s, inst, fl, cs
	}
	if first < 0 || second < 0 {
		return done("the broker delivered it again (at-least-once)", -1, nil)
	}
	if f.Attempts[second].Rec < f.Attempts[first].Rec {
		first, second = second, first
	}
	A, B := &f.Attempts[first], &f.Attempts[second]
	redelivered := func() { n.claim(receiveClaim(B)) }
	if A.Msg != B.Msg {
		// Two copies: whichever was handled first, the later one exists
		// because the producer published the event again.
		m := &f.Messages[B.Msg]
		if a := &f.Messages[A.Msg]; a.Copy > m.Copy {
			m = a
		}
		gap := m.At - f.Messages[e.Copies[0]].At
		for _, id := range []uint32{e.Copies[0], m.ID} {
			mm := &f.Messages[id]
			c := claim(ClaimPublish)
			c.Msg, c.Event, c.N, c.At, c.Dur = mm.ID, mm.Event, mm.Copy, mm.At, mm.At-f.Messages[e.Copies[0]].At
			n.claim(c)
		}
		moved := ""
		if f.Group != nil {
			moved = n.groupCopyMoved(A, B)
		}
		if gap < lateCopy {
			return done(fmt.Sprintf("the producer published event %d twice, as m%d and m%d, %.3f ms apart, so two copies were in flight at once%s", e.ID, e.Copies[0], m.ID, ms(gap), moved), B.Inst, nil)
		}
		return done(fmt.Sprintf("a late copy of event %d, m%d, was published %.3f s after the first%s", e.ID, m.ID, float64(gap)/1e9, moved), B.Inst, nil)
	}
	redelivered()
	if f.Group != nil {
		s, inst := n.groupCopyCause(A, B)
		return done(s, inst, nil)
	}
	// The requeue that sent the message out again, if the trace shows
	// one: with no ack deadline (RabbitMQ) it is a channel closing, not
	// a deadline passing, and the story says which.
	noDeadline := f.Config.Broker.AckDeadline == run.NoAckDeadline
	if noDeadline && B.Tag < A.Tag {
		// B handled a delivery it held from before A's: with prefetch,
		// a delivery waits in an instance's inbox, and when its channel
		// closes the broker sends the message out again while the
		// instance may still handle the one it held.
		if q := n.firstRequeueSince(B.Msg, B.Tag, A.Rec); q != nil && q.Cause == run.ChannelClosed && q.Inst == B.Inst {
			c := claim(ClaimChannelClosed)
			c.Rec, c.Msg, c.Inst = q.Rec, q.Msg, q.Inst
			c.N = closedBy(f.Trace, q.Rec-1, &f.Trace[q.Rec])
			n.claim(c, receiveClaim(A))
			return done(fmt.Sprintf("instance %d's channel closed%s while it held m%d, so the broker put m%d back at the head of the queue and delivered it again, to instance %d, and instance %d still handled the delivery it held", B.Inst, closedWhy(f.Trace, c.N), B.Msg, B.Msg, A.Inst, B.Inst), B.Inst, nil)
		}
	}
	q := n.firstRequeueSince(A.Msg, A.Tag, B.Rec)
	closed := q != nil && q.Cause == run.ChannelClosed
	closedClaim := func() int {
		c := claim(ClaimChannelClosed)
		c.Rec, c.Msg, c.Inst = q.Rec, q.Msg, q.Inst
		c.N = closedBy(f.Trace, q.Rec-1, &f.Trace[q.Rec])
		n.claim(c)
		return c.N
	}
	if A.Ack >= 0 && f.Acks[A.Ack].LostRec >= 0 && f.Acks[A.Ack].LostRec < B.Rec {
		c := claim(ClaimAck)
		c.Inst, c.Msg, c.At = A.Inst, A.Msg, f.Acks[A.Ack].At
		n.claim(c)
		if closed && q.Inst == A.Inst && q.Rec > f.Acks[A.Ack].LostRec {
			closedClaim()
			return done(fmt.Sprintf("instance %d's ack of m%d was lost, and instance %d's channel closed, so the broker put m%d back at the head of the queue and delivered it again", A.Inst, A.Msg, A.Inst, A.Msg), B.Inst, nil)
		}
		if closed && q.Inst == A.Inst {
			why := closedWhy(f.Trace, closedClaim())
			return done(fmt.Sprintf("instance %d's channel closed%s before its ack of m%d, which was lost, so the broker put m%d back at the head of the queue and delivered it again", A.Inst, why, A.Msg, A.Msg), B.Inst, nil)
		}
		if !closed && !noDeadline {
			return done(fmt.Sprintf("instance %d's ack of m%d was lost, so after its %sack deadline the broker delivered m%d again", A.Inst, A.Msg, n.deadline(A.Msg), A.Msg), B.Inst, nil)
		}
	}
	if fl := n.failureOf(first); fl != nil && fl.rec < B.Rec {
		n.claim(fl.claims...)
		n.claim(outcomeClaim(A))
		if closed {
			closedClaim()
			return done(fmt.Sprintf("instance %d %s and never acked m%d; instance %d's channel closed, so the broker put m%d back at the head of the queue and delivered it again", A.Inst, fl.what, A.Msg, q.Inst, A.Msg), B.Inst, fl)
		}
		return done(fmt.Sprintf("instance %d %s and never acked m%d, so the broker delivered m%d again", A.Inst, fl.what, A.Msg, A.Msg), B.Inst, fl)
	}
	if closed {
		// A stall does not send a message out again on a queue with no
		// deadline: the channel closing did.
		why := closedWhy(f.Trace, closedClaim())
		return done(fmt.Sprintf("instance %d's channel closed%s, so the broker put m%d back at the head of the queue and delivered it again", q.Inst, why, A.Msg), B.Inst, nil)
	}
	for _, s := range f.Stalls {
		// A stall sends a message out again only past an ack deadline.
		if !noDeadline && s.Inst == A.Inst && s.Msg == A.Msg && s.Rec > A.Rec && s.Rec < B.Rec {
			n.claim(stallClaim(&s))
			if A.EndRec < 0 || A.EndRec > B.Rec {
				sa := claim(ClaimStalled)
				sa.Inst, sa.At = A.Inst, B.At
				n.claim(sa)
				still := "while it still ran"
				if s.Paused {
					still = fmt.Sprintf("while it still held m%d", A.Msg)
				}
				return done(fmt.Sprintf("instance %d %s past m%d's %sack deadline, so the broker delivered m%d again %s", A.Inst, stalledWord(&s), A.Msg, n.deadline(A.Msg), A.Msg, still), B.Inst, nil)
			}
			return done(fmt.Sprintf("instance %d %s past m%d's %sack deadline, so the broker delivered m%d again", A.Inst, stalledWord(&s), A.Msg, n.deadline(A.Msg), A.Msg), B.Inst, nil)
		}
	}
	return done(fmt.Sprintf("the broker delivered m%d again (at-least-once)", B.Msg), B.Inst, nil)
}

// firstRequeueSince is the first requeue of message msg after its
// delivery with tag and before record to: the one that sent that
// delivery's message out again; nil if none.
func (n *narrator) firstRequeueSince(msg, tag uint32, to int) *Requeue {
	from := -1
	for _, d := range n.f.Messages[msg].Deliveries {
		if dl := &n.f.Deliveries[d]; dl.Tag == tag {
			from = dl.Rec
		}
	}
	if from < 0 {
		return nil
	}
	for k := range n.f.Requeues {
		if q := &n.f.Requeues[k]; q.Msg == msg && q.Rec > from && q.Rec < to {
			return q
		}
	}
	return nil
}

// requeueBetween is the last requeue of message msg after record from
// and before record to, nil if none.
func (n *narrator) requeueBetween(msg uint32, from, to int) *Requeue {
	var last *Requeue
	for k := range n.f.Requeues {
		if q := &n.f.Requeues[k]; q.Msg == msg && q.Rec > from && q.Rec < to {
			last = q
		}
	}
	return last
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
	c := claim(ClaimDeadline)
	c.Dur = int64(d)
	n.claim(c)
	return durWords(d) + " "
}

// ackingAttempt is the attempt whose ack of one of e's copies the broker
// accepted first, -1 if none is known.
func (n *narrator) ackingAttempt(e *Event) int {
	m := n.a.firstAck(e)
	if m == nil {
		return -1
	}
	for _, k := range e.Attempts {
		if a := &n.f.Attempts[k]; a.Ack >= 0 && n.f.Acks[a.Ack].AcceptedRec == m.AckedRec {
			return k
		}
	}
	return -1
}

// whyLost explains a lost event: by what the handler whose ack made the
// broker consider it done had done. A handler that dropped the delivery,
// or skipped it after its effect failed, acked it with nothing applied; one
// that skipped it found something that said the event was done: the mark,
// as the description knows it, or the keys and memory the trace shows.
func (n *narrator) whyLost() string {
	f, w, e := n.f, n.w, n.ev
	id := e.ID
	na := claim(ClaimNotApplied)
	na.Event = id
	n.claim(na)
	k := n.ackingAttempt(e)
	var acker *Attempt
	if k >= 0 {
		acker = &f.Attempts[k]
		ac := claim(ClaimAck)
		ac.Inst, ac.Msg, ac.At, ac.To, ac.Yes = acker.Inst, acker.Msg, f.Acks[acker.Ack].At, f.Acks[acker.Ack].Accepted, true
		n.claim(ac, outcomeClaim(acker))
	}
	if s := n.whyReused(acker); s != "" {
		return s
	}
	switch {
	case acker != nil && !acker.Outcome.Acks():
		// A consumer that commits what it received, handled or not
		// (the log's --commit auto), committed past a record its
		// handler failed on, or never finished.
		lead := w.why(Lost, "", fills{event: id, first: acker.Inst, second: -1})
		done := "never finished handling it"
		if acker.EndRec >= 0 {
			done = returned(acker.Outcome) + " on it"
		}
		return sentences(lead, fmt.Sprintf("Instance %d's handler %s, yet its %s reached the broker at %s: it commits the records it has received, handled or not, so the broker considers event %d done, and no one ever applied it.",
			acker.Inst, done, n.ack(), at(f.Acks[acker.Ack].Accepted), id))
	case acker != nil && acker.Outcome == run.Dropped:
		lead := w.why(Lost, "dropped", fills{event: id, first: acker.Inst, second: -1})
		return sentences(lead, fmt.Sprintf("Instance %d's handler returned dropped for m%d%s, and its %s reached the broker at %s: the broker considers event %d done, and no one ever applied it.",
			acker.Inst, acker.Msg, n.effectWords(acker, "having applied nothing"), n.ack(), at(f.Acks[acker.Ack].Accepted), id))
	case acker != nil && n.ackedAfterFailure(acker):
		lead := w.why(Lost, "acked-failure", fills{event: id, first: acker.Inst, second: -1})
		return sentences(lead, fmt.Sprintf("Instance %d's handler returned skipped for m%d%s, and its %s reached the broker at %s: the broker considers event %d done, and no one ever applied it.",
			acker.Inst, acker.Msg, n.effectWords(acker, ""), n.ack(), at(f.Acks[acker.Ack].Accepted), id))
	}
	c := n.firstMark()
	if c == nil || acker == nil || !n.foundMark(acker) {
		return n.lostFound(acker)
	}
	store, mark, did := storeName(c.Op), w.mark(), w.marked(c, id)
	n.claim(callClaim(c))
	if c.Op.KV() {
		n.claim(n.markKeyClaim(c))
	}
	skip := fmt.Sprintf("instance %d found the %s and skipped (at %s)", acker.Inst, mark, at(acker.End))
	if others := n.skippedOnMark(k); others > 0 {
		skip = fmt.Sprintf("%s found the %s and skipped (the last on instance %d at %s)", plural(others+1, "delivery"), mark, acker.Inst, at(acker.End))
	}
	var story string
	switch fl := n.failureOf(c.Attempt); {
	case fl != nil && fl.lock != "" && fl.rec > c.ServeRec:
		// The effect's Apply waited for a row lock another transaction
		// held, past the call timeout.
		n.claim(fl.claims...)
		story = fmt.Sprintf("Instance %d %s at %s, but %s. An Apply updates its account's row, and the database lets one open transaction at a time hold a row's lock, until it commits or aborts. After %s instance %d gave up on its Apply, so the effect never committed.",
			c.Inst, did, at(c.Served), fl.lock, durWords(fl.waited), c.Inst)
	case fl == nil:
		story = fmt.Sprintf("Instance %d %s at %s, and its effect never committed.", c.Inst, did, at(c.Served))
	case fl.rec < c.ServeRec:
		n.claim(fl.claims...)
		lc := claim(ClaimCallLate)
		lc.Call = c.ID
		if c.TimeoutRec >= 0 && c.TimeoutRec < c.ServeRec {
			lc.Yes = true
		}
		n.claim(lc)
		story = fmt.Sprintf("Instance %d %s; yet the request still reached %s at %s, so the %s was taken, and no one applied the effect.", c.Inst, fl.what, store, at(c.Served), mark)
	default:
		n.claim(fl.claims...)
		story = fmt.Sprintf("Instance %d %s at %s, then %s before the effect committed.", c.Inst, did, at(c.Served), fl.what)
	}
	if late := n.lateUndo(c); late != "" {
		story += " " + late
	}
	body := fmt.Sprintf("%s After that %s, and the %s told the broker event %d was done: no one will ever apply it.", story, skip, n.ack(), id)
	lead := w.why(Lost, "marked-first", fills{event: id, first: c.Inst, second: -1})
	if lead == "" {
		lead = w.fill("{strategy} takes its {mark} on an event before the effect commits, and not in the same transaction.", fills{event: id})
	}
	return sentences(lead, body)
}

// foundMark reports whether attempt a skipped after a call that found its
// event's mark there (the last call of a before it returned), and claims
// so.
func (n *narrator) foundMark(a *Attempt) bool {
	k := len(a.Calls) - 1
	for k > 0 && n.f.Calls[a.Calls[k]].Op == run.Rollback {
		k--
	}
	if a.Outcome != run.Skipped || k < 0 {
		return false
	}
	c := &n.f.Calls[a.Calls[k]]
	if !n.isMarkCall(c) || !present(c) {
		return false
	}
	lc := claim(ClaimLastCall)
	lc.Call, lc.Rec = c.ID, a.Rec
	n.claim(callClaim(c), lc)
	if c.Op.KV() {
		n.claim(n.markKeyClaim(c))
	}
	return true
}

// skippedOnMark counts the attempts of the focus event before attempt k
// that skipped after finding the mark, claiming each.
func (n *narrator) skippedOnMark(k int) int {
	count := 0
	for _, j := range n.ev.Attempts {
		if a := &n.f.Attempts[j]; j != k && a.Rec < n.f.Attempts[k].Rec && a.Outcome == run.Skipped {
			if !n.foundMark(a) {
				return 0
			}
			n.claim(outcomeClaim(a))
			count++
		}
	}
	return count
}

// lostFound explains a lost event whose mark explain does not know, by
// what the handler whose ack made it done found: its calls' answers, or,
// with no call at all, its memory, as far as the trace shows it.
func (n *narrator) lostFound(acker *Attempt) string {
	f, w, id := n.f, n.w, n.focus
	lead := w.why(Lost, "", fills{event: id, first: -1, second: -1})
	if acker == nil {
		return sentences(lead, fmt.Sprintf("The broker took %s of event %d, and no handler ever applied its effect.", n.anAck(), id))
	}
	var parts []string
	if len(acker.Calls) == 0 {
		cc := claim(ClaimCalls)
		cc.Rec = acker.Rec
		n.claim(cc)
		if s := n.skipRecorded(acker, n.attemptIndex(acker)); s != "" {
			parts = append(parts, fmt.Sprintf("Instance %d's handler skipped m%d at %s without asking any store: %s.",
				acker.Inst, acker.Msg, at(acker.End), s))
		} else if n.memory {
			parts = append(parts, fmt.Sprintf("Instance %d's handler skipped m%d at %s without asking any store: its own %s decided%s.",
				acker.Inst, acker.Msg, at(acker.End), w.memory(), n.handledBefore(acker)))
		} else {
			parts = append(parts, fmt.Sprintf("Instance %d's handler skipped m%d at %s without asking any store.", acker.Inst, acker.Msg, at(acker.End)))
		}
	} else {
		var found []string
		for _, cid := range acker.Calls {
			c := &f.Calls[cid]
			if c.ServeRec < 0 {
				continue
			}
			n.claim(callClaim(c))
			found = append(found, n.foundWords(c))
		}
		parts = append(parts, fmt.Sprintf("Instance %d's handler skipped m%d at %s after its calls found: %s.", acker.Inst, acker.Msg, at(acker.End), strings.Join(found, "; ")))
	}
	// How the event was left undone: the first handling of it, and what
	// stopped it.
	if first := n.ev.Attempts[0]; &f.Attempts[first] != acker {
		a := &f.Attempts[first]
		n.claim(outcomeClaim(a))
		if fl := n.failureOf(first); fl != nil {
			n.claim(fl.claims...)
			parts = append(parts, fmt.Sprintf("The first handling of event %d, on instance %d at %s, %s.", id, a.Inst, at(a.At), fl.what))
		} else if a.EndRec >= 0 {
			parts = append(parts, fmt.Sprintf("The first handling of event %d, on instance %d at %s, %s.", id, a.Inst, at(a.At), returned(a.Outcome)))
		}
	}
	parts = append(parts, fmt.Sprintf("Its %s told the broker event %d was done, and no one ever applied it.", n.ack(), id))
	return sentences(lead, strings.Join(parts, " "))
}

// foundWords says what call c found, and, for a key it found there, who
// had written the value it found.
func (n *narrator) foundWords(c *Call) string {
	f := n.f
	s := fmt.Sprintf("%s → %s", n.w.callName(c), answerWords(c))
	if !present(c) || c.Op.Store() != run.Redis {
		return s
	}
	var last *Key
	for k := range f.Keys {
		key := &f.Keys[k]
		same := key.Name == c.Key && (c.Op.KV() || key.Event == c.Event) && (!key.Set || key.Value == c.Value)
		if same && key.Rec < c.ServeRec {
			last = key
		}
	}
	if last == nil {
		return s
	}
	n.claim(callClaim(&f.Calls[last.Call]))
	return s + fmt.Sprintf(" (instance %d had written it at %s)", last.Inst, at(last.At))
}

// answerWords says what a call's answer means, in a few words.
func answerWords(c *Call) string {
	switch {
	case c.Op == run.Get && c.Answer == run.Yes:
		return "= " + c.Value
	case present(c):
		return "there"
	case absent(c):
		return "not there"
	case c.Answer == run.Yes:
		return "done"
	case c.Answer == run.No:
		return "not done"
	}
	return c.Answer.String()
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
		if d := &f.Calls[id]; isDelete(d.Op) && d.Key == c.Key && d.SentRec > c.ServeRec {
			del = d
			break
		}
	}
	if del == nil {
		return ""
	}
	var skipped *Attempt
	for _, k := range n.ev.Attempts {
		if o := &f.Attempts[k]; o.Outcome == run.Skipped && o.EndRec >= 0 && o.EndRec < del.SentRec {
			skipped = o
			break
		}
	}
	if skipped == nil {
		return ""
	}
	for _, st := range f.Stalls {
		if st.Inst == c.Inst && st.Msg == c.Msg && st.Rec > c.ServeRec && st.Rec < del.SentRec {
			n.claim(stallClaim(&st), callClaim(del), outcomeClaim(skipped), before(skipped.EndRec, del.SentRec))
			return fmt.Sprintf("Its handler then %s, so its %s came only at %s, after another copy had found the %s at %s.",
				stallWords(&st), w.callName(del), at(del.Sent), w.mark(), at(skipped.End))
		}
	}
	return ""
}

// firstMark is the call that first took the focus event's mark, as the
// strategy's description knows it: a Redis write of its mark, or the
// commit of its id; nil if none did.
func (n *narrator) firstMark() *Call {
	f, e := n.f, n.ev
	var best *Call
	for _, k := range e.Keys {
		if c := &f.Calls[f.Keys[k].Call]; n.isMarkCall(c) {
			best = c
			break
		}
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
