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
// them.
type narrator struct {
	a     *analysis
	f     *Facts
	w     words
	focus uint32
	ev    *Event
	// from and to bound the event's story: its first record to its last,
	// and no later than its violation is sealed.
	from, to int64
	// What the state line shows, by what the run used: memories, marks
	// in Redis, keys in Redis (kvNames, in the order of their first
	// write), processed ids.
	memory, marks, kv, ids bool
	kvNames                []string
	focusKeys              map[string]bool // the keys the focus event's calls named

	items     []item
	recAtt    map[int]int // the records about the focus event's attempts, to the attempt
	crashTold []bool      // per instance, its last crash was told
	lossTold  bool        // the last Redis data loss was told
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
}

func newNarrator(a *analysis) *narrator {
	f := a.facts
	n := &narrator{a: a, f: f, w: wordsOf(a.strategy), focus: a.focus, ev: f.Event(a.focus),
		memory: a.strategy.Memory, marks: a.strategy.Needs.Has(strategies.NeedsMarks), kv: a.strategy.Needs.Has(strategies.NeedsKV),
		crashTold: make([]bool, a.cfg.Instances), from: 1, to: 0} // an empty span until the event has one
	for k := 1; k < len(f.Calls); k++ {
		switch op := f.Calls[k].Op; {
		case op.KV():
			n.kv = true
		case op.Store() == run.Redis:
			n.marks = true
		case op == run.Insert, op == run.InsertApply:
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

// inSpan reports whether t falls within the focus event's story.
func (n *narrator) inSpan(t int64) bool { return t >= n.from && t <= n.to }

// tell walks the trace and returns the story's steps.
func (n *narrator) tell() []item {
	if n.ev == nil {
		return nil
	}
	expiries := n.expiries()
	n.recAtt = n.attemptRecs()
	for i := range n.f.Trace {
		r := &n.f.Trace[i]
		for len(expiries) > 0 && expiries[0].at <= r.At {
			x := expiries[0]
			expiries = expiries[1:]
			n.add(-1, i-1, x.at, -1, actorRedis, n.expiryText(x), true)
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

// expiryText tells a mark or key expiring.
func (n *narrator) expiryText(x expiry) string {
	key := &n.f.Keys[x.key]
	if key.Name == "" {
		return fmt.Sprintf("event %d's key expires: it lived its TTL of %s, and Redis drops it", n.focus, ttlWords(key.TTL))
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
// between records), with the state after record after.
func (n *narrator) add(rec, after int, t int64, inst int32, actor, text string, showState bool) {
	if t > n.a.cut {
		return
	}
	att, ok := n.recAtt[rec]
	if !ok || rec < 0 {
		att = -1
	}
	n.items = append(n.items, item{at: t, inst: inst, actor: actor, text: text, state: n.state(after, t), showState: showState, rec: rec, att: att})
}

// record tells record i if it matters to the focus event.
func (n *narrator) record(i int, r *run.Record) {
	f := n.f
	tell := r.Event == n.focus
	inst := r.Inst
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
			why := "it is down"
			if f.CutAt(inst, i)&run.Broker != 0 {
				why = "it is cut off from the broker"
			}
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
	case run.AckLost:
		if tell {
			why := "the ack is lost on the way (the broker's ordinary at-least-once behaviour)"
			if f.CutAt(inst, i)&run.Broker != 0 {
				why = "it is cut off from the broker, so the ack is lost"
			}
			n.say(i, inst, fmt.Sprintf("acks m%d, but %s: the broker still thinks m%d is being handled", r.Msg, why, r.Msg), false)
		}
	case run.Acked:
		if tell {
			n.sayAs(i, r.At, -1, actorBroker, fmt.Sprintf("gets instance %d's ack of m%d: m%d is done", inst, r.Msg, r.Msg), false)
		}
	case run.Requeue:
		if tell {
			n.requeue(i, r)
		}
	case run.Crash:
		n.crash(i, r, tell)
	case run.Restart:
		if n.crashTold[inst] {
			text := "restarts with empty memory"
			if n.memory {
				text += fmt.Sprintf(": its %s is empty", n.w.memory())
			}
			n.say(i, inst, text, n.memory)
		}
	case run.Stall:
		if tell {
			text := fmt.Sprintf("stalls for %v (slow)", time.Duration(r.Dur).Round(time.Millisecond))
			if d := f.AckDeadline(); d > 0 && time.Duration(r.Dur) > d {
				text += fmt.Sprintf(", longer than m%d's %s ack deadline", r.Msg, durWords(d))
			}
			n.say(i, inst, text, false)
		}
	case run.Partition:
		if n.inSpan(r.At) && n.ev.Insts&(1<<inst) != 0 {
			if text := n.partitionText(i, r); text != "" {
				n.say(i, inst, text, false)
			}
		}
	case run.StoreLoss:
		n.storeLoss(i, r)
	case run.StoreUp:
		if n.lossTold {
			n.sayAs(i, r.At, -1, actorRedis, "is back and answers calls again", false)
			n.lossTold = false
		}
	case run.TxAbort:
		if t := &f.Txs[r.Tx]; t.Holds(run.Insert, n.focus) || t.Holds(run.Apply, n.focus) {
			n.sayAs(i, r.At, -1, actorDB, fmt.Sprintf("notices that instance %d's connection is gone and rolls back its open transaction: %s", t.Inst, discarded(t, n.focus)), true)
		}
	case run.Heal:
		// The heal matters to the story only where it ends something: a
		// partition or Redis being down.
		if n.inSpan(r.At) && n.a.cfg.Faults&faults.Of(faults.Partition, faults.StoreLoss) != 0 {
			n.sayAs(i, r.At, -1, "-", "the faults heal: partitions end, Redis is up, and every event must now settle", false)
		}
	}
}

// publishText tells the publication of message msg: the event's first
// copy, a second one sent at once, or a late one.
func (n *narrator) publishText(msg uint32) string {
	m := &n.f.Messages[msg]
	first := &n.f.Messages[n.ev.Copies[0]]
	switch gap := m.At - first.At; {
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
	text := fmt.Sprintf("sends m%d to instance %d", r.Msg, r.Inst)
	if r.Tag > 1 {
		text = fmt.Sprintf("sends m%d again (delivery %d) to instance %d", r.Msg, r.Tag, r.Inst)
	}
	n.sayAs(i, r.At, -1, actorBroker, text, false)
}

// receive tells an attempt starting; for a strategy with Memory, whether
// the instance's memory held the event, which decides what it does.
func (n *narrator) receive(i int, r *run.Record) {
	text := fmt.Sprintf("receives m%d (event %d)", r.Msg, r.Event)
	if r.Tag > 1 {
		text = fmt.Sprintf("receives m%d (event %d) again, delivery %d", r.Msg, r.Event, r.Tag)
	}
	if n.memory {
		out := n.outcomeOf(i)
		if n.f.Remembers(r.Inst, r.Event, i) {
			text += fmt.Sprintf("; its %s holds event %d", n.w.memory(), r.Event)
			if out == run.Skipped {
				text += ", so it will skip it"
			}
		} else {
			text += fmt.Sprintf("; its %s does not hold event %d", n.w.memory(), r.Event)
			if out != run.Skipped {
				text += ", so it processes it"
			}
		}
	}
	n.say(i, r.Inst, text, n.memory)
}

// outcomeOf is what the attempt that record i began returned.
func (n *narrator) outcomeOf(i int) run.Outcome {
	for _, k := range n.ev.Attempts {
		if a := &n.f.Attempts[k]; a.Rec == i {
			return a.Outcome
		}
	}
	return 0
}

// handled tells a handler returning.
func (n *narrator) handled(i int, r *run.Record) {
	switch r.Outcome {
	case run.Applied:
		text := "its handler returns applied"
		if n.memory {
			text += fmt.Sprintf(", and it remembers event %d in its %s", r.Event, n.w.memory())
		}
		n.say(i, r.Inst, text, n.memory)
	case run.Skipped:
		n.say(i, r.Inst, "its handler returns skipped: it judged the delivery a duplicate and did nothing", false)
	case run.RetryLater:
		n.say(i, r.Inst, fmt.Sprintf("its handler asks to retry later, having done nothing: it nacks m%d, and the broker will deliver it again", r.Msg), false)
	default:
		n.say(i, r.Inst, fmt.Sprintf("its handler fails: it nacks m%d, and the broker will deliver it again", r.Msg), false)
	}
}

// requeue tells the broker putting a message back.
func (n *narrator) requeue(i int, r *run.Record) {
	text := fmt.Sprintf("puts m%d back in the queue after instance %d's nack", r.Msg, r.Inst)
	if r.Cause == run.DeadlinePassed {
		dl := ""
		for _, q := range n.f.Requeues {
			if q.Rec == i && q.Delivery >= 0 {
				dl = durWords(time.Duration(q.At-n.f.Deliveries[q.Delivery].At)) + " "
			}
		}
		text = fmt.Sprintf("has had no ack of m%d within its %sack deadline: it puts m%d back in the queue, for any instance", r.Msg, dl, r.Msg)
	}
	n.sayAs(i, r.At, -1, actorBroker, text, false)
}

// crash tells a crash about the focus event, or one that emptied a memory
// that held it; its restart is told with it.
func (n *narrator) crash(i int, r *run.Record, tell bool) {
	inst := r.Inst
	held := n.memory && i > 0 && n.f.Remembers(inst, n.focus, i-1)
	n.crashTold[inst] = tell || held
	if !n.crashTold[inst] {
		return
	}
	step := "the ack"
	switch r.Step {
	case run.AtCall:
		step = "its " + n.w.callName(r.Op)
	case run.AtNack:
		step = "the nack"
	}
	text := "crashes before " + step
	if r.InFlight {
		text = "crashes with " + step + " in flight (sent, not yet answered)"
	}
	if n.memory {
		text += fmt.Sprintf(": its %s is gone with its memory", n.w.memory())
	}
	for _, c := range n.f.Crashes {
		if c.Rec == i && c.RestartRec >= 0 {
			text += "; it will restart later"
		}
	}
	n.say(i, inst, text, n.memory)
}

// partitionText tells a window of instance r.Inst opening or closing, as
// CutSpans draws them: cut off when the first opens, reachable again when
// the last closes.
func (n *narrator) partitionText(i int, r *run.Record) string {
	f := n.f
	if r.Stores == 0 {
		if f.CutAt(r.Inst, i) == 0 {
			return "is reachable again: its partition heals"
		}
		return ""
	}
	before := run.Stores(0)
	if i > 0 {
		before = f.CutAt(r.Inst, i-1)
	}
	switch added := r.Stores &^ before; {
	case before == 0:
		return "is cut off from " + storesWords(added) + " (a partition)"
	case added != 0:
		return "is now cut off from " + storesWords(added) + " too"
	}
	return ""
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
			focusLost = focusLost || key.Event == n.focus
			if key.Name != "" && key.Event == n.focus {
				names = append(names, key.Name)
			}
		}
	}
	if !focusLost && !n.inSpan(r.At) {
		return
	}
	text := fmt.Sprintf("restarts empty: every key is gone (%d lost)", lost)
	if r.Cause == run.Failover {
		text = fmt.Sprintf("fails over to a replica that lags behind: the keys written last are gone (%d lost)", lost)
	}
	switch {
	case len(names) > 0:
		text += ", " + strings.Join(names, " and ") + " among them"
	case focusLost:
		text += fmt.Sprintf(", event %d's among them", n.focus)
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
func discarded(t *Tx, ev uint32) string {
	switch ins, app := t.Holds(run.Insert, ev), t.Holds(run.Apply, ev); {
	case ins && app:
		return fmt.Sprintf("event %d's id and effect are discarded", ev)
	case app:
		return fmt.Sprintf("event %d's effect is discarded", ev)
	}
	return fmt.Sprintf("event %d's id is discarded", ev)
}
