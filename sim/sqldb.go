package sim

import (
	"fmt"
	"math/bits"

	"github.com/idemsim/idemsim/run"
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
	locks    uint16 // row locks of accounts it holds, bit a for account a
	inserted []strategies.EventID
	effects  []strategies.Event
}

// txRow is an open transaction's own version of a processed row it read
// FOR UPDATE, updated or deleted, whose lock it holds until it ends:
// whether the row is there and its state, as the transaction sees it;
// whether it wrote them (an insert, update or delete, applied at commit)
// or only locked the row (FOR UPDATE); and whether it inserted the row
// itself (then the id is in its inserted list too).
type txRow struct {
	tx       int32
	ev       strategies.EventID
	state    string
	exists   bool
	wrote    bool
	inserted bool
	// replaced: tx deleted the committed row, then inserted the id
	// anew. The new row is another row: a call parked behind the old
	// one finds it gone once tx commits, as PostgreSQL's re-check
	// follows the deleted row, not the id.
	replaced bool
}

// numAccounts bounds the account numbers: accounts are 1..numAccounts-1.
const numAccounts = run.Accounts + 1

// sqlDB is the simulated database. Like PostgreSQL, an insert of an id that
// another open transaction inserted waits for that transaction: it fails
// (returns false) if the other commits and succeeds if it aborts; a
// transaction whose connection dies is rolled back, leaving nothing behind;
// a commit is atomic.
//
// A processed row has a state, "" when an insert made it. ReadProcessed
// (SELECT ... FOR UPDATE), UpdateProcessed and DeleteProcessed take the
// lock of a committed row until their transaction ends, or wait behind the
// open transaction that holds it, then see the row as that one left it;
// under READ COMMITTED, a row another open transaction inserted is not
// there for them yet, neither seen nor waited for (rowOp). An insert of an
// id whose committed row another open transaction updated or deleted
// waits for it too, as PostgreSQL's unique check waits for a row's
// deleter; one whose row is only locked FOR UPDATE finds it at once. A
// transaction sees its own writes; its updates and deletes are undone if
// it aborts.
//
// An Apply is INSERT INTO accounts ... ON CONFLICT (account) DO UPDATE SET
// balance = balance + x, plus a ledger row: it updates the account's row, so
// like PostgreSQL the transaction takes that row's lock and keeps it until
// it commits or aborts, and an Apply on the same account from another
// transaction waits for it. A handler that stalls, crashes or is cut off
// between its Apply and its Commit thus makes every other Apply on that
// account wait, often past the caller's timeout.
//
// The database does no I/O of its own: it reads its calls (and their
// strings, from the world's table), and each step appends what it decided
// to fx (answer a call, park a call behind a lock, roll back a
// transaction), in order, and the world carries that out (world.serveDB).
type sqlDB struct {
	committed []bool // processed ids, committed
	// owner is the open transaction holding the lock of the id's row, 0:
	// none: the one that inserted it (the row is not committed yet), or
	// one that read it FOR UPDATE, updated or deleted it (it is).
	owner []int32
	waitq [][]dbCall // calls parked behind the owner, per id, FIFO
	// states holds the committed rows' states that are not "", made
	// when an update first writes one: strategies that never update
	// pay nothing for it.
	states map[strategies.EventID]string
	// rows are the open transactions' own versions of the rows they
	// read FOR UPDATE, updated or deleted, in the order they first
	// did, kept apart from txState so that the transactions of
	// strategies that never do pay nothing for them.
	rows []txRow
	// strs are the strings of the calls that carry some, by dbCall.kv:
	// the world's table of them (world.kvs), which the database only
	// reads, for an UpdateProcessed's old state (aux) and new one (value).
	strs   *[]kvCall
	ledger []int // committed ledger rows per event number (run.Workload.Number)
	// reused is the run's workload when id-reuse gave two events one
	// id, so that a committed effect counts for the event of its
	// payload; nil otherwise, and an effect counts for its id.
	reused  *run.Workload
	balance [numAccounts]int64
	// acctOwner is the open transaction holding the row lock of each
	// account (0: none); acctWait the Apply calls parked behind it, FIFO.
	acctOwner [numAccounts]int32
	acctWait  [numAccounts][]dbCall
	spare     []dbCall  // an emptied wait queue, for wake to swap in
	txs       []txState // by transaction id; 0 unused
	connDead  []bool    // by connection id; 0 unused
	connTx    []int32   // the latest transaction of each connection
	// failApply makes the first Apply of these events fail (RunScript).
	failApply map[strategies.EventID]bool

	// offsets is the log's offsets table.
	offsets offsetTable

	// The outbox table (outbox.go): its committed rows, in the order
	// they committed (a row's number is its index + 1), the first that
	// may be unsent, and the open transactions' rows. outboxArg is the
	// current outbox call's argument, which the world hands over;
	// outboxCommitted says that a commit added rows, for the world to
	// wake the relay.
	outbox          []outboxRow
	outboxHead      int
	outboxOpen      []outboxRow
	outboxArg       int64
	outboxCommitted bool

	fx []dbEffect // what the current step decided, for the world

	// wakes are the locks an ended transaction freed, whose parked calls
	// are still to retry, in order; draining tells unlock that a retry in
	// progress ended a transaction (an InsertApply commits as it
	// proceeds), so its wakes wait their turn rather than nest.
	wakes    []wakeItem
	draining bool
}

