package explain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// narrator tells the focus event's story from the facts: it walks the
// trace once, and for each record that matters to the event says what
// happened, in words the strategy's description lends it where it has
// them. Every text it writes comes with the claims it states (claims.go).
type narrator struct {
	a     *analysis
	f     *Facts
	w     words
	focus uint32
	ev    *Event
	// from and to bound the event's story: its first record to its last,
	// and no later than its violation is sealed.
	from, to int64
	// memory: the strategy keeps what it handled in each instance's
	// memory (Strategy.Memory, or the trace records one); memRec: the
	// trace records the memory's calls (Deps.Memory), so the story tells
	// what it held from them; memRule: otherwise, the description says
	// when the strategy writes its memory of its own
	// (Teaching.Remembers), so the story may say what it holds by that
	// rule.
	memory, memRec, memRule bool
	// What the state line shows, by what the run used: marks in Redis,
	// keys in Redis (kvNames, in the order of their first write),
	// processed ids.
	marks, kv, ids bool
	kvNames        []string
	focusKeys      map[string]bool // the keys the focus event's calls named

	items     []item
	recAtt    map[int]int // the records about the focus event's attempts, to the attempt
	crashTold []bool      // per instance, its last crash was told
	leftTold  []bool      // per instance, its last graceful leave was told
	// resumes are the pauses told whose end is still to tell, by end.
	resumes  []*Stall
	lossTold bool // the last Redis data loss was told
	// cutTold is, per instance, what the story has said it is cut off
	// from, and cutRec the step that said it last, -1 for none.
	cutTold []run.Stores
	cutRec  []int
	// known are the events the story has named; the state line shows only
	// theirs.
	known map[uint32]bool
	// pending are the claims of the text being written.
	pending claims
}

// item is one step of the story before numbering.
type item struct {
	at        int64
	inst      int32 // the instance that acted, -1 for none
	actor     string
	text      string
	state     string
	showState bool // the step reads the state, so show it even unchanged
	rec       int  // index of the record, -1 for a derived step (an expiry)
	att       int  // the attempt of the focus event the step tells of, -1 for none
	// claims are what the text states; stateClaims what the state states.
	claims, stateClaims []Claim
	// snap is the state after the step in parts; state is its line.
	snap *Snapshot
}

func newNarrator(a *analysis) *narrator {
	f := a.facts
	st := a.strategy
	n := &narrator{a: a, f: f, w: wordsOf(st), focus: a.focus, ev: f.Event(a.focus),
		marks: st.Needs.Has(strategies.NeedsMarks), kv: st.Needs.Has(strategies.NeedsKV),
		crashTold: make([]bool, a.cfg.Instances+1), leftTold: make([]bool, a.cfg.Instances+1), cutTold: make([]run.Stores, a.cfg.Instances+1), cutRec: make([]int, a.cfg.Instances+1),
		known: map[uint32]bool{a.focus: true},
		from:  1, to: 0} // an empty span until the event has one
	for i := range n.cutRec {
		n.cutRec[i] = -1
	}
	// A memory the trace records is told from its records; the rule of
	// the description is for a memory of the strategy's own.
	n.memory, n.memRec = st.Memory || f.MemoryRecorded, f.MemoryRecorded
	n.memRule = st.Memory && st.Teaching.Remembers == strategies.MemoryOnApplied && !f.MemoryRecorded
	if n.memRule && n.memoryBelied() {
		// The trace belies the description's rule: tell only what the
		// trace shows.
		n.memRule = false
	}
	for k := 1; k < len(f.Calls); k++ {
		switch op := f.Calls[k].Op; {
		case op.KV():
			n.kv = true
		case op.Store() == run.Redis:
			n.marks = true
		case op == run.Insert, op == run.InsertApply, op == run.Delete:
			n.ids = true
		}
	}
	for _, key := range f.Keys {
		if key.Name != "" && !slices.Contains(n.kvNames, key.Name) {
			n.kvNames = append(n.kvNames, key.Name)
		}
	}
	n.focusKeys = map[string]bool{}
	for k := 1; k < len(f.Calls); k++ {
		if c := &f.Calls[k]; c.Event == a.focus && c.Key != "" && slices.Contains(n.kvNames, c.Key) {
			n.focusKeys[c.Key] = true
		}
	}
	if n.ev != nil && n.ev.FirstRec >= 0 {
		n.from, n.to = f.Trace[n.ev.FirstRec].At, min(f.Trace[n.ev.LastRec].At, a.cut)
	}
	return n
}

// memoryBelied reports whether an attempt of the run skipped without
// asking any store while, by the description's rule (Teaching.Remembers),
// its instance's memory did not hold the event: only its memory can have
// said skip, so the rule does not say what the memory holds.
func (n *narrator) memoryBelied() bool {
	f := n.f
	for _, a := range f.Attempts {
		if a.Outcome == run.Skipped && len(a.Calls) == 0 && !f.Remembers(a.Inst, a.Event, a.Rec) {
			return true
		}
	}
	return false
}

// claim adds claims to the text being written.
func (n *narrator) claim(c ...Claim) { n.pending.add(c...) }

// take returns the claims of the text written, and starts a new one.
func (n *narrator) take() []Claim {
	cs := n.pending
	n.pending = nil
	return cs
}

// inSpan reports whether t falls within the focus event's story.
func (n *narrator) inSpan(t int64) bool { return t >= n.from && t <= n.to }

