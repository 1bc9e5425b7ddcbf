package sim

import (
	"strconv"

	"github.com/idemsim/idemsim/run"
)

// offsetTable is the database's table of the log's offsets, one row per
// partition (strategies.Tx ReadOffset, AdvanceOffset), with row locks as
// the processed rows have (sqlDB.rowOp), and one thing more: a row can be
// inserted by an AdvanceOffset that expects 0, which waits behind the open
// transaction that inserted the row first, as PostgreSQL's ON CONFLICT
// does. Rows are never deleted. Only strategies that call the table pay
// for it: its maps are made on first use.
type offsetTable struct {
	next map[int]int64 // the committed rows: partition → next offset
	// owner is the open transaction holding the lock of the partition's
	// row: the one that inserted it (it is not committed yet), or one that
	// read it FOR UPDATE or advanced it.
	owner map[int]int32
	waitq map[int]*[]dbCall // calls parked behind the owner, FIFO
	// rows are the open transactions' own versions of the rows whose
	// lock they hold.
	rows []offsetRow
}

// offsetRow is an open transaction's own version of a partition's row:
// its next offset as the transaction sees it, whether it changed it
// (applied at commit) and whether it inserted it.
type offsetRow struct {
	tx        int32
	partition int
	next      int64
	wrote     bool
	inserted  bool
}

func (o *offsetTable) reset() {
	clear(o.next)
	clear(o.owner)
	for _, q := range o.waitq {
		*q = (*q)[:0]
	}
	clear(o.rows)
	o.rows = o.rows[:0]
}

func (o *offsetTable) find(tx int32, partition int) *offsetRow {
	for i := range o.rows {
		if r := &o.rows[i]; r.tx == tx && r.partition == partition {
			return r
		}
	}
	return nil
}

func (o *offsetTable) add(r offsetRow) *offsetRow {
	if o.owner == nil {
		o.next, o.owner, o.waitq = map[int]int64{}, map[int]int32{}, map[int]*[]dbCall{}
	}
	o.owner[r.partition] = r.tx
	o.rows = append(o.rows, r)
	return &o.rows[len(o.rows)-1]
}

// isOffsetOp reports whether op reads or writes the offsets table.
func isOffsetOp(op run.Op) bool { return op == run.ReadOffset || op == run.AdvanceOffset }

// parseOffset reads an offset a call carries in decimal (strategies.Tx
// validated it); "" is none, 0.
func parseOffset(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// offsetOp runs a ReadOffset or AdvanceOffset of partition c.ev.Partition,
// as PostgreSQL does under READ COMMITTED (pgstore's statements):
//   - the caller's own row (it holds the lock: it inserted, read or
//     advanced it): it sees it as it left it;
//   - a row another open transaction inserted and has not committed: not
//     there, without waiting, for a read and for an UPDATE (expect > 0);
//     an insert (expect 0) parks behind the inserter, and once that one
//     ends runs again: it finds the row, or inserts it;
//   - no row: a read finds 0, an UPDATE no match, an insert inserts it
//     and holds its lock;
//   - an UPDATE whose WHERE the committed row does not meet: no match,
//     neither a wait nor a lock;
//   - a committed row another open transaction holds the lock of: the call
//     parks behind it and runs again once that one ends, on the row as it
//     left it;
//   - a committed row no one holds: the call takes its lock until its
//     transaction ends; ON CONFLICT DO UPDATE takes it even when its WHERE
//     (next offset 0) does not hold.
//
// woken says that c parked and runs again now that the lock's holder
// ended: then an UPDATE does as PostgreSQL's re-check after a wait does,
// which locks the row's latest version before it checks the WHERE again,
// and keeps the lock when it no longer matches.
func (d *sqlDB) offsetOp(c dbCall, woken bool) {
	o := &d.offsets
	p := c.ev.Partition
	var expect, next int64
	if c.op == run.AdvanceOffset {
		s := &(*d.strs)[c.kv]
		expect, next = parseOffset(s.aux), parseOffset(s.value)
	}
	owner := o.owner[p]
	committed, exists := o.next[p]
	var r *offsetRow
	switch {
	case owner == c.tx:
		r = o.find(c.tx, p)
	case owner != 0 && !exists: // another's insert, not committed
		if c.op == run.AdvanceOffset && expect == 0 {
			d.parkOffset(c, owner)
			return
		}
		d.answerOffsetMiss(c)
		return
	case !exists:
		if c.op == run.ReadOffset || expect != 0 {
			d.answerOffsetMiss(c)
			return
		}
		o.add(offsetRow{tx: c.tx, partition: p, next: next, wrote: true, inserted: true})
		d.answer(c.id, reply{ok: true})
		return
	case c.op == run.AdvanceOffset && expect != 0 && committed != expect && !woken:
		d.answer(c.id, reply{})
		return
	case owner != 0:
		d.parkOffset(c, owner)
		return
	default:
		r = o.add(offsetRow{tx: c.tx, partition: p, next: committed})
	}
	if c.op == run.ReadOffset {
		d.answerRead(c.id, true, strconv.FormatInt(r.next, 10))
		return
	}
	ok := r.next == expect
	if ok {
		r.next, r.wrote = next, true
	}
	d.answer(c.id, reply{ok: ok})
}

// answerOffsetMiss answers a call that found no row: a read's 0 (a read
// always answers yes, with the offset, as a real backend's record can
// only say that: strategies.Tx.ReadOffset has no "found"), an update's no
// match.
func (d *sqlDB) answerOffsetMiss(c dbCall) {
	if c.op == run.ReadOffset {
		d.answerRead(c.id, true, "0")
		return
	}
	d.answer(c.id, reply{})
}

func (d *sqlDB) parkOffset(c dbCall, owner int32) {
	o := &d.offsets
	q := o.waitq[c.ev.Partition]
	if q == nil {
		q = new([]dbCall)
		o.waitq[c.ev.Partition] = q
	}
	*q = append(*q, c)
	d.park(c.id, owner)
}

// endOffsets ends tx's hold on the offsets table's rows: if it committed,
// what it wrote becomes the committed rows; their locks are released and
// the wakes of the calls parked behind them queued.
func (d *sqlDB) endOffsets(tx int32, committed bool) {
	o := &d.offsets
	kept := o.rows[:0]
	for _, r := range o.rows {
		if r.tx != tx {
			kept = append(kept, r)
			continue
		}
		if committed && r.wrote {
			o.next[r.partition] = r.next
		}
		delete(o.owner, r.partition)
		d.wakes = append(d.wakes, wakeItem{partition: r.partition})
	}
	clear(o.rows[len(kept):])
	o.rows = kept
}
