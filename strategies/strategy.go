package strategies

import (
	"context"
	"fmt"
	"time"
)

// Outcome is what a Handler did with one delivery when it returned no error.
type Outcome uint8

const (
	// Applied means this call committed the event's effect.
	Applied Outcome = iota + 1
	// Skipped means the strategy judged the delivery a duplicate and did
	// nothing.
	Skipped
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Handler handles one delivered event. An error means: do not acknowledge;
// the effect may or may not have been applied.
type Handler interface {
	Handle(ctx context.Context, e Event) (Outcome, error)
}

// Deps is what a strategy is built from: the shared stores and settings. One
// consumer instance builds its own Handler, so per-instance memory (the local
// cache) starts empty whenever an instance starts.
type Deps struct {
	Marks  MarkStore // needed by redis and redis-after
	Ledger Ledger    // needed by every strategy: the effect lives there
	// MarkTTL is the lifetime of a Redis mark; 0 means no expiry.
	MarkTTL time.Duration
}

// applyOnce applies e in a transaction of its own: Apply, then Commit. It is
// the "process" step of every strategy whose mark lives outside the ledger.
func applyOnce(ctx context.Context, l Ledger, e Event) error {
	tx, err := l.Begin(ctx)
	if err != nil {
		return err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}