// tell walks the trace and returns the story's steps.
func (n *narrator) tell() []item {
	if n.ev == nil {
		return nil
	}
	expiries := n.expiries()
	n.recAtt = n.attemptRecs()
	late := n.lateStart()
	for i := range n.f.Trace {
		r := &n.f.Trace[i]
		for len(expiries) > 0 && expiries[0].at <= r.At {
			x := expiries[0]
			expiries = expiries[1:]
			n.add(-1, i-1, x.at, -1, actorRedis, n.expiryText(x), true)
		}
		if late != nil && late.At <= r.At {
			n.tellLateStart(late, i-1)
			late = nil
		}
		for len(n.resumes) > 0 && n.resumes[0].At+n.resumes[0].Dur <= r.At {
			n.tellResume(n.resumes[0], i-1)
			n.resumes = n.resumes[1:]
		}
		n.record(i, r)
	}
	return n.collapseRetries(n.items)
}

type expiry struct {
	at  int64
	key int // the index in Facts.Keys of the value that expires
}

// expiries are the expiries of the focus event's mark, and of the keys
// its handlers wrote, within its story.
func (n *narrator) expiries() []expiry {
	var out []expiry
	for _, k := range n.ev.Keys {
		if x := n.f.Expiry(k); x >= 0 && n.inSpan(x) {
			out = append(out, expiry{x, k})
		}
	}
	slices.SortStableFunc(out, func(a, b expiry) int { return cmp.Compare(a.at, b.at) })
	return out
}

// expiredClaim states that key value k expired at its time.
func (n *narrator) expiredClaim(k int) Claim {
	key := &n.f.Keys[k]
	c := claim(ClaimExpired)
	c.Call, c.Key, c.Event, c.Value, c.At, c.Dur, c.To, c.Inst = key.Call, key.Name, key.Event, key.Value, key.At, key.TTL, key.Expires, key.Inst
	if key.Set {
		c.Value = key.Value
	}
	return c
}

// expiryText tells a mark or key expiring.
func (n *narrator) expiryText(x expiry) string {
	key := &n.f.Keys[x.key]
	n.claim(n.expiredClaim(x.key))
	switch {
	case key.Name == "":
		return fmt.Sprintf("event %d's key expires: instance %d set it at %s with a TTL of %s, and Redis drops it", key.Event, key.Inst, at(key.At), ttlWords(key.TTL))
	case key.Set:
		return fmt.Sprintf("the set %s expires with its member %s: instance %d added it at %s, and the set's TTL ran out", key.Name, key.Value, key.Inst, at(key.At))
	}
	return fmt.Sprintf("%s expires: instance %d set it to %s%s at %s for %s, and Redis drops it",
		key.Name, key.Inst, key.Value, n.w.meaning(key.Value), at(key.At), ttlWords(key.TTL))
}

// say adds a step told by instance inst (or by no one, for -1) at record
// i; the state shown is the state after it.
func (n *narrator) say(i int, inst int32, text string, showState bool) {
	actor := "-"
	if inst >= 0 {
		actor = fmt.Sprintf("instance %d", inst)
	}
	n.sayAs(i, n.f.Trace[i].At, inst, actor, text, showState)
}

// sayAs adds a step that tells record i, by actor.
func (n *narrator) sayAs(i int, t int64, inst int32, actor, text string, showState bool) {
	n.add(i, i, t, inst, actor, text, showState)
}

// add adds a step at time t that tells record rec (-1 for a step derived
// between records), with the state after record after, and the claims
// written with its text.
func (n *narrator) add(rec, after int, t int64, inst int32, actor, text string, showState bool) {
	cs := n.take()
	if t > n.a.cut {
		return
	}
	att, ok := n.recAtt[rec]
	if !ok || rec < 0 {
		att = -1
	}
	if rec >= 0 {
		cs = append([]Claim{stepClaim(n.f, rec)}, cs...)
	}
	for _, c := range cs {
		if c.Event != 0 {
			n.known[c.Event] = true
		}
	}
	state, sc, snap := n.state(after, t)
	n.items = append(n.items, item{at: t, inst: inst, actor: actor, text: text, state: state, showState: showState, rec: rec, att: att, claims: cs, stateClaims: sc, snap: snap})
}

