package explain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
)

// The partitioned log: everything explain knows of a Kafka-style consumer
// group is here, read from the records the log's model writes (run.Join,
// run.Leave, run.Evict, run.Rebalance, run.Assign, run.Committed,
// run.Fenced, and the partition and offset a Publish, Deliver and Receive
// carry). Nothing here asks which model ran: a trace with these records
// is told this way, whatever model wrote it. On the log:
//
//   - a delivery's tag is the group's generation it was fetched in, not a
//     count of deliveries; a record is placed by its partition and offset
//     ("m7, offset 4 of partition 3");
//   - an ack (run.AckSend) is the consumer's commit of its partition up
//     to the record after the one it names, accepted (run.Committed) or
//     refused (run.Fenced: a stale generation, an unknown member); there
//     are no nacks: a failed record is handled again in place;
//   - a message is done when its partition's committed offset has passed
//     it; the first commit that did is its "ack" (Message.AckedRec), and
//     whether it is done at the end is the final committed offset's say
//     (a commit may move the offset back);
//   - a partition has one owner at a time, the member its generation's
//     assignment gave it to; a copy handled a second time came because
//     the partition moved (a rebalance) and its new owner began at the
//     committed offset, which had not passed it.

// Group is what a partitioned log's consumer group did, from its records.
type Group struct {
	// Partitions is the highest partition any record names.
	Partitions int32
	Joins      []GroupEvent // run.Join records
	Evictions  []GroupEvent // run.Evict records (Cause)
	// Rebalances are the run.Rebalance records: Gen is the generation
	// that ends.
	Rebalances []GroupEvent
	// Assignments are the run.Assign records, in trace order: Gen is the
	// generation that gives Inst the partitions Parts.
	Assignments []Assignment
	// Commits are the run.Committed and run.Fenced records, in trace
	// order.
	Commits []Commit
	// recs are, per partition (index p-1), its messages by offset;
	// committed its committed offset as the derivation goes.
	recs      [][]uint32
	committed []int32
}

// GroupEvent is one record of the group's membership.
type GroupEvent struct {
	Inst  int32
	Gen   uint32
	At    int64
	Rec   int
	Cause run.Cause
}

// Assignment is one member's share of a generation.
type Assignment struct {
	Inst  int32
	Gen   uint32
	Parts []int32
	At    int64
	Rec   int
}

// Commit is one commit of a partition's offset that reached the broker:
// accepted (the partition's committed offset became Next, from From), or
// fenced (Cause).
type Commit struct {
	Inst   int32
	Msg    uint32 // the record it follows
	Part   int32
	Next   int32 // the offset it commits: the next to read
	Gen    uint32
	At     int64
	Rec    int
	Fenced bool
	Cause  run.Cause
	From   int32
	// Covered are the messages it was the first commit to pass.
	Covered []uint32
}

// group returns the run's group facts, making them at the first record
// of the log.
func (d *deriver) group() *Group {
	if d.f.Group == nil {
		d.f.Group = &Group{}
	}
	return d.f.Group
}

// part grows g to hold partition p and returns its index.
func (g *Group) part(p int32) int {
	for int32(len(g.recs)) < p {
		g.recs = append(g.recs, nil)
		g.committed = append(g.committed, 0)
	}
	g.Partitions = max(g.Partitions, p)
	return int(p - 1)
}

// publish places a published message at its offset.
func (g *Group) publish(r *run.Record) {
	k := g.part(r.Part)
	for int32(len(g.recs[k])) <= r.Count {
		g.recs[k] = append(g.recs[k], 0)
	}
	g.recs[k][r.Count] = r.Msg
}

