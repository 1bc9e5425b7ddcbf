package explain

import (
	"fmt"
	"strings"
	"time"

	"github.com/idemsim/idemsim/run"
)

// storeName names the store that serves op, as a story says it.
func storeName(op run.Op) string {
	switch op.Store() {
	case run.Redis:
		return "Redis"
	case run.Provider:
		return "the payment provider"
	case run.Broker:
		return "the downstream topic" // a publish (strategies.Publisher)
	}
	return "the database"
}

// serveText tells store call c executed at record i: what the instance
// did and what the store did. A call whose sender crashed or gave up on it
// is told as arriving late, with what the store did alone. It reports false
// for a call the story tells with another step (an insert or Apply with
// its commit).
func (n *narrator) serveText(i int, c *Call) (string, bool) {
	f, w := n.f, n.w
	name, store, ev := w.callName(c), storeName(c.Op), c.Event
	n.claim(callClaim(c))
	var late string
	switch {
	case c.TimeoutRec >= 0 && c.TimeoutRec < i:
		lc := claim(ClaimCallLate)
		lc.Call, lc.Yes = c.ID, true
		n.claim(lc)
		late = fmt.Sprintf("the %s, which it had given up on, reaches %s after all: ", name, store)
	case n.crashedSince(c.Inst, c.SentRec, i):
		lc := claim(ClaimCallLate)
		lc.Call = c.ID
		n.claim(lc)
		late = fmt.Sprintf("the %s, sent just before it crashed, still reaches %s: ", name, store)
	}
	if c.Answer == run.Refused {
		text := "Redis is down and refuses its " + name
		if a := n.attemptOf(c); a != nil && a.Outcome == run.Errored {
			n.claim(outcomeClaim(a))
			text += ": the handler fails"
		}
		return late + text, true
	}
	if c.Answer == run.WrongType {
		return late + fmt.Sprintf("%s: %s holds the other kind of value (a string where a set was asked for, or a set where a string was), so Redis answers WRONGTYPE%s",
			w.doesCall(c, true), c.Key, n.then(c)), true
	}
	var what, result string
	switch c.Op {
	case run.Get, run.Put, run.PutNX, run.PutXX, run.Del, run.DelIfEq, run.SetIfEq, run.SAdd, run.SIsMember, run.SRem:
		what, result = n.kvText(c)
	case run.Read, run.Delete, run.Update:
		if c.Answer == run.TxAborted {
			what, result = "sends its "+name, "the database had already rolled its transaction back"
			break
		}
		what, result = n.rowText(c)
	case run.InsertApply:
		if c.Answer == run.TxAborted {
			what, result = "sends its "+name, "the database had already rolled its transaction back"
			break
		}
		what, result = n.insertApplyText(i, c)
	case run.ReadOffset, run.AdvanceOffset:
		if c.Answer == run.TxAborted {
			what, result = "sends its "+name, "the database had already rolled its transaction back"
			break
		}
		what, result = n.offsetText(c)
	case run.SetNX:
		if c.Answer == run.Yes {
			what, result = w.doesCall(c, false), fmt.Sprintf("no key existed, so the key is set and the %s is taken", w.mark())
		} else {
			what, result = w.doesCall(c, true), "the key is already there"+n.then(c)
		}
	case run.Exists:
		what = w.doesCall(c, false)
		if c.Answer == run.Yes {
			result = "it is there" + n.then(c)
		} else {
			result = "it is not there" + n.thenApplies(c)
		}
	case run.Set:
		what, result = w.doesCall(c, false), "the key is set"
		if n.appliedBefore(c) {
			what += ", now that the effect is committed"
		}
	case run.Insert, run.Apply:
		switch {
		case c.Answer == run.TxAborted:
			what, result = "sends its "+name, "the database had already rolled its transaction back"
		case c.Op == run.Apply && c.Answer == run.Yes && len(c.Parks) > 0:
			acct := f.Events[ev].Account
			if c.TimeoutRec >= 0 && c.TimeoutRec < i {
				// Its client gave up on it and dropped the connection:
				// nothing of it will commit.
				return fmt.Sprintf("the Apply it gave up on gets account %d's row lock after all: the transaction that held it has ended; but the instance has dropped its connection, so the database will roll this transaction back", acct), true
			}
			h := &f.Txs[c.Parks[len(c.Parks)-1].Holder]
			ended := fmt.Sprintf("instance %d's transaction %s", h.Inst, n.endWords(h, i))
			if h.Inst == c.Inst {
				ended = "its own earlier transaction " + n.endWords(h, i)
			}
			what = fmt.Sprintf("gets account %d's row lock", acct)
			result = fmt.Sprintf("%s, so the database lets the waiting Apply through; event %d's effect is applied, not committed yet", ended, ev)
		case c.Op == run.Insert && c.Answer == run.No:
			what, result = w.doesCall(c, true), "it is already there (the unique constraint)"+n.then(c)
		default:
			return "", false // told with the commit, or with the rollback that undoes it
		}
	case run.Commit:
		what = w.doesCall(c, false)
		t := &f.Txs[c.Tx]
		if c.Answer == run.TxAborted {
			result = "the database had already rolled the transaction back: nothing of it is kept"
			break
		}
		var parts []string
		for _, e := range t.Inserted {
			ic := claim(ClaimIDCommitted)
			ic.Rec, ic.Event, ic.Yes = i, e, f.IDCommitted(e, i)
			n.claim(ic)
			parts = append(parts, fmt.Sprintf("event %d's id is in the processed-ids table", e))
		}
		for _, e := range t.Deleted {
			ic := claim(ClaimIDCommitted)
			ic.Rec, ic.Event = i, e
			n.claim(ic)
			parts = append(parts, fmt.Sprintf("event %d's row is gone from the processed-ids table", e))
		}
		for _, e := range t.Applied {
			lc := claim(ClaimLedger)
			lc.Rec, lc.Event, lc.N = i, e, f.Ledger(e, i)
			n.claim(lc)
			parts = append(parts, fmt.Sprintf("event %d's effect is in the ledger (%s)", e, times(lc.N)))
		}
		if len(parts) == 0 {
			return "", false
		}
		result = strings.Join(parts, ", and ")
		if t.Holds(run.Insert, ev) && !t.Holds(run.Apply, ev) {
			lc := claim(ClaimLedger)
			lc.Rec, lc.Event, lc.N = i, ev, f.Ledger(ev, i)
			if lc.N == 0 {
				n.claim(lc)
				result += "; the effect is not applied yet"
			}
		}
	case run.Rollback:
		if !f.Txs[c.Tx].Holds(run.Apply, ev) {
			return "", false
		}
		h := claim(ClaimTxHolds)
		h.Tx, h.Op, h.Event = c.Tx, run.Apply, ev
		n.claim(h)
		what, result = w.doesCall(c, false), fmt.Sprintf("event %d's effect is discarded", ev)
	case run.Charge:
		what = w.doesCall(c, c.Answer != run.Yes && c.Answer != run.Replayed)
		switch c.Answer {
		case run.Yes:
			result = fmt.Sprintf("the provider charges it (%s)", c.Value)
		case run.Replayed:
			result = fmt.Sprintf("the provider answers from the key, with the first charge (%s), and charges nothing", c.Value)
		case run.KeyConflict:
			result = "the provider refuses it, 409: a request with the key is still running"
		case run.KeyMismatch:
			result = "the provider refuses it, 422: the key was used with other parameters"
		default:
			result = "the provider fails, 500, having charged nothing"
		}
		result += n.then(c)
	default:
		// An operation this package predates: its answer, as it is.
		what, result = w.doesCall(c, c.Answer == run.No), "the answer is "+c.Answer.String()+n.then(c)
	}
	if late != "" {
		return late + result, true
	}
	return what + ": " + result, true
}

