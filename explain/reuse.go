package explain

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// The id-reuse fault: the producer gives a new event, with a payload of
// its own, the id of an earlier one. The trace numbers events one by one
// (the checkers judge each on its own, by id and payload); the Publish
// record of an event published under another's id carries that id
// (run.Record.Value). A deduplicator that keys on the id alone skips the
// second event of an id as a duplicate of the first, and loses it in
// silence; db-unique-payload refuses it to a dead-letter queue instead.
// This file derives the facts of it, tells the publication, the why of a
// lost event whose id another event held, and the claims of both, which
// Story.Verify holds to the Publish records (checkReusedID).

// reuseFacts sets, from the Publish records, each event's ReusedID and
// Twins, and Refused for an event a handler refused that none applied.
func reuseFacts(f *Facts) {
	for i := range f.Trace {
		r := &f.Trace[i]
		if r.Kind != run.Publish || r.Value == "" || int(r.Event) >= len(f.Events) {
			continue
		}
		id, err := strconv.ParseUint(r.Value, 10, 32)
		if err != nil || id == 0 || int(id) >= len(f.Events) || uint32(id) == r.Event {
			continue
		}
		e := &f.Events[r.Event]
		if e.ReusedID != 0 {
			continue // a second copy of it
		}
		e.ReusedID = uint32(id)
		for _, t := range f.Events[id].Twins {
			f.Events[t].Twins = append(f.Events[t].Twins, r.Event)
			e.Twins = append(e.Twins, t)
		}
		f.Events[id].Twins = append(f.Events[id].Twins, r.Event)
		e.Twins = append(e.Twins, uint32(id))
	}
	for id := 1; id < len(f.Events); id++ {
		e := &f.Events[id]
		if len(e.Applications) > 0 {
			continue
		}
		for _, k := range e.Attempts {
			e.Refused = e.Refused || f.Attempts[k].Outcome == run.Rejected
		}
	}
}

// idOf is the id event ev was published under: its own number, or the
// earlier event's that id-reuse gave it.
func (f *Facts) idOf(ev uint32) uint32 {
	if e := f.Event(ev); e != nil && e.ReusedID != 0 {
		return e.ReusedID
	}
	return ev
}

// reusedClaim states that message msg, the first copy of event ev, was
// published under event id's id, at record rec.
func reusedClaim(rec int, msg, ev, id uint32) Claim {
	c := claim(ClaimReusedID)
	c.Rec, c.Msg, c.Event, c.N = rec, msg, id, int(ev)
	return c
}

// reusedPublishText tells the first copy of an event that id-reuse gave
// an earlier event's id, or "" for any other copy.
func (n *narrator) reusedPublishText(m *Message) string {
	e := n.f.Event(m.Event)
	if e == nil || e.ReusedID == 0 || m.Copy != 0 {
		return ""
	}
	n.claim(reusedClaim(m.Rec, m.ID, m.Event, e.ReusedID))
	return fmt.Sprintf("publishes event %d as message m%d, under event %d's id: the producer gave this new event, whose payload is its own, an id it had used before (id-reuse)", m.Event, m.ID, e.ReusedID)
}

// whyReused tells why event ev is lost when a handler skipped its copy
// because the id it came under was taken by another event of that id
// (its twin): the strategy knows an event by its id alone. It returns ""
// where the run does not show that: no twin, or the acked attempt did not
// skip.
func (n *narrator) whyReused(acker *Attempt) string {
	f, e := n.f, n.ev
	if acker == nil || acker.Outcome != run.Skipped || (e.ReusedID == 0 && len(e.Twins) == 0) {
		return ""
	}
	id := f.idOf(e.ID)
	// The twin under that id whose effect was in the ledger first.
	var twin uint32
	var first Application
	for _, t := range e.Twins {
		if aps := f.Events[t].Applications; len(aps) > 0 && aps[0].Rec < acker.EndRec && (twin == 0 || aps[0].Rec < first.Rec) {
			twin, first = t, aps[0]
		}
	}
	if twin == 0 {
		return ""
	}
	// Who came under whose id: the later event's first copy.
	later, owner := e.ID, twin
	if e.ReusedID == 0 {
		later, owner = twin, e.ID
	}
	pub := &f.Messages[f.Events[later].Copies[0]]
	n.claim(reusedClaim(pub.Rec, pub.ID, later, owner), appliedClaim(twin, first))
	lead := n.w.why(Lost, "id-reused", fills{event: e.ID, first: acker.Inst, second: -1})
	if lead == "" {
		lead = n.w.fill("{strategy} knows an event by its id alone:", fills{event: e.ID})
	}
	body := fmt.Sprintf("event %d and event %d are two events, each with a payload of its own, but the producer published both under event %d's id (m%d at %s carried event %d under it). Instance %d applied event %d at %s, and when m%d came under the same id, instance %d's handler took it for a copy and returned skipped at %s; its %s told the broker event %d was done, and no one ever applied it. A deduplicator that also compares the payload with the one stored under the id surfaces the conflict instead (db-unique-payload refuses it to a dead-letter queue).",
		e.ID, twin, id, pub.ID, at(pub.At), later, first.Inst, twin, at(first.At), acker.Msg, acker.Inst, at(acker.End), n.ack(), e.ID)
	return sentences(lead, body)
}

