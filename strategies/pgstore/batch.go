package pgstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/idemsim/idemsim/strategies"
)

// The Ledger applies batches, for strategies.HandleBatchRedis and
// strategies.HandleBatchDBUnique.
var (
	_ strategies.BatchApplier = (*Ledger)(nil)
	_ strategies.BatchLedger  = (*Ledger)(nil)
)

// insertProcessedBatchSQL inserts an array of ids into the processed table
// and returns those that were not there. The ids come sorted, so that two
// batches with ids in common take their row locks in the same order and
// cannot deadlock.
func insertProcessedBatchSQL(t tables) string {
	return fmt.Sprintf(`INSERT INTO %s (event_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING RETURNING event_id`, t.processed)
}

// applyBatchSQL applies the effects of the events given as three parallel
// arrays (ids, accounts, amounts) in one statement: the amounts summed per
// account (one row may be updated once per statement), locked in account
// order (so that two batches cannot deadlock on their accounts), and one
// ledger row per event.
func applyBatchSQL(t tables) string {
	return fmt.Sprintf(`WITH acct AS (
	INSERT INTO %[1]s AS a (account, balance)
	SELECT account, sum(amount)::bigint FROM unnest($2::int[], $3::bigint[]) AS e(account, amount)
	GROUP BY account ORDER BY account
	ON CONFLICT (account) DO UPDATE SET balance = a.balance + EXCLUDED.balance)
INSERT INTO %[2]s (event_id, account, amount) SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[])`, t.accounts, t.ledger)
}

// effectArrays returns the parallel arrays applyBatchSQL takes.
func effectArrays(events []strategies.Event) (ids []int64, accounts []int32, amounts []int64) {
	ids = make([]int64, len(events))
	accounts = make([]int32, len(events))
	amounts = make([]int64, len(events))
	for i, e := range events {
		ids[i], accounts[i], amounts[i] = int64(e.ID), int32(e.Account), e.Amount
	}
	return ids, accounts, amounts
}

// ApplyBatch applies the effect of every event of events, copies included,
// in one statement, which PostgreSQL runs as one transaction: one round
// trip. An error may hide a commit.
func (l *Ledger) ApplyBatch(ctx context.Context, events []strategies.Event) error {
	if len(events) == 0 {
		return nil
	}
	ids, accounts, amounts := effectArrays(events)
	if _, err := l.pool.Exec(ctx, applyBatchSQL(l.t), ids, accounts, amounts); err != nil {
		return fmt.Errorf("pgstore: apply batch of %d events: %w", len(events), err)
	}
	return nil
}

// ApplyBatchUnique marks and applies a batch in one transaction: it inserts
// the batch's distinct ids, sorted, into the processed table with ON
// CONFLICT DO NOTHING RETURNING event_id, applies the effects of the first
// copy of each id the insert returned (one statement), and commits: four
// round trips (begin, insert, apply, commit) whatever the batch's size,
// three when nothing is fresh. An id that another open transaction
// inserted makes the insert wait for that transaction, then counts as
// processed if it committed.
func (l *Ledger) ApplyBatchUnique(ctx context.Context, events []strategies.Event) ([]bool, error) {
	applied := make([]bool, len(events))
	if len(events) == 0 {
		return applied, nil
	}
	ids := make([]int64, len(events))
	for i, e := range events {
		ids[i] = int64(e.ID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // after Commit it does nothing

	rows, err := tx.Query(ctx, insertProcessedBatchSQL(l.t), ids)
	if err != nil {
		return nil, fmt.Errorf("pgstore: insert processed batch of %d ids: %w", len(ids), err)
	}
	fresh := make(map[strategies.EventID]bool, len(ids))
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		fresh[strategies.EventID(id)] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgstore: insert processed batch of %d ids: %w", len(ids), err)
	}
	if len(fresh) == 0 {
		return applied, nil // nothing written: the deferred rollback ends it
	}

	todo := make([]strategies.Event, 0, len(fresh))
	for i, e := range events {
		if fresh[e.ID] {
			applied[i] = true
			todo = append(todo, e)
			delete(fresh, e.ID) // later copies in the batch are duplicates
		}
	}
	eids, accounts, amounts := effectArrays(todo)
	if _, err := tx.Exec(ctx, applyBatchSQL(l.t), eids, accounts, amounts); err != nil {
		return nil, fmt.Errorf("pgstore: apply batch of %d events: %w", len(todo), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: commit batch: %w", err)
	}
	return applied, nil
}
