package explain

import (
	"slices"

	"github.com/idemsim/idemsim/run"
)

// NewFacts derives the facts of the run of cfg from its trace, in one pass
// over the records. It pairs records by the ids they carry (message and
// delivery tag, call, transaction, partition window) and keeps, per
// instance, only which attempt is open and which windows and transactions
// are: it never decides what a store would answer, it reads the answers.
func NewFacts(cfg run.Config, trace []run.Record) *Facts {
	cfg = cfg.WithDefaults()
	d := &deriver{
		f: &Facts{
			Config: cfg, Trace: trace, Heal: -1, HealRec: -1,
			Events:   make([]Event, cfg.Events+1),
			Messages: make([]Message, 1),
			Calls:    make([]Call, 1),
			Txs:      make([]Tx, 1),
		},
		// One more than the instances: room for an outbox's relay,
		// whose records downstream takes apart.
		open:    make([]int, cfg.Instances+1),
		last:    make([]int, cfg.Instances+1),
		windows: make([][]int, cfg.Instances+1),
		txs:     make([][]uint32, cfg.Instances+1),
		liveKey: make([]int, cfg.Events+1),
		liveKV:  map[string]int{},
	}
	for i, e := range run.NewWorkload(cfg).Events {
		if i > 0 {
			d.f.Events[i] = Event{ID: uint32(i), Account: e.Account, FirstRec: -1, LastRec: -1}
		}
	}
	for i := range d.open {
		d.open[i], d.last[i] = -1, -1
	}
	for i := range d.liveKey {
		d.liveKey[i] = -1
	}
	for i := range trace {
		d.record(i, &trace[i])
	}
	d.finish()
	return d.f
}

// deriver is the bookkeeping of one pass: what is open per instance.
type deriver struct {
	f       *Facts
	open    []int      // per instance, its open attempt, -1 none
	last    []int      // per instance, its latest attempt, -1 none
	windows [][]int    // per instance, its open partition windows
	txs     [][]uint32 // per instance, its open transactions not yet dropped
	liveKey []int      // per event, the last write of its mark not lost or replaced, -1 none
	// liveKV is, per key of the key-value store, the last write of it not
	// lost, deleted or replaced (-1: none); kvNames lists the keys in the
	// order of their first write, so that nothing depends on map order.
	liveKV  map[string]int
	kvNames []string
	// ruleMem is what instances' memories held by the rule that a
	// handler's return with applied writes it (Memory), and recMem what
	// they held by their recorded calls; finish keeps one.
	ruleMem, recMem []Memory
}

