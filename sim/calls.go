package sim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// answerOf is how a reply travels in a reply event and shows in a record.
func answerOf(r reply) run.Answer {
	switch r.err {
	case nil:
		if r.ok {
			return run.Yes
		}
		return run.No
	case errRefused:
		return run.Refused
	case strategies.ErrWrongType:
		return run.WrongType
	case errReplayed:
		return run.Replayed
	case strategies.ErrKeyConflict:
		return run.KeyConflict
	case strategies.ErrKeyMismatch:
		return run.KeyMismatch
	case strategies.ErrProviderFailed:
		return run.ServerError
	}
	return run.TxAborted
}

// replyOf turns an answer back into what strategy code gets. It tests in
// the order of how often the answers come: every reply of a run passes
// here.
func replyOf(a run.Answer) reply {
	if a == run.Yes {
		return reply{ok: true}
	}
	if a == run.No {
		return reply{}
	}
	if a == run.Refused {
		return reply{err: errRefused}
	}
	if a == run.WrongType {
		return reply{err: strategies.ErrWrongType}
	}
	if a >= run.Replayed {
		return providerReply(a)
	}
	return reply{err: errTxAborted}
}

// providerReply is replyOf for the payment provider's answers.
func providerReply(a run.Answer) reply {
	switch a {
	case run.Replayed:
		return reply{ok: true, replayed: true}
	case run.KeyConflict:
		return reply{err: strategies.ErrKeyConflict}
	case run.KeyMismatch:
		return reply{err: strategies.ErrKeyMismatch}
	}
	return reply{err: strategies.ErrProviderFailed}
}

// callRecord is the record of kind about call id, as the call's instance sees
// it.
func (w *world) callRecord(kind run.Kind, id uint32) run.Record {
	c := &w.calls[id]
	rec := run.Record{At: w.now, Kind: kind, Inst: c.inst, Msg: c.msg, Event: uint32(c.ev.ID), Call: id, Tx: uint32(c.tx), Op: c.op}
	if w.db.reused != nil && c.ev.Account != 0 {
		// A call that carries the handled event (an Apply, a charge,
		// a key-value call) names its number: under id-reuse, two
		// events share the id. One about an id (an insert of it, a
		// mark) names the id.
		rec.Event = uint32(w.number(c.ev))
	}
	if c.kv != 0 {
		kv := &w.kvs[c.kv]
		rec.Key, rec.Value, rec.Dur = kv.key, kv.value, c.ttl
		if !readsValue(c.op) {
			rec.Expect = kv.aux
		}
		if c.op >= run.ReadOffset { // the log's offset calls, rare
			offsetRecord(&rec, kind, c, kv)
		}
	} else if c.op == run.MarkSent {
		rec.Count = int32(c.ttl)
	}
	return rec
}

// offsetRecord fills in what a record of an offset call says (run.Record):
// its partition, and a ReadOffset's answer, once served, which travels in
// kv.aux (a ReadOffset is no readsValue: its caller reads its answer from
// kv.aux itself, simTx.ReadOffset).
func offsetRecord(rec *run.Record, kind run.Kind, c *call, kv *kvCall) {
	rec.Part = int32(c.ev.Partition)
	if c.op == run.NextOutbox {
		// Its answer, the row's number, travels in kv.aux.
		rec.Expect = ""
		if kind == run.Serve || kind == run.Reply {
			n, _ := strconv.Atoi(kv.aux)
			rec.Count = int32(n)
		}
		return
	}
	if c.op == run.ReadOffset {
		rec.Expect, rec.Value = "", ""
		if kind == run.Serve || kind == run.Reply {
			rec.Value = kv.aux
		}
	}
}

// send puts in's requested call on the network. It reports whether the call
// failed on the client side at once, without a round trip.
func (w *world) send(in *instance) bool {
	c := in.req
	if c.op.Store() == run.Database && w.db.txs[c.tx].conn != in.conn {
		in.rep = reply{err: errConnClosed}
		return true
	}
	c.start = w.now
	w.calls = append(w.calls, c)
	id := uint32(len(w.calls) - 1)
	in.callID, in.pending = id, true
	if w.rec.On() {
		rec := w.callRecord(run.Call, id)
		w.rec.Add(&rec)
	}
	w.transmit(in.idx, c.op.Store(), event{kind: evReqArr, a: id}, id)
	return false
}

