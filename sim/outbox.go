package sim

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// Events sent on: the downstream topic, its consumer, the outbox table and
// its relay. None of it exists in a run whose strategy does not publish
// (strategies.NeedsPublisher): such a run draws, schedules and records
// exactly what it did before any of it was written.
//
// The downstream topic is a second broker model of the run's kind (the
// queue or the log, with the run's parameters), numbered apart from the
// upstream's, and recorded with Stores run.Downstream. Its consumer group
// is one consumer that applies each downstream event with db-unique in a
// database of its own, keyed by the event and the effect it announces
// (the upstream transaction that applied it), and acks it: it runs with
// no faults of its own, and db-unique is exactly once under every fault,
// so what the checkers find downstream is the upstream strategy's doing.
// It draws its latencies and its broker's choices from a stream of its own
// (run.StreamDownstream).
//
// The relay (strategies.Relay) is a component of the world: an instance
// numbered after the consumers, named "relay", that runs the strategy's
// relay as its coroutine instead of the consumer loop. Its store calls are
// fault points as a consumer's are, so the existing faults hit it as they
// hit an instance: crash (it crashes at a call, with its read, publish or
// mark in flight or not, and restarts after the crash fault's delay,
// reading the outbox from its oldest unsent row), partition (its planned
// windows and the cuts at a call cut it off from the database, where its
// reads and marks time out, or from the broker, where its publishes are
// held and time out with an unknown outcome), slow (it stalls between
// calls) and zombie (it pauses; it has no session, so it is only late).
// rebalance, redeliver, store-loss, ttl and key-expiry do not touch it.
// It is woken when a transaction that wrote the outbox commits (as
// PostgreSQL's LISTEN/NOTIFY or a log-tailing relay would), at its start,
// and relayRetry after a failure; it relays rows until none is left.

// relayRetry is how long the relay waits after a failed read, publish or
// mark before it reads the outbox again.
const relayRetry = 100 * time.Millisecond

// downMsg is a message of the downstream topic: the upstream event whose
// downstream event it carries, and the transaction whose effect it
// announces (0: none).
type downMsg struct {
	ev  strategies.EventID
	src int32
}

// downKey is what the downstream consumer deduplicates on.
type downKey = downMsg

// outboxRow is a row of the outbox table: its event, the transaction
// whose effect it announces, and, for a row not committed yet, the
// transaction that inserted it.
type outboxRow struct {
	ev   strategies.Event
	src  int32
	tx   int32
	sent bool
}

// downstream is the world's downstream topic and consumer.
type downstream struct {
	model  broker.Model
	models map[string]broker.Model
	pull   bool
	src    rand.PCG
	r      *rand.Rand
	msgs   []downMsg // by downstream message id; index 0 unused
	seen   map[downKey]bool
	hist   []check.DownOp
	histOf []downMsg // the message of each history operation, for its ghost flag at the end
	// lastAck is when the consumer's last ack arrives: its acks (the
	// log's commits) arrive in the order it sent them.
	lastAck int64
}

// isRelay reports whether in is the relay rather than a consumer.
func (w *world) isRelay(in *instance) bool { return w.relays && in.idx == int32(w.cfg.Instances) }

// resetDownstream readies the downstream for a run of a strategy that
// publishes.
func (w *world) resetDownstream(cfg Config) {
	d := &w.down
	if d.r == nil {
		d.r = rand.New(&d.src)
	}
	d.src.Seed(cfg.Seed, run.StreamDownstream)
	desc, _ := broker.Lookup(cfg.BrokerModel)
	m := d.models[desc.Name]
	if m == nil {
		if d.models == nil {
			d.models = make(map[string]broker.Model)
		}
		m = desc.New()
		d.models[desc.Name] = m
	}
	if err := m.Configure(cfg.Broker); err != nil {
		panic("sim: invariant broken: a validated config's broker parameters are invalid: " + err.Error())
	}
	d.model, d.pull = m, desc.Pull
	m.Reset(broker.Setup{Instances: 1, Pick: d.r})
	d.msgs = append(d.msgs[:0], downMsg{})
	clear(d.seen)
	if d.seen == nil {
		d.seen = make(map[downKey]bool)
	}
	d.hist, d.histOf = d.hist[:0], d.histOf[:0]
	d.lastAck = 0
}

