package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/idemsim/idemsim/strategies"
)

// Ledger is an in-memory Ledger whose processed-ids table behaves as
// PostgreSQL's does under READ COMMITTED, row locks and unique index
// included (see Tx).
type Ledger struct {
	mu      sync.Mutex
	changed *sync.Cond // a transaction ended
	// rows are the committed rows of the processed-ids table; fresh, the
	// rows open transactions inserted, at most one per id (the unique
	// index makes a second inserter wait for the first).
	rows    map[strategies.EventID]*row
	fresh   map[strategies.EventID]*row
	applied map[strategies.EventID]int
	// offsets are the committed rows of the log's offsets table, by
	// partition; freshOffsets the rows open transactions inserted.
	offsets      map[int]*offsetRow
	freshOffsets map[int]*offsetRow
	// FailApply, if set, is asked before each Apply; an error it returns
	// fails the statement (the transaction stays open, to be rolled back).
	FailApply func(strategies.Event) error
	// outbox is the outbox table's committed rows (outbox.go).
	outbox []outboxRow
}

// row is one version of a processed-ids row: a committed one, or one an
// open transaction inserted. A committed row that is deleted is gone for
// good: a later insert of its id makes another row, which a statement that
// waited on this one does not see (PostgreSQL follows a row's updates, not
// a new insert).
type row struct {
	id    strategies.EventID
	state string
	// ins is the open transaction that inserted the row, nil once it
	// committed; gone marks an inserted row its inserter deleted again.
	ins  *Tx
	gone bool
	// dead marks a committed row that a committed DELETE removed.
	dead bool
	// lock is the open transaction that holds the committed row's lock
	// (it read it FOR UPDATE, updated or deleted it), with its change,
	// which others see when it commits.
	lock     *Tx
	updated  bool
	newState string
	deleted  bool
}

// NewLedger returns an empty Ledger.
func NewLedger() *Ledger {
	l := &Ledger{rows: map[strategies.EventID]*row{}, fresh: map[strategies.EventID]*row{}, applied: map[strategies.EventID]int{},
		offsets: map[int]*offsetRow{}, freshOffsets: map[int]*offsetRow{}}
	l.changed = sync.NewCond(&l.mu)
	return l
}

// ErrTxDone is returned by statements on a committed or rolled back
// transaction.
var ErrTxDone = errors.New("memstore: transaction already committed or rolled back")

// Begin starts a transaction.
func (l *Ledger) Begin(context.Context) (strategies.Tx, error) { return &Tx{l: l}, nil }

// Applications counts the committed applications of each event.
func (l *Ledger) Applications() map[strategies.EventID]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[strategies.EventID]int, len(l.applied))
	for id, n := range l.applied {
		out[id] = n
	}
	return out
}

// Tx is an in-memory transaction, with PostgreSQL's READ COMMITTED
// semantics on the processed-ids table: each statement sees the rows
// committed when it starts and the transaction's own changes, never
// another open transaction's. Where PostgreSQL waits, a statement waits,
// until the other transaction ends or the statement's context is done
// (then it returns the context's error and the transaction stays open):
//
//   - an insert waits for another open transaction that inserted the id,
//     or deleted or updated its row, then fails if the row is there;
//   - ReadProcessed, DeleteProcessed and UpdateProcessed wait for a row
//     another open transaction locked (read FOR UPDATE, updated, deleted),
//     then act on the row as that one left it: gone if it deleted it. The
//     lock they take is held to the transaction's end, also by an update
//     whose condition no longer held after the wait, as in PostgreSQL;
//   - an update whose condition the committed row does not meet neither
//     waits nor locks; a row another open transaction inserted is not
//     seen, nor waited for.
type Tx struct {
	l        *Ledger
	done     bool
	inserted []*row // rows this transaction inserted
	locked   []*row // committed rows whose lock it holds
	effects  []strategies.Event
	// The offsets table's rows it inserted, and committed ones whose lock
	// it holds.
	insertedOffsets []*offsetRow
	lockedOffsets   []*offsetRow
	// outbox holds the outgoing events it inserted, committed with it.
	outbox []strategies.Event
}