// timeoutLater makes sure call id times out if no reply comes: only calls
// whose request or reply was lost, or that wait for a lock, need the timer.
func (w *world) timeoutLater(id uint32) {
	w.q.push(event{at: max(w.now, w.calls[id].start+int64(callTimeout)), kind: evCallTimeout, a: uint32(id)})
}

// serve executes call id at its store.
func (w *world) serve(id uint32) {
	c := &w.calls[id]
	if c.op.Store() == run.Redis {
		var r reply
		switch {
		case w.now < w.redis.downUntil:
			r.err = errRefused
		case c.op.KV():
			var wrong bool
			if r.ok, wrong = w.redis.kv.do(c.op, &w.kvs[c.kv], c.ttl, w.now); wrong {
				r.err = strategies.ErrWrongType
			}
		default:
			r.ok = w.redis.do(c, w.now)
		}
		w.reply(id, r)
		return
	}
	if c.op >= run.Charge && c.op <= run.PublishDown {
		if c.op == run.Charge {
			w.serveCharge(id)
		} else {
			w.servePublish(id)
		}
		return
	}
	w.serveDB(id)
}

// reply sends the store's answer to call id back over the network. The
// value a read found travels with the call's strings (kvCall.aux), where
// the store left it.
func (w *world) reply(id uint32, r reply) {
	c := &w.calls[id]
	answer := answerOf(r)
	if w.rec.On() {
		rec := w.callRecord(run.Serve, id)
		rec.Answer = answer
		// The TTL a write that took effect gave its key or mark (the
		// calls that set none have none): SADD's PEXPIRE takes effect
		// whether or not the member was new.
		rec.Dur = 0
		if (r.ok || c.op == run.SAdd && r.err == nil) && c.op.Store() == run.Redis && c.op != run.Exists && c.op != run.Get && c.op != run.Del {
			rec.Dur = c.ttl
		}
		if readsValue(c.op) {
			rec.Value = w.kvs[c.kv].aux
		}
		w.rec.Add(&rec)
	}
	w.transmit(c.inst, c.op.Store(), event{kind: evReplyArr, a: id, b: uint32(answer)}, id)
}

// transmit carries a request or reply of call id between instance inst and
// a store. Store connections are TCP: a partition does not lose what was
// sent, it holds it until the network heals, long after the caller's
// timeout. So a request sent into a partition may still take effect, and
// its caller cannot know: the classic unknown outcome.
func (w *world) transmit(inst int32, target run.Stores, e event, id uint32) {
	if !w.cut(inst, target) {
		w.at(w.latency(), e)
		return
	}
	rec := w.callRecord(run.CallHeld, id)
	w.rec.Add(&rec)
	e.at = w.reopens(inst, target) + w.latency()
	w.q.push(e)
	w.timeoutLater(id)
}

// waiting returns the instance that still waits for call id, or nil if the
// call is stale (answered, timed out, or its instance crashed).
func (w *world) waiting(id uint32) *instance {
	c := &w.calls[id]
	in := w.insts[c.inst]
	if !in.up || in.gen != c.gen || !in.pending || in.callID != id {
		return nil
	}
	return in
}

func (w *world) replyArrive(id uint32, answer run.Answer) {
	in := w.waiting(id)
	if in == nil {
		return
	}
	in.pending = false
	in.rep = replyOf(answer)
	c := &w.calls[id]
	if c.kv != 0 && readsValue(c.op) { // most calls carry no strings
		in.rep.value = w.kvs[c.kv].aux
	}
	if w.rec.On() {
		rec := w.callRecord(run.Reply, id)
		rec.Answer = answer
		if readsValue(c.op) {
			rec.Value = in.rep.value
		}
		w.rec.Add(&rec)
	}
	w.drive(in)
}