// groupRecord records one of the group's records.
func (d *deriver) groupRecord(i int, r *run.Record) {
	f, g := d.f, d.group()
	switch r.Kind {
	case run.Join:
		g.Joins = append(g.Joins, GroupEvent{Inst: r.Inst, Gen: r.Tag, At: r.At, Rec: i})
	case run.Evict:
		g.Evictions = append(g.Evictions, GroupEvent{Inst: r.Inst, Gen: r.Tag, At: r.At, Rec: i, Cause: r.Cause})
	case run.Rebalance:
		g.Rebalances = append(g.Rebalances, GroupEvent{Inst: -1, Gen: r.Tag, At: r.At, Rec: i})
	case run.Assign:
		a := Assignment{Inst: r.Inst, Gen: r.Tag, At: r.At, Rec: i}
		for _, s := range strings.Split(r.Key, ",") {
			if p, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && p > 0 {
				a.Parts = append(a.Parts, int32(p))
				g.part(int32(p))
			}
		}
		g.Assignments = append(g.Assignments, a)
	case run.Committed:
		k := g.part(r.Part)
		c := Commit{Inst: r.Inst, Msg: r.Msg, Part: r.Part, Next: r.Count, Gen: r.Tag, At: r.At, Rec: i, From: g.committed[k]}
		for off := c.From; off < c.Next && int(off) < len(g.recs[k]); off++ {
			if m := &f.Messages[g.recs[k][off]]; m.ID != 0 && m.AckedRec < 0 {
				m.AckedRec, m.AckedAt, m.AckedBy = i, r.At, r.Inst
				c.Covered = append(c.Covered, m.ID)
			}
		}
		g.committed[k] = r.Count
		g.Commits = append(g.Commits, c)
		if a := d.ack(r.Inst, r.Msg, r.Tag); a >= 0 {
			f.Acks[a].AcceptedRec, f.Acks[a].Accepted = i, r.At
		}
	case run.Fenced:
		g.part(r.Part)
		g.Commits = append(g.Commits, Commit{Inst: r.Inst, Msg: r.Msg, Part: r.Part, Next: r.Count, Gen: r.Tag, At: r.At, Rec: i, Fenced: true, Cause: r.Cause})
		if a := d.ack(r.Inst, r.Msg, r.Tag); a >= 0 {
			f.Acks[a].FencedRec = i
		}
	}
}

// finishGroup settles, on the log, which events are done: those a copy
// of which its partition's final committed offset has passed. (Nothing
// is dead-lettered on the log.)
func (d *deriver) finishGroup() {
	f, g := d.f, d.f.Group
	for id := 1; id < len(f.Events); id++ {
		e := &f.Events[id]
		e.Settled = len(e.Copies) > 0
		for _, m := range e.Copies {
			msg := &f.Messages[m]
			if msg.Part > 0 && int(msg.Part) <= len(g.committed) && msg.Offset < g.committed[msg.Part-1] {
				e.Done = true
			} else {
				e.Settled = false
			}
		}
	}
}

// Owner is the last assignment of partition p at record i: the instance
// (-1: none yet) and the generation; rec is its record, -1 if none.
func (g *Group) Owner(p int32, i int) (inst int32, gen uint32, rec int) {
	inst, rec = -1, -1
	for _, a := range g.Assignments {
		if a.Rec > i {
			break
		}
		if slices.Contains(a.Parts, p) {
			inst, gen, rec = a.Inst, a.Gen, a.Rec
		}
	}
	return inst, gen, rec
}

// CommittedAt is partition p's committed offset just after record i.
func (g *Group) CommittedAt(p int32, i int) int32 {
	var off int32
	for _, c := range g.Commits {
		if c.Rec > i {
			break
		}
		if c.Part == p && !c.Fenced {
			off = c.Next
		}
	}
	return off
}

// fencedAfterApplying is when the first commit that an instance which
// applied e sent past e's copy after applying it was fenced, if any was;
// -1 if none.
func (f *Facts) fencedAfterApplying(e *Event) int64 {
	last := int64(-1)
	for _, ap := range e.Applications {
		k := f.AttemptOf(ap)
		if k < 0 {
			continue
		}
		m := &f.Messages[f.Attempts[k].Msg]
		for j := range f.Acks {
			ack := &f.Acks[j]
			if ack.Inst != ap.Inst || ack.Rec < ap.Rec || f.Messages[ack.Msg].Part != m.Part || f.Messages[ack.Msg].Offset < m.Offset {
				continue
			}
			if ack.FencedRec >= 0 {
				last = max(last, f.Trace[ack.FencedRec].At)
			}
			break
		}
	}
	return last
}

// ack names what a consumer sends the broker once it has handled a
// record: an ack, or on the log a commit; anAck with its article.
func (n *narrator) ack() string {
	if n.f.Group != nil {
		return "commit"
	}
	return "ack"
}

func (n *narrator) anAck() string {
	if n.f.Group != nil {
		return "a commit"
	}
	return "an ack"
}