// record tells record i if it matters to the focus event.
func (n *narrator) record(i int, r *run.Record) {
	f := n.f
	tell := r.Event == n.focus
	inst := r.Inst
	if r.Downstream() || inst >= 0 && relayOf(f.Config, inst) {
		n.downRecord(i, r)
		return
	}
	if n.f.Group != nil && n.groupRecord(i, r) {
		return
	}
	if r.Kind > lastKnownKind {
		n.unknownRecord(i, r, tell)
		return
	}
	switch r.Kind {
	case run.Publish:
		if tell {
			n.sayAs(i, r.At, -1, "producer", n.publishText(r.Msg), false)
		}
	case run.Deliver:
		if tell {
			n.deliver(i, r)
		}
	case run.DeliverDrop:
		if tell {
			c := claim(ClaimNotArrived)
			c.Rec, c.Msg, c.Inst = i, r.Msg, inst
			why := "it is down"
			switch {
			case f.CutAt(inst, i)&run.Broker != 0:
				why, c.Yes = "it is cut off from the broker", true
			case f.DownWhy(inst, i) == run.Leave:
				why, c.Record = "it has left and is not back yet", run.Leave
			case stopping(f.Trace, inst, i):
				why, c.Record = "it has stopped gracefully, and its leave reaches the group a moment later", run.Leave
			}
			n.claim(c)
			n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("the delivery of m%d to instance %d never arrives: %s", r.Msg, inst, why), false)
		}
	case run.Receive:
		if tell {
			n.receive(i, r)
		}
	case run.Serve:
		if tell {
			if text, ok := n.serveText(i, &f.Calls[r.Call]); ok {
				n.say(i, inst, text, true)
			} else {
				n.take()
			}
		}
	case run.Park:
		if tell {
			n.say(i, inst, n.parkText(i, &f.Calls[r.Call]), true)
		}
	case run.CallHeld:
		if tell {
			n.say(i, inst, n.heldText(i, &f.Calls[r.Call]), false)
		}
	case run.Timeout:
		if tell {
			n.say(i, inst, n.timeoutText(&f.Calls[r.Call]), false)
		}
	case run.Handled:
		if tell {
			n.handled(i, r)
		}
	case run.Memory:
		if tell {
			n.memCall(i)
		}
	case run.AckLost:
		if tell {
			c := claim(ClaimAck)
			c.Inst, c.Msg, c.At = inst, r.Msg, r.At
			n.claim(c)
			why := "the ack is lost on the way (the broker's ordinary at-least-once behaviour)"
			if f.CutAt(inst, i)&run.Broker != 0 {
				n.claim(cutClaim(i, inst, run.Broker))
				why = "it is cut off from the broker, so the ack is lost"
			}
			if q := n.closesChannel(i); q != nil {
				cc := claim(ClaimChannelClosed)
				cc.Rec, cc.Msg, cc.Inst, cc.N = q.Rec, q.Msg, q.Inst, i
				n.claim(cc)
				// With no ack deadline the lost ack breaks the
				// connection: the broker takes the message back at
				// once (the next step), not after a deadline.
				n.say(i, inst, fmt.Sprintf("acks m%d, but the ack is lost on the way, which breaks instance %d's connection to the broker", r.Msg, inst), false)
				break
			}
			if q := n.requeuedSinceDelivery(r.Msg, r.Tag, i); q != nil && q.Cause == run.ChannelClosed {
				// A cut closed the channel first: the broker has
				// taken the message back already.
				cc := claim(ClaimChannelClosed)
				cc.Rec, cc.Msg, cc.Inst, cc.N = q.Rec, q.Msg, q.Inst, closedBy(f.Trace, q.Rec-1, &f.Trace[q.Rec])
				n.claim(cc)
				n.say(i, inst, fmt.Sprintf("acks m%d, but %s: the broker put m%d back when instance %d's channel closed", r.Msg, why, r.Msg, inst), false)
				break
			}
			n.say(i, inst, fmt.Sprintf("acks m%d, but %s: the broker still thinks m%d is being handled", r.Msg, why, r.Msg), false)
		}
	case run.Acked:
		if tell {
			c := claim(ClaimAck)
			c.Inst, c.Msg, c.To, c.Yes = inst, r.Msg, r.At, true
			n.claim(c)
			n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("gets instance %d's ack of m%d: m%d is done", inst, r.Msg, r.Msg), false)
		}
	case run.Requeue:
		if tell {
			n.requeue(i, r)
		}
	case run.DeadLetter:
		if tell {
			n.deadLetter(i, r)
		}
	case run.Crash:
		n.crash(i, r, tell)
	case run.Leave:
		n.leave(i, r)
	case run.Restart:
		if n.leftTold[inst] {
			n.comeBack(i, r)
		} else if n.crashTold[inst] {
			c := claim(ClaimRestart)
			c.Rec, c.Inst = i, inst
			n.claim(c)
			text := "restarts with empty memory"
			if n.memory {
				text += fmt.Sprintf(": its %s is empty", n.w.memory())
				if n.w.memory() == "memory" {
					text = "restarts with empty memory"
				}
			}
			n.say(i, inst, text, n.memKnown())
		}
	case run.Stall:
		if r.Cause == run.Paused {
			n.pause(i, r)
		} else if tell {
			c := claim(ClaimStall)
			c.Rec, c.Inst, c.Dur = i, inst, r.Dur
			n.claim(c)
			text := fmt.Sprintf("stalls for %v (slow)", time.Duration(r.Dur).Round(time.Millisecond))
			if d := f.AckDeadline(); d > 0 && time.Duration(r.Dur) > d {
				dc := claim(ClaimDeadline)
				dc.Dur = int64(d)
				n.claim(dc)
				text += fmt.Sprintf(", longer than m%d's %s ack deadline", r.Msg, durWords(d))
			}
			n.say(i, inst, text, false)
		}
	case run.Partition:
		if n.inSpan(r.At) && n.ev.Insts&(1<<inst) != 0 {
			if text := n.partitionText(i, r); text != "" {
				n.say(i, inst, text, false)
				n.cutRec[inst] = i
			} else {
				n.take()
			}
		}
	case run.StoreLoss:
		n.storeLoss(i, r)
	case run.StoreUp:
		if n.lossTold {
			c := claim(ClaimStoreUp)
			c.Rec = i
			n.claim(c)
			n.sayAs(i, r.At, -1, actorRedis, "is back and answers calls again", false)
			n.lossTold = false
		}
	case run.TxAbort:
		if t := &f.Txs[r.Tx]; t.Holds(run.Insert, n.focus) || t.Holds(run.Apply, n.focus) {
			c := claim(ClaimTxAbort)
			c.Rec, c.Tx, c.Inst = i, t.ID, t.Inst
			n.claim(c)
			n.sayAs(i, r.At, -1, actorDB, fmt.Sprintf("notices that instance %d's connection is gone and rolls back its open transaction: %s", t.Inst, n.discarded(t, n.focus)), true)
		}
	case run.Heal:
		// The heal matters to the story only where it ends something: a
		// partition or Redis being down.
		if n.inSpan(r.At) && n.a.cfg.Faults&faults.Of(faults.Partition, faults.StoreLoss) != 0 {
			c := claim(ClaimHeal)
			c.Rec = i
			n.claim(c)
			for inst := range n.cutTold {
				n.cutTold[inst] = 0
			}
			n.sayAs(i, r.At, -1, "-", "the faults heal: partitions end, Redis is up, and every event must now settle", false)
		}
	}
}