// crashedSince reports whether instance inst crashed between records
// from and to.
func (n *narrator) crashedSince(inst int32, from, to int) bool {
	for _, c := range n.f.Crashes {
		if c.Inst == inst && c.Rec > from && c.Rec < to {
			return true
		}
	}
	return false
}

// attemptOf is the attempt that made call c, nil if none.
func (n *narrator) attemptOf(c *Call) *Attempt {
	if c.Attempt < 0 {
		return nil
	}
	return &n.f.Attempts[c.Attempt]
}

// then says what the handler that made call c did next, when c's answer
// was the last it got before it returned (but for a rollback of what it
// began): ", so the handler will skip", ", so the handler asks to retry
// later", ", so the handler gives up (dropped)"; "" otherwise.
func (n *narrator) then(c *Call) string {
	a := n.attemptOf(c)
	if a == nil || a.EndRec < 0 {
		return ""
	}
	calls := a.Calls
	k := len(calls) - 1
	for k > 0 && n.f.Calls[calls[k]].Op == run.Rollback {
		k--
	}
	if calls[k] != c.ID {
		return ""
	}
	var s string
	switch a.Outcome {
	case run.Skipped:
		s = ", so the handler will skip"
	case run.RetryLater:
		s = ", so the handler asks to retry later"
	case run.Dropped:
		s = ", so the handler gives up on the delivery"
	case run.Rejected:
		s = ", so the handler refuses the delivery to the dead-letter queue"
	default:
		return ""
	}
	lc := claim(ClaimLastCall)
	lc.Call, lc.Rec = c.ID, a.Rec
	n.claim(lc, outcomeClaim(a))
	return s
}

