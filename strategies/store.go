package strategies

import (
	"context"
	"errors"
	"time"
)

// EventID identifies one business event. Copies of an event published twice
// share its EventID; that is what deduplication keys on.
type EventID uint64

// Event is one business event: add Amount to the balance of Account. It must
// take effect exactly once, however often the broker delivers it.
type Event struct {
	ID      EventID
	Account int
	Amount  int64
}

// MarkStore is a shared store of "seen" marks with expiry, as Redis offers.
// Marks are keyed by event id; ttl is how long a mark lives (0 means forever).
type MarkStore interface {
	// SetNX sets the mark of id unless it exists (SET key NX PX ttl) and
	// reports whether this call set it.
	SetNX(ctx context.Context, id EventID, ttl time.Duration) (bool, error)
	// Exists reports whether the mark of id exists (GET key).
	Exists(ctx context.Context, id EventID) (bool, error)
	// Set sets the mark of id unconditionally (SET key PX ttl).
	Set(ctx context.Context, id EventID, ttl time.Duration) error
}

// Ledger is the database that holds the business effect and, for the
// database strategies, the processed-ids table with its unique constraint.
type Ledger interface {
	// Begin starts a transaction.
	Begin(ctx context.Context) (Tx, error)
}

// Tx is one database transaction. Nothing it does is visible to others, or
// durable, before Commit returns without error; a transaction whose client
// vanishes before commit leaves nothing behind. A Commit that returns an
// error may nevertheless have committed (its reply may have been lost).
type Tx interface {
	// InsertProcessed inserts id into the processed-ids table, whose unique
	// constraint makes a second insert of the same id fail. It reports
	// false if id is already there. As in PostgreSQL, if another open
	// transaction inserted id, the call waits until that one ends.
	InsertProcessed(ctx context.Context, id EventID) (bool, error)
	// Apply applies the business effect of e: its amount is added to the
	// account's balance and a ledger row records that e applied it.
	Apply(ctx context.Context, e Event) error
	// Commit commits the transaction.
	Commit(ctx context.Context) error
	// Rollback abandons the transaction. It is safe to call after a failed
	// statement or a failed Commit.
	Rollback(ctx context.Context) error
}

// ErrUnknownOutcome wraps errors after which the caller cannot know whether
// the call took effect: a timeout, a lost reply, a crash in flight.
var ErrUnknownOutcome = errors.New("strategies: outcome unknown")
