package explain

import (
	"fmt"
	"strings"

	"github.com/idemsim/idemsim/run"
)

// The duplicates of strategies that keep a key in Redis while they work
// and change it after: a lease that expired under a handler that had not
// finished, and a key deleted after an effect that did commit. Both are
// told only of the key the strategy's description names its mark.

// valueWords names a key's value, as "lease:1 = INPROGRESS (a handler
// holds the lease)".
func (n *narrator) valueWords(key *Key) string {
	return fmt.Sprintf("%s = %s%s", key.Name, key.Value, n.w.meaning(key.Value))
}

// appliedBy reports whether attempt k's effect had committed by record
// rec.
func (n *narrator) appliedBy(k, rec int) bool {
	for _, ap := range n.ev.Applications {
		if n.f.AttemptOf(ap) == k && k >= 0 && ap.Rec < rec {
			return true
		}
	}
	return false
}

// finishedBy reports whether attempt k's handler returned applied by
// time t.
func (n *narrator) finishedBy(k int, t int64) bool {
	a := &n.f.Attempts[k]
	return a.Outcome == run.Applied && a.End <= t
}

// applicationOf is attempt k's application of the focus event, nil if none.
func (n *narrator) applicationOf(k int) *Application {
	for j, ap := range n.ev.Applications {
		if k >= 0 && n.f.AttemptOf(ap) == k {
			return &n.ev.Applications[j]
		}
	}
	return nil
}

// leaseExpired explains a duplicate in which the key that attempt early
// set before its effect (last) expired before attempt late's check took
// it: either early's effect committed and its next write of the key never
// came in time, or early was held up past the TTL and committed after
// late did.
func (n *narrator) leaseExpired(d *dup, last *Key, check *Call, early, late int) string {
	f, w, id := n.f, n.w, n.focus
	E, L := &f.Attempts[early], &f.Attempts[late]
	set := &f.Calls[last.Call]
	n.claim(callClaim(set), n.markKeyClaim(set), callClaim(check))
	took := fmt.Sprintf("Instance %d %s at %s (%s = %s, for %s)", E.Inst, w.marked(set, id), at(last.At), last.Name, last.Value, ttlWords(last.TTL))
	expired := fmt.Sprintf("%s expired at %s", last.Name, at(last.Expires))
	retried := n.retriedWhile(last, check)
	mine := n.applicationOf(early)
	if mine == nil || mine.At >= last.Expires {
		// Held up past the TTL: the later handler took the key and
		// applied first.
		held := n.holdUp(early, last.TTL)
		if held == "" {
			held = "took longer than that"
		}
		lateApp := n.applicationOf(late)
		body := fmt.Sprintf("%s, then %s: %s, while instance %d had not finished.%s At %s instance %d %s and applied the effect",
			took, held, expired, E.Inst, retried, at(check.Served), L.Inst, w.marked(check, id))
		if lateApp != nil {
			n.claim(appliedClaim(id, *lateApp))
			body += " at " + at(lateApp.At)
		}
		if mine != nil {
			n.claim(appliedClaim(id, *mine))
			body += fmt.Sprintf("; instance %d's own effect committed too, at %s.", E.Inst, at(mine.At))
		} else {
			body += "."
		}
		return body + " " + n.came(d)
	}
	n.claim(appliedClaim(id, *mine))
	next := n.nextWrite(early, last)
	fl := n.failureOf(early)
	why := ""
	if fl != nil {
		n.claim(fl.claims...)
		why = ": it " + fl.what
	}
	var came string
	if d.causeFail != nil && fl != nil && d.causeFail.rec == fl.rec {
		came = n.noAckAgain(early)
	} else {
		came = n.came(d)
	}
	who := fmt.Sprintf("instance %d", L.Inst)
	if L.Inst == E.Inst && n.crashedSince(E.Inst, E.Rec, L.Rec) {
		for k := range f.Crashes {
			if c := &f.Crashes[k]; c.Inst == E.Inst && c.Rec > E.Rec && c.Rec < L.Rec {
				n.claim(crashClaim(c))
				break
			}
		}
		who += ", restarted since its crash,"
	}
	return fmt.Sprintf("%s, and its effect committed at %s, but %s%s. %s%s Then %s, and at %s %s %s again and applied the effect a second time.",
		took, at(mine.At), next, why, came, retried, expired, at(check.Served), who, w.marked(check, id))
}

// nextWrite says what became of the write of last's key that attempt k
// would make after its effect: its name in the strategy's words, where a
// handler of the event made one after its effect.
func (n *narrator) nextWrite(k int, last *Key) string {
	f := n.f
	for _, id := range f.Attempts[k].Calls {
		if c := &f.Calls[id]; c.Key == last.Name && c.SentRec > last.Rec && isWriteOp(c.Op) {
			n.claim(callClaim(c))
			name := n.w.callName(c)
			if c.ServeRec < 0 {
				return fmt.Sprintf("its %s never reached Redis", name)
			}
			return fmt.Sprintf("its %s reached Redis only at %s, too late", name, at(c.Served))
		}
	}
	nw := claim(ClaimNoWrite)
	nw.Rec, nw.Key, nw.At = f.Attempts[k].Rec, last.Name, last.At
	n.claim(nw)
	// The write another handler of the event made after its effect names
	// the write that never came.
	for _, k2 := range n.ev.Attempts {
		for _, id := range f.Attempts[k2].Calls {
			if c := &f.Calls[id]; k2 != k && c.Key == last.Name && isWriteOp(c.Op) && c.ServeRec >= 0 && n.appliedBy(k2, c.ServeRec) {
				n.claim(callClaim(c))
				return fmt.Sprintf("its %s never came", n.w.callName(c))
			}
		}
	}
	return fmt.Sprintf("it never wrote %s again", last.Name)
}