// thenApplies says ", so the handler goes on to apply the effect" when
// its handler's next call after c is the effect's.
func (n *narrator) thenApplies(c *Call) string {
	if c.Attempt >= 0 {
		calls := n.f.Attempts[c.Attempt].Calls
		for k, id := range calls {
			if id == c.ID && k+1 < len(calls) && effectOp(n.f.Calls[calls[k+1]].Op) {
				nc := claim(ClaimNextCall)
				nc.Call, nc.Op = c.ID, n.f.Calls[calls[k+1]].Op
				n.claim(nc)
				return ", so the handler goes on to apply the effect"
			}
		}
	}
	return ""
}

// effectOp reports whether op applies an event's effect.
func effectOp(op run.Op) bool { return op == run.Apply || op == run.InsertApply }

// appliedBefore reports whether the handler that made call c had
// committed its event's effect before it sent c, and claims so.
func (n *narrator) appliedBefore(c *Call) bool {
	for _, ap := range n.f.Events[c.Event].Applications {
		if n.f.AttemptOf(ap) == c.Attempt && c.Attempt >= 0 && ap.Rec < c.SentRec {
			n.claim(appliedClaim(c.Event, ap), before(ap.Rec, c.SentRec))
			return true
		}
	}
	return false
}

// parkClaim states that call c waited behind transaction h.
func parkClaim(c *Call, h *Tx) Claim {
	cl := claim(ClaimPark)
	cl.Call, cl.Tx, cl.Inst = c.ID, h.ID, h.Inst
	return cl
}

