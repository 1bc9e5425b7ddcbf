package sim

import (
	"fmt"

	"github.com/idemsim/idemsim/strategies"
)

type txStatus uint8

const (
	txOpen txStatus = iota
	txCommitted
	txAborted
)

type txState struct {
	conn     int32
	status   txStatus
	inserted []strategies.EventID
	effects  []strategies.Event
}

// sqlDB is the simulated database. Like PostgreSQL, an insert of an id that
// another open transaction inserted waits for that transaction: it fails
// (returns false) if the other commits and succeeds if it aborts; a
// transaction whose connection dies is rolled back, leaving nothing behind;
// a commit is atomic.
type sqlDB struct {
	committed []bool     // processed ids, committed
	owner     []int32    // open transaction holding an insert of the id, 0: none
	waitq     [][]uint32 // insert calls parked behind the owner, per id, FIFO
	ledger    []int      // committed ledger rows per event id
	balance   [11]int64  // account balances, accounts 1..10
	txs       []txState  // by transaction id; 0 unused
	connDead  []bool     // by connection id; 0 unused
	connTx    []int32    // the latest transaction of each connection
	// failApply makes the first Apply of these events fail (RunScript).
	failApply map[strategies.EventID]bool
}

func (d *sqlDB) init(events int) {
	d.committed = resize(d.committed, events+1)
	d.owner = resize(d.owner, events+1)
	for i := range d.waitq {
		d.waitq[i] = d.waitq[i][:0]
	}
	if cap(d.waitq) < events+1 {
		d.waitq = make([][]uint32, events+1)
	}
	d.waitq = d.waitq[:events+1]
	d.ledger = resize(d.ledger, events+1)
	d.balance = [len(d.balance)]int64{}
	d.txs = d.txs[:0]
	d.begin(0) // transaction 0 stands for none
	d.connDead = resize(d.connDead, 1)
	d.connTx = resize(d.connTx, 1)
	d.failApply = nil
}

func (d *sqlDB) openConn() int32 {
	d.connDead = append(d.connDead, false)
	d.connTx = append(d.connTx, 0)
	return int32(len(d.connDead) - 1)
}

// begin starts a transaction on conn, reusing the buffers of the slot of a
// transaction from an earlier run of a pooled world.
func (d *sqlDB) begin(conn int32) int32 {
	id := len(d.txs)
	if id < cap(d.txs) {
		d.txs = d.txs[:id+1]
		t := &d.txs[id]
		*t = txState{conn: conn, inserted: t.inserted[:0], effects: t.effects[:0]}
	} else {
		d.txs = append(d.txs, txState{conn: conn})
	}
	if conn != 0 {
		d.connTx[conn] = int32(id)
	}
	return int32(id)
}

// closeConn is the client dropping conn; the server notices once the network
// lets the close through, after any request sent before it.
func (d *sqlDB) closeConn(w *world, inst, conn int32) {
	w.q.push(event{at: w.reopens(inst, toDB) + int64(latencyMax) + 1, kind: evConnDead, a: uint32(conn)})
}

func (d *sqlDB) connDeadNow(w *world, conn int32) {
	d.connDead[conn] = true
	tx := d.connTx[conn]
	if tx != 0 && d.txs[tx].status == txOpen {
		w.record(RecTxAbort, -1, 0, 0, int64(tx))
		d.abort(w, tx)
	}
}

// do executes database call id; the reply goes out at once, or later for an
// insert parked behind a lock.
func (d *sqlDB) do(w *world, id uint32) {
	c := &w.calls[id]
	tx := &d.txs[c.tx]
	if d.connDead[tx.conn] {
		return // the client is gone; nobody reads a reply
	}
	if tx.status != txOpen {
		if c.op == opRollback {
			w.reply(id, reply{ok: true})
			return
		}
		w.reply(id, reply{err: errTxAborted})
		return
	}
	switch c.op {
	case opInsert:
		d.insert(w, id)
	case opApply:
		if d.failApply[c.ev.ID] {
			// The statement fails, and like PostgreSQL the database
			// aborts the transaction.
			delete(d.failApply, c.ev.ID)
			d.abort(w, c.tx)
			w.reply(id, reply{err: errTxAborted})
			return
		}
		tx.effects = append(tx.effects, c.ev)
		w.reply(id, reply{ok: true})
	case opCommit:
		d.commit(w, c.tx)
		w.reply(id, reply{ok: true})
	case opRollback:
		d.abort(w, c.tx)
		w.reply(id, reply{ok: true})
	default:
		panic("sim: invariant broken: not a database call: " + c.op.String())
	}
}

// insert runs INSERT ... ON CONFLICT DO NOTHING for call id.
func (d *sqlDB) insert(w *world, id uint32) {
	c := &w.calls[id]
	ev := c.ev.ID
	switch owner := d.owner[ev]; {
	case d.committed[ev] || owner == c.tx:
		w.reply(id, reply{ok: false})
	case owner != 0:
		d.waitq[ev] = append(d.waitq[ev], id)
		w.record(RecPark, c.inst, c.msg, ev, int64(owner))
		w.timeoutLater(id)
	default:
		d.owner[ev] = c.tx
		d.txs[c.tx].inserted = append(d.txs[c.tx].inserted, ev)
		w.reply(id, reply{ok: true})
	}
}

func (d *sqlDB) commit(w *world, tx int32) {
	t := &d.txs[tx]
	t.status = txCommitted
	for _, ev := range t.inserted {
		d.committed[ev] = true
		d.owner[ev] = 0
	}
	for _, e := range t.effects {
		d.ledger[e.ID]++
		if e.Account < 1 || e.Account >= len(d.balance) {
			panic(fmt.Sprintf("sim: invariant broken: account %d out of range", e.Account))
		}
		d.balance[e.Account] += e.Amount
	}
	for _, ev := range t.inserted {
		d.wake(w, ev)
	}
}

func (d *sqlDB) abort(w *world, tx int32) {
	t := &d.txs[tx]
	t.status = txAborted
	for _, ev := range t.inserted {
		d.owner[ev] = 0
	}
	for _, ev := range t.inserted {
		d.wake(w, ev)
	}
}

// wake retries the inserts parked on ev, oldest first, now that its owner
// ended: after a commit they all find the row; after an abort the first
// takes the lock and the others park behind it.
func (d *sqlDB) wake(w *world, ev strategies.EventID) {
	q := d.waitq[ev]
	d.waitq[ev] = nil // parking again below must not write into q
	for _, id := range q {
		tx := &d.txs[w.calls[id].tx]
		if d.connDead[tx.conn] || tx.status != txOpen {
			continue
		}
		d.insert(w, id)
	}
}