// lastKnownKind is the last record kind explain knows (run's kinds are
// numbered in the order they were added): it tells each of them, or folds
// it into another's step. A kind added later, such as a third broker
// model's own, is told neutrally (unknownRecord) until explain learns it.
const lastKnownKind = run.Start

// unknownRecord tells a record of a kind explain does not know, in
// neutral words, by its kind and detail as a trace prints them, if it is
// about the focus event, or of an instance in its story, within it. Its
// step's claim is the record itself, which Verify holds to the trace.
func (n *narrator) unknownRecord(i int, r *run.Record, tell bool) {
	mine := r.Inst >= 0 && r.Inst < 64 && n.ev.Insts&(1<<r.Inst) != 0
	if !tell && !(mine && n.inSpan(r.At)) {
		return
	}
	text := r.Kind.String()
	if d := r.Detail(); d != "" {
		text += ": " + d
	}
	if r.Msg != 0 {
		text = fmt.Sprintf("%s (m%d)", text, r.Msg)
	}
	if r.Inst >= 0 {
		n.say(i, r.Inst, text, false)
		return
	}
	n.sayAs(i, r.At, -1, actorBroker, text, false)
}

// cutClaim states that inst is cut off from at least s at record i.
func cutClaim(i int, inst int32, s run.Stores) Claim {
	c := claim(ClaimCut)
	c.Rec, c.Inst, c.N, c.Yes = i, inst, int(s), s != 0
	return c
}

// publishText tells the publication of message msg: the event's first
// copy, a second one sent at once, or a late one.
func (n *narrator) publishText(msg uint32) string {
	m := &n.f.Messages[msg]
	first := &n.f.Messages[n.ev.Copies[0]]
	gap := m.At - first.At
	c := claim(ClaimPublish)
	c.Msg, c.Event, c.N, c.At, c.Dur = m.ID, m.Event, m.Copy, m.At, gap
	n.claim(c)
	if text := n.reusedPublishText(m); text != "" {
		return text
	}
	switch {
	case m.Copy == 0:
		return fmt.Sprintf("publishes event %d as message m%d", m.Event, m.ID)
	case gap < lateCopy:
		return fmt.Sprintf("publishes event %d again, as message m%d, %.3f ms after the first copy (the producer sent it twice)", m.Event, m.ID, ms(gap))
	default:
		return fmt.Sprintf("publishes a late copy of event %d, as message m%d, %.3f s after the first (a producer retry or a replay)", m.Event, m.ID, float64(gap)/1e9)
	}
}

// deliver tells a delivery that was not received within the story; a
// received one is told with its receive.
func (n *narrator) deliver(i int, r *run.Record) {
	for _, k := range n.f.Messages[r.Msg].Deliveries {
		if d := &n.f.Deliveries[k]; d.Rec == i && d.Attempt >= 0 && n.f.Attempts[d.Attempt].At <= n.a.cut {
			return
		}
	}
	c := claim(ClaimDeliver)
	c.Rec, c.Msg, c.Inst, c.N = i, r.Msg, r.Inst, int(r.Tag)
	n.claim(c)
	text := fmt.Sprintf("sends m%d to instance %d", r.Msg, r.Inst)
	if r.Tag > 1 {
		text = fmt.Sprintf("sends m%d again (delivery %d) to instance %d", r.Msg, r.Tag, r.Inst)
	}
	n.sayAs(i, r.At, -1, actorBroker, text, false)
}

// receive tells an attempt starting; for a strategy whose description
// says when it writes its memory, whether the memory held the event, which
// decides what it does.
func (n *narrator) receive(i int, r *run.Record) {
	c := claim(ClaimReceive)
	c.Rec, c.Inst, c.Msg, c.Event, c.N, c.At = i, r.Inst, r.Msg, r.Event, int(r.Tag), r.At
	text := fmt.Sprintf("receives m%d (event %d)", r.Msg, r.Event)
	again := r.Tag > 1
	if again {
		text = fmt.Sprintf("receives m%d (event %d) again, delivery %d", r.Msg, r.Event, r.Tag)
	}
	if n.f.Group != nil {
		// The log's tag is a generation, not a count of deliveries.
		text, again = n.groupReceived(i, r, &c)
	}
	n.claim(c)
	look := n.lookupAfter(r.Inst, r.Event, i)
	if n.memRule || look != nil {
		a := n.attemptAt(i)
		var holds bool
		if look != nil {
			// The trace shows the lookup, right after the receive.
			n.claim(memCallClaim(look))
			holds = look.Yes
			if again {
				text += ","
			}
			text += fmt.Sprintf(" and looks in its %s: event %d is ", n.w.memory(), r.Event)
			text += map[bool]string{true: "there", false: "not there"}[holds]
		} else {
			holds = n.f.Remembers(r.Inst, r.Event, i)
			n.claim(n.memHeldClaim(i, r.Inst, r.Event))
			text += fmt.Sprintf("; its %s %s event %d", n.w.memory(), map[bool]string{true: "holds", false: "does not hold"}[holds], r.Event)
		}
		if holds {
			if a != nil && a.Outcome == run.Skipped {
				n.claim(outcomeClaim(a))
				text += ", so it will skip it"
			}
		} else if a != nil && a.Outcome != run.Skipped && len(a.Calls) > 0 {
			cc := claim(ClaimCalls)
			cc.Rec, cc.N, cc.Yes = a.Rec, len(a.Calls), true
			n.claim(cc)
			text += ", so it processes it"
		}
	}
	n.say(i, r.Inst, text, n.memRule || look != nil)
}