// parkText tells the database making call c wait behind another
// transaction, at record i.
func (n *narrator) parkText(i int, c *Call) string {
	f := n.f
	k := 0
	for k < len(c.Parks)-1 && c.Parks[k].Rec != i {
		k++
	}
	p := &c.Parks[k]
	h := &f.Txs[p.Holder]
	n.claim(callClaim(c), parkClaim(c, h))
	who := n.txWords(h, c.Inst)
	stmt := "this Apply"
	if c.Op == run.InsertApply {
		stmt = "the statement"
	}
	switch {
	case p.ID && c.Op == run.InsertApply:
		n.claim(n.holdsClaim(h, run.Insert, c.Event))
		return fmt.Sprintf("%s, but %s inserted event %d's id first: the database makes the statement wait for that transaction to end", n.w.doesCall(c, false), who, c.Event)
	case p.ID:
		n.claim(n.holdsClaim(h, run.Insert, c.Event))
		return fmt.Sprintf("inserts event %d into the processed-ids table, but %s inserted it first: the database makes this insert wait for that transaction to end", c.Event, who)
	case p.Row && (c.Op == run.ReadOffset || c.Op == run.AdvanceOffset):
		return fmt.Sprintf("%s, but %s holds the lock of partition %d's offset row (it inserted it, read it FOR UPDATE or advanced it): the database makes this call wait for that transaction to end", n.w.doesCall(c, false), who, c.Part)
	case p.Row:
		return fmt.Sprintf("%s, but %s holds the lock of event %d's row (it read it FOR UPDATE, updated or deleted it): the database makes this call wait for that transaction to end", n.w.doesCall(c, false), who, c.Event)
	}
	acct := f.Events[c.Event].Account
	text := fmt.Sprintf("still waits: account %d's row lock went to %s, which had waited longer, so %s waits for that transaction to end", acct, who, stmt)
	first := true
	for _, q := range c.Parks[:k] {
		first = first && q.ID
	}
	if first {
		of := ""
		if e := f.AppliedTo(h, acct); e != 0 && e != c.Event {
			n.claim(n.holdsClaim(h, run.Apply, e))
			of = fmt.Sprintf(" (event %d's effect)", e)
		} else if e != 0 {
			n.claim(n.holdsClaim(h, run.Apply, e))
		}
		does := fmt.Sprintf("applies event %d's effect to account %d", c.Event, acct)
		if c.Op == run.InsertApply {
			does = fmt.Sprintf("%s: the id goes in, and the effect is for account %d", n.w.doesCall(c, false), acct)
		}
		text = fmt.Sprintf("%s, but %s updated account %d first%s and holds its row lock: the database makes %s wait for that transaction to end", does, who, acct, of, stmt)
	}
	if s := n.holderWords(h, i, false); s != "" {
		text += "; " + s
	}
	return text
}

// holdsClaim states that transaction h holds op about event ev.
func (n *narrator) holdsClaim(h *Tx, op run.Op, ev uint32) Claim {
	c := claim(ClaimTxHolds)
	c.Tx, c.Op, c.Event = h.ID, op, ev
	return c
}

// txWords names transaction t as seen from instance inst: "instance 1's
// open transaction", or its own earlier one when inst let go of it (its
// connection dropped) and the database has not rolled it back yet.
func (n *narrator) txWords(t *Tx, inst int32) string {
	if t.Inst == inst {
		return "its own earlier transaction, still open in the database,"
	}
	return fmt.Sprintf("instance %d's open transaction", t.Inst)
}

// holderWords says why transaction t, which holds a lock at record i, does
// not end, with its claims; in the past tense if past is set; "" if none
// of the reasons holderState knows holds.
func (n *narrator) holderWords(t *Tx, i int, past bool) string {
	has, is := "has", "is"
	if past {
		has, is = "had", "was"
	}
	open := claim(ClaimTxEnd)
	open.Tx, open.Rec, open.N, open.Inst = t.ID, i, int(TxOpen), t.Inst
	switch n.a.holderState(t.ID, i) {
	case holderCrashed:
		cr := n.crashOf(t.Inst, t.DroppedRec)
		n.claim(open, crashClaim(cr))
		return fmt.Sprintf("instance %d crashed before committing it, and the database %s not yet noticed that its connection was gone", t.Inst, has)
	case holderGaveUp:
		n.claim(open)
		return fmt.Sprintf("instance %d gave up on it, and the database %s not yet noticed that its connection was gone", t.Inst, has)
	case holderStalled:
		sc := claim(ClaimStalled)
		sc.Inst, sc.At = t.Inst, n.f.Trace[i].At
		n.claim(open, sc)
		if s := n.f.StalledAt(t.Inst, sc.At); s != nil && s.Paused {
			n.claim(stallClaim(s))
			return fmt.Sprintf("instance %d %s paused before committing it", t.Inst, has)
		}
		return fmt.Sprintf("instance %d %s stalled before committing it", t.Inst, has)
	case holderLeft:
		n.claim(open, leaveClaim(n.f.LeaveAt(t.DroppedRec)))
		return fmt.Sprintf("instance %d left before committing it, and the database %s not yet noticed that its connection was gone", t.Inst, has)
	case holderCut:
		n.claim(open, cutClaim(i, t.Inst, run.Database))
		return fmt.Sprintf("instance %d %s cut off from the database before its commit got through", t.Inst, is)
	}
	return ""
}

