package strategies

import (
	"context"
	"fmt"
	"time"
)

// Batched handling. A consumer that takes deliveries from its broker in
// batches (a Kafka poll, XREADGROUP with COUNT, an SQS receive of ten) can
// claim a whole batch in one pipelined round trip to Redis, or mark and apply
// it in one database transaction (or one statement), instead of paying a
// round trip or a transaction per event. The functions below are the batch
// forms of the redis, db-unique and db-unique-fast strategies. They keep
// those strategies' semantics event by event, with one addition: a batch
// succeeds or fails as a whole, so one failing event makes the caller
// redeliver every event of its batch.
//
// Within a batch, a later copy of an event (same EventID) is a duplicate of
// the first: the first copy is Applied (if it is fresh), every later one is
// Skipped.

// BatchMarkStore is a MarkStore that claims many marks in one round trip.
// redisstore.Marks implements it with a pipeline of SET NX PX.
type BatchMarkStore interface {
	// SetNXBatch claims every id, in order, as SetNX would (SET key NX PX
	// ttl; ttl 0 means no expiry), and reports per id whether this call set
	// its mark; a later copy of an id finds the mark its first copy set.
	// Each claim commits on its own, as it reaches the store: after an
	// error, any of the marks may or may not have been set.
	SetNXBatch(ctx context.Context, ids []EventID, ttl time.Duration) ([]bool, error)
}

// BatchApplier is a Ledger that applies the effects of many events in one
// transaction. HandleBatchRedis uses it when its Ledger implements it.
type BatchApplier interface {
	// ApplyBatch applies the effect of every event of events, copies
	// included (it does not deduplicate), in one transaction: all of them
	// commit or none does. As with Tx.Commit, an error may hide a commit.
	ApplyBatch(ctx context.Context, events []Event) error
}

// BatchLedger marks and applies a batch in one transaction: the db-unique
// strategy for a batch. pgstore.Ledger implements it.
type BatchLedger interface {
	// ApplyBatchUnique inserts the ids of events into the processed-ids
	// table and applies the effect of each id that was not there yet, all
	// in one transaction, and reports per event whether this call applied
	// it. Only the first copy of an id in events can be applied. An id
	// that another open transaction inserted waits for that transaction,
	// as InsertProcessed does. Marks and effects commit together or not at
	// all; an error means nothing is known to have committed (the commit's
	// reply may have been lost).
	ApplyBatchUnique(ctx context.Context, events []Event) (applied []bool, err error)
}

// BatchInsertApplier inserts and applies a batch in one statement: the
// db-unique-fast strategy for a batch. pgstore.Ledger implements it.
type BatchInsertApplier interface {
	// InsertApplyBatch is Ledger.InsertApply for a batch, in one statement
	// (so one round trip and one implicit transaction): it inserts the
	// distinct ids of events into the processed-ids table if absent and
	// applies the effect of each id it inserted, atomically, and reports
	// per event whether this call applied it. Only the first copy of an id
	// in events can be applied. If another open transaction inserted one
	// of the ids, the statement waits for that transaction to end. An
	// error may hide a commit.
	InsertApplyBatch(ctx context.Context, events []Event) (applied []bool, err error)
}