// groupMoves lists the faults that set off a rebalance, before record
// cut, whose assignment moved a partition of a copy of e to another
// instance (or back to a new process): faults.Rebalance when a graceful
// leave or the join of an instance that started late or came back from
// a leave began it. (A crash's, a zombie's or a cut's eviction is its own
// fault's part, which the involvement marks from their records.)
func (f *Facts) groupMoves(e *Event, cut int) []faults.Fault {
	g := f.Group
	var parts []int32
	for _, m := range e.Copies {
		if p := f.Messages[m].Part; p != 0 && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	for _, rb := range g.Rebalances {
		if rb.Rec >= cut {
			break
		}
		// What set it off: the group's records just before it.
		graceful := false
		for j := rb.Rec - 1; j >= 0 && f.Trace[j].At == rb.At; j-- {
			switch r := &f.Trace[j]; {
			case r.Kind == run.Leave && r.Cause == run.Graceful:
				graceful = true
			case r.Kind == run.Join && (f.Late != nil && r.Inst == f.Late.Inst || f.leftBefore(r.Inst, j)):
				graceful = true
			}
		}
		if !graceful {
			continue
		}
		// Did the generation that ended it move one of e's partitions?
		gen := uint32(0)
		for _, a := range g.Assignments {
			if a.Rec <= rb.Rec || a.Rec >= cut || gen != 0 && a.Gen != gen {
				continue
			}
			gen = a.Gen
			for _, p := range parts {
				if was, _, _ := g.Owner(p, rb.Rec); slices.Contains(a.Parts, p) && was != a.Inst {
					return []faults.Fault{faults.Rebalance}
				}
			}
		}
	}
	return nil
}

// leftBefore reports whether instance inst's last stop before record i
// was a graceful leave (so its join at i is its return).
func (f *Facts) leftBefore(inst int32, i int) bool {
	last := -1
	for _, l := range f.Leaves {
		if l.Inst == inst && l.Stops() && l.Rec < i {
			last = l.Rec
		}
	}
	for _, c := range f.Crashes {
		if c.Inst == inst && c.Rec < i && c.Rec > last {
			return false
		}
	}
	return last >= 0
}

// placeWords places message m in the log, as "offset 4 of partition 3".
func placeWords(m *Message) string {
	return fmt.Sprintf("offset %d of partition %d", m.Offset, m.Part)
}

// groupReceived says how an attempt began on the log, and fills the
// receive claim's place: "receives m7 (event 4), offset 4 of partition
// 3, fetched in generation 2", "again" when the event had an attempt
// before, "in place" when the same delivery is retried. It reports
// whether what follows the text takes a comma.
func (n *narrator) groupReceived(i int, r *run.Record, c *Claim) (string, bool) {
	f := n.f
	m := &f.Messages[r.Msg]
	c.Part, c.Offset = r.Part, r.Count
	a := n.attemptAt(i)
	if a != nil {
		for _, k := range n.ev.Attempts {
			p := &f.Attempts[k]
			if p.Rec < i && p.Inst == r.Inst && p.Msg == r.Msg && p.Tag == r.Tag && !f.EndedBetween(r.Inst, p.Rec, i) && n.sameDelivery(p, a) {
				return fmt.Sprintf("handles m%d (event %d) again, in place, after a back-off: the log's consumer retries a failed record rather than skip it", r.Msg, r.Event), true
			}
		}
	}
	text := fmt.Sprintf("receives m%d (event %d), %s, fetched in generation %d", r.Msg, r.Event, placeWords(m), r.Tag)
	for _, k := range n.ev.Attempts {
		if f.Attempts[k].Rec < i {
			text = fmt.Sprintf("receives m%d (event %d) again, %s, fetched in generation %d", r.Msg, r.Event, placeWords(m), r.Tag)
			break
		}
	}
	// The text ends with the generation: what follows it takes a comma.
	return text, true
}

// sameDelivery reports whether attempts p and a handle one delivery (a
// retry in place): no delivery of their message to a's instance came
// between them.
func (n *narrator) sameDelivery(p, a *Attempt) bool {
	for _, k := range n.f.Messages[a.Msg].Deliveries {
		if d := &n.f.Deliveries[k]; d.Inst == a.Inst && d.Rec > p.Rec && d.Rec < a.Rec {
			return false
		}
	}
	return true
}

// groupRecord tells record i of the log, if it is one the log tells its
// own way; it reports whether it was.
func (n *narrator) groupRecord(i int, r *run.Record) bool {
	f, g := n.f, n.f.Group
	focus := n.focusMsgAt(i)
	switch r.Kind {
	case run.Publish:
		if r.Event == n.focus {
			text := n.publishText(r.Msg)
			n.pending[len(n.pending)-1].Part, n.pending[len(n.pending)-1].Offset = r.Part, r.Count
			if f.Messages[r.Msg].Copy > 0 {
				// The producer's words end with a parenthesis.
				text = strings.Replace(text, " (", fmt.Sprintf(", at %s (", placeWords(&f.Messages[r.Msg])), 1) + ": the same partition, a new offset"
			} else {
				text += ", at " + placeWords(&f.Messages[r.Msg])
			}
			n.sayAs(i, r.At, -1, "producer", text, false)
		}
		return true
	case run.Deliver:
		if r.Event != n.focus {
			return true
		}
		for _, k := range f.Messages[r.Msg].Deliveries {
			if d := &f.Deliveries[k]; d.Rec == i && d.Attempt >= 0 && f.Attempts[d.Attempt].At <= n.a.cut {
				return true
			}
		}
		c := claim(ClaimDeliver)
		c.Rec, c.Msg, c.Inst, c.N, c.Part, c.Offset = i, r.Msg, r.Inst, int(r.Tag), r.Part, r.Count
		n.claim(c)
		n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("sends m%d, %s, to instance %d, in generation %d", r.Msg, placeWords(&f.Messages[r.Msg]), r.Inst, r.Tag), false)
		return true
	case run.AckSend:
		return true
	case run.AckLost:
		if focus == nil || !n.committedFocus(r) {
			return true
		}
		c := claim(ClaimAck)
		c.Inst, c.Msg, c.At = r.Inst, r.Msg, n.ackSentAt(i, r)
		n.claim(c, placeClaim(f, focus), placeClaim(f, &f.Messages[r.Msg]))
		commit := fmt.Sprintf("commits partition %d up to offset %d, past m%d", focus.Part, f.Messages[r.Msg].Offset+1, focus.ID)
		if r.Cause == run.ReplyLost {
			// The commit took effect: the broker's acceptance is
			// its own step.
			n.say(i, r.Inst, commit+"; the commit reaches the broker, but its reply is lost on the way: the consumer waits out its timeout before it polls again", false)
			return true
		}
		off := claim(ClaimCommitted)
		off.Rec, off.Part, off.Offset = i, focus.Part, g.CommittedAt(focus.Part, i)
		n.claim(off, cutClaim(i, r.Inst, run.Broker))
		n.say(i, r.Inst, fmt.Sprintf("%s, but it is cut off from the broker: the commit never leaves (it will send it again after a timeout), and the group's committed offset of partition %d is still %d",
			commit, focus.Part, off.Offset), false)
		return true
	case run.Committed:
		if focus == nil || !n.committedFocus(r) {
			return true
		}
		c := claim(ClaimAck)
		c.Inst, c.Msg, c.At, c.To, c.Yes = r.Inst, r.Msg, n.ackSentAt(i, r), r.At, true
		off := claim(ClaimCommitted)
		off.Rec, off.Part, off.Offset = i, r.Part, r.Count
		n.claim(c, off, placeClaim(f, focus))
		text := fmt.Sprintf("accepts instance %d's commit: partition %d's committed offset is now %d", r.Inst, r.Part, r.Count)
		if r.Count > focus.Offset {
			text += fmt.Sprintf(", past m%d: m%d is done", focus.ID, focus.ID)
		} else {
			text += fmt.Sprintf(", back before m%d: the group will read m%d again", focus.ID, focus.ID)
		}
		n.sayAs(i, r.At, -1, actorBroker, text, false)
		return true
	case run.Fenced:
		if focus == nil || !n.committedFocus(r) {
			return true
		}
		n.claim(fencedClaim(i, r))
		gen := n.groupGen(i)
		why := fmt.Sprintf("its generation %d is stale (the group is at generation %d)", r.Tag, gen.N)
		if r.Cause == run.UnknownMember {
			why = "instance " + strconv.Itoa(int(r.Inst)) + " is no member of the group any more"
		} else {
			n.claim(gen)
		}
		text := fmt.Sprintf("refuses instance %d's commit of partition %d up to offset %d: %s", r.Inst, r.Part, r.Count, why)
		if ap := n.applicationByInst(r.Inst, i); ap != nil {
			n.claim(appliedClaim(n.focus, *ap))
			text += fmt.Sprintf("; its effect is already in the ledger (committed at %s): a fence stops offsets, not effects", at(ap.At))
		}
		n.sayAs(i, r.At, -1, actorBroker, text, true)
		return true
	case run.Join:
		if n.inSpan(r.At) && n.ev.Insts&(1<<r.Inst) != 0 {
			c := claim(ClaimJoin)
			c.Rec, c.Inst = i, r.Inst
			n.claim(c)
			n.say(i, r.Inst, "joins the consumer group: the group rebalances", false)
		}
		return true
	case run.Evict:
		if n.inSpan(r.At) && n.ev.Insts&(1<<r.Inst) != 0 {
			c := claim(ClaimEvict)
			c.Rec, c.Inst, c.Yes = i, r.Inst, r.Cause == run.SessionExpired
			n.claim(c)
			why := "no heartbeat reached it within the session timeout"
			if !c.Yes {
				why = "it did not rejoin the rebalance in time"
			}
			n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("evicts instance %d from the group: %s; the group rebalances", r.Inst, why), false)
		}
		return true
	case run.Rebalance:
		n.rebalance(i, r)
		return true
	case run.Assign:
		n.assign(i, r)
		return true
	}
	return false
}

