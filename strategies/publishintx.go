package strategies

import "context"

// PublishInTx applies the event as db-unique does and publishes the
// downstream event inside the open transaction, before its commit: the
// dual write in the order that looks safe, since an event is never missing.
// But the broker does not roll back: a transaction that never commits (its
// handler crashed, its connection died, its commit failed) has sent an
// event for an effect that does not exist, a ghost.
type PublishInTx struct {
	Ledger    Ledger
	Publisher Publisher
}

// Handle applies e, publishes, then commits.
func (s PublishInTx) Handle(ctx context.Context, e Event) (Outcome, error) {
	tx, fresh, err := applyAttempt(ctx, s.Ledger, e)
	if err != nil {
		return 0, err
	}
	if !fresh {
		return Skipped, nil
	}
	if err := s.Publisher.Publish(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return Applied, nil
}

func init() {
	MustRegister(Strategy{
		Name:    "publish-in-tx",
		Order:   160,
		Summary: "db-unique's transaction (the id and the effect), publish the downstream event, then commit",
		Breaks:  "the broker does not roll back: a transaction that never commits after its publish (a crash, a dead connection, a failed publish or commit) leaves a ghost event downstream",
		Needs:   NeedsPublisher,
		New: func(d Deps) (Handler, error) {
			return PublishInTx{Ledger: d.Ledger, Publisher: d.Publisher}, nil
		},
		// id-reuse, written before measuring it: the reused id is skipped as
		// db-unique skips it, a lost event.
		// Expected before measuring: ghosts wherever a transaction can
		// end without its commit after its publish.
		Expected: map[string]string{"redeliver": "ok", "crash": "ghost", "partition": "ghost", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "ghost"},
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "ghost", "partition": "ghost", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "ghost"}},
		Lesson: "crash",
		Teaching: Teaching{
			Mark:   "id",
			Marked: "committed event {event}'s id",
			Calls: map[string]CallWords{
				"InsertProcessed": {Name: "insert of the id"},
				"Publish":         {Name: "publish", Does: "publishes event {event}'s downstream event, before its transaction commits"},
			},
			Why: map[string]string{
				"ghost": "publish-in-tx publishes before it commits, and a broker does not roll back with the database:",
			},
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies},
	})
}