// crashOf is instance inst's crash at record rec.
func (n *narrator) crashOf(inst int32, rec int) *Crash {
	for k := range n.f.Crashes {
		if c := &n.f.Crashes[k]; c.Inst == inst && c.Rec == rec {
			return c
		}
	}
	return &Crash{Inst: inst, Rec: rec}
}

// endWords says how transaction h ended, freeing the lock a call waited
// for, as seen at record i: the database wakes the waiters of a commit or
// rollback before it answers it, so h's end may be recorded just after.
func (n *narrator) endWords(h *Tx, i int) string {
	now := h.EndRec >= i
	c := claim(ClaimTxEnd)
	c.Tx, c.Rec, c.N, c.Inst = h.ID, h.EndRec, int(h.Status), h.Inst
	n.claim(c)
	switch {
	case h.EndRec < 0:
		return "has ended"
	case h.Status == TxCommitted && now:
		return "commits"
	case h.Status == TxCommitted:
		return "has committed"
	case h.Status == TxRolledBack && now:
		return "rolls back"
	case now:
		return "is rolled back"
	}
	return "was rolled back"
}

// heldText tells a partition holding call c's request or reply.
func (n *narrator) heldText(i int, c *Call) string {
	what := "request"
	hc := claim(ClaimHeld)
	hc.Call = c.ID
	for _, h := range c.Holds {
		if h.Rec == i && h.Reply {
			what, hc.Yes = "reply", true
		}
	}
	n.claim(callClaim(c), hc)
	return fmt.Sprintf("is cut off from %s: the network holds the %s of its %s until the partition heals", storeName(c.Op), what, n.w.callName(c))
}

// waitedFor is the transaction call c still waited behind when its
// instance gave up on it, nil if it was not waiting.
func (n *narrator) waitedFor(c *Call) *Tx {
	if p := c.WaitingAt(c.TimeoutRec); p != nil {
		return &n.f.Txs[p.Holder]
	}
	return nil
}

// timeoutClaim states that instance gave up on call c after waiting.
func timeoutClaim(c *Call) Claim {
	cl := claim(ClaimTimeout)
	cl.Call, cl.Inst, cl.Dur = c.ID, c.Inst, c.TimedOut-c.Sent
	return cl
}

// timeoutText tells an instance giving up on call c.
func (n *narrator) timeoutText(c *Call) string {
	name, waited := n.w.callName(c), durWords(time.Duration(c.TimedOut-c.Sent))
	n.claim(callClaim(c), timeoutClaim(c))
	fails := ""
	if a := n.attemptOf(c); a != nil && a.Outcome == run.Errored && n.lastFailure(a, c) {
		n.claim(outcomeClaim(a))
		fails = ", and its handler fails"
	}
	text := fmt.Sprintf("gives up waiting for the reply to its %s after %s: it cannot know whether the call took effect%s", name, waited, fails)
	if h := n.waitedFor(c); h != nil && effectOp(c.Op) {
		n.claim(parkClaim(c, h))
		text = fmt.Sprintf("gives up waiting for the reply to its %s after %s, while the database still makes it wait for account %d's row lock: to the instance the outcome is unknown%s", name, waited, n.f.Events[c.Event].Account, fails)
	}
	if c.Op.Store() == run.Database {
		text += "; it drops its database connection, so the database will roll back whatever it left open"
	}
	return text
}

// lastFailure reports whether call c's timeout is the last thing its
// attempt a did before its handler returned: no other call of a came
// after it but rollbacks.
func (n *narrator) lastFailure(a *Attempt, c *Call) bool {
	for _, id := range a.Calls {
		if o := &n.f.Calls[id]; o.SentRec > c.TimeoutRec && o.Op != run.Rollback {
			return false
		}
	}
	return true
}