// groupViolation says, on the log, what went wrong with a focus event
// that is lost (its partition's committed offset passed it, and it was
// never applied) or stuck (the committed offset never passed any copy).
func (n *narrator) groupViolation() string {
	e, f, g := n.ev, n.f, n.f.Group
	last := len(f.Trace) - 1
	if n.a.kind == Lost {
		m := n.a.firstAck(e)
		r := &f.Trace[m.AckedRec]
		off := claim(ClaimCommitted)
		off.Rec, off.Part, off.Offset = m.AckedRec, r.Part, r.Count
		na := claim(ClaimNotApplied)
		na.Event = e.ID
		ac := claim(ClaimAck)
		ac.Inst, ac.Msg, ac.To, ac.Yes = r.Inst, r.Msg, r.At, true
		n.claim(off, placeClaim(f, m), na, ac)
		return fmt.Sprintf("event %d is lost: the broker considers it done (instance %d's commit moved partition %d's committed offset to %d, past m%d, at %s), but its effect was never applied.",
			e.ID, r.Inst, r.Part, r.Count, m.ID, at(r.At))
	}
	var open []string
	for _, id := range e.Copies {
		m := &f.Messages[id]
		off := claim(ClaimCommitted)
		off.Rec, off.Part, off.Offset = last, m.Part, g.CommittedAt(m.Part, last)
		n.claim(off, placeClaim(f, m))
		open = append(open, fmt.Sprintf("m%d (%s; the committed offset is %d)", m.ID, placeWords(m), off.Offset))
	}
	when := "when the run ended"
	if f.Heal >= 0 {
		hc := claim(ClaimHeal)
		hc.Rec = f.HealRec
		n.claim(hc)
		when += ", " + durWords(roundMS(f.End-f.Heal)) + " after the faults healed"
	}
	return fmt.Sprintf("event %d never settled: its partition's committed offset had not passed %s %s.", e.ID, strings.Join(open, ", "), when)
}