func (w *world) callTimeout(id uint32) {
	in := w.waiting(id)
	if in == nil {
		return
	}
	c := &w.calls[id]
	in.pending = false
	in.rep = reply{err: errTimeout}
	rec := w.callRecord(run.Timeout, id)
	w.rec.Add(&rec)
	if c.op.Store() == run.Database && in.conn != 0 {
		// pgx closes a connection whose query was cancelled; the
		// server rolls back its transaction once it notices.
		w.closeDB(in.idx, in.conn)
		in.conn = 0
	}
	w.drive(in)
}

// simMarks is the instance's Redis client.
type simMarks struct{ in *instance }

func ttlNanos(ttl time.Duration) int64 { return int64(ttl) }

func (m simMarks) SetNX(_ context.Context, id strategies.EventID, ttl time.Duration) (bool, error) {
	r := m.in.do(call{op: run.SetNX, ev: strategies.Event{ID: id}, ttl: ttlNanos(ttl)})
	return r.ok, r.err
}

func (m simMarks) Exists(_ context.Context, id strategies.EventID) (bool, error) {
	r := m.in.do(call{op: run.Exists, ev: strategies.Event{ID: id}})
	return r.ok, r.err
}

func (m simMarks) Set(_ context.Context, id strategies.EventID, ttl time.Duration) error {
	return m.in.do(call{op: run.Set, ev: strategies.Event{ID: id}, ttl: ttlNanos(ttl)}).err
}

// simKV is the instance's client of Redis's keys and values. A bad key,
// value, member or token fails at once, without a round trip.
type simKV struct{ in *instance }

func (k simKV) call(op run.Op, key, value string, ttl time.Duration) reply {
	return k.compare(op, key, value, "", ttl)
}

// compare makes key-value call op; expect is what a compare-and-act call
// compares the key's value with.
func (k simKV) compare(op run.Op, key, value, expect string, ttl time.Duration) reply {
	if err := strategies.ValidateKey(key); err != nil {
		return reply{err: err}
	}
	if err := strategies.ValidateValue(value); err != nil {
		return reply{err: err}
	}
	if expect != "" {
		if err := strategies.ValidateValue(expect); err != nil {
			return reply{err: err}
		}
	}
	if ttl < 0 {
		return reply{err: fmt.Errorf("%w: negative TTL %v", strategies.ErrBadValue, ttl)}
	}
	w := k.in.w
	w.kvs = append(w.kvs, kvCall{key: key, value: value, aux: expect})
	return k.in.do(call{op: op, ev: w.events[w.curEvent(k.in)], kv: uint32(len(w.kvs) - 1), ttl: ttlNanos(ttl)})
}

func (k simKV) Get(_ context.Context, key string) (string, bool, error) {
	r := k.call(run.Get, key, "", 0)
	return r.value, r.ok, r.err
}

func (k simKV) Set(_ context.Context, key, value string, cond strategies.Cond, ttl time.Duration) (bool, error) {
	r := k.call(run.PutOp(cond), key, value, ttl)
	return r.ok, r.err
}

func (k simKV) Del(_ context.Context, key string) (bool, error) {
	r := k.call(run.Del, key, "", 0)
	return r.ok, r.err
}

func (k simKV) DelIfEqual(_ context.Context, key, value string) (bool, error) {
	r := k.compare(run.DelIfEq, key, "", value, 0)
	return r.ok, r.err
}

func (k simKV) SetIfEqual(_ context.Context, key, old, value string, ttl time.Duration) (bool, error) {
	r := k.compare(run.SetIfEq, key, value, old, ttl)
	return r.ok, r.err
}

func (k simKV) SAdd(_ context.Context, key, member string, ttl time.Duration) (bool, error) {
	r := k.call(run.SAdd, key, member, ttl)
	return r.ok, r.err
}

func (k simKV) SIsMember(_ context.Context, key, member string) (bool, error) {
	r := k.call(run.SIsMember, key, member, 0)
	return r.ok, r.err
}

func (k simKV) SRem(_ context.Context, key, member string) (bool, error) {
	r := k.call(run.SRem, key, member, 0)
	return r.ok, r.err
}