// HandleBatchRedis is the redis strategy (RedisClaim) for a batch: it claims
// every event of events with SET NX PX ttl in one pipelined round trip, then
// applies the claimed ones in one transaction, and returns per event Applied
// (this call claimed and applied it) or Skipped (a mark existed, or an
// earlier copy in the batch claimed it). If ledger implements BatchApplier
// the effects go through ApplyBatch; otherwise through one Tx, one Apply
// per event, and one Commit.
//
// The order is the one of RedisClaim: every claim of the batch commits in
// Redis before any effect commits. So the redis strategy's weakness holds,
// batch-wide: if the effects fail to commit (or the consumer crashes between
// the claims and the commit), every event the batch claimed keeps a mark
// without an effect, and its redeliveries are skipped: the events are lost.
// A mark that expires or vanishes with a Redis restart lets a redelivery
// apply an event again. Claims are not released on error, as in RedisClaim.
//
// An error means: acknowledge none of the batch's deliveries; the outcome of
// every claimed event is unknown.
func HandleBatchRedis(ctx context.Context, marks BatchMarkStore, ledger Ledger, ttl time.Duration, events []Event) ([]Outcome, error) {
	if len(events) == 0 {
		return []Outcome{}, nil
	}
	ids := make([]EventID, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	claimed, err := marks.SetNXBatch(ctx, ids, ttl)
	if err != nil {
		return nil, err
	}
	if len(claimed) != len(events) {
		panic(fmt.Sprintf("strategies: SetNXBatch answered %d claims for %d ids", len(claimed), len(events)))
	}
	out := make([]Outcome, len(events))
	todo := make([]Event, 0, len(events))
	for i, ok := range claimed {
		if !ok {
			out[i] = Skipped
			continue
		}
		out[i] = Applied
		todo = append(todo, events[i])
	}
	if len(todo) == 0 {
		return out, nil
	}
	if err := applyBatch(ctx, ledger, todo); err != nil {
		return nil, err
	}
	return out, nil
}

// HandleBatchDBUnique is the db-unique strategy (DBUnique) for a batch: the
// marks and the effects of all of events commit in one transaction
// (ledger.ApplyBatchUnique), then the caller acknowledges. It returns per
// event Applied (this call committed its effect) or Skipped (its id was
// already processed, or an earlier copy in the batch applied it).
//
// As with DBUnique, no fault can separate a mark from its effect: if the
// transaction does not commit, neither do the marks, and a redelivery of the
// batch applies its events then. An error means: acknowledge none of the
// batch's deliveries; the transaction may or may not have committed, and a
// redelivery finds out which.
func HandleBatchDBUnique(ctx context.Context, ledger BatchLedger, events []Event) ([]Outcome, error) {
	if len(events) == 0 {
		return []Outcome{}, nil
	}
	applied, err := ledger.ApplyBatchUnique(ctx, events)
	if err != nil {
		return nil, err
	}
	return outcomesOf("ApplyBatchUnique", applied, len(events)), nil
}

// HandleBatchDBUniqueFast is the db-unique-fast strategy (DBUniqueFast) for
// a batch: one statement (ledger.InsertApplyBatch) inserts the batch's ids
// and applies the effects of those it inserted, in one round trip and one
// implicit transaction, then the caller acknowledges. It returns per event
// Applied (this call committed its effect) or Skipped (its id was already
// processed, or an earlier copy in the batch applied it).
//
// As with DBUniqueFast and HandleBatchDBUnique, no fault can separate a
// mark from its effect. An error means: acknowledge none of the batch's
// deliveries; the statement may or may not have committed, and a
// redelivery of the batch finds out which.
func HandleBatchDBUniqueFast(ctx context.Context, ledger BatchInsertApplier, events []Event) ([]Outcome, error) {
	if len(events) == 0 {
		return []Outcome{}, nil
	}
	applied, err := ledger.InsertApplyBatch(ctx, events)
	if err != nil {
		return nil, err
	}
	return outcomesOf("InsertApplyBatch", applied, len(events)), nil
}

// outcomesOf turns a ledger's per-event answer (applied or not) into
// outcomes. It panics if the ledger (method) answered for a batch of
// another size than events: a broken store.
func outcomesOf(method string, applied []bool, events int) []Outcome {
	if len(applied) != events {
		panic(fmt.Sprintf("strategies: %s answered %d results for %d events", method, len(applied), events))
	}
	out := make([]Outcome, events)
	for i, ok := range applied {
		out[i] = Skipped
		if ok {
			out[i] = Applied
		}
	}
	return out
}

// applyBatch applies events in one transaction: through ApplyBatch if l
// implements BatchApplier, else one Apply per event in one Tx.
func applyBatch(ctx context.Context, l Ledger, events []Event) error {
	if ba, ok := l.(BatchApplier); ok {
		return ba.ApplyBatch(ctx, events)
	}
	tx, err := l.Begin(ctx)
	if err != nil {
		return err
	}
	for _, e := range events {
		if err := tx.Apply(ctx, e); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
	}
	return tx.Commit(ctx)
}