// retriedWhile says how many deliveries of the focus event found key
// value last while it lived, before check, and asked to retry later, as
// " Meanwhile 25 deliveries found lease:1 = INPROGRESS and asked to retry
// later."; "" if none did.
func (n *narrator) retriedWhile(last *Key, check *Call) string {
	c := 0
	for _, k := range n.ev.Attempts {
		if a := &n.f.Attempts[k]; a.Outcome == run.RetryLater && a.At > last.At && a.End < check.Served {
			if !n.foundValue(a, last) {
				continue
			}
			n.claim(outcomeClaim(a))
			c++
		}
	}
	if c == 0 {
		return ""
	}
	did := "1 delivery"
	if c > 1 {
		did = fmt.Sprintf("%d deliveries", c)
	}
	return fmt.Sprintf(" Meanwhile %s found %s and asked to retry later.", did, n.valueWords(last))
}

// foundValue reports whether attempt a's calls found key value last there
// (a SET NX refused, a GET of its value), and claims the call.
func (n *narrator) foundValue(a *Attempt, last *Key) bool {
	for _, id := range a.Calls {
		c := &n.f.Calls[id]
		if c.Key == last.Name && present(c) && c.ServeRec > last.Rec && (last.EndRec < 0 || c.ServeRec < last.EndRec) && c.Served < last.Expires {
			if c.Op == run.Get && c.Value != last.Value {
				continue
			}
			n.claim(callClaim(c))
			return true
		}
	}
	return false
}

// holdUp says what held attempt k up before its effect committed: a stall
// (longer than ttl, if it was), a partition that held its calls, a crash,
// a timeout; "" if nothing did.
func (n *narrator) holdUp(k int, ttl int64) string {
	f := n.f
	a := &f.Attempts[k]
	var parts []string
	for _, s := range f.Stalls {
		if s.Inst == a.Inst && s.Rec > a.Rec && (a.EndRec < 0 || s.Rec < a.EndRec) {
			n.claim(stallClaim(&s))
			stall := stallWords(&s)
			if s.Dur > ttl {
				stall += fmt.Sprintf(", longer than the %s TTL", ttlWords(ttl))
			}
			parts = append(parts, stall)
			break
		}
	}
	for _, id := range a.Calls {
		c := &f.Calls[id]
		if len(c.Holds) > 0 {
			hc := claim(ClaimHeld)
			hc.Call, hc.Yes = c.ID, c.Holds[0].Reply
			n.claim(callClaim(c), hc)
			parts = append(parts, fmt.Sprintf("was cut off from %s: its %s was held until the partition healed", storeName(c.Op), n.w.callName(c)))
			break
		}
	}
	if fl := n.failureOf(k); fl != nil && len(parts) == 0 {
		n.claim(fl.claims...)
		parts = append(parts, fl.what)
	}
	return strings.Join(parts, ", and ")
}

// released explains a duplicate in which a handler deleted the key (last)
// that an earlier check had set, so that the next check found nothing: it
// says why the deleting handler deleted it only where the trace shows a
// failure of its attempt, and whether the effect had committed by then.
func (n *narrator) released(d *dup, last *Key, check *Call, took, noKey string) string {
	f, w, id := n.f, n.w, n.focus
	del := &f.Calls[last.EndCall]
	set := &f.Calls[last.Call]
	n.claim(callClaim(set), callClaim(del))
	if set.Op.KV() {
		n.claim(n.markKeyClaim(set))
	}
	body := fmt.Sprintf("Instance %d %s at %s", last.Inst, w.marked(set, id), at(last.At))
	who := "it"
	if del.Inst != last.Inst {
		who = fmt.Sprintf("instance %d", del.Inst)
	}
	came := ""
	if fl := n.failureOf(del.Attempt); fl != nil && fl.rec < del.SentRec {
		n.claim(fl.claims...)
		n.claim(before(fl.rec, del.SentRec))
		body += fmt.Sprintf("; then %s %s, so to its handler the effect had failed, and it deleted %s at %s with its %s.", who, fl.what, last.Name, at(del.Served), w.callName(del))
		if d.causeFail != nil && d.causeFail.rec == fl.rec {
			came = n.noAckAgain(del.Attempt)
		}
	} else {
		body += fmt.Sprintf("; then %s deleted %s at %s with its %s.", who, last.Name, at(del.Served), w.callName(del))
	}
	if mine := n.applicationOf(del.Attempt); mine != nil {
		n.claim(appliedClaim(id, *mine))
		if mine.Rec < del.ServeRec {
			n.claim(before(mine.Rec, del.ServeRec))
			body += fmt.Sprintf(" But the effect had committed, at %s.", at(mine.At))
		} else {
			n.claim(before(del.ServeRec, mine.Rec))
			body += fmt.Sprintf(" But its commit still went through, at %s.", at(mine.At))
		}
	}
	if came == "" {
		came = n.came(d)
	}
	return fmt.Sprintf("%s %s When the next copy came, %s, so %s.", body, came, noKey, took)
}
