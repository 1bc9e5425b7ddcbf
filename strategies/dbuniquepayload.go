package strategies

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
)

// DBUniquePayload is DBUnique that also keeps a hash of the event's payload
// in the processed id's row (its state), in the transaction that inserts
// the id and applies the effect. A copy that finds the id taken compares
// its payload's hash with the stored one: the same hash is a duplicate,
// skipped; another hash is a different event under a reused id, which
// skipping would lose in silence. It refuses that one to a dead-letter
// queue (Refused): a conflict surfaced for a person to settle, not a
// silent loss, and not a second application under one id either.
type DBUniquePayload struct{ Ledger Ledger }

// PayloadHash is the hash of e's payload that db-unique-payload stores:
// FNV-1a (64 bits, in hex) of its account and amount. Where a copy was
// read (partition, offset) is no part of the payload.
func PayloadHash(e Event) string {
	h := fnv.New64a()
	var b []byte
	b = strconv.AppendInt(b, int64(e.Account), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, e.Amount, 10)
	_, _ = h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// Handle inserts the id, stores the payload's hash and applies e in one
// transaction; a copy whose id is taken is skipped or refused by the hash.
func (s DBUniquePayload) Handle(ctx context.Context, e Event) (Outcome, error) {
	hash := PayloadHash(e)
	tx, err := s.Ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	fresh, err := tx.InsertProcessed(ctx, e.ID)
	if err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if !fresh {
		// The id's row is committed (the insert waited for an open
		// transaction that inserted it): read the hash it keeps.
		stored, found, err := tx.ReadProcessed(ctx, e.ID)
		_ = tx.Rollback(ctx)
		switch {
		case err != nil:
			return 0, err
		case !found:
			// Deleted since the insert found it: nothing done, try
			// again later.
			return RetryLater, nil
		case stored == hash:
			return Skipped, nil
		}
		return Refused, nil
	}
	// The row is this transaction's own, its state "" until now.
	if ok, err := tx.UpdateProcessed(ctx, e.ID, "", hash); err != nil || !ok {
		_ = tx.Rollback(ctx)
		if err == nil {
			err = fmt.Errorf("strategies: db-unique-payload: event %d's own new row did not take its payload hash", e.ID)
		}
		return 0, err
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
	// Written before measuring: db-unique's row, and under id-reuse the
	// reused ids refused to the dead-letter queue ("dead"), none lost.
	row := map[string]string{"redeliver": "ok", "crash": "ok", "partition": "ok", "slow": "ok",
		"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "dead", "all": "ok"}
	MustRegister(Strategy{
		Name:       "db-unique-payload",
		Order:      200,
		Summary:    "db-unique that also stores a hash of the payload with the id: a seen id with another payload is refused to a dead-letter queue, not skipped",
		Breaks:     "the mark, the payload's hash and the effect commit atomically, so no fault separates them; a reused id with another payload is surfaced as a conflict (dead), never lost in silence",
		New:        func(d Deps) (Handler, error) { return DBUniquePayload{Ledger: d.Ledger}, nil },
		Expected:   row,
		ExpectedOn: map[string]map[string]string{"log": row},
		Lesson:     "id-reuse",
		Teaching: Teaching{
			Mark:   "id",
			Marked: "committed event {event}'s id with its payload's hash",
			Calls: map[string]CallWords{
				"InsertProcessed": {Name: "insert of the id"},
				"UpdateProcessed": {Name: "store of the payload's hash", Does: "stores the hash of event {event}'s payload in its id's row"},
				"ReadProcessed":   {Name: "read of the stored hash", Does: "reads the payload hash stored under event {event}'s id"},
			},
			Fix: true,
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies},
	})
}
