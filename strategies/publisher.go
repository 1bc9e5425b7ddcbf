package strategies

import (
	"context"
	"errors"
)

// Publisher sends events on to a downstream topic, where a downstream
// consumer group applies them (NeedsPublisher): what a consumer does when
// it tells other services what it did, as "payment taken" after a charge.
//
// Publish sends the downstream event of e. The downstream event announces
// the effect of e as the sender last applied it: for a handler, the effect
// its current handling attempt applied (in the simulator, the transaction
// of its last Apply); for the outbox's relay, the effect of the outbox row
// it last read. The checkers hold it to that effect: an event sent for an
// effect that rolled back is a ghost; a committed effect whose event never
// reached the downstream is missing. An error that wraps ErrUnknownOutcome
// means the broker's confirm did not come: the event may or may not be on
// the topic.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// OutboxTx is a Tx that can also write to the outbox table, a table of the
// same database: the outgoing event commits, or rolls back, with the rest
// of the transaction (the outbox strategy). A Ledger whose Begin returns
// one offers it; the simulator's and the in-process store's do.
type OutboxTx interface {
	// InsertOutbox adds the downstream event of e to the outbox, unsent,
	// in the transaction. As Publish does, the row announces the effect
	// the handling attempt applied.
	InsertOutbox(ctx context.Context, e Event) error
}

// OutboxRow is one row of the outbox table: its sequence number, unique and
// increasing in the order the rows committed, and the event whose
// downstream event it holds.
type OutboxRow struct {
	Seq   int64
	Event Event
}

// OutboxReader is a Ledger whose outbox a relay reads and marks (the
// outbox strategy's relay).
type OutboxReader interface {
	// NextOutbox returns the committed, unsent row of the outbox with the
	// lowest sequence number (SELECT ... WHERE NOT sent ORDER BY seq
	// LIMIT 1), and whether there is one.
	NextOutbox(ctx context.Context) (OutboxRow, bool, error)
	// MarkSent marks row seq sent, in a transaction of its own, and
	// reports whether it was unsent. An error may hide a commit.
	MarkSent(ctx context.Context, seq int64) (bool, error)
}

// Relay runs beside the consumer instances for a strategy that sends its
// events through an outbox (Strategy.Relay): one process that reads the
// outbox and publishes what it finds. The simulator runs it as a
// component of its own, which the faults crash, stall and cut off as they
// do an instance, and wakes it when a transaction that wrote the outbox
// commits, and again after a failure.
type Relay interface {
	// RelayOnce publishes the outbox's next unsent row and then marks it
	// sent, and reports whether there was one. A crash between the two
	// publishes the row again later: the relay sends at least once, and
	// the downstream consumer deduplicates.
	RelayOnce(ctx context.Context) (bool, error)
}

// ErrNoOutbox is what the outbox strategy's New returns when the Ledger has
// no outbox (it is no OutboxReader, or its transactions are no OutboxTx).
var ErrNoOutbox = errors.New("strategies: the database has no outbox table (the Ledger is no OutboxReader)")

// applyAttempt begins a transaction and applies e in it; the transaction is
// open on success and rolled back on failure.
func applyAttempt(ctx context.Context, l Ledger, e Event) (Tx, bool, error) {
	tx, fresh, err := beginMarked(ctx, l, e.ID)
	if err != nil || !fresh {
		return nil, false, err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return nil, false, err
	}
	return tx, true, nil
}