// wakeItem is a freed lock: an id's insert lock, an account's row lock,
// or a partition's row lock in the offsets table.
type wakeItem struct {
	ev        strategies.EventID
	account   int // > 0: an account's row lock
	partition int // > 0: a partition's offset row lock
}

// dbCall is a database call as the database sees it: its id, its
// transaction, its operation, its event (or the id of its row), and kv,
// the index of its strings in strs if it has any (an UpdateProcessed's),
// so that the calls the database copies and parks stay small.
type dbCall struct {
	id uint32
	tx int32
	op run.Op
	kv uint32
	ev strategies.Event
}

// dbEffect is one thing a database step asks the world to do.
type dbEffect struct {
	kind   dbEffectKind
	call   uint32 // dbAnswer, dbPark
	answer reply  // dbAnswer
	tx     int32  // dbPark: the holder; dbRolledBack: the transaction
}

type dbEffectKind uint8

const (
	dbAnswer     dbEffectKind = iota + 1 // send call's answer back
	dbAnswerRead                         // send call's answer back, with the value it read
	dbPark                               // call waits behind transaction tx: record it, arm its timeout
	dbRolledBack                         // transaction tx was rolled back: its connection died
)

func (d *sqlDB) answer(id uint32, r reply) {
	d.fx = append(d.fx, dbEffect{kind: dbAnswer, call: id, answer: r})
}

// answerRead answers a ReadProcessed call id: whether it found the row,
// and its state.
func (d *sqlDB) answerRead(id uint32, found bool, state string) {
	d.fx = append(d.fx, dbEffect{kind: dbAnswerRead, call: id, answer: reply{ok: found, value: state}})
}

func (d *sqlDB) park(id uint32, holder int32) {
	d.fx = append(d.fx, dbEffect{kind: dbPark, call: id, tx: holder})
}