func (d *deriver) record(i int, r *run.Record) {
	f := d.f
	if r.Downstream() || r.Inst >= 0 && relayOf(f.Config, r.Inst) {
		d.downstream(i, r)
		return
	}
	if r.Event > 0 && int(r.Event) < len(f.Events) {
		e := &f.Events[r.Event]
		if e.FirstRec < 0 {
			e.FirstRec = i
		}
		e.LastRec = i
		if r.Inst >= 0 && r.Inst < 64 {
			e.Insts |= 1 << r.Inst
		}
	}
	switch r.Kind {
	case run.Publish:
		f.Messages = grow(f.Messages, int(r.Msg))
		e := &f.Events[r.Event]
		f.Messages[r.Msg] = Message{ID: r.Msg, Event: r.Event, Copy: len(e.Copies), At: r.At, Rec: i, AckedRec: -1, AckedBy: -1, DeadRec: -1, Part: r.Part, Offset: r.Count}
		if r.Part != 0 {
			d.group().publish(r)
		}
		e.Copies = append(e.Copies, r.Msg)
	case run.Deliver:
		m := &f.Messages[r.Msg]
		m.Deliveries = append(m.Deliveries, len(f.Deliveries))
		f.Deliveries = append(f.Deliveries, Delivery{Msg: r.Msg, Inst: r.Inst, Tag: r.Tag, At: r.At, Rec: i, DropRec: -1, Attempt: -1})
	case run.DeliverDrop:
		if k := d.delivery(r.Msg, r.Tag, r.Inst); k >= 0 {
			f.Deliveries[k].DropRec = i
		}
	case run.Receive:
		k := len(f.Attempts)
		f.Attempts = append(f.Attempts, Attempt{Inst: r.Inst, Msg: r.Msg, Event: r.Event, Tag: r.Tag, At: r.At, Rec: i, EndRec: -1, End: -1, Crash: -1, Ack: -1, NackRec: -1})
		f.Events[r.Event].Attempts = append(f.Events[r.Event].Attempts, k)
		if dl := d.delivery(r.Msg, r.Tag, r.Inst); dl >= 0 {
			f.Deliveries[dl].Attempt = k
		}
		d.open[r.Inst], d.last[r.Inst] = k, k
	case run.Call:
		d.call(i, r)
	case run.Serve:
		d.serve(i, r)
	case run.Park:
		c := &f.Calls[r.Call]
		onID := c.Op == run.Insert || c.Op == run.InsertApply && d.tx(r.Holder).Holds(run.Insert, c.Event)
		row := c.Op == run.Read || c.Op == run.Delete || c.Op == run.Update || c.Op == run.ReadOffset || c.Op == run.AdvanceOffset
		c.Parks = append(c.Parks, Park{At: r.At, Rec: i, Holder: r.Holder, ID: onID, Row: row})
		if c.Op == run.InsertApply && !onID {
			// It waits for the account's row lock: the statement
			// inserted the id first, and holds it meanwhile.
			if t := d.tx(c.Tx); !t.Holds(run.Insert, c.Event) {
				t.Inserted = append(t.Inserted, c.Event)
			}
		}
	case run.Reply:
		f.Calls[r.Call].ReplyRec = i
	case run.CallHeld:
		c := &f.Calls[r.Call]
		c.Holds = append(c.Holds, Hold{At: r.At, Rec: i, Reply: c.ServeRec >= 0})
	case run.Timeout:
		c := &f.Calls[r.Call]
		c.TimeoutRec, c.TimedOut = i, r.At
		if c.Op.Store() == run.Database {
			// The client closes the connection of a cancelled query: the
			// transaction open on it is dropped.
			d.drop(r.Inst, DropTimeout, i)
		}
	case run.Handled:
		if k := d.open[r.Inst]; k >= 0 {
			a := &f.Attempts[k]
			a.EndRec, a.End, a.Outcome = i, r.At, r.Outcome
		}
		d.open[r.Inst] = -1
		if r.Outcome == run.Applied {
			d.ruleMem = append(d.ruleMem, Memory{Inst: r.Inst, Event: r.Event, Rec: i, EndRec: -1})
		}
	case run.Memory:
		d.memory(i, r)
	case run.Nack:
		if k := d.last[r.Inst]; k >= 0 {
			f.Attempts[k].NackRec = i
		}
	case run.AckSend:
		// The ack (or commit) of the instance's last attempt, if it is
		// of that attempt's message: an auto-commit on the log commits
		// whatever the consumer received last, on its own time.
		if k := d.last[r.Inst]; k >= 0 && f.Attempts[k].Msg == r.Msg {
			f.Attempts[k].Ack = len(f.Acks)
		}
		f.Acks = append(f.Acks, Ack{Inst: r.Inst, Msg: r.Msg, Event: r.Event, Tag: r.Tag, At: r.At, Rec: i, LostRec: -1, AcceptedRec: -1, FencedRec: -1})
	case run.AckLost:
		if k := d.ack(r.Inst, r.Msg, r.Tag); k >= 0 {
			f.Acks[k].LostRec, f.Acks[k].Cut = i, d.cut(r.Inst)&run.Broker != 0
		}
	case run.Acked:
		if k := d.ack(r.Inst, r.Msg, r.Tag); k >= 0 {
			f.Acks[k].AcceptedRec, f.Acks[k].Accepted = i, r.At
		}
		m := &f.Messages[r.Msg]
		m.AckedRec, m.AckedAt, m.AckedBy = i, r.At, r.Inst
	case run.Join, run.Evict, run.Rebalance, run.Assign, run.Committed, run.Fenced:
		d.groupRecord(i, r)
	case run.Requeue:
		dl := -1
		if ds := f.Messages[r.Msg].Deliveries; len(ds) > 0 {
			dl = ds[len(ds)-1]
		}
		f.Requeues = append(f.Requeues, Requeue{Msg: r.Msg, Inst: r.Inst, At: r.At, Rec: i, Cause: r.Cause, Delivery: dl})
	case run.DeadLetter:
		f.DeadLetters = append(f.DeadLetters, DeadLetter{Msg: r.Msg, Event: r.Event, At: r.At, Rec: i, Deliveries: int(r.Tag)})
		if int(r.Msg) < len(f.Messages) {
			f.Messages[r.Msg].DeadRec = i
		}
	case run.Crash:
		d.crash(i, r)
	case run.Start:
		f.Late = &LateStart{Inst: r.Inst, At: r.At}
	case run.Restart:
		d.restart(i, r)
	case run.Leave:
		if r.Inst >= 0 {
			d.leave(i, r)
		}
	case run.Stall:
		f.Stalls = append(f.Stalls, Stall{Inst: r.Inst, Msg: r.Msg, Event: r.Event, At: r.At, Dur: r.Dur, Rec: i, Paused: r.Cause == run.Paused})
	case run.Partition:
		d.partition(i, r)
	case run.StoreLoss:
		d.storeLoss(i, r)
	case run.StoreUp:
		if k := len(f.Outages) - 1; k >= 0 && f.Outages[k].UpRec < 0 {
			f.Outages[k].UpRec, f.Outages[k].Up = i, r.At
		}
	case run.TxAbort:
		t := d.tx(r.Tx)
		if t.Status == TxOpen {
			t.Status, t.EndRec, t.End = TxAbortedByDB, i, r.At
		}
	case run.Heal:
		f.Heal, f.HealRec = r.At, i
		for inst, ws := range d.windows {
			for _, k := range ws {
				f.Windows[k].To, f.Windows[k].EndRec = r.At, i
			}
			d.windows[inst] = ws[:0]
		}
	case run.End:
		f.End, f.Unsettled = r.At, int(r.Count)
	}
}