// startDown starts the downstream consumer: it joins its group, and a
// polling one polls.
func (w *world) startDown() {
	d := &w.down
	w.applyDown(d.model.Up(0, 1))
	if d.pull {
		w.applyDown(d.model.Fetch(0))
	}
}

func (w *world) downLatency() int64 { return run.UniformDur(w.down.r, latencyMin, latencyMax) }

// applyDown carries out the downstream broker's effects, as applyBroker
// does the upstream's: records (marked run.Downstream), timers,
// deliveries to the consumer.
func (w *world) applyDown(fx []broker.Effect) {
	d := &w.down
	for i := range fx {
		e := &fx[i]
		switch e.Kind {
		case broker.Record:
			rec := w.downRecord(e.Record, e.Msg)
			rec.Tag, rec.Cause, rec.Part, rec.Count = e.Tag, e.Cause, e.Part, e.Offset
			if e.Record == run.Assign {
				rec.Key = partList(e.Parts)
			}
			w.rec.Add(&rec)
		case broker.Arm:
			w.q.push(event{at: w.now + int64(e.After), kind: evDownTimer, a: e.Msg, b: e.Tag, c: int64(e.Timer)})
		case broker.Send:
			if e.After > 0 {
				w.q.push(event{at: w.now + int64(e.After), kind: evDownTimer, a: e.Msg, b: e.Tag, c: int64(broker.Deadline)})
			}
			rec := w.downRecord(run.Deliver, e.Msg)
			rec.Tag, rec.Part, rec.Count = e.Tag, e.Part, e.Offset
			w.rec.Add(&rec)
			var last uint32
			if e.Last {
				last = 1
			}
			w.q.push(event{at: w.now + w.downLatency(), kind: evDownArr, a: e.Msg, b: e.Tag, gen: last})
		case broker.Accepted:
			// The downstream's acks are not the checked history's.
		default:
			panic(fmt.Sprintf("sim: invariant broken: unknown broker effect %d", e.Kind))
		}
	}
	_ = d
}

// downRecord is a record of kind about downstream message m.
func (w *world) downRecord(kind run.Kind, m uint32) run.Record {
	msg := w.down.msgs[m]
	return run.Record{At: w.now, Kind: kind, Inst: 0, Msg: m, Event: uint32(msg.ev), Tx: uint32(msg.src), Stores: run.Downstream}
}

// downArrive: downstream message e.a reached the consumer, which applies
// it unless it applied its key before, and acks it (a polling one polls
// again after the last of a batch).
func (w *world) downArrive(e event) {
	d := &w.down
	msg := d.msgs[e.a]
	fresh := !d.seen[msg]
	kind := check.DownSkipped
	rec := w.downRecord(run.DownApply, e.a)
	rec.Answer = run.No
	if fresh {
		d.seen[msg] = true
		kind = check.DownApplied
		rec.Answer = run.Yes
	}
	w.rec.Add(&rec)
	d.hist = append(d.hist, check.DownOp{Kind: kind, Event: uint64(msg.ev), Call: w.now, Return: w.now})
	d.histOf = append(d.histOf, msg)
	at := max(w.now+w.downLatency(), d.lastAck)
	d.lastAck = at
	w.q.push(event{at: at, kind: evDownAck, a: e.a, b: e.b, c: w.now, gen: e.gen})
}

// downAck: the consumer's ack of downstream message e.a reached its
// broker.
func (w *world) downAck(e event) {
	d := &w.down
	w.applyDown(d.model.Ack(e.a, e.b, 0, e.c))
	if d.pull && e.gen == 1 {
		w.applyDown(d.model.Fetch(0))
	}
}

// downTally is the downstream's record for the checkers, each handling
// and each row marked a ghost where the effect it announces never
// committed.
func (w *world) downTally() *run.DownTally {
	d := &w.down
	t := &run.DownTally{History: d.hist}
	for i := range d.hist {
		ghost := !w.db.committedEffect(d.histOf[i].src, d.histOf[i].ev)
		d.hist[i].Ghost = ghost
		if d.hist[i].Kind == check.DownApplied {
			t.Rows = append(t.Rows, check.DownRow{Event: d.hist[i].Event, Ghost: ghost})
		}
	}
	return t
}

