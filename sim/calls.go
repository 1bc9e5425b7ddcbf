package sim

import (
	"context"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Reply codes carried by reply events.
const (
	codeFalse = iota
	codeTrue
	codeRefused
	codeTxAborted
)

func encode(r reply) uint64 {
	switch r.err {
	case nil:
		if r.ok {
			return codeTrue
		}
		return codeFalse
	case errRefused:
		return codeRefused
	}
	return codeTxAborted
}

func decode(code uint64) reply {
	switch code {
	case codeTrue:
		return reply{ok: true}
	case codeFalse:
		return reply{}
	case codeRefused:
		return reply{err: errRefused}
	}
	return reply{err: errTxAborted}
}

// send puts in's requested call on the network. It reports whether the call
// failed on the client side at once, without a round trip.
func (w *world) send(in *instance) bool {
	c := in.req
	if c.op.target() == toDB && w.db.txs[c.tx].conn != in.conn {
		in.rep = reply{err: errConnClosed}
		return true
	}
	c.start = w.now
	w.calls = append(w.calls, c)
	id := uint32(len(w.calls) - 1)
	in.callID, in.pending = id, true
	w.record(RecCall, in.idx, in.cur.msg, c.ev.ID, int64(c.op))
	w.transmit(in.idx, c.op.target(), event{kind: evReqArr, a: id}, id)
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
	if c.op.target() == toRedis {
		var r reply
		if w.now < w.redis.downUntil {
			r.err = errRefused
		} else {
			r.ok = w.redis.do(c, w.now)
		}
		w.reply(id, r)
		return
	}
	w.db.do(w, id)
}

// reply sends the store's answer to call id back over the network.
func (w *world) reply(id uint32, r reply) {
	c := &w.calls[id]
	code := encode(r)
	w.record(RecServe, c.inst, c.msg, c.ev.ID, int64(code))
	w.transmit(c.inst, c.op.target(), event{kind: evReplyArr, a: id, b: uint32(code)}, id)
}

// transmit carries a request or reply of call id between instance inst and
// a store. Store connections are TCP: a partition does not lose what was
// sent, it holds it until the network heals, long after the caller's
// timeout. So a request sent into a partition may still take effect, and
// its caller cannot know: the classic unknown outcome.
func (w *world) transmit(inst int32, target uint8, e event, id uint32) {
	if !w.cut(inst, target) {
		w.at(w.latency(), e)
		return
	}
	c := &w.calls[id]
	w.record(RecCallHeld, inst, c.msg, c.ev.ID, int64(c.op))
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

func (w *world) replyArrive(id uint32, code uint64) {
	in := w.waiting(id)
	if in == nil {
		return
	}
	in.pending = false
	in.rep = decode(code)
	w.record(RecReply, in.idx, in.cur.msg, w.calls[id].ev.ID, int64(code))
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
	w.record(RecTimeout, in.idx, in.cur.msg, c.ev.ID, int64(c.op))
	if c.op.target() == toDB && in.conn != 0 {
		// pgx closes a connection whose query was cancelled; the
		// server rolls back its transaction once it notices.
		w.db.closeConn(w, in.idx, in.conn)
		in.conn = 0
	}
	w.drive(in)
}

// simMarks is the instance's Redis client.
type simMarks struct{ in *instance }

func ttlNanos(ttl time.Duration) int64 { return int64(ttl) }

func (m simMarks) SetNX(_ context.Context, id strategies.EventID, ttl time.Duration) (bool, error) {
	r := m.in.do(call{op: opSetNX, ev: strategies.Event{ID: id}, ttl: ttlNanos(ttl)})
	return r.ok, r.err
}

func (m simMarks) Exists(_ context.Context, id strategies.EventID) (bool, error) {
	r := m.in.do(call{op: opExists, ev: strategies.Event{ID: id}})
	return r.ok, r.err
}

func (m simMarks) Set(_ context.Context, id strategies.EventID, ttl time.Duration) error {
	return m.in.do(call{op: opSet, ev: strategies.Event{ID: id}, ttl: ttlNanos(ttl)}).err
}

// simLedger is the instance's database client, one connection at a time.
type simLedger struct{ in *instance }

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
	return &simTx{in: in, id: w.db.begin(in.conn)}, nil
}

type simTx struct {
	in *instance
	id int32
}

func (t *simTx) InsertProcessed(_ context.Context, id strategies.EventID) (bool, error) {
	r := t.in.do(call{op: opInsert, ev: strategies.Event{ID: id}, tx: t.id})
	return r.ok, r.err
}

func (t *simTx) Apply(_ context.Context, e strategies.Event) error {
	return t.in.do(call{op: opApply, ev: e, tx: t.id}).err
}

func (t *simTx) Commit(context.Context) error {
	return t.in.do(call{op: opCommit, ev: t.in.w.events[t.in.w.curEvent(t.in)], tx: t.id}).err
}

func (t *simTx) Rollback(context.Context) error {
	return t.in.do(call{op: opRollback, ev: t.in.w.events[t.in.w.curEvent(t.in)], tx: t.id}).err
}