// call records a store call leaving its instance.
func (d *deriver) call(i int, r *run.Record) {
	f := d.f
	f.Calls = grow(f.Calls, int(r.Call))
	att := d.open[r.Inst]
	f.Calls[r.Call] = Call{ID: r.Call, Inst: r.Inst, Msg: r.Msg, Event: r.Event, Op: r.Op, Tx: r.Tx, Attempt: att,
		Key: r.Key, Value: r.Value, Expect: r.Expect, Part: r.Part, Sent: r.At, SentRec: i, ServeRec: -1, ReplyRec: -1, TimeoutRec: -1}
	if att >= 0 {
		f.Attempts[att].Calls = append(f.Attempts[att].Calls, r.Call)
	}
	if r.Tx == 0 {
		return
	}
	t := d.tx(r.Tx)
	if t.ID == 0 {
		*t = Tx{ID: r.Tx, Inst: r.Inst, Attempt: att, EndRec: -1, End: -1, DroppedRec: -1}
		d.txs[r.Inst] = append(d.txs[r.Inst], r.Tx)
	}
	t.Calls = append(t.Calls, r.Call)
}

// serve records a store executing a call: what it answered, and what that
// changed in the store.
func (d *deriver) serve(i int, r *run.Record) {
	f := d.f
	c := &f.Calls[r.Call]
	c.ServeRec, c.Served, c.Answer, c.TTL = i, r.At, r.Answer, r.Dur
	switch {
	case c.Op.Store() == run.Redis:
		d.redisServe(i, r, c)
	case c.Op == run.Charge:
		// The payment provider charged: the effect of a strategy that
		// charges (no transaction; Tx 0).
		c.Value = r.Value
		if r.Answer == run.Yes {
			f.Events[c.Event].Applications = append(f.Events[c.Event].Applications, Application{Inst: c.Inst, At: r.At, Rec: i, Call: c.ID})
		}
	case r.Answer == run.TxAborted:
		if t := d.tx(c.Tx); t.Status == TxOpen {
			t.Status, t.EndRec, t.End = TxAbortedByDB, i, r.At
		}
	case c.Op == run.InsertApply:
		// One statement, its own transaction, committed as it is served:
		// with the id and the effect if it inserted, with nothing if the
		// id was there.
		t := d.tx(c.Tx)
		if r.Answer == run.Yes {
			if !t.Holds(run.Insert, c.Event) {
				t.Inserted = append(t.Inserted, c.Event)
			}
			t.Applied = append(t.Applied, c.Event)
		}
		d.commit(i, r, c, t)
	case r.Answer != run.Yes:
	case c.Op == run.Read || c.Op == run.ReadOffset:
		c.Value = r.Value
	case c.Op == run.Delete:
		t := d.tx(c.Tx)
		t.Deleted = append(t.Deleted, c.Event)
	case c.Op == run.Insert:
		t := d.tx(c.Tx)
		t.Inserted = append(t.Inserted, c.Event)
	case c.Op == run.Apply:
		t := d.tx(c.Tx)
		t.Applied = append(t.Applied, c.Event)
	case c.Op == run.Commit:
		d.commit(i, r, c, d.tx(c.Tx))
	case c.Op == run.Rollback:
		if t := d.tx(c.Tx); t.Status == TxOpen {
			t.Status, t.EndRec, t.End = TxRolledBack, i, r.At
		}
	}
}

