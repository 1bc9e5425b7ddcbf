package strategies

import (
	"context"
	"fmt"
	"strings"
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

// Names lists the strategies in the order tables show them.
var Names = []string{"none", "local-cache", "redis", "redis-after", "db-unique", "db-unique-split"}

// New builds the named strategy for one consumer instance.
func New(name string, d Deps) (Handler, error) {
	if d.Ledger == nil {
		return nil, fmt.Errorf("strategies: %s needs a Ledger", name)
	}
	switch name {
	case "none":
		return None{Ledger: d.Ledger}, nil
	case "local-cache":
		return NewLocalCache(d.Ledger), nil
	case "redis", "redis-after":
		if d.Marks == nil {
			return nil, fmt.Errorf("strategies: %s needs a MarkStore", name)
		}
		if name == "redis" {
			return RedisClaim{Marks: d.Marks, Ledger: d.Ledger, TTL: d.MarkTTL}, nil
		}
		return RedisAfter{Marks: d.Marks, Ledger: d.Ledger, TTL: d.MarkTTL}, nil
	case "db-unique":
		return DBUnique{Ledger: d.Ledger}, nil
	case "db-unique-split":
		return DBUniqueSplit{Ledger: d.Ledger}, nil
	}
	return nil, fmt.Errorf("strategies: unknown strategy %q (accepted: %s)", name, strings.Join(Names, ", "))
}

// Valid reports whether name is a known strategy.
func Valid(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

// NeedsMarks reports whether the named strategy uses the MarkStore.
func NeedsMarks(name string) bool { return name == "redis" || name == "redis-after" }

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