// waiter is one statement's waiting: it wakes on every change of the
// ledger and when its context is done.
type waiter struct {
	l    *Ledger
	ctx  context.Context
	stop func() bool
}

// wait waits for the next change, with l.mu held; it returns the context's
// error instead if it is done.
func (w *waiter) wait() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.stop == nil {
		w.stop = context.AfterFunc(w.ctx, func() { w.l.mu.Lock(); w.l.changed.Broadcast(); w.l.mu.Unlock() })
	}
	w.l.changed.Wait()
	return nil
}

func (w *waiter) close() {
	if w.stop != nil {
		w.stop()
	}
}

// start begins a statement: the ledger locked, the transaction open.
func (t *Tx) start() error {
	t.l.mu.Lock()
	if t.done {
		t.l.mu.Unlock()
		return ErrTxDone
	}
	return nil
}

// own returns the row of id this transaction inserted and still has.
func (t *Tx) own(id strategies.EventID) *row {
	if f := t.l.fresh[id]; f != nil && f.ins == t && !f.gone {
		return f
	}
	return nil
}

// lockRow waits until no other open transaction holds c's lock, then
// takes it. It reports false if c was deleted meanwhile.
func (t *Tx) lockRow(w *waiter, c *row) (bool, error) {
	for c.lock != nil && c.lock != t {
		if err := w.wait(); err != nil {
			return false, err
		}
	}
	if c.dead {
		return false, nil
	}
	if c.lock == nil {
		c.lock = t
		t.locked = append(t.locked, c)
	}
	return !c.deleted, nil
}

// InsertProcessed inserts id, with state "", like PostgreSQL's INSERT ...
// ON CONFLICT DO NOTHING: it waits for another open transaction that
// inserted id, or deleted or updated its row, and reports false if the
// row is there.
func (t *Tx) InsertProcessed(ctx context.Context, id strategies.EventID) (bool, error) {
	if err := t.start(); err != nil {
		return false, err
	}
	l := t.l
	defer l.mu.Unlock()
	w := &waiter{l: l, ctx: ctx}
	defer w.close()
	for {
		if f := l.fresh[id]; f != nil {
			if f.ins == t && !f.gone {
				return false, nil
			}
			if f.ins != t {
				if err := w.wait(); err != nil {
					return false, err
				}
				continue
			}
		}
		if c := l.rows[id]; c != nil && !(c.lock == t && c.deleted) {
			if c.lock != nil && c.lock != t && (c.updated || c.deleted) {
				if err := w.wait(); err != nil {
					return false, err
				}
				continue
			}
			return false, nil
		}
		r := &row{id: id, ins: t}
		l.fresh[id] = r
		t.inserted = append(t.inserted, r)
		return true, nil
	}
}

// ReadProcessed reads id's row as SELECT state ... FOR UPDATE does, and
// locks it to the transaction's end.
func (t *Tx) ReadProcessed(ctx context.Context, id strategies.EventID) (string, bool, error) {
	if err := t.start(); err != nil {
		return "", false, err
	}
	l := t.l
	defer l.mu.Unlock()
	if f := t.own(id); f != nil {
		return f.state, true, nil
	}
	c := l.rows[id]
	if c == nil {
		return "", false, nil
	}
	w := &waiter{l: l, ctx: ctx}
	defer w.close()
	ok, err := t.lockRow(w, c)
	if !ok {
		return "", false, err
	}
	if c.updated {
		return c.newState, true, nil
	}
	return c.state, true, nil
}

// DeleteProcessed deletes id's row, waiting on its lock as ReadProcessed
// does, and reports whether there was one.
func (t *Tx) DeleteProcessed(ctx context.Context, id strategies.EventID) (bool, error) {
	if err := t.start(); err != nil {
		return false, err
	}
	l := t.l
	defer l.mu.Unlock()
	if f := t.own(id); f != nil {
		f.gone = true
		return true, nil
	}
	c := l.rows[id]
	if c == nil {
		return false, nil
	}
	w := &waiter{l: l, ctx: ctx}
	defer w.close()
	ok, err := t.lockRow(w, c)
	if !ok {
		return false, err
	}
	c.deleted, c.updated = true, false
	return true, nil
}