// rebalance tells the start of a rebalance, within the story, whose end
// moves a partition of a copy of the focus event, with what set it off
// (the group's records just before it): a member that joined, left or
// was evicted.
func (n *narrator) rebalance(i int, r *run.Record) {
	f := n.f
	if !n.inSpan(r.At) || !n.movesFocus(i) {
		return
	}
	why := ""
	for j := i - 1; j >= 0 && f.Trace[j].At == r.At && why == ""; j-- {
		o := &f.Trace[j]
		switch {
		case o.Kind == run.Join:
			c := claim(ClaimJoin)
			c.Rec, c.Inst = j, o.Inst
			n.claim(c)
			why = fmt.Sprintf(": instance %d joined", o.Inst)
		case o.Kind == run.Leave && o.Inst >= 0:
			n.claim(leaveClaim(f.LeaveAt(j)))
			why = fmt.Sprintf(": instance %d left", o.Inst)
		case o.Kind == run.Evict:
			c := claim(ClaimEvict)
			c.Rec, c.Inst, c.Yes = j, o.Inst, o.Cause == run.SessionExpired
			n.claim(c)
			why = fmt.Sprintf(": it evicted instance %d", o.Inst)
		}
	}
	n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("begins a rebalance%s; generation %d ends, and every member must rejoin at its next poll before the partitions are given out again", why, r.Tag), false)
}

// movesFocus reports whether the rebalance that record i begins ends
// with an assignment that moves a partition of a copy of the focus event
// to another instance, within the story.
func (n *narrator) movesFocus(i int) bool {
	f, g := n.f, n.f.Group
	gen := uint32(0)
	for _, a := range g.Assignments {
		if a.Rec <= i || gen != 0 && a.Gen != gen || a.At > n.a.cut {
			continue
		}
		gen = a.Gen
		for _, m := range n.ev.Copies {
			p := f.Messages[m].Part
			if was, _, _ := g.Owner(p, i); p != 0 && slices.Contains(a.Parts, p) && was != a.Inst {
				return true
			}
		}
	}
	return false
}

// fencedClaim states fenced commit record i.
func fencedClaim(i int, r *run.Record) Claim {
	c := claim(ClaimFenced)
	c.Rec, c.Inst, c.Part, c.Offset, c.N, c.Yes = i, r.Inst, r.Part, r.Count, int(r.Tag), r.Cause == run.StaleGeneration
	return c
}

// groupGen states the group's generation just after record i: that of
// its latest assignment.
func (n *narrator) groupGen(i int) Claim {
	c := claim(ClaimOwner)
	c.Rec = i
	for _, a := range n.f.Group.Assignments {
		if a.Rec <= i {
			c.N = int(a.Gen)
		}
	}
	// An owner claim of no partition states only the generation.
	return c
}