// simClock is the instance's clock: simulated time since a fixed epoch, so
// that what a strategy does with the time is the same on every run.
type simClock struct{ w *world }

// simEpoch is when every simulated run starts.
var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c simClock) Now() time.Time { return simEpoch.Add(time.Duration(c.w.now)) }

// simLedger is the instance's database client, one connection at a time.
type simLedger struct{ in *instance }

// InsertApply inserts e's id and applies e only if inserted, in one
// statement: a transaction of its own on the instance's connection, begun
// and committed by the database with the statement.
func (l simLedger) InsertApply(_ context.Context, e strategies.Event) (bool, error) {
	in := l.in
	if in.dead {
		return false, errCrashed
	}
	w := in.w
	if in.conn == 0 {
		in.conn = w.db.openConn()
	}
	tx := w.db.begin(in.conn)
	in.source = tx
	r := in.do(call{op: run.InsertApply, ev: e, tx: tx})
	return r.ok, r.err
}

// Begin starts a transaction on the instance's connection, opening one if
// needed. Like a driver that sends BEGIN with the first statement, it costs
// no round trip.
func (l simLedger) Begin(context.Context) (strategies.Tx, error) {
	in := l.in
	if in.dead {
		return nil, errCrashed
	}
	w := in.w
	if in.conn == 0 {
		in.conn = w.db.openConn()
	}
	t := w.txs.next()
	*t = simTx{in: in, id: w.db.begin(in.conn)}
	return t, nil
}

// txSlab hands out the run's simTx values from chunks kept from run to
// run, so that a transaction allocates nothing: a run begins hundreds.
// Chunks never move, so a handle stays valid for the whole run (a
// strategy may keep one after its commit, and its calls then fail as the
// database's do); a run's handles are reused only by a later run, when
// the handlers that held them are gone.
type txSlab struct {
	chunks [][]simTx
	n      int // handed out this run
}

const txChunk = 256

func (s *txSlab) next() *simTx {
	c, i := s.n/txChunk, s.n%txChunk
	if c == len(s.chunks) {
		s.chunks = append(s.chunks, make([]simTx, txChunk))
	}
	s.n++
	return &s.chunks[c][i]
}

type simTx struct {
	in *instance
	id int32
}

func (t *simTx) InsertProcessed(_ context.Context, id strategies.EventID) (bool, error) {
	r := t.in.do(call{op: run.Insert, ev: strategies.Event{ID: id}, tx: t.id})
	return r.ok, r.err
}

func (t *simTx) Apply(_ context.Context, e strategies.Event) error {
	t.in.source = t.id
	return t.in.do(call{op: run.Apply, ev: e, tx: t.id}).err
}

// ReadProcessed is SELECT state ... FOR UPDATE of id's row (sqlDB.rowOp).
func (t *simTx) ReadProcessed(_ context.Context, id strategies.EventID) (string, bool, error) {
	w := t.in.w
	w.kvs = append(w.kvs, kvCall{})
	r := t.in.do(call{op: run.Read, ev: strategies.Event{ID: id}, tx: t.id, kv: uint32(len(w.kvs) - 1)})
	return r.value, r.ok, r.err
}

// DeleteProcessed is DELETE of id's row (sqlDB.rowOp).
func (t *simTx) DeleteProcessed(_ context.Context, id strategies.EventID) (bool, error) {
	r := t.in.do(call{op: run.Delete, ev: strategies.Event{ID: id}, tx: t.id})
	return r.ok, r.err
}

// UpdateProcessed is UPDATE ... SET state = state WHERE state = old of id's
// row (sqlDB.rowOp). A state is a string as a KV value is
// (strategies.ValidateValue), so that a trace shows it; a bad one fails at
// once, without a round trip.
func (t *simTx) UpdateProcessed(_ context.Context, id strategies.EventID, old, state string) (bool, error) {
	for _, s := range [...]string{old, state} {
		if err := strategies.ValidateValue(s); err != nil {
			return false, err
		}
	}
	w := t.in.w
	w.kvs = append(w.kvs, kvCall{value: state, aux: old})
	r := t.in.do(call{op: run.Update, ev: strategies.Event{ID: id}, tx: t.id, kv: uint32(len(w.kvs) - 1)})
	return r.ok, r.err
}