func (d *sqlDB) init(events int) {
	d.committed = resize(d.committed, events+1)
	d.owner = resize(d.owner, events+1)
	for i := range d.waitq {
		d.waitq[i] = d.waitq[i][:0]
	}
	if cap(d.waitq) < events+1 {
		d.waitq = make([][]dbCall, events+1)
	}
	d.waitq = d.waitq[:events+1]
	d.ledger = resize(d.ledger, events+1)
	clear(d.states)
	clear(d.rows)
	d.rows = d.rows[:0]
	d.balance = [len(d.balance)]int64{}
	d.acctOwner = [len(d.acctOwner)]int32{}
	for a := range d.acctWait {
		d.acctWait[a] = d.acctWait[a][:0]
	}
	d.txs = d.txs[:0]
	d.begin(0) // transaction 0 stands for none
	d.connDead = resize(d.connDead, 1)
	d.connTx = resize(d.connTx, 1)
	d.failApply = nil
	d.offsets.reset()
	d.outbox, d.outboxHead, d.outboxOpen, d.outboxCommitted = d.outbox[:0], 0, d.outboxOpen[:0], false
	d.fx = d.fx[:0]
	d.wakes, d.draining = d.wakes[:0], false
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

// connDeadNow is the server noticing that conn died: it rolls back the
// connection's open transaction, if any.
func (d *sqlDB) connDeadNow(conn int32) {
	d.connDead[conn] = true
	tx := d.connTx[conn]
	if tx != 0 && d.txs[tx].status == txOpen {
		d.fx = append(d.fx, dbEffect{kind: dbRolledBack, tx: tx})
		d.abort(tx)
	}
}

// do executes database call c; its answer goes out at once, or later for an
// insert or Apply parked behind a lock.
func (d *sqlDB) do(c dbCall) {
	tx := &d.txs[c.tx]
	if d.connDead[tx.conn] {
		return // the client is gone; nobody reads a reply
	}
	if tx.status != txOpen {
		if c.op == run.Rollback {
			d.answer(c.id, reply{ok: true})
			return
		}
		d.answer(c.id, reply{err: errTxAborted})
		return
	}
	switch c.op {
	case run.Insert:
		d.insert(c)
	case run.Apply:
		// It fails here, before it could park, so that wake never meets a
		// failing Apply: an abort inside wake would wake the queue wake is
		// walking.
		if !d.failsApply(c) {
			d.apply(c)
		}
	case run.Commit:
		d.commit(c.tx)
		d.answer(c.id, reply{ok: true})
	case run.Rollback:
		d.abort(c.tx)
		d.answer(c.id, reply{ok: true})
	case run.InsertApply:
		d.insertApply(c)
	default:
		// The row calls come last, out of the switch, which keeps the
		// hot calls' dispatch as short as it was before them.
		switch {
		case isRowOp(c.op):
			d.rowOp(c, false)
		case isOffsetOp(c.op):
			d.offsetOp(c, false)
		case isOutboxOp(c.op):
			d.outboxOp(c)
		default:
			panic("sim: invariant broken: not a database call: " + c.op.String())
		}
	}
}

// isRowOp reports whether op reads, deletes or updates a processed row.
func isRowOp(op run.Op) bool { return op == run.Read || op == run.Delete || op == run.Update }

// failsApply reports whether call c's effect is to fail; then, as
// PostgreSQL does when a statement fails, the database aborts c's
// transaction and answers the error.
func (d *sqlDB) failsApply(c dbCall) bool {
	if !d.failApply[c.ev.ID] {
		return false
	}
	delete(d.failApply, c.ev.ID)
	d.abort(c.tx)
	d.answer(c.id, reply{err: errTxAborted})
	return true
}

// insert runs INSERT ... ON CONFLICT DO NOTHING for call id.
func (d *sqlDB) insert(c dbCall) {
	ev := c.ev.ID
	switch owner := d.owner[ev]; {
	case owner == c.tx:
		d.answer(c.id, reply{ok: d.reinsert(c.tx, ev)})
	case owner != 0 && d.insertWaits(owner, ev):
		d.waitq[ev] = append(d.waitq[ev], c)
		d.park(c.id, owner)
	case d.committed[ev]:
		d.answer(c.id, reply{ok: false})
	default:
		d.owner[ev] = c.tx
		d.txs[c.tx].inserted = append(d.txs[c.tx].inserted, ev)
		d.answer(c.id, reply{ok: true})
	}
}

// insertWaits reports whether an insert of ev waits for owner, the other
// open transaction that holds ev's row lock: as PostgreSQL's unique check
// waits for a row's inserter, updater or deleter that is still open (the
// row may go, or, inserted, never come), but not for a row only locked
// FOR UPDATE, which is there whatever its locker does.
func (d *sqlDB) insertWaits(owner int32, ev strategies.EventID) bool {
	if !d.committed[ev] {
		return true // owner inserted it
	}
	r := d.findRow(owner, ev)
	return r == nil || r.wrote
}

// reinsert is an insert of ev by tx, which holds ev's row lock: it finds
// the row unless tx deleted it, and then inserts it anew.
func (d *sqlDB) reinsert(tx int32, ev strategies.EventID) bool {
	r := d.findRow(tx, ev)
	if r == nil || r.exists {
		return false // its own insert, or a row it holds
	}
	r.exists, r.state, r.wrote = true, "", true
	r.replaced = r.replaced || !r.inserted
	return true
}

// findRow returns tx's own version of ev's row, if tx read, updated or
// deleted it; nil if it did none of these (if it holds ev's lock, it
// inserted the row).
func (d *sqlDB) findRow(tx int32, ev strategies.EventID) *txRow {
	for i := range d.rows {
		if r := &d.rows[i]; r.tx == tx && r.ev == ev {
			return r
		}
	}
	return nil
}

// addRow adds tx's own version of ev's row and returns it.
func (d *sqlDB) addRow(r txRow) *txRow {
	d.rows = append(d.rows, r)
	return &d.rows[len(d.rows)-1]
}

// rowOp runs a ReadProcessed, DeleteProcessed or UpdateProcessed of c.ev's
// row, as PostgreSQL does under READ COMMITTED:
//   - the caller's own row (it holds the lock: it inserted, read, updated
//     or deleted it): it sees it as it left it;
//   - no committed row, or one another open transaction inserted and has
//     not committed: not found, without waiting;
//   - an UPDATE whose WHERE the committed row does not meet: no match,
//     and neither a wait nor a lock, as PostgreSQL skips such a row before
//     it tries to lock it; but one that parked (woken) and runs again
//     locks the row's latest version before it checks the WHERE, as
//     PostgreSQL's re-check after a wait does, and keeps the lock when it
//     no longer matches;
//   - a committed row another open transaction holds the lock of: the call
//     parks behind it, and once that one ends it runs again on the row as
//     that one left it (gone if it deleted it and committed), as
//     PostgreSQL re-reads the row's latest version after the wait;
//   - a committed row no one holds: the call takes its lock, until its
//     transaction ends.
//
// Deadlock: with row locks, two transactions can each wait for a row the
// other holds. PostgreSQL's detector aborts one after deadlock_timeout
// (1 s); here the first waiter's 1 s call timeout breaks the cycle: its
// client drops the connection and the database rolls its transaction
// back, freeing its locks.
func (d *sqlDB) rowOp(c dbCall, woken bool) {
	ev := c.ev.ID
	var old, state string
	if c.op == run.Update {
		s := &(*d.strs)[c.kv]
		old, state = s.aux, s.value
	}
	var r *txRow
	switch owner := d.owner[ev]; {
	case owner == c.tx:
		if r = d.findRow(c.tx, ev); r == nil { // the row it inserted
			r = d.addRow(txRow{tx: c.tx, ev: ev, exists: true, wrote: true, inserted: true})
		}
	case !d.committed[ev]:
		d.answer(c.id, reply{})
		return
	case c.op == run.Update && d.states[ev] != old && !woken:
		d.answer(c.id, reply{})
		return
	case owner != 0:
		d.waitq[ev] = append(d.waitq[ev], c)
		d.park(c.id, owner)
		return
	default:
		d.owner[ev] = c.tx
		r = d.addRow(txRow{tx: c.tx, ev: ev, exists: true, state: d.states[ev]})
	}
	var ans reply
	switch c.op {
	case run.Read:
		d.answerRead(c.id, r.exists, r.state)
		return
	case run.Delete:
		ans.ok = r.exists
		if r.exists {
			r.exists, r.state, r.wrote = false, "", true
		}
	case run.Update:
		ans.ok = r.exists && r.state == old
		if ans.ok {
			r.state, r.wrote = state, true
		}
	}
	d.answer(c.id, ans)
}

// apply runs the Apply of call id: it takes the row lock of the event's
// account, or parks behind the open transaction that holds it. ON CONFLICT
// DO UPDATE re-reads the row once the lock frees, so a parked Apply that
// gets the lock succeeds, whether the holder committed or aborted.
//
// Deadlock: a transaction that applied two events could hold account A and
// wait for B while another holds B and waits for A. PostgreSQL detects that
// after deadlock_timeout (1 s) and aborts one of them ("deadlock
// detected"). In the simulator a transaction applies at most one event, as
// its last statement before the commit: it never waits while it holds a row
// lock, so no cycle can form. If one did, the waiting client's 1 s call
// timeout would break it as the detector does: the client drops its
// connection and the database rolls its transaction back, freeing its
// locks. So there is no detector here.
func (d *sqlDB) apply(c dbCall) {
	if d.addEffect(c) {
		d.answer(c.id, reply{ok: true})
	}
}

// addEffect adds c's effect to c's transaction, taking the row lock of the
// event's account, and reports true; or it parks c behind the open
// transaction that holds that lock and reports false.
func (d *sqlDB) addEffect(c dbCall) bool {
	a := c.ev.Account
	if a < 1 || a >= numAccounts {
		panic(fmt.Sprintf("sim: invariant broken: account %d out of range", a))
	}
	if owner := d.acctOwner[a]; owner != 0 && owner != c.tx {
		d.acctWait[a] = append(d.acctWait[a], c)
		d.park(c.id, owner)
		return false
	}
	t := &d.txs[c.tx]
	d.acctOwner[a] = c.tx
	t.locks |= 1 << a
	t.effects = append(t.effects, c.ev)
	return true
}

func (d *sqlDB) commit(tx int32) {
	t := &d.txs[tx]
	t.status = txCommitted
	for _, ev := range t.inserted {
		d.committed[ev] = true
		d.owner[ev] = 0
	}
	for _, e := range t.effects {
		if d.reused != nil {
			d.ledger[d.reused.Number(e)]++
		} else {
			d.ledger[e.ID]++
		}
		if e.Account < 1 || e.Account >= len(d.balance) {
			panic(fmt.Sprintf("sim: invariant broken: account %d out of range", e.Account))
		}
		d.balance[e.Account] += e.Amount
	}
	d.unlock(t, tx)
}

func (d *sqlDB) abort(tx int32) {
	t := &d.txs[tx]
	t.status = txAborted
	d.unlock(t, tx)
}

// unlock releases every lock of t, transaction tx, which just ended: its
// inserted ids, the other processed rows it locked, then its accounts'
// rows, and wakes the calls parked behind them.
func (d *sqlDB) unlock(t *txState, tx int32) {
	for _, ev := range t.inserted {
		d.owner[ev] = 0
	}
	locks := t.locks
	t.locks = 0
	for l := locks; l != 0; l &= l - 1 {
		d.acctOwner[bits.TrailingZeros16(l)] = 0
	}
	for _, ev := range t.inserted {
		d.wakes = append(d.wakes, wakeItem{ev: ev})
	}
	if len(d.rows) > 0 { // only strategies that read, update or delete rows have any
		d.endRows(tx, t.status == txCommitted)
	}
	if len(d.offsets.rows) > 0 { // only strategies of the log's offsets have any
		d.endOffsets(tx, t.status == txCommitted)
	}
	if len(d.outboxOpen) > 0 { // only the outbox strategy has any
		d.endOutbox(tx, t.status == txCommitted)
	}
	for l := locks; l != 0; l &= l - 1 {
		d.wakes = append(d.wakes, wakeItem{account: bits.TrailingZeros16(l)})
	}
	if !d.draining {
		d.drain()
	}
}

// endRows ends tx's hold on the rows it read, updated or deleted: if it
// committed, what it wrote goes to the table (after its inserted ids: a
// row it inserted, then deleted, goes); then their locks are released,
// its versions forgotten, and the wakes of the calls parked behind them
// queued.
func (d *sqlDB) endRows(tx int32, committed bool) {
	kept := d.rows[:0]
	for _, r := range d.rows {
		if r.tx != tx {
			kept = append(kept, r)
			continue
		}
		if committed && r.wrote {
			d.committed[r.ev] = r.exists
			switch {
			case r.state == "":
				delete(d.states, r.ev)
			case d.states == nil:
				d.states = map[strategies.EventID]string{r.ev: r.state}
			default:
				d.states[r.ev] = r.state
			}
		}
		if committed && r.replaced {
			d.missReplaced(r.ev)
		}
		d.owner[r.ev] = 0
		if !r.inserted { // an inserted id wakes once, with the others
			d.wakes = append(d.wakes, wakeItem{ev: r.ev})
		}
	}
	clear(d.rows[len(kept):])
	d.rows = kept
}

// missReplaced answers the reads, deletes and updates parked behind ev's
// row, which its holder deleted, inserted anew and committed: each finds
// the row it waited for gone, takes no lock, and leaves the queue; what
// else waits (an insert) stays for the wake.
func (d *sqlDB) missReplaced(ev strategies.EventID) {
	q := d.waitq[ev]
	kept := q[:0]
	for _, c := range q {
		switch {
		case !isRowOp(c.op):
			kept = append(kept, c)
		case !d.live(c):
		case c.op == run.Read:
			d.answerRead(c.id, false, "")
		default:
			d.answer(c.id, reply{})
		}
	}
	clear(q[len(kept):])
	d.waitq[ev] = kept
}

// drain retries the calls parked on every freed lock, in the order the
// locks were freed, including locks that the retries themselves free.
func (d *sqlDB) drain() {
	d.draining = true
	for i := 0; i < len(d.wakes); i++ {
		if w := d.wakes[i]; w.account > 0 {
			d.wake(&d.acctWait[w.account])
		} else if w.partition > 0 {
			if q := d.offsets.waitq[w.partition]; q != nil {
				d.wake(q)
			}
		} else {
			d.wake(&d.waitq[w.ev])
		}
	}
	d.wakes = d.wakes[:0]
	d.draining = false
}

// wake retries the calls parked in the wait queue *q, oldest first, now
// that the transaction holding their lock ended. Behind an id's insert
// lock: after a commit the inserts find the row; after an abort the first
// takes the lock and the others park behind it. Behind a processed row's
// lock: each runs again on the row as its holder left it, the first to
// lock it taking the lock and the next parking behind it. Behind an
// account's row lock: the first takes it and goes on, the others park
// behind it. A call whose client is gone is dropped.
func (d *sqlDB) wake(q *[]dbCall) {
	if len(*q) == 0 {
		return
	}
	woken := d.swapOut(q)
	for _, c := range woken {
		if !d.live(c) {
			continue
		}
		switch c.op {
		case run.Insert:
			d.insert(c)
		case run.Apply:
			d.apply(c)
		case run.InsertApply:
			d.insertApply(c)
		default:
			if isRowOp(c.op) {
				d.rowOp(c, true)
			} else if isOffsetOp(c.op) {
				d.offsetOp(c, true)
			}
		}
	}
	d.spare = woken[:0]
}

// swapOut empties the wait queue *q and returns what it held, putting the
// spare buffer in its place: calls that park again while the caller walks
// the returned queue must not write into it. The caller hands the returned
// buffer back as the spare when done. Waking never nests (drain retries
// one queue at a time, and a retry that ends a transaction only queues its
// wakes), so one spare is enough.
func (d *sqlDB) swapOut(q *[]dbCall) []dbCall {
	old := *q
	*q, d.spare = d.spare[:0], nil
	return old
}

// live reports whether parked call c still belongs to an open transaction
// on a live connection; a call whose client is gone is dropped.
func (d *sqlDB) live(c dbCall) bool {
	tx := &d.txs[c.tx]
	return !d.connDead[tx.conn] && tx.status == txOpen
}

// insertApply runs call c: INSERT the id ON CONFLICT DO NOTHING, then, only
// if it inserted, the effect, in one statement that is its own transaction
// c.tx, committed as the statement ends. Like the two statements it is
// made of, it waits behind another open transaction that inserted the id
// (then finds it, and does nothing) or updated or deleted its row (as
// insert does), and behind one that holds the row lock of the event's
// account, holding the id it inserted meanwhile.
func (d *sqlDB) insertApply(c dbCall) {
	if d.failsApply(c) {
		return // nothing of the statement stays
	}
	ev := c.ev.ID
	t := &d.txs[c.tx]
	if owner := d.owner[ev]; owner != c.tx { // the id is not inserted yet
		switch {
		case owner != 0 && d.insertWaits(owner, ev):
			d.waitq[ev] = append(d.waitq[ev], c)
			d.park(c.id, owner)
			return
		case d.committed[ev]:
			d.commit(c.tx) // it wrote nothing
			d.answer(c.id, reply{ok: false})
			return
		}
		d.owner[ev] = c.tx
		t.inserted = append(t.inserted, ev)
	}
	if !d.addEffect(c) {
		return
	}
	d.commit(c.tx)
	d.answer(c.id, reply{ok: true})
}
