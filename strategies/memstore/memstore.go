package memstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Marks is an in-memory MarkStore.
type Marks struct {
	mu  sync.Mutex
	exp map[strategies.EventID]time.Time // zero: no expiry
}

// NewMarks returns an empty MarkStore.
func NewMarks() *Marks { return &Marks{exp: map[strategies.EventID]time.Time{}} }

func (m *Marks) live(id strategies.EventID) bool {
	e, ok := m.exp[id]
	return ok && (e.IsZero() || time.Now().Before(e))
}

func (m *Marks) set(id strategies.EventID, ttl time.Duration) {
	var e time.Time
	if ttl > 0 {
		e = time.Now().Add(ttl)
	}
	m.exp[id] = e
}

// SetNX sets id's mark unless it exists.
func (m *Marks) SetNX(_ context.Context, id strategies.EventID, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live(id) {
		return false, nil
	}
	m.set(id, ttl)
	return true, nil
}

// Exists reports whether id's mark exists.
func (m *Marks) Exists(_ context.Context, id strategies.EventID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live(id), nil
}

// Set sets id's mark.
func (m *Marks) Set(_ context.Context, id strategies.EventID, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.set(id, ttl)
	return nil
}

// Flush drops every mark, as a Redis restart without persistence would.
func (m *Marks) Flush() {
	m.mu.Lock()
	m.exp = map[strategies.EventID]time.Time{}
	m.mu.Unlock()
}

// Ledger is an in-memory Ledger.
type Ledger struct {
	mu        sync.Mutex
	changed   *sync.Cond // a transaction ended
	committed map[strategies.EventID]bool
	owner     map[strategies.EventID]*Tx
	applied   map[strategies.EventID]int
	// FailApply, if set, is asked before each Apply; an error it returns
	// fails the statement (the transaction stays open, to be rolled back).
	FailApply func(strategies.Event) error
}

// NewLedger returns an empty Ledger.
func NewLedger() *Ledger {
	l := &Ledger{committed: map[strategies.EventID]bool{}, owner: map[strategies.EventID]*Tx{}, applied: map[strategies.EventID]int{}}
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

// Tx is an in-memory transaction.
type Tx struct {
	l        *Ledger
	done     bool
	inserted []strategies.EventID
	effects  []strategies.Event
}

// InsertProcessed inserts id, waiting for another open transaction that
// inserted it, like PostgreSQL's INSERT ... ON CONFLICT DO NOTHING.
func (t *Tx) InsertProcessed(ctx context.Context, id strategies.EventID) (bool, error) {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.done {
		return false, ErrTxDone
	}
	stop := context.AfterFunc(ctx, func() { l.mu.Lock(); l.changed.Broadcast(); l.mu.Unlock() })
	defer stop()
	for {
		if l.committed[id] || l.owner[id] == t {
			return false, nil
		}
		if l.owner[id] == nil {
			l.owner[id] = t
			t.inserted = append(t.inserted, id)
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		l.changed.Wait()
	}
}

// Apply records e's effect, to take place at commit.
func (t *Tx) Apply(_ context.Context, e strategies.Event) error {
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if t.done {
		return ErrTxDone
	}
	if t.l.FailApply != nil {
		if err := t.l.FailApply(e); err != nil {
			return err
		}
	}
	t.effects = append(t.effects, e)
	return nil
}

// Commit makes the inserts and effects durable, at once.
func (t *Tx) Commit(context.Context) error {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.done {
		return ErrTxDone
	}
	t.done = true
	for _, id := range t.inserted {
		l.committed[id] = true
		delete(l.owner, id)
	}
	for _, e := range t.effects {
		l.applied[e.ID]++
	}
	l.changed.Broadcast()
	return nil
}

// Rollback abandons the transaction; it does nothing if it already ended.
func (t *Tx) Rollback(context.Context) error {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.done {
		return nil
	}
	t.done = true
	for _, id := range t.inserted {
		delete(l.owner, id)
	}
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