// failure is what stopped a handling attempt: a crash, a timeout, a
// refused call, an error.
type failure struct {
	rec  int
	what string // in words, as "crashed before its Apply (the effect)"
	// lock, for an Apply given up on while it waited for a row lock, says
	// who held the lock and why it was not released, as "its Apply had to
	// wait for account 4's row lock, which instance 1's transaction held:
	// it had updated account 4 first (event 4's effect), and instance 1
	// had stalled before committing it"; "" otherwise.
	lock string
	// waited is how long the instance waited before it gave up.
	waited time.Duration
	// claims are what what and lock state.
	claims []Claim
}

// failureOf is the first failure of attempt k, nil if it had none.
func (n *narrator) failureOf(k int) *failure {
	if k < 0 {
		return nil
	}
	f, w := n.f, n.w
	a := &f.Attempts[k]
	var first *failure
	add := func(fl failure) {
		if first == nil || fl.rec < first.rec {
			first = &fl
		}
	}
	if a.Crash >= 0 {
		c := &f.Crashes[a.Crash]
		step := n.crashStep(c)
		what := "crashed before " + step
		if c.InFlight {
			what = "crashed with " + step + " in flight"
		}
		fl := failure{rec: c.Rec, what: what, claims: []Claim{crashClaim(c)}}
		if c.Call != 0 {
			fl.claims = append(fl.claims, callClaim(&f.Calls[c.Call]))
		}
		add(fl)
	}
	for _, id := range a.Calls {
		c := &f.Calls[id]
		name := w.callName(c)
		if c.TimeoutRec >= 0 {
			waited := time.Duration(c.TimedOut - c.Sent)
			fl := failure{rec: c.TimeoutRec, waited: waited, what: fmt.Sprintf("gave up on its %s after %s without a reply", name, durWords(waited)),
				claims: []Claim{callClaim(c), timeoutClaim(c)}}
			if h := n.waitedFor(c); h != nil && effectOp(c.Op) {
				acct := f.Events[c.Event].Account
				fl.what = fmt.Sprintf("gave up on its %s after %s, while it still waited for account %d's row lock", name, durWords(waited), acct)
				mark := len(n.pending)
				fl.lock = n.lockWords(h, c.Inst, acct, c.TimeoutRec)
				fl.claims = append(fl.claims, parkClaim(c, h))
				fl.claims = append(fl.claims, n.pending[mark:]...)
				n.pending = n.pending[:mark]
			}
			add(fl)
		}
		switch c.Answer {
		case run.Refused:
			add(failure{rec: c.ServeRec, what: fmt.Sprintf("found Redis down (its %s was refused)", name), claims: []Claim{callClaim(c)}})
		case run.WrongType:
			add(failure{rec: c.ServeRec, what: fmt.Sprintf("got WRONGTYPE for its %s", name), claims: []Claim{callClaim(c)}})
		}
	}
	if a.Outcome == run.Errored {
		add(failure{rec: a.EndRec, what: "had its handler fail", claims: []Claim{outcomeClaim(a)}})
	}
	return first
}

// lockWords says, for instance inst whose Apply on account acct waited
// behind transaction h until record i, who held the lock and why it was
// not released.
func (n *narrator) lockWords(h *Tx, inst int32, acct, i int) string {
	who := fmt.Sprintf("instance %d's transaction", h.Inst)
	if h.Inst == inst {
		who = "its own earlier transaction"
	}
	s := fmt.Sprintf("its Apply had to wait for account %d's row lock, which %s held: it had updated account %d first", acct, who, acct)
	if e := n.f.AppliedTo(h, acct); e != 0 {
		n.claim(n.holdsClaim(h, run.Apply, e))
		s += fmt.Sprintf(" (event %d's effect)", e)
	}
	if st := n.holderWords(h, i, true); st != "" {
		s += ", and " + st
	}
	return s
}
