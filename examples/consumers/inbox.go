package consumers

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemsim/idemsim/strategies"
)

// Inbox is a transactional inbox, as MassTransit's Entity Framework inbox
// (UseEntityFrameworkOutbox) keeps one: each message's row in an inbox
// table, read with a row lock, and the consumer's changes committed in the
// same transaction as the row that says the message was consumed.
type Inbox struct {
	Ledger strategies.Ledger
}

// Inbox row states: a row MassTransit inserts on receipt, then marks
// consumed.
const (
	inboxReceived = ""
	inboxConsumed = "consumed"
)

// errRaced is the unique violation MassTransit meets when another
// consumer inserted the inbox row first: the message is retried, and the
// retry finds the row.
var errRaced = errors.New("inbox: another consumer inserted this message's inbox row first")

// Handle consumes e once: in one transaction it locks e's inbox row, skips
// a message already consumed, and otherwise applies the effect and marks
// the row consumed.
func (b Inbox) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := b.Ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	out, err := b.consume(ctx, tx, e)
	if err != nil || out != strategies.Applied {
		_ = tx.Rollback(ctx)
		return out, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

func (b Inbox) consume(ctx context.Context, tx strategies.Tx, e strategies.Event) (strategies.Outcome, error) {
	state, found, err := tx.ReadProcessed(ctx, e.ID)
	if err != nil {
		return 0, err
	}
	switch {
	case found && state == inboxConsumed:
		return strategies.Skipped, nil
	case !found:
		inserted, err := tx.InsertProcessed(ctx, e.ID)
		if err != nil {
			return 0, err
		}
		if !inserted {
			return 0, errRaced
		}
	}
	if err := tx.Apply(ctx, e); err != nil {
		return 0, err
	}
	matched, err := tx.UpdateProcessed(ctx, e.ID, inboxReceived, inboxConsumed)
	if err != nil {
		return 0, err
	}
	if !matched {
		return 0, fmt.Errorf("inbox: the row of message %d changed under its lock", e.ID)
	}
	return strategies.Applied, nil
}

// InboxStrategy describes the inbox to idemsim.
var InboxStrategy = strategies.Strategy{
	Name:    "masstransit-inbox",
	Summary: "as MassTransit's transactional inbox: in one transaction, read the inbox row FOR UPDATE, skip if consumed, else insert it, apply, mark it consumed, commit",
	Breaks:  "the row and the effect commit together, and a row inserted by a transaction still open is waited for: it holds",
	New: func(d strategies.Deps) (strategies.Handler, error) {
		return Inbox{Ledger: d.Ledger}, nil
	},
	// Written before measuring: the inbox row and the effect commit in
	// one transaction, so no fault can separate them.
	Expected: map[string]string{"redeliver": "ok", "crash": "ok", "partition": "ok", "slow": "ok",
		"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "ok"},
	// On the log, and the queue's rebalance and zombie columns: as measured
	// (compare --broker queue,log), the scenarios and the broker being newer
	// than these rows.
	ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "ok", "partition": "ok", "slow": "ok",
		"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "ok"}},
	Promises: strategies.Promises{SameInstance: true, OtherInstance: true, Concurrent: strategies.OneApplies},
}