// focusMsgAt is the focus event's copy in the log that record i's commit
// is about: of record i's partition, at or before the commit's offset,
// and handled by the committer; nil if none.
func (n *narrator) focusMsgAt(i int) *Message {
	r := &n.f.Trace[i]
	if r.Msg == 0 || int(r.Msg) >= len(n.f.Messages) {
		return nil
	}
	last := &n.f.Messages[r.Msg]
	var best *Message
	for _, m := range n.ev.Copies {
		msg := &n.f.Messages[m]
		if msg.Part == 0 || msg.Part != last.Part || msg.Offset > last.Offset || best != nil && best.Offset > msg.Offset {
			continue
		}
		for _, k := range n.ev.Attempts {
			if a := &n.f.Attempts[k]; a.Msg == msg.ID && a.Inst == r.Inst && a.Rec < i {
				best = msg
			}
		}
	}
	return best
}

// placeClaim states where message m is in the log (and that it is its
// event's copy it is).
func placeClaim(f *Facts, m *Message) Claim {
	c := claim(ClaimPublish)
	first := &f.Messages[f.Events[m.Event].Copies[0]]
	c.Msg, c.Event, c.N, c.At, c.Dur, c.Part, c.Offset = m.ID, m.Event, m.Copy, m.At, m.At-first.At, m.Part, m.Offset
	return c
}

// committedFocus reports whether commit record r (its loss, acceptance
// or fence) matters to the story: within it, the first commit that an
// instance sent past a copy of the focus event after it handled it.
func (n *narrator) committedFocus(r *run.Record) bool {
	if !n.inSpan(r.At) || r.Msg == 0 {
		return false
	}
	f := n.f
	last := &f.Messages[r.Msg]
	sent := n.ackSentAt(len(f.Trace)-1, r)
	for _, k := range n.ev.Attempts {
		a := &f.Attempts[k]
		m := &f.Messages[a.Msg]
		if a.Inst != r.Inst || a.At > sent || m.Part != last.Part || m.Offset > last.Offset {
			continue
		}
		// No earlier commit of the instance after the attempt covered it.
		first := true
		for j := range f.Acks {
			ack := &f.Acks[j]
			if ack.Inst == a.Inst && ack.Rec > a.Rec && ack.At < sent && f.Messages[ack.Msg].Part == m.Part && f.Messages[ack.Msg].Offset >= m.Offset {
				first = false
			}
		}
		if first {
			return true
		}
	}
	return false
}

// ackSentAt is when the commit that record i answers was sent.
func (n *narrator) ackSentAt(i int, r *run.Record) int64 {
	for k := len(n.f.Acks) - 1; k >= 0; k-- {
		if a := &n.f.Acks[k]; a.Inst == r.Inst && a.Msg == r.Msg && a.Tag == r.Tag && a.Rec <= i {
			return a.At
		}
	}
	return 0
}

// applicationByInst is the application of the focus event by instance inst
// before record i, nil if none.
func (n *narrator) applicationByInst(inst int32, i int) *Application {
	for k := range n.ev.Applications {
		if ap := &n.ev.Applications[k]; ap.Inst == inst && ap.Rec < i {
			return ap
		}
	}
	return nil
}

// assign tells the assignment of record i if it moves the partition of a
// copy of the focus event, within the story: "partition 3 moves from
// instance 0 to instance 1 at generation 4".
func (n *narrator) assign(i int, r *run.Record) {
	f, g := n.f, n.f.Group
	if !n.inSpan(r.At) {
		return
	}
	var parts []int32
	for _, m := range n.ev.Copies {
		if p := f.Messages[m].Part; p != 0 && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	for _, a := range g.Assignments {
		if a.Rec != i {
			continue
		}
		for _, p := range parts {
			if !slices.Contains(a.Parts, p) {
				continue
			}
			first := i
			for first > 0 && f.Trace[first-1].Kind == run.Assign && f.Trace[first-1].At == r.At {
				first--
			}
			was, wasGen, wasRec := g.Owner(p, first-1)
			back := was == a.Inst && wasRec >= 0 && f.EndedBetween(a.Inst, wasRec, i)
			if was == a.Inst && !back {
				continue
			}
			now := claim(ClaimOwner)
			now.Rec, now.Part, now.Inst, now.N = i, p, a.Inst, int(a.Gen)
			before := claim(ClaimOwner)
			before.Rec, before.Part, before.Inst, before.N = first-1, p, was, int(wasGen)
			off := claim(ClaimCommitted)
			off.Rec, off.Part, off.Offset = i, p, g.CommittedAt(p, i)
			n.claim(now, before, off)
			from := fmt.Sprintf("moves from instance %d to instance %d", was, a.Inst)
			switch {
			case was < 0:
				from = fmt.Sprintf("goes to instance %d", a.Inst)
			case back:
				from = fmt.Sprintf("goes back to instance %d, a new process since", a.Inst)
			}
			n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("ends a rebalance with generation %d: partition %d %s, which will read it from the group's committed offset, %d",
				a.Gen, p, from, off.Offset), n.memKnown())
		}
	}
}