// offsetEvent is what an offset call of partition carries as its event:
// the event being handled, for its records, and the partition.
func (t *simTx) offsetEvent(partition int) strategies.Event {
	w := t.in.w
	return strategies.Event{ID: w.events[w.curEvent(t.in)].ID, Partition: partition}
}

// ReadOffset is SELECT next_offset ... FOR UPDATE of partition's row
// (sqlDB.offsetOp). The offset found travels back in the call's strings
// (kvCall.aux), where the database left it, in decimal.
func (t *simTx) ReadOffset(_ context.Context, partition int) (int64, error) {
	if err := strategies.ValidateOffset(partition); err != nil {
		return 0, err
	}
	w := t.in.w
	w.kvs = append(w.kvs, kvCall{})
	kv := uint32(len(w.kvs) - 1)
	r := t.in.do(call{op: run.ReadOffset, ev: t.offsetEvent(partition), tx: t.id, kv: kv})
	if r.err != nil {
		return 0, r.err
	}
	return parseOffset(w.kvs[kv].aux), nil
}

// AdvanceOffset sets partition's next offset to next if it is expect
// (sqlDB.offsetOp). Its offsets travel in decimal in the call's strings,
// as its records show them: next as the value, expect as aux.
func (t *simTx) AdvanceOffset(_ context.Context, partition int, expect, next int64) (bool, error) {
	if err := strategies.ValidateOffset(partition, expect, next); err != nil {
		return false, err
	}
	w := t.in.w
	w.kvs = append(w.kvs, kvCall{value: strconv.FormatInt(next, 10), aux: strconv.FormatInt(expect, 10)})
	r := t.in.do(call{op: run.AdvanceOffset, ev: t.offsetEvent(partition), tx: t.id, kv: uint32(len(w.kvs) - 1)})
	return r.ok, r.err
}

func (t *simTx) Commit(context.Context) error {
	return t.in.do(call{op: run.Commit, ev: t.in.w.events[t.in.w.curEvent(t.in)], tx: t.id}).err
}

func (t *simTx) Rollback(context.Context) error {
	return t.in.do(call{op: run.Rollback, ev: t.in.w.events[t.in.w.curEvent(t.in)], tx: t.id}).err
}

// serveDB executes database call id and carries out what the database
// decided, in order: answers, parks, rollbacks.
func (w *world) serveDB(id uint32) {
	c := &w.calls[id]
	if c.op >= run.InsertOutbox {
		w.db.outboxArg = c.ttl
	}
	w.db.do(dbCall{id: id, tx: c.tx, op: c.op, kv: c.kv, ev: c.ev})
	w.applyDB()
	if w.db.outboxCommitted {
		w.db.outboxCommitted = false
		w.notifyRelay()
	}
}

// applyDB carries out the database's effects, in the order it decided them.
func (w *world) applyDB() {
	for _, e := range w.db.fx {
		if e.kind == dbAnswer { // by far the most common
			w.reply(e.call, e.answer)
			continue
		}
		switch e.kind {
		case dbAnswerRead:
			w.kvs[w.calls[e.call].kv].aux = e.answer.value
			w.reply(e.call, e.answer)
		case dbPark:
			rec := w.callRecord(run.Park, e.call)
			rec.Holder = uint32(e.tx)
			w.rec.Add(&rec)
			w.timeoutLater(e.call)
		case dbRolledBack:
			w.rec.Add(&run.Record{At: w.now, Kind: run.TxAbort, Inst: -1, Tx: uint32(e.tx)})
		}
	}
	w.db.fx = w.db.fx[:0]
}

// closeDB is instance inst dropping its database connection conn; the
// database notices once the network lets the close through, after any
// request sent before it.
func (w *world) closeDB(inst, conn int32) {
	w.q.push(event{at: w.reopens(inst, run.Database) + int64(latencyMax) + 1, kind: evConnDead, a: uint32(conn)})
}