// committedEffect reports whether transaction tx committed an effect of
// event number ev (run.Workload.Number: its id, unless id-reuse gave two
// events one id).
func (d *sqlDB) committedEffect(tx int32, ev strategies.EventID) bool {
	if tx <= 0 || int(tx) >= len(d.txs) || d.txs[tx].status != txCommitted {
		return false
	}
	for _, e := range d.txs[tx].effects {
		n := e.ID
		if d.reused != nil {
			n = d.reused.Number(e)
		}
		if n == ev {
			return true
		}
	}
	return false
}

// servePublish is a publish reaching the downstream topic: a new message
// there, whatever becomes of its publisher.
func (w *world) servePublish(id uint32) {
	c := &w.calls[id]
	m := w.down.model.Add(uint32(c.ev.Account))
	// By the event's number (run.Workload.Number), as the ledger counts
	// effects: under id-reuse two events share an id.
	w.down.msgs = append(w.down.msgs, downMsg{ev: w.number(c.ev), src: c.tx})
	if int(m) != len(w.down.msgs)-1 {
		panic("sim: invariant broken: the downstream broker numbers messages apart from the world")
	}
	w.applyDown(w.down.model.Publish(m))
	w.reply(id, reply{ok: true})
}

// simPublisher is an instance's (or the relay's) client of the downstream
// topic. A publish announces the effect the instance last touched
// (instance.source): the transaction of its attempt's last Apply, or the
// outbox row the relay last read.
type simPublisher struct{ in *instance }

func (p simPublisher) Publish(_ context.Context, e strategies.Event) error {
	in := p.in
	if e.ID == 0 || uint64(e.ID) >= uint64(len(in.w.events)) {
		return fmt.Errorf("%w: a downstream event of event %d, which this run did not publish", strategies.ErrBadValue, e.ID)
	}
	return in.do(call{op: run.PublishDown, ev: e, tx: in.source}).err
}

// InsertOutbox inserts e's downstream event into the outbox, in t.
func (t *simTx) InsertOutbox(_ context.Context, e strategies.Event) error {
	in := t.in
	if e.ID == 0 || uint64(e.ID) >= uint64(len(in.w.events)) {
		return fmt.Errorf("%w: a downstream event of event %d, which this run did not publish", strategies.ErrBadValue, e.ID)
	}
	return in.do(call{op: run.InsertOutbox, ev: e, tx: t.id, ttl: int64(in.source)}).err
}

// NextOutbox reads the oldest unsent committed row of the outbox, in a
// statement of its own. The row's number travels back in the call's
// strings, in decimal; the relay then announces its effect.
func (l simLedger) NextOutbox(_ context.Context) (strategies.OutboxRow, bool, error) {
	in := l.in
	if in.dead {
		return strategies.OutboxRow{}, false, errCrashed
	}
	w := in.w
	if in.conn == 0 {
		in.conn = w.db.openConn()
	}
	w.kvs = append(w.kvs, kvCall{})
	kv := uint32(len(w.kvs) - 1)
	r := in.do(call{op: run.NextOutbox, tx: w.db.begin(in.conn), kv: kv})
	if r.err != nil || !r.ok {
		return strategies.OutboxRow{}, false, r.err
	}
	seq, _ := strconv.ParseInt(w.kvs[kv].aux, 10, 64)
	row := w.db.outbox[seq-1]
	in.source = row.src
	return strategies.OutboxRow{Seq: seq, Event: row.ev}, true, nil
}

// MarkSent marks outbox row seq sent, in a statement of its own.
func (l simLedger) MarkSent(_ context.Context, seq int64) (bool, error) {
	in := l.in
	if in.dead {
		return false, errCrashed
	}
	w := in.w
	if seq < 1 || seq > int64(len(w.db.outbox)) {
		return false, fmt.Errorf("%w: outbox row %d, which the outbox does not hold", strategies.ErrBadValue, seq)
	}
	if in.conn == 0 {
		in.conn = w.db.openConn()
	}
	r := in.do(call{op: run.MarkSent, ev: w.db.outbox[seq-1].ev, tx: w.db.begin(in.conn), ttl: seq})
	return r.ok, r.err
}

// isOutboxOp reports whether op is a call of the outbox table.
func isOutboxOp(op run.Op) bool { return op >= run.InsertOutbox && op <= run.MarkSent }