// commit records transaction t committing at record i, by call c: its
// ids enter the processed-ids table, its effects the ledger.
func (d *deriver) commit(i int, r *run.Record, c *Call, t *Tx) {
	if t.Status != TxOpen {
		return
	}
	f := d.f
	t.Status, t.EndRec, t.End = TxCommitted, i, r.At
	for _, ev := range t.Inserted {
		f.Events[ev].IDCommits = append(f.Events[ev].IDCommits, t.ID)
	}
	for _, ev := range t.Deleted {
		f.Events[ev].IDDeletes = append(f.Events[ev].IDDeletes, t.ID)
	}
	for _, ev := range t.Applied {
		f.Events[ev].Applications = append(f.Events[ev].Applications, Application{Tx: t.ID, Inst: c.Inst, At: r.At, Rec: i})
	}
}

// crash records an instance crashing: the attempt it was in ends, its
// memory is gone, and the connection of its open transaction is dropped.
func (d *deriver) crash(i int, r *run.Record) {
	f := d.f
	k := len(f.Crashes)
	att := d.open[r.Inst]
	if r.Step == run.AtAck || r.Step == run.AtNack {
		// The handler has returned: the crash keeps the attempt from
		// acking or nacking.
		att = d.last[r.Inst]
	}
	f.Crashes = append(f.Crashes, Crash{Inst: r.Inst, Msg: r.Msg, Event: r.Event, At: r.At, Rec: i, Step: r.Step, Op: r.Op,
		InFlight: r.InFlight, Call: r.Call, Attempt: att, RestartRec: -1, Restart: -1})
	if att >= 0 {
		f.Attempts[att].Crash = k
	}
	d.open[r.Inst] = -1
	d.forget(r.Inst, i)
	d.drop(r.Inst, DropCrash, i)
}

// restart pairs a restart with what stopped its instance last: a crash or
// a graceful leave.
func (d *deriver) restart(i int, r *run.Record) {
	f := d.f
	f.Restarts = append(f.Restarts, i)
	crash, leave := -1, -1
	for k := len(f.Crashes) - 1; k >= 0; k-- {
		if c := &f.Crashes[k]; c.Inst == r.Inst {
			crash = k
			break
		}
	}
	for k := len(f.Leaves) - 1; k >= 0; k-- {
		if l := &f.Leaves[k]; l.Inst == r.Inst && l.Stops() {
			leave = k
			break
		}
	}
	switch {
	case leave >= 0 && f.Leaves[leave].RestartRec < 0 && (crash < 0 || f.Leaves[leave].Rec > f.Crashes[crash].Rec):
		f.Leaves[leave].RestartRec, f.Leaves[leave].Restart = i, r.At
	case crash >= 0:
		f.Crashes[crash].RestartRec, f.Crashes[crash].Restart = i, r.At
	}
	// A restarted instance is a new process: whatever its memory held
	// is gone (a crash or a leave emptied it already).
	d.forget(r.Inst, i)
}

// leave records an instance leaving; a graceful leave stops its process,
// which empties its memory and drops its connections.
func (d *deriver) leave(i int, r *run.Record) {
	f := d.f
	f.Leaves = append(f.Leaves, Leave{Inst: r.Inst, At: r.At, Rec: i, Cause: r.Cause, RestartRec: -1, Restart: -1})
	if r.Cause != run.Graceful {
		return
	}
	d.open[r.Inst] = -1
	d.forget(r.Inst, i)
	d.drop(r.Inst, DropLeave, i)
}

// forget ends, at record i, whatever instance inst's memory held.
func (d *deriver) forget(inst int32, i int) {
	for _, ms := range [][]Memory{d.ruleMem, d.recMem} {
		for m := range ms {
			if mem := &ms[m]; mem.Inst == inst && mem.EndRec < 0 {
				mem.EndRec = i
			}
		}
	}
}

