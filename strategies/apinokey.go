package strategies

import "context"

// APINoKey charges the payment provider without an idempotency key and
// marks the event processed in the database: the classic dual write. It
// holds the processed id's row, inserted but not committed, while it
// charges, so that a second copy handled at the same time waits on the row
// lock and then skips; the mark commits after the charge. A crash, a lost
// reply or a stall between the charge and the commit leaves a charge with
// no mark (the transaction rolls back): the next copy charges again.
type APINoKey struct {
	Ledger   Ledger
	Provider Provider
}

// Handle inserts the mark, charges with no key, then commits the mark.
func (s APINoKey) Handle(ctx context.Context, e Event) (Outcome, error) {
	tx, fresh, err := beginMarked(ctx, s.Ledger, e.ID)
	if err != nil {
		return 0, err
	}
	if !fresh {
		return Skipped, nil
	}
	if _, err := s.Provider.Charge(ctx, "", e); err != nil {
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
		Name:    "api-no-key",
		Order:   110,
		Summary: "charge the payment provider with no idempotency key, then commit the processed id in the database (the dual write)",
		Breaks:  "the charge and the mark live in two systems: a crash, a lost reply or a stall between the charge and the commit leaves a charge with no mark, and the next copy charges again",
		Needs:   NeedsProvider,
		New:     func(d Deps) (Handler, error) { return APINoKey{Ledger: d.Ledger, Provider: d.Provider}, nil },
		// Measured (compare, 200 seeds, both brokers). The spec expected
		// dup under slow too; no seed of 200 shows it: the handler holds
		// the processed id's row lock from before the charge to the
		// commit, so a copy redelivered while the holder stalls waits on
		// the lock (and times out) until the holder commits its mark.
		Expected: map[string]string{"redeliver": "ok", "crash": "dup", "partition": "dup", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "dup"},
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "dup", "partition": "dup", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "dup"}},
		Lesson: "crash",
		Teaching: Teaching{
			Mark:   "id",
			Marked: "committed event {event}'s id",
			Calls: map[string]CallWords{
				"InsertProcessed": {Name: "insert of the id"},
				"Charge":          {Name: "charge", Does: "charges event {event}'s amount at the payment provider, with no idempotency key"},
			},
			Why: map[string]string{
				"dup":         "api-no-key charges at the provider and commits its mark in the database, two systems that no transaction spans:",
				"dup:unkeyed": "api-no-key charges with no idempotency key and commits its mark in the database only after the charge: a handler that crashes or loses a reply in between leaves a charge the database does not know of, and the provider has nothing to tell the next charge apart by:",
			},
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies},
	})
}