// attemptAt is the attempt that record i began, nil if none.
func (n *narrator) attemptAt(i int) *Attempt {
	for _, k := range n.ev.Attempts {
		if a := &n.f.Attempts[k]; a.Rec == i {
			return a
		}
	}
	return nil
}

// handled tells a handler returning, and what the instance does next
// with the delivery, as the records after it show.
func (n *narrator) handled(i int, r *run.Record) {
	f := n.f
	// A write of its memory right before the return is told with it.
	write := n.writeBefore(r.Inst, r.Event, i)
	// The step's actor ("instance 0") heads its text, so a text that
	// stands alone says "the handler", not "instance 0 its handler".
	wrote := func(text string) string {
		if write == nil {
			return strings.Replace(text, "its handler", "the handler", 1)
		}
		n.claim(memCallClaim(write))
		return n.memCallText(write) + ", and " + text
	}
	a := n.attemptEnding(i)
	if a == nil {
		n.say(i, r.Inst, wrote("its handler returns "+r.Outcome.String()), write != nil)
		return
	}
	n.claim(outcomeClaim(a))
	var text string
	switch r.Outcome {
	case run.Applied:
		text = "its handler returns applied"
		if n.memRule {
			mc := claim(ClaimMemory)
			mc.Rec, mc.Inst, mc.Event, mc.Yes = i, r.Inst, r.Event, true
			n.claim(mc)
			text += fmt.Sprintf(", and it remembers event %d in its %s", r.Event, n.w.memory())
		}
		n.say(i, r.Inst, wrote(text), n.memKnown())
		return
	case run.Skipped:
		text = "its handler returns skipped" + n.skipWhy(a)
	case run.RetryLater:
		text = "its handler asks to retry later" + n.effectWords(a, "having applied nothing")
		text += n.nackWords(a, r.Msg)
	case run.Rejected:
		// Acked, as a drop is, but surfaced: the event is dead, not lost.
		text = fmt.Sprintf("its handler refuses m%d to the dead-letter queue and returns refused", r.Msg) + n.effectWords(a, "having applied nothing") + ": a conflict surfaced for a person to settle, not a silent loss"
	case run.Dropped:
		text = "its handler gives up and returns dropped" + n.effectWords(a, "having applied nothing")
		if ack := &f.Acks[max(a.Ack, 0)]; a.Ack >= 0 && ack.AcceptedRec < 0 && ack.LostRec < 0 {
			// Neither taken nor lost: on a queue with no ack deadline,
			// the ack of a delivery whose channel closed settles
			// nothing (the message went back, and out again).
			if q := n.requeuedSinceDelivery(a.Msg, a.Tag, ack.Rec); q != nil && q.Cause == run.ChannelClosed {
				cc := claim(ClaimChannelClosed)
				cc.Rec, cc.Msg, cc.Inst, cc.N = q.Rec, q.Msg, q.Inst, closedBy(f.Trace, q.Rec-1, &f.Trace[q.Rec])
				n.claim(cc)
				text += fmt.Sprintf(": it acks m%d with nothing more done, but the broker had put m%d back when instance %d's channel closed, so the ack settles nothing", r.Msg, r.Msg, q.Inst)
				break
			}
			// Sent later (after a stall) or still on its way when the
			// run ended: the trace shows no fate of it to tell.
			text += fmt.Sprintf(": it sends an ack of m%d, with nothing more done", r.Msg)
			break
		}
		if a.Ack >= 0 {
			c := claim(ClaimAck)
			c.Inst, c.Msg, c.At = a.Inst, a.Msg, f.Acks[a.Ack].At
			c.Yes = f.Acks[a.Ack].AcceptedRec >= 0
			if c.Yes {
				c.To = f.Acks[a.Ack].Accepted
			}
			n.claim(c)
			text += fmt.Sprintf(": it acks m%d with nothing more done, so the broker will not deliver it again", r.Msg)
			if !c.Yes {
				text = strings.TrimSuffix(text, ", so the broker will not deliver it again")
			}
		}
	default:
		text = "its handler fails" + n.nackWords(a, r.Msg)
	}
	n.say(i, r.Inst, wrote(text), write != nil)
}

// attemptEnding is the focus event's attempt that record i ended.
func (n *narrator) attemptEnding(i int) *Attempt {
	for _, k := range n.ev.Attempts {
		if a := &n.f.Attempts[k]; a.EndRec == i {
			return a
		}
	}
	return nil
}

// skipWhy says what the trace shows of a skip: the call whose answer it
// followed, that it applied nothing, or, for a strategy with a memory
// that skipped without asking any store, what that memory may have held.
func (n *narrator) skipWhy(a *Attempt) string {
	if len(a.Calls) == 0 {
		cc := claim(ClaimCalls)
		cc.Rec, cc.N = a.Rec, 0
		n.claim(cc)
		if s := n.skipRecorded(a, n.attemptIndex(a)); s != "" {
			return " without asking any store: " + s
		}
		if n.memory {
			return " without asking any store: its own " + n.w.memory() + " decided" + n.handledBefore(a)
		}
		return " without asking any store"
	}
	if n.ackedAfterFailure(a) {
		return n.effectWords(a, "") + ": it acks the delivery all the same"
	}
	s := ": it judged the delivery a duplicate"
	if c := n.skipCall(a); c != nil {
		lc := claim(ClaimLastCall)
		lc.Call, lc.Rec = c.ID, a.Rec
		n.claim(callClaim(c), lc)
	}
	if n.applicationOf(n.attemptIndex(a)) == nil {
		ac := claim(ClaimAttemptApplied)
		ac.Rec = a.Rec
		n.claim(ac)
		s += " and applied nothing"
	}
	return s
}