// UpdateProcessed sets id's row's state to state if it is old (UPDATE ...
// WHERE state = old): it waits on a row another transaction locked only if
// the committed row meets the condition, then checks it again on the row
// as that one left it.
func (t *Tx) UpdateProcessed(ctx context.Context, id strategies.EventID, old, state string) (bool, error) {
	if err := validateStates(old, state); err != nil {
		return false, err
	}
	if err := t.start(); err != nil {
		return false, err
	}
	l := t.l
	defer l.mu.Unlock()
	if f := t.own(id); f != nil {
		if f.state != old {
			return false, nil
		}
		f.state = state
		return true, nil
	}
	c := l.rows[id]
	if c == nil {
		return false, nil
	}
	if c.lock != t && c.state != old {
		return false, nil // the row as committed does not match: no wait, no lock
	}
	w := &waiter{l: l, ctx: ctx}
	defer w.close()
	ok, err := t.lockRow(w, c)
	if !ok {
		return false, err
	}
	cur := c.state
	if c.updated {
		cur = c.newState
	}
	if cur != old {
		return false, nil
	}
	c.updated, c.newState = true, state
	return true, nil
}

// validateStates checks states as a KV value is checked, so that every
// backend stores them as they are (PostgreSQL's text takes no NUL).
func validateStates(states ...string) error {
	for _, s := range states {
		if err := strategies.ValidateValue(s); err != nil {
			return fmt.Errorf("memstore: processed row state: %w", err)
		}
	}
	return nil
}

// Apply records e's effect, to take place at commit.
func (t *Tx) Apply(_ context.Context, e strategies.Event) error {
	if err := t.start(); err != nil {
		return err
	}
	defer t.l.mu.Unlock()
	if t.l.FailApply != nil {
		if err := t.l.FailApply(e); err != nil {
			return err
		}
	}
	t.effects = append(t.effects, e)
	return nil
}

// Commit makes the transaction's changes and effects durable, at once, and
// releases its locks.
func (t *Tx) Commit(context.Context) error {
	if err := t.start(); err != nil {
		return err
	}
	l := t.l
	defer l.mu.Unlock()
	t.done = true
	for _, c := range t.locked {
		switch {
		case c.deleted:
			c.dead = true
			delete(l.rows, c.id)
		case c.updated:
			c.state = c.newState
		}
		c.lock, c.updated, c.newState, c.deleted = nil, false, "", false
	}
	// After the deletes: a row this transaction deleted and inserted
	// again is the new one.
	for _, f := range t.inserted {
		if l.fresh[f.id] == f {
			delete(l.fresh, f.id)
		}
		if !f.gone {
			f.ins = nil
			l.rows[f.id] = f
		}
	}
	for _, e := range t.effects {
		l.applied[e.ID]++
	}
	for _, e := range t.outbox {
		l.outbox = append(l.outbox, outboxRow{ev: e})
	}
	t.endOffsets(true)
	l.changed.Broadcast()
	return nil
}

// Rollback abandons the transaction and releases its locks; it does
// nothing if the transaction already ended.
func (t *Tx) Rollback(context.Context) error {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.done {
		return nil
	}
	t.done = true
	for _, c := range t.locked {
		c.lock, c.updated, c.newState, c.deleted = nil, false, "", false
	}
	for _, f := range t.inserted {
		if l.fresh[f.id] == f {
			delete(l.fresh, f.id)
		}
	}
	t.endOffsets(false)
	l.changed.Broadcast()
	return nil
}

// InsertApply inserts e's id if absent and applies e only if it inserted
// it, as one statement: a transaction of its own, committed at once. Like
// InsertProcessed, it waits for another open transaction that inserted the
// id. FailApply fails it as it fails an Apply, and nothing stays.
func (l *Ledger) InsertApply(ctx context.Context, e strategies.Event) (bool, error) {
	t := &Tx{l: l}
	inserted, err := t.InsertProcessed(ctx, e.ID)
	if err != nil || !inserted {
		_ = t.Rollback(ctx)
		return false, err
	}
	if err := t.Apply(ctx, e); err != nil {
		_ = t.Rollback(ctx)
		return false, err
	}
	return true, t.Commit(ctx)
}
