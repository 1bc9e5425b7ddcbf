package memstore

import (
	"context"

	"github.com/idemsim/idemsim/strategies"
)

// offsetRow is one version of a row of the log's offsets table: a
// committed one, or one an open transaction inserted (ins). Rows are never
// deleted.
type offsetRow struct {
	partition int
	next      int64
	ins       *Tx // the open transaction that inserted it; nil once committed
	// lock is the open transaction that holds the committed row's lock
	// (it read it FOR UPDATE or advanced it), with its change, which
	// others see when it commits.
	lock    *Tx
	updated bool
	newNext int64
}

// current is the row as its lock holder sees it.
func (r *offsetRow) current() int64 {
	if r.updated {
		return r.newNext
	}
	return r.next
}

// ownOffset returns the row of partition this transaction inserted.
func (t *Tx) ownOffset(partition int) *offsetRow {
	if f := t.l.freshOffsets[partition]; f != nil && f.ins == t {
		return f
	}
	return nil
}

// lockOffset waits until no other open transaction holds c's lock, then
// takes it.
func (t *Tx) lockOffset(w *waiter, c *offsetRow) error {
	for c.lock != nil && c.lock != t {
		if err := w.wait(); err != nil {
			return err
		}
	}
	if c.lock == nil {
		c.lock = t
		t.lockedOffsets = append(t.lockedOffsets, c)
	}
	return nil
}

// ReadOffset reads partition's next offset as SELECT next_offset ... FOR
// UPDATE does: 0 if there is no row (or only one another open transaction
// inserted, which it does not wait for); it waits for another open
// transaction that holds the row's lock, and locks it to the
// transaction's end.
func (t *Tx) ReadOffset(ctx context.Context, partition int) (int64, error) {
	if err := strategies.ValidateOffset(partition); err != nil {
		return 0, err
	}
	if err := t.start(); err != nil {
		return 0, err
	}
	l := t.l
	defer l.mu.Unlock()
	if f := t.ownOffset(partition); f != nil {
		return f.next, nil
	}
	c := l.offsets[partition]
	if c == nil {
		return 0, nil
	}
	w := &waiter{l: l, ctx: ctx}
	defer w.close()
	if err := t.lockOffset(w, c); err != nil {
		return 0, err
	}
	return c.current(), nil
}

// AdvanceOffset sets partition's next offset to next if it is expect, as
// PostgreSQL does it (strategies.Tx): for expect 0, an insert ON CONFLICT
// DO UPDATE WHERE next_offset = 0, which waits for another open
// transaction that inserted the row or holds its lock and locks the row
// it finds, matching or not; for another expect, an UPDATE, which neither
// waits nor locks when the committed row does not match, and otherwise
// waits for the row's lock and checks again on the row as its holder left
// it.
func (t *Tx) AdvanceOffset(ctx context.Context, partition int, expect, next int64) (bool, error) {
	if err := strategies.ValidateOffset(partition, expect, next); err != nil {
		return false, err
	}
	if err := t.start(); err != nil {
		return false, err
	}
	l := t.l
	defer l.mu.Unlock()
	w := &waiter{l: l, ctx: ctx}
	defer w.close()
	for {
		if f := l.freshOffsets[partition]; f != nil {
			if f.ins == t {
				if f.next != expect {
					return false, nil
				}
				f.next = next
				return true, nil
			}
			if expect != 0 {
				return false, nil // an UPDATE does not see another's insert
			}
			if err := w.wait(); err != nil { // the insert waits for the inserter
				return false, err
			}
			continue
		}
		c := l.offsets[partition]
		if c == nil {
			if expect != 0 {
				return false, nil
			}
			f := &offsetRow{partition: partition, next: next, ins: t}
			l.freshOffsets[partition] = f
			t.insertedOffsets = append(t.insertedOffsets, f)
			return true, nil
		}
		if expect != 0 && c.lock != t && c.next != expect {
			return false, nil // the row as committed does not match: no wait, no lock
		}
		if err := t.lockOffset(w, c); err != nil {
			return false, err
		}
		if c.current() != expect {
			return false, nil // the lock stays, as in PostgreSQL
		}
		c.updated, c.newNext = true, next
		return true, nil
	}
}

// endOffsets ends the transaction's hold on the offsets table: if it
// committed, its inserted rows and updates become the committed rows;
// either way its locks are released.
func (t *Tx) endOffsets(committed bool) {
	l := t.l
	for _, c := range t.lockedOffsets {
		if committed && c.updated {
			c.next = c.newNext
		}
		c.lock, c.updated, c.newNext = nil, false, 0
	}
	for _, f := range t.insertedOffsets {
		delete(l.freshOffsets, f.partition)
		if committed {
			f.ins = nil
			l.offsets[f.partition] = f
		}
	}
	t.lockedOffsets, t.insertedOffsets = nil, nil
}

// Offsets returns the committed next offset of each partition that has a
// row.
func (l *Ledger) Offsets() map[int]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]int64, len(l.offsets))
	for p, r := range l.offsets {
		out[p] = r.next
	}
	return out
}

var _ strategies.Tx = (*Tx)(nil)