// ackedAfterFailure reports whether attempt a returned skipped after it
// sent its effect, without a call whose answer said the event was there:
// it acks a delivery whose effect's fate it does not know.
func (n *narrator) ackedAfterFailure(a *Attempt) bool {
	return a.Outcome == run.Skipped && n.effectCall(a) != nil && n.skipCall(a) == nil
}

// handledBefore says which deliveries of the focus event the incarnation
// of a's instance had handled before a began, as the trace shows them.
func (n *narrator) handledBefore(a *Attempt) string {
	f := n.f
	var prev []*Attempt
	for _, k := range n.ev.Attempts {
		p := &f.Attempts[k]
		if p.Inst == a.Inst && p.Rec < a.Rec && !n.f.EndedBetween(a.Inst, p.Rec, a.Rec) {
			prev = append(prev, p)
		}
	}
	c := claim(ClaimHandledBefore)
	c.Rec, c.Inst, c.Event, c.N = a.Rec, a.Inst, a.Event, len(prev)
	n.claim(c)
	if len(prev) == 0 {
		return fmt.Sprintf(", though this incarnation of instance %d had not handled event %d before", a.Inst, a.Event)
	}
	p := prev[len(prev)-1]
	n.claim(outcomeClaim(p))
	what := returned(p.Outcome)
	if p.EndRec < 0 {
		what = "never returned"
	}
	s := fmt.Sprintf(" (this incarnation of instance %d had handled event %d before: m%d at %s, whose handler %s", a.Inst, a.Event, p.Msg, at(p.At), what)
	if fl := n.failureOf(n.attemptIndex(p)); fl != nil {
		n.claim(fl.claims...)
		s += " after it " + fl.what
	}
	return s + ")"
}

// returned says what a handler that returned o did, as "returned
// applied", "failed", "asked to retry later".
func returned(o run.Outcome) string {
	switch o {
	case run.Errored:
		return "failed"
	case run.RetryLater:
		return "asked to retry later"
	}
	return "returned " + o.String()
}

// attemptIndex is a's index in Facts.Attempts.
func (n *narrator) attemptIndex(a *Attempt) int {
	for _, k := range n.ev.Attempts {
		if &n.f.Attempts[k] == a {
			return k
		}
	}
	return -1
}

// effectCall is attempt a's first call that applies the event's effect or
// commits it (an Apply, an InsertApply, or the Commit of a transaction
// that applied it), nil if it made none.
func (n *narrator) effectCall(a *Attempt) *Call {
	for _, id := range a.Calls {
		if c := &n.f.Calls[id]; effectOp(c.Op) {
			return c
		}
	}
	return nil
}

// effectWords says, for an attempt that returned without applying, what
// became of its effect: " (its Apply ... timed out)" or, if it sent no
// effect call, ", " + none ("having applied nothing"); "" if none is "".
func (n *narrator) effectWords(a *Attempt, none string) string {
	eff := n.effectCall(a)
	if eff == nil {
		if none == "" {
			return ""
		}
		cc := claim(ClaimCalls)
		cc.Rec, cc.Op = a.Rec, run.Apply
		n.claim(cc)
		return ", " + none
	}
	n.claim(callClaim(eff))
	if fl := n.failureOf(n.attemptIndex(a)); fl != nil {
		n.claim(fl.claims...)
		return ", after it " + fl.what
	}
	if ap := n.applicationOf(n.attemptIndex(a)); ap != nil {
		n.claim(appliedClaim(n.focus, *ap))
		return fmt.Sprintf(", though its effect committed at %s", at(ap.At))
	}
	return fmt.Sprintf(", after its %s", n.w.callName(eff))
}

// nackWords says that the instance nacked the delivery after a returned,
// and that the broker put it back for another delivery, where the trace
// shows each.
func (n *narrator) nackWords(a *Attempt, msg uint32) string {
	if a.NackRec < 0 {
		return ""
	}
	c := claim(ClaimNack)
	c.Rec, c.Inst, c.Msg = a.Rec, a.Inst, msg
	n.claim(c)
	for _, q := range n.f.Requeues {
		if q.Msg == msg && q.Cause == run.AfterNack && q.Rec > a.NackRec {
			rc := claim(ClaimRequeue)
			rc.Rec, rc.Msg = q.Rec, msg
			n.claim(rc)
			return fmt.Sprintf(": it nacks m%d, and the broker will deliver it again", msg)
		}
	}
	return fmt.Sprintf(": it nacks m%d", msg)
}

// requeue tells the broker putting a message back.
func (n *narrator) requeue(i int, r *run.Record) {
	if r.Cause == run.ChannelClosed {
		c := claim(ClaimChannelClosed)
		c.Rec, c.Msg, c.Inst = i, r.Msg, r.Inst
		c.N = closedBy(n.f.Trace, i-1, r)
		n.claim(c)
		n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("puts m%d back at the head of the queue: instance %d's channel closed%s", r.Msg, r.Inst, closedWhy(n.f.Trace, c.N)), false)
		return
	}
	c := claim(ClaimRequeue)
	c.Rec, c.Msg, c.Inst = i, r.Msg, r.Inst
	text := fmt.Sprintf("puts m%d back in the queue after instance %d's nack", r.Msg, r.Inst)
	if r.Cause == run.DeadlinePassed {
		c.Yes = true
		dl := ""
		for _, q := range n.f.Requeues {
			if q.Rec == i && q.Delivery >= 0 {
				c.Dur = q.At - n.f.Deliveries[q.Delivery].At
				dl = durWords(time.Duration(c.Dur)) + " "
			}
		}
		text = fmt.Sprintf("has had no ack of m%d within its %sack deadline: it puts m%d back in the queue, for any instance", r.Msg, dl, r.Msg)
	}
	n.claim(c)
	n.sayAs(i, r.At, -1, actorBroker, text, false)
}

