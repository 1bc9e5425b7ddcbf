package strategies

import "context"

// PublishAfterCommit applies the event as db-unique does (the id and the
// effect in one transaction), commits, and then publishes the downstream
// event: the dual write in the order most code writes it. Nothing ties
// the publish to the commit: a crash between the two, or a commit whose
// reply is lost, leaves the effect committed and the downstream event
// never sent, for every later copy finds the id and skips.
type PublishAfterCommit struct {
	Ledger    Ledger
	Publisher Publisher
}

// Handle commits the id and the effect, then publishes.
func (s PublishAfterCommit) Handle(ctx context.Context, e Event) (Outcome, error) {
	tx, fresh, err := applyAttempt(ctx, s.Ledger, e)
	if err != nil {
		return 0, err
	}
	if !fresh {
		return Skipped, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if err := s.Publisher.Publish(ctx, e); err != nil {
		return 0, err
	}
	return Applied, nil
}

func init() {
	MustRegister(Strategy{
		Name:    "publish-after-commit",
		Order:   150,
		Summary: "db-unique's transaction (the id and the effect), commit, then publish the downstream event",
		Breaks:  "a crash or a lost reply between the commit and the publish leaves the effect committed and its downstream event never sent: every later copy skips",
		Needs:   NeedsPublisher,
		New: func(d Deps) (Handler, error) {
			return PublishAfterCommit{Ledger: d.Ledger, Publisher: d.Publisher}, nil
		},
		// id-reuse, written before measuring it: the reused id is skipped as
		// db-unique skips it, a lost event.
		// Expected before measuring: the downstream event goes missing
		// (lost) wherever a handler can stop between its commit and its
		// publish, or lose the commit's reply.
		Expected: map[string]string{"redeliver": "ok", "crash": "lost", "partition": "lost", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "lost"},
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "lost", "partition": "lost", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "lost"}},
		Lesson: "crash",
		Teaching: Teaching{
			Mark:   "id",
			Marked: "committed event {event}'s id",
			Calls: map[string]CallWords{
				"InsertProcessed": {Name: "insert of the id"},
				"Publish":         {Name: "publish", Does: "publishes event {event}'s downstream event"},
			},
			Why: map[string]string{
				"lost": "publish-after-commit commits the effect and then publishes: nothing ties the publish to the commit, and a copy that comes later finds the id and skips without publishing.",
			},
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies},
	})
}