// fixFor is the strategy a violation of strategy name under the
// scenario sc, on broker, is replayed under: fixStrategy's; but under
// id-reuse, the first marked fix whose description expects neither lost
// nor dup there (a fix that knows an event by its id alone loses a reused
// id too), where the effect of name lives.
func fixFor(name string, sc faults.Set, broker string) (strategies.Strategy, bool) {
	st, ok := fixStrategy(name)
	if !sc.Has(faults.IDReuse) {
		return st, ok
	}
	charges := lookupStrategy(name).Needs.Has(strategies.NeedsProvider)
	for _, cand := range strategies.All() {
		if !cand.Teaching.Fix || cand.Needs.Has(strategies.NeedsProvider) != charges {
			continue
		}
		if v := cand.ExpectedRow(broker)["id-reuse"]; v == "" || strings.Contains(v, "lost") || strings.Contains(v, "dup") {
			continue
		}
		return cand, cand.Name != name
	}
	return st, ok
}

// checkReusedID holds a ClaimReusedID to the trace: record Rec is the
// publication of Msg, a copy of event N, under event Event's id, and
// event Event was published under its own.
func (x *traceIndex) checkReusedID(c Claim) error {
	r := x.rec(c.Rec)
	if r == nil || r.Kind != run.Publish || r.Msg != c.Msg || r.Event != uint32(c.N) {
		return fmt.Errorf("record %d is no publication of m%d, a copy of event %d", c.Rec, c.Msg, c.N)
	}
	if r.Value != strconv.FormatUint(uint64(c.Event), 10) {
		return fmt.Errorf("record %d publishes event %d under id %q, not %d", c.Rec, c.N, r.Value, c.Event)
	}
	for j := range x.trace {
		if o := &x.trace[j]; o.Kind == run.Publish && o.Event == c.Event && o.Value == "" {
			return nil
		}
	}
	return fmt.Errorf("event %d was never published under its own id", c.Event)
}

// refuser is the first attempt of the focus event whose handler refused
// it to the dead-letter queue, nil if none did.
func (n *narrator) refuser() *Attempt {
	for _, k := range n.ev.Attempts {
		if a := &n.f.Attempts[k]; a.Outcome == run.Rejected {
			return a
		}
	}
	return nil
}

// refusedViolation is the violation line of an event a handler refused to
// the dead-letter queue and none applied: none, it is dead.
func (n *narrator) refusedViolation() string {
	e, a := n.ev, n.refuser()
	na := claim(ClaimNotApplied)
	na.Event = e.ID
	n.claim(na, outcomeClaim(a))
	return fmt.Sprintf("none, but event %d is dead: instance %d's handler refused m%d to the dead-letter queue at %s, and its effect was never applied. A refused event is an outcome of its own, not a violation of exactly-once: the conflict is surfaced for a person to settle, not lost in silence.", e.ID, a.Inst, a.Msg, at(a.End))
}

// whyRefused says why the focus event was refused: the id it came under
// was taken by another event of that id, whose effect was in the ledger
// first, where the run shows one; else only who refused it.
func (n *narrator) whyRefused() string {
	f, e, a := n.f, n.ev, n.refuser()
	n.claim(outcomeClaim(a))
	for _, t := range e.Twins {
		aps := f.Events[t].Applications
		if len(aps) == 0 || aps[0].Rec > a.EndRec {
			continue
		}
		later, owner := e.ID, t
		if e.ReusedID == 0 {
			later, owner = t, e.ID
		}
		pub := &f.Messages[f.Events[later].Copies[0]]
		n.claim(reusedClaim(pub.Rec, pub.ID, later, owner), appliedClaim(t, aps[0]))
		return fmt.Sprintf("the producer published event %d and event %d under one id, event %d's (m%d at %s carried event %d under it). Instance %d applied event %d at %s; when m%d came under the same id, instance %d's handler refused it to the dead-letter queue at %s rather than skip it as a copy: two events, one id, a conflict surfaced.",
			e.ID, t, owner, pub.ID, at(pub.At), later, aps[0].Inst, t, at(aps[0].At), a.Msg, a.Inst, at(a.End))
	}
	return fmt.Sprintf("instance %d's handler refused m%d to the dead-letter queue at %s, having applied nothing.", a.Inst, a.Msg, at(a.End))
}