// requeuedSinceDelivery is the last requeue of message msg after its
// delivery with tag and before record i, nil if none.
func (n *narrator) requeuedSinceDelivery(msg, tag uint32, i int) *Requeue {
	for _, d := range n.f.Messages[msg].Deliveries {
		if dl := &n.f.Deliveries[d]; dl.Tag == tag {
			return n.requeueBetween(msg, dl.Rec, i)
		}
	}
	return nil
}

// closesChannel is the first requeue that record i caused by closing its
// instance's channel (closedBy names it as why), nil if none.
func (n *narrator) closesChannel(i int) *Requeue {
	for k := range n.f.Requeues {
		if q := &n.f.Requeues[k]; q.Cause == run.ChannelClosed && q.Rec > i && closedBy(n.f.Trace, q.Rec-1, &n.f.Trace[q.Rec]) == i {
			return q
		}
	}
	return nil
}

// closedWhy says why a channel closed, given the record that closed it
// (closedBy; -1: not known), as " (it crashed)".
func closedWhy(trace []run.Record, k int) string {
	if k < 0 {
		return ""
	}
	switch trace[k].Kind {
	case run.Crash:
		return " (it crashed)"
	case run.Partition:
		return " (it was cut off from the broker)"
	case run.AckLost:
		return " (its ack was lost, which breaks its connection)"
	case run.Stall:
		return " (it paused whole: the broker heard nothing from it)"
	case run.Leave:
		return " (it left)"
	}
	return ""
}

// deadLetter tells the broker giving up on a message, and, when that
// leaves the focus event dead, says so.
func (n *narrator) deadLetter(i int, r *run.Record) {
	c := claim(ClaimDeadLetter)
	c.Rec, c.Msg, c.Event, c.N = i, r.Msg, r.Event, int(r.Tag)
	n.claim(c)
	text := fmt.Sprintf("dead-letters m%d after %s, its maximum: it will not deliver it again", r.Msg, deliveriesWords(int(r.Tag)))
	if e := n.f.Event(r.Event); e != nil && e.Dead && n.lastDeadLetter(e) == i {
		d := claim(ClaimDead)
		d.Event = r.Event
		n.claim(d)
		text = fmt.Sprintf("dead-letters m%d after %s, its maximum: event %d is dead, never applied", r.Msg, deliveriesWords(int(r.Tag)), r.Event)
	}
	n.sayAs(i, r.At, -1, actorBroker, text, false)
}

// deliveriesWords renders a number of deliveries, as "3 deliveries".
func deliveriesWords(n int) string {
	if n == 1 {
		return "1 delivery"
	}
	return fmt.Sprintf("%d deliveries", n)
}

// lastDeadLetter is the record of the last dead-letter of a copy of e, -1
// if none.
func (n *narrator) lastDeadLetter(e *Event) int {
	last := -1
	for _, m := range e.Copies {
		last = max(last, n.f.Messages[m].DeadRec)
	}
	return last
}

// crashStep names the step a crash came at, as "its SET NX (the claim)".
func (n *narrator) crashStep(c *Crash) string {
	switch c.Step {
	case run.AtCall:
		if c.Call != 0 {
			return "its " + n.w.callName(&n.f.Calls[c.Call])
		}
		return "its " + n.w.opName(c.Op, c.Event)
	case run.AtNack:
		return "the nack"
	}
	return "the ack"
}

// crashClaim states crash c.
func crashClaim(c *Crash) Claim {
	cl := claim(ClaimCrash)
	cl.Rec, cl.Inst, cl.Op, cl.N, cl.Yes, cl.Call = c.Rec, c.Inst, c.Op, int(c.Step), c.InFlight, c.Call
	return cl
}

// crash tells a crash about the focus event, or one of an instance that
// had handled it (whose memory may have held it); its restart is told
// with it.
func (n *narrator) crash(i int, r *run.Record, tell bool) {
	inst := r.Inst
	held := n.memory && i > 0 && n.handledSinceRestart(inst, i)
	n.crashTold[inst] = tell || held
	if !n.crashTold[inst] {
		return
	}
	var cr *Crash
	for k := range n.f.Crashes {
		if n.f.Crashes[k].Rec == i {
			cr = &n.f.Crashes[k]
		}
	}
	n.claim(crashClaim(cr))
	if cr.Call != 0 {
		n.claim(callClaim(&n.f.Calls[cr.Call]))
	}
	step := n.crashStep(cr)
	text := "crashes before " + step
	if r.InFlight {
		text = "crashes with " + step + " in flight (sent, not yet answered)"
	}
	if n.memory {
		text += fmt.Sprintf(": what it kept in its %s is gone", n.w.memory())
	}
	if cr.RestartRec >= 0 {
		c := claim(ClaimRestart)
		c.Rec, c.Inst = cr.RestartRec, inst
		n.claim(c)
		text += "; it will restart later"
	}
	n.say(i, inst, text, n.memKnown())
}