// groupCopyCause says why attempt B handled the copy attempt A had
// handled (both of one message): the log delivers a record once per
// owner; another reading means the partition moved, or its owner came
// back, and the new reader began at the committed offset, which had not
// passed it. It returns the text (after "The second copy reached
// instance B because ") and B's instance.
func (n *narrator) groupCopyCause(A, B *Attempt) (string, int32) {
	f, g := n.f, n.f.Group
	m := &f.Messages[B.Msg]
	if A.Inst == B.Inst && A.Tag == B.Tag && n.sameDelivery(A, B) {
		n.claim(outcomeClaim(A))
		return fmt.Sprintf("its handler had failed on m%d, and the log's consumer handles a failed record again, in place", B.Msg), B.Inst
	}
	// The assignment that gave B the partition, after A began.
	owner, gen, rec := g.Owner(m.Part, B.Rec)
	if owner != B.Inst || rec < 0 {
		return fmt.Sprintf("the log sent m%d to instance %d again", B.Msg, B.Inst), B.Inst
	}
	oc := claim(ClaimOwner)
	oc.Rec, oc.Part, oc.Inst, oc.N = rec, m.Part, owner, int(gen)
	off := claim(ClaimCommitted)
	off.Rec, off.Part, off.Offset = rec, m.Part, g.CommittedAt(m.Part, rec)
	n.claim(oc, off)
	moved := fmt.Sprintf("partition %d moved to instance %d at generation %d", m.Part, B.Inst, gen)
	if prev, pgen, _ := g.Owner(m.Part, A.Rec); prev == A.Inst && A.Inst != B.Inst {
		pc := claim(ClaimOwner)
		pc.Rec, pc.Part, pc.Inst, pc.N = A.Rec, m.Part, prev, int(pgen)
		n.claim(pc)
		moved = fmt.Sprintf("partition %d moved from instance %d to instance %d at generation %d", m.Part, A.Inst, B.Inst, gen)
	} else if A.Inst == B.Inst {
		moved = fmt.Sprintf("instance %d was given partition %d again at generation %d", B.Inst, m.Part, gen)
	}
	text := fmt.Sprintf("%s, and instance %d began reading it at the group's committed offset, %d, which was not past m%d (%s)", moved, B.Inst, off.Offset, B.Msg, placeWords(m))
	return text + n.uncommittedWhy(A, m, rec), B.Inst
}

// groupCopyMoved says, of two copies of an event in one partition
// handled by attempts A and B on two instances, that the partition moved
// from A's instance to B's between them: the second copy went to an
// owner that had not seen the first. "" if it did not.
func (n *narrator) groupCopyMoved(A, B *Attempt) string {
	f, g := n.f, n.f.Group
	ma, mb := &f.Messages[A.Msg], &f.Messages[B.Msg]
	if A.Inst == B.Inst || ma.Part != mb.Part || ma.Part == 0 {
		return ""
	}
	was, wasGen, _ := g.Owner(ma.Part, A.Rec)
	now, gen, rec := g.Owner(mb.Part, B.Rec)
	if was != A.Inst || now != B.Inst || rec < A.Rec {
		return ""
	}
	pc := claim(ClaimOwner)
	pc.Rec, pc.Part, pc.Inst, pc.N = A.Rec, ma.Part, was, int(wasGen)
	oc := claim(ClaimOwner)
	oc.Rec, oc.Part, oc.Inst, oc.N = rec, mb.Part, now, int(gen)
	n.claim(pc, oc)
	return fmt.Sprintf(", and between them partition %d moved from instance %d to instance %d at generation %d: the second copy went to an owner that had not seen the first", ma.Part, was, now, gen)
}

// uncommittedWhy says why attempt A's handling of m was not committed by
// record rec: its commit was lost or fenced, or it sent none.
func (n *narrator) uncommittedWhy(A *Attempt, m *Message, rec int) string {
	f := n.f
	for k := range f.Acks {
		ack := &f.Acks[k]
		if ack.Inst != A.Inst || ack.Rec < A.Rec || ack.Rec > rec {
			continue
		}
		last := &f.Messages[ack.Msg]
		if last.Part != m.Part || last.Offset < m.Offset {
			continue
		}
		switch {
		case ack.LostRec >= 0 && ack.LostRec <= rec && (ack.AcceptedRec < 0 || ack.AcceptedRec > rec):
			c := claim(ClaimAck)
			c.Inst, c.Msg, c.At = ack.Inst, ack.Msg, ack.At
			n.claim(c)
			return fmt.Sprintf(": instance %d's commit of it was lost", A.Inst)
		case ack.FencedRec >= 0 && ack.FencedRec <= rec:
			n.claim(fencedClaim(ack.FencedRec, &f.Trace[ack.FencedRec]))
			return fmt.Sprintf(": instance %d's commit of it was fenced", A.Inst)
		}
	}
	c := claim(ClaimNoCommit)
	c.Inst, c.Part, c.Offset, c.Rec, c.N = A.Inst, m.Part, m.Offset, A.Rec, rec
	n.claim(c)
	return fmt.Sprintf(": instance %d had not committed it", A.Inst)
}

