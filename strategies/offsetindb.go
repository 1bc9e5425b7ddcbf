package strategies

import "context"

// OffsetInDB keeps the partition's next offset in the database, in the
// same transaction as the effect, advanced only from the offset of the
// record it applies: the offset row is the fence. A record whose offset
// the database has passed was applied already (a replay after a crash or
// a rebalance, a zombie's late copy) and is skipped; one ahead of the
// stored offset waits for the records before it. Effect and offset commit
// together, so no fault separates them. What it cannot catch is a
// producer's duplicate: a second record, at a new offset, of the same
// event.
//
// It is a Seeker: a consumer assigned a partition starts at the stored
// offset, so a record the database has passed is not fetched again after
// a rebalance or a restart. The fence does not rest on the seek: a record
// handed over all the same (to a zombie, or after a seek that failed) is
// skipped.
type OffsetInDB struct{ Ledger Ledger }

// Seek reads the partition's stored next offset, in a transaction of its
// own that changes nothing; ok is false if no record of the partition was
// applied yet.
func (s OffsetInDB) Seek(ctx context.Context, partition int) (int64, bool, error) {
	tx, err := s.Ledger.Begin(ctx)
	if err != nil {
		return 0, false, err
	}
	next, err := tx.ReadOffset(ctx, partition)
	_ = tx.Rollback(ctx)
	if err != nil {
		return 0, false, err
	}
	return next, next > 0, nil
}

// Handle advances the partition's stored offset from e's to the next and
// applies e, in one transaction.
func (s OffsetInDB) Handle(ctx context.Context, e Event) (Outcome, error) {
	tx, err := s.Ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	ok, err := tx.AdvanceOffset(ctx, e.Partition, e.Offset, e.Offset+1)
	if err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if !ok {
		stored, err := tx.ReadOffset(ctx, e.Partition)
		_ = tx.Rollback(ctx)
		if err != nil {
			return 0, err
		}
		if stored > e.Offset {
			return Skipped, nil // applied already: the database passed its offset
		}
		return RetryLater, nil // a record before it is not applied yet
	}
	if err := tx.Apply(ctx, e); err != nil {
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
		Name:    "offset-in-db",
		Order:   95,
		Summary: "one transaction: advance the partition's stored offset from the record's to the next, apply the effect, commit; an offset already passed means skip",
		Breaks:  "the offset and the effect commit atomically, so replays and zombies find the offset passed; but a producer's duplicate is a new record at a new offset, and applies again",
		New:     func(d Deps) (Handler, error) { return OffsetInDB{Ledger: d.Ledger}, nil },
		Brokers: []string{"log"},
		// Measured: compare --broker log (200 seeds).
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "dup", "crash": "ok", "partition": "ok", "slow": "ok",
			"store-loss": "ok", "ttl": "dup", "rebalance": "ok", "zombie": "ok", "key-expiry": "dup", "id-reuse": "ok", "all": "dup"}},
		Teaching: Teaching{
			Mark: "offset",
			Calls: map[string]CallWords{
				"AdvanceOffset": {Name: "advance of the partition's offset", Does: "advances the partition's stored offset from {expect} to {value}",
					Fails: "tries to advance the partition's stored offset from {expect} to {value}"},
				"ReadOffset": {Name: "read of the partition's offset", Does: "reads the partition's stored offset, locking its row"},
			},
			Why: map[string]string{
				"dup": "offset-in-db fences by offset, not by event: a producer's retry appended the event again as a new record, at a new offset, which the stored offset has not passed.",
			},
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies},
	})
}
