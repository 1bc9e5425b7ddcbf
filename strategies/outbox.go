package strategies

import (
	"context"
	"fmt"
)

// Outbox applies the event as db-unique does and, in the same transaction,
// inserts its downstream event into the outbox table: the effect and the
// outgoing event commit together or not at all. A relay (OutboxRelay), a
// component of its own, publishes the outbox's rows at least once and
// marks them sent; the downstream consumer deduplicates the copies a
// relay that crashed between a publish and its mark sends again.
type Outbox struct{ Ledger Ledger }

// Handle inserts the id, applies e and inserts its outgoing event, in one
// transaction.
func (s Outbox) Handle(ctx context.Context, e Event) (Outcome, error) {
	tx, fresh, err := applyAttempt(ctx, s.Ledger, e)
	if err != nil {
		return 0, err
	}
	if !fresh {
		return Skipped, nil
	}
	otx, ok := tx.(OutboxTx)
	if !ok {
		_ = tx.Rollback(ctx)
		return 0, fmt.Errorf("strategies: outbox: %w", ErrNoOutbox)
	}
	if err := otx.InsertOutbox(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return Applied, nil
}

// OutboxRelay publishes the outbox's rows, oldest first, and marks each
// sent after its publish: at least once.
type OutboxRelay struct {
	Outbox    OutboxReader
	Publisher Publisher
}

// RelayOnce publishes the next unsent row, then marks it sent.
func (r OutboxRelay) RelayOnce(ctx context.Context) (bool, error) {
	row, found, err := r.Outbox.NextOutbox(ctx)
	if err != nil || !found {
		return false, err
	}
	if err := r.Publisher.Publish(ctx, row.Event); err != nil {
		return false, err
	}
	if _, err := r.Outbox.MarkSent(ctx, row.Seq); err != nil {
		return false, err
	}
	return true, nil
}

func init() {
	MustRegister(Strategy{
		Name:    "outbox",
		Order:   170,
		Summary: "db-unique's transaction also inserts the downstream event into an outbox table; a relay publishes the outbox at least once, and the downstream deduplicates",
		Breaks:  "the effect and its outgoing event commit atomically, and the relay publishes every committed row until it is marked sent: no ghost, none missing",
		Needs:   NeedsPublisher | NeedsOutbox,
		New:     func(d Deps) (Handler, error) { return Outbox{Ledger: d.Ledger}, nil },
		Relay: func(d Deps) (Relay, error) {
			return OutboxRelay{Outbox: d.Ledger.(OutboxReader), Publisher: d.Publisher}, nil
		},
		// id-reuse, written before measuring it: the reused id is skipped as
		// db-unique skips it, a lost event.
		// Expected before measuring: ok everywhere.
		Expected: map[string]string{"redeliver": "ok", "crash": "ok", "partition": "ok", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "ok"},
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "ok", "partition": "ok", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "ok"}},
		Teaching: Teaching{
			Mark:   "id",
			Marked: "committed event {event}'s id",
			Calls: map[string]CallWords{
				"InsertProcessed": {Name: "insert of the id"},
				"InsertOutbox":    {Name: "insert into the outbox", Does: "inserts event {event}'s downstream event into the outbox, in the same transaction"},
				"Publish":         {Name: "publish", Does: "publishes event {event}'s downstream event from the outbox"},
			},
			Fix: true,
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies},
	})
}