// checkGroup holds a claim about the log's group to the trace, reading
// the records itself.
func (x *traceIndex) checkGroup(c Claim) error {
	bad := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	r := x.rec(c.Rec)
	switch c.Kind {
	case ClaimOwner:
		owner, gen := int32(-1), 0
		for j := 0; j <= c.Rec && j < len(x.trace); j++ {
			o := &x.trace[j]
			if o.Kind != run.Assign {
				continue
			}
			gen = int(o.Tag)
			if c.Part != 0 && slices.Contains(strings.Split(o.Key, ","), strconv.Itoa(int(c.Part))) {
				owner = o.Inst
			}
		}
		if gen != c.N || c.Part != 0 && owner != c.Inst {
			return bad("partition %d's last assignment was to instance %d, at generation %d", c.Part, owner, gen)
		}
	case ClaimCommitted:
		var off int32
		for j := 0; j <= c.Rec && j < len(x.trace); j++ {
			if o := &x.trace[j]; o.Kind == run.Committed && o.Part == c.Part {
				off = o.Count
			}
		}
		if off != c.Offset {
			return bad("partition %d's committed offset was %d", c.Part, off)
		}
	case ClaimFenced:
		if r == nil || r.Kind != run.Fenced {
			return bad("record %d is not a fenced commit", c.Rec)
		}
		if r.Inst != c.Inst || r.Part != c.Part || r.Count != c.Offset || int(r.Tag) != c.N || (r.Cause == run.StaleGeneration) != c.Yes {
			return bad("another fenced commit (%s)", r.Detail())
		}
	case ClaimNoCommit:
		for j := c.Rec + 1; j < c.N && j < len(x.trace); j++ {
			o := &x.trace[j]
			if o.Kind != run.AckSend || o.Inst != c.Inst {
				continue
			}
			for k := 0; k < j; k++ {
				// The commit follows the record it names: find where.
				if p := &x.trace[k]; p.Kind == run.Publish && p.Msg == o.Msg && p.Part == c.Part && p.Count >= c.Offset {
					return bad("record %d is its commit past offset %d", j, c.Offset)
				}
			}
		}
	case ClaimJoin:
		if r == nil || r.Kind != run.Join || r.Inst != c.Inst {
			return bad("record %d is not instance %d's join", c.Rec, c.Inst)
		}
	case ClaimEvict:
		if r == nil || r.Kind != run.Evict || r.Inst != c.Inst || (r.Cause == run.SessionExpired) != c.Yes {
			return bad("record %d is not that eviction of instance %d", c.Rec, c.Inst)
		}
	}
	return nil
}

// groupTimeline draws the group on the timeline: each instance's
// partitions over time, by generation (a band under its lane from the
// assignment to the next rebalance, which revokes every partition, and a
// note of which partitions at which generation), the rebalances on the
// broker's lane, and the fenced commits.
func groupTimeline(t *timeline, f *Facts) {
	g := f.Group
	broker := t.lane(actorBroker)
	end := f.LastRecord()
	for _, rb := range g.Rebalances {
		t.point(&mRebalance, ms(rb.At), broker)
	}
	for _, a := range g.Assignments {
		if len(a.Parts) == 0 {
			continue
		}
		to := end
		for _, rb := range g.Rebalances {
			if rb.Rec > a.Rec {
				to = rb.At
				break
			}
		}
		// A member that stops owns nothing from then on.
		for _, l := range f.Leaves {
			if l.Inst == a.Inst && l.Rec > a.Rec && l.At < to {
				to = l.At
			}
		}
		for _, c := range f.Crashes {
			if c.Inst == a.Inst && c.Rec > a.Rec && c.At < to {
				to = c.At
			}
		}
		if to <= a.At {
			// Superseded at once (two generations at one instant),
			// or assigned as the run ended: nothing to draw.
			continue
		}
		y := t.instLane(a.Inst) - 0.28
		t.span(&spanOwn, ms(a.At), ms(to), y)
		parts := make([]string, len(a.Parts))
		for i, p := range a.Parts {
			parts[i] = strconv.Itoa(int(p))
		}
		t.notes = append(t.notes, label{x: ms(a.At), y: y, text: fmt.Sprintf("p%s g%d", strings.Join(parts, ","), a.Gen)})
	}
	for _, c := range g.Commits {
		if c.Fenced {
			t.point(&mFenced, ms(c.At), broker)
		}
	}
}