// outboxOp runs an outbox call. arg is the call's argument, which the world
// hands over (sqlDB.outboxArg): an InsertOutbox's announced transaction, a
// MarkSent's row.
func (d *sqlDB) outboxOp(c dbCall) {
	switch c.op {
	case run.InsertOutbox:
		d.outboxOpen = append(d.outboxOpen, outboxRow{ev: c.ev, src: int32(d.outboxArg), tx: c.tx})
		d.answer(c.id, reply{ok: true})
	case run.NextOutbox:
		for d.outboxHead < len(d.outbox) && d.outbox[d.outboxHead].sent {
			d.outboxHead++
		}
		d.commit(c.tx)
		if d.outboxHead == len(d.outbox) {
			d.answer(c.id, reply{})
			return
		}
		d.fx = append(d.fx, dbEffect{kind: dbAnswerRead, call: c.id, answer: reply{ok: true, value: strconv.Itoa(d.outboxHead + 1)}})
	case run.MarkSent:
		row := &d.outbox[d.outboxArg-1]
		ok := !row.sent
		row.sent = true
		d.commit(c.tx)
		d.answer(c.id, reply{ok: ok})
	}
}

// endOutbox ends tx's outbox rows: a commit appends them to the outbox, in
// order, and says so (outboxCommitted), an abort drops them.
func (d *sqlDB) endOutbox(tx int32, committed bool) {
	kept := d.outboxOpen[:0]
	for _, r := range d.outboxOpen {
		switch {
		case r.tx != tx:
			kept = append(kept, r)
		case committed:
			r.tx = 0
			d.outbox = append(d.outbox, r)
			d.outboxCommitted = true
		}
	}
	d.outboxOpen = kept
}

// notifyRelay tells the relay that rows were committed to the outbox: the
// notification reaches it over its database connection, held by a
// partition as any reply is.
func (w *world) notifyRelay() {
	relay := w.insts[w.cfg.Instances]
	at := w.reopens(relay.idx, run.Database) + w.downLatency()
	w.q.push(event{at: at, kind: evRelayWake})
}

// relayWake: a notification (e.a 0), or the end of the relay's back-off
// (e.a 1, for incarnation e.gen), reached the relay: an idle one relays.
func (w *world) relayWake(e event) {
	in := w.insts[w.cfg.Instances]
	if !in.up || e.a == 1 && e.gen != in.gen {
		return
	}
	in.notified = true
	if in.waiting && !in.stalled {
		in.waiting, in.notified = false, false
		w.drive(in)
	}
}

// startRelay starts an incarnation of the relay: its relay is built anew,
// and it reads the outbox at once.
func (w *world) startRelay(in *instance) {
	d := w.deps(in)
	d.Name, d.Publisher = "relay", simPublisher{in}
	r, _, err := strategies.NewRelay(w.cfg.Strategy, d)
	if err != nil {
		w.failStart(in, err)
		return
	}
	in.relay = r
	in.next, in.stop = iter.Pull(iter.Seq[struct{}](in.relayLoop))
	w.drive(in)
}

// relayLoop is the relay's coroutine: relay rows until none is left, then
// wait to be woken; after a failure, back off, then read again.
func (in *instance) relayLoop(yield func(struct{}) bool) {
	in.stackProbe = growStack(int(in.idx))
	in.yield = yield
	ctx := context.Background()
	for {
		sent, err := in.relayOnce(ctx)
		if in.dead {
			return
		}
		act := actRelayIdle
		switch {
		case err != nil:
			act = actRelayBackoff
		case sent:
			continue
		}
		if !in.suspend(act) {
			return
		}
	}
}

// relayOnce runs the relay once, turning a panic into a strategyPanic.
func (in *instance) relayOnce(ctx context.Context) (bool, error) {
	defer func() {
		if r := recover(); r != nil {
			panic(strategyPanic{value: r, stack: debug.Stack(), inst: in.idx})
		}
	}()
	in.source = 0
	return in.relay.RelayOnce(ctx)
}

// performRelay carries out the relay's waits: idle until woken, or a
// back-off. It reports whether the coroutine can go on at once.
func (w *world) performRelay(in *instance) bool {
	if in.act == actRelayBackoff {
		w.q.push(event{at: w.now + int64(relayRetry), kind: evRelayWake, a: 1, gen: in.gen})
		in.notified = false
	} else if in.notified {
		in.notified = false
		return true
	}
	in.waiting = true
	return false
}