// handledSinceRestart reports whether instance inst began an attempt of
// the focus event before record i, since it last restarted.
func (n *narrator) handledSinceRestart(inst int32, i int) bool {
	for _, k := range n.ev.Attempts {
		if a := &n.f.Attempts[k]; a.Inst == inst && a.Rec < i && !n.f.EndedBetween(inst, a.Rec, i) {
			return true
		}
	}
	return false
}

// partitionText tells a window of instance r.Inst opening or closing, as
// CutSpans draws them: cut off when the first opens, reachable again when
// the last closes. A step says "too" or "again" only of a cut the story
// told; of one it did not, it says when it began.
func (n *narrator) partitionText(i int, r *run.Record) string {
	f := n.f
	inst := r.Inst
	if r.Stores == 0 {
		if f.CutAt(inst, i) != 0 {
			return ""
		}
		n.claim(cutClaim(i, inst, 0))
		if n.cutTold[inst] != 0 && n.cutRec[inst] >= 0 {
			n.claim(refers(n.cutRec[inst]))
			n.cutTold[inst] = 0
			return "is reachable again: its partition heals"
		}
		// The cut began before the story: say when.
		sp := n.spanEndingAt(inst, i)
		if sp == nil {
			return ""
		}
		n.claim(cutClaim(sp.Rec, inst, f.Trace[sp.Rec].Stores))
		return fmt.Sprintf("is reachable again: the partition that cut it off from %s at %s heals", storesWords(f.Trace[sp.Rec].Stores), at(sp.From))
	}
	before := run.Stores(0)
	if i > 0 {
		before = f.CutAt(inst, i-1)
	}
	now := f.CutAt(inst, i)
	added := r.Stores &^ before
	if added == 0 {
		return ""
	}
	n.claim(cutClaim(i, inst, now))
	told := n.cutTold[inst]
	n.cutTold[inst] = now
	switch {
	case before == 0:
		return "is cut off from " + storesWords(added) + " (a partition)"
	case told == before && n.cutRec[inst] >= 0:
		n.claim(refers(n.cutRec[inst]))
		return "is now cut off from " + storesWords(added) + " too"
	}
	// The earlier cut began before the story, or was not told.
	return fmt.Sprintf("is cut off from %s (a partition), and was already cut off from %s", storesWords(added), storesWords(before))
}

// spanEndingAt is instance inst's cut span that ends at record i, nil if
// none.
func (n *narrator) spanEndingAt(inst int32, i int) *Span {
	for _, sp := range n.f.CutSpans(inst) {
		if sp.EndRec == i {
			return &sp
		}
	}
	return nil
}

// storeLoss tells Redis losing data, if the story's event lost its key or
// the loss falls within its story.
func (n *narrator) storeLoss(i int, r *run.Record) {
	if !n.marks && !n.kv {
		return
	}
	f := n.f
	var o *Outage
	for k := range f.Outages {
		if f.Outages[k].Rec == i {
			o = &f.Outages[k]
		}
	}
	lost, focusLost, names := 0, false, []string(nil)
	for _, k := range o.Lost {
		if key := &f.Keys[k]; key.Expires > r.At {
			lost++
			if key.Event == n.focus {
				focusLost = true
				switch {
				case key.Set:
					names = append(names, key.Value+" in "+key.Name)
				case key.Name != "":
					names = append(names, key.Name)
				}
			}
		}
	}
	if !focusLost && !n.inSpan(r.At) {
		return
	}
	c := claim(ClaimStoreLoss)
	c.Rec, c.N, c.Yes = i, lost, r.Cause == run.Failover
	text := fmt.Sprintf("restarts empty: every key is gone (%d lost)", lost)
	if r.Cause == run.Failover {
		text = fmt.Sprintf("fails over to a replica that lags behind: the keys written last are gone (%d lost)", lost)
	}
	switch {
	case len(names) > 0:
		for _, k := range o.Lost {
			if key := &f.Keys[k]; key.Event == n.focus && key.Name != "" && key.Expires > r.At {
				lc := c
				lc.Key, lc.Value = key.Name, ""
				if key.Set {
					lc.Value = key.Value
				}
				n.claim(lc)
			}
		}
		text += ", " + strings.Join(names, " and ") + " among them"
	case focusLost:
		lc := c
		lc.Event = n.focus
		n.claim(lc)
		text += fmt.Sprintf(", event %d's key among them", n.focus)
	default:
		n.claim(c)
	}
	n.lossTold = true
	n.sayAs(i, r.At, -1, actorRedis, text+"; it refuses calls until it is back", true)
}

// storesWords names the parts of a run in s.
func storesWords(s run.Stores) string {
	var parts []string
	for _, p := range []struct {
		bit  run.Stores
		name string
	}{{run.Broker, "the broker"}, {run.Redis, "Redis"}, {run.Database, "the database"}} {
		if s&p.bit != 0 {
			parts = append(parts, p.name)
		}
	}
	return strings.Join(parts, ", ")
}

// discarded says what a rollback of t discards about ev.
func (n *narrator) discarded(t *Tx, ev uint32) string {
	hold := func(op run.Op) {
		c := claim(ClaimTxHolds)
		c.Tx, c.Op, c.Event = t.ID, op, ev
		n.claim(c)
	}
	switch ins, app := t.Holds(run.Insert, ev), t.Holds(run.Apply, ev); {
	case ins && app:
		hold(run.Insert)
		hold(run.Apply)
		return fmt.Sprintf("event %d's id and effect are discarded", ev)
	case app:
		hold(run.Apply)
		return fmt.Sprintf("event %d's effect is discarded", ev)
	}
	hold(run.Insert)
	return fmt.Sprintf("event %d's id is discarded", ev)
}