// memory records a call of an instance's own memory: what its attempt
// asked, what the memory answered, and what went in or out. A call about
// an id that is none of the run's events is no fact of any event.
func (d *deriver) memory(i int, r *run.Record) {
	f := d.f
	f.MemoryRecorded = true
	if r.Event == 0 || int(r.Event) >= len(f.Events) {
		return
	}
	att := d.open[r.Inst]
	if att >= 0 {
		f.Attempts[att].Mem = append(f.Attempts[att].Mem, len(f.MemCalls))
	}
	f.MemCalls = append(f.MemCalls, MemCall{Inst: r.Inst, Msg: r.Msg, Event: r.Event, Op: r.Op, Yes: r.Answer == run.Yes, At: r.At, Rec: i, Attempt: att})
	if r.Answer != run.Yes {
		return
	}
	switch r.Op {
	case run.MemAdd:
		d.recMem = append(d.recMem, Memory{Inst: r.Inst, Event: r.Event, Rec: i, EndRec: -1})
	case run.MemDel:
		for m := range d.recMem {
			if mem := &d.recMem[m]; mem.Inst == r.Inst && mem.Event == r.Event && mem.EndRec < 0 {
				mem.EndRec = i
			}
		}
	}
}

// drop records instance inst letting go of the connection of its open
// transactions.
func (d *deriver) drop(inst int32, why Drop, i int) {
	for _, id := range d.txs[inst] {
		if t := d.tx(id); t.Status == TxOpen && t.Dropped == NotDropped {
			t.Dropped, t.DroppedRec = why, i
		}
	}
	d.txs[inst] = d.txs[inst][:0]
}

// partition opens or closes a window, paired by the window's id.
func (d *deriver) partition(i int, r *run.Record) {
	f := d.f
	if r.Stores != 0 {
		d.windows[r.Inst] = append(d.windows[r.Inst], len(f.Windows))
		f.Windows = append(f.Windows, Window{Inst: r.Inst, ID: r.Window, Stores: r.Stores, From: r.At, Rec: i, To: -1, EndRec: -1})
		return
	}
	ws := d.windows[r.Inst]
	for j, k := range ws {
		if f.Windows[k].ID == r.Window {
			f.Windows[k].To, f.Windows[k].EndRec = r.At, i
			d.windows[r.Inst] = slices.Delete(ws, j, j+1)
			return
		}
	}
}

// cut is what instance inst is cut off from now: the union of its open
// windows.
func (d *deriver) cut(inst int32) run.Stores {
	var s run.Stores
	for _, k := range d.windows[inst] {
		s |= d.f.Windows[k].Stores
	}
	return s
}

// finish settles what only the whole trace tells: which events the broker
// considers done and settled, and what the instances' memories held: by
// their recorded calls where the trace has any, else by the rule.
func (d *deriver) finish() {
	f := d.f
	f.finishDown()
	reuseFacts(f)
	f.Memory = d.ruleMem
	if f.MemoryRecorded {
		f.Memory = d.recMem
	}
	if f.Group != nil {
		d.finishGroup()
		return
	}
	for id := 1; id < len(f.Events); id++ {
		e := &f.Events[id]
		e.Settled = true
		dead := false
		for _, m := range e.Copies {
			switch msg := &f.Messages[m]; {
			case msg.AckedRec >= 0:
				e.Done = true
			case msg.DeadRec >= 0:
				// The broker is finished with it: it will not come back.
				dead = true
			default:
				e.Settled = false
			}
		}
		e.Dead = dead && !e.Done && len(e.Applications) == 0
	}
}

// delivery is the index of message msg's latest delivery with tag to
// instance inst, -1 if none. (On the log, the tag is the generation the
// record was fetched in, which two members may share.)
func (d *deriver) delivery(msg, tag uint32, inst int32) int {
	if int(msg) >= len(d.f.Messages) {
		return -1
	}
	ds := d.f.Messages[msg].Deliveries
	for j := len(ds) - 1; j >= 0; j-- {
		if dl := &d.f.Deliveries[ds[j]]; dl.Tag == tag && dl.Inst == inst {
			return ds[j]
		}
	}
	return -1
}

// ack is the index of inst's latest ack of msg with tag, -1 if none.
func (d *deriver) ack(inst int32, msg, tag uint32) int {
	for k := len(d.f.Acks) - 1; k >= 0; k-- {
		if a := &d.f.Acks[k]; a.Inst == inst && a.Msg == msg && a.Tag == tag {
			return k
		}
	}
	return -1
}

// tx returns transaction id, growing Txs to hold it.
func (d *deriver) tx(id uint32) *Tx {
	d.f.Txs = grow(d.f.Txs, int(id))
	return &d.f.Txs[id]
}

// grow returns s long enough to hold index i.
func grow[T any](s []T, i int) []T {
	if i < len(s) {
		return s
	}
	return append(s, make([]T, i+1-len(s))...)
}
