package pgstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/idemsim/idemsim/strategies"
)

// The Ledger applies batches, for strategies.HandleBatchRedis and
// strategies.HandleBatchDBUnique and strategies.HandleBatchDBUniqueFast.
var (
	_ strategies.BatchApplier       = (*Ledger)(nil)
	_ strategies.BatchLedger        = (*Ledger)(nil)
	_ strategies.BatchInsertApplier = (*Ledger)(nil)
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

// insertApplySQL inserts an id into the processed table and, only if it
// was not there, applies the event's effect: one statement, so one round
// trip and one implicit transaction. A concurrent insert of the same id
// makes it wait for that transaction, then find the id and do nothing.
func insertApplySQL(t tables) string {
	return fmt.Sprintf(`WITH ins AS (
	INSERT INTO %[1]s (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id),
acct AS (
	INSERT INTO %[2]s AS a (account, balance) SELECT $2, $3 FROM ins
	ON CONFLICT (account) DO UPDATE SET balance = a.balance + EXCLUDED.balance),
led AS (
	INSERT INTO %[3]s (event_id, account, amount) SELECT $1, $2, $3 FROM ins)
SELECT count(*) FROM ins`, t.processed, t.accounts, t.ledger)
}

// InsertApply inserts e's id into the processed-ids table if it is absent
// and applies e's effect only if it inserted it, atomically, in one
// statement and one round trip; it reports whether it applied. An error
// may hide a commit (its reply may have been lost).
func (l *Ledger) InsertApply(ctx context.Context, e strategies.Event) (bool, error) {
	var n int
	if err := l.pool.QueryRow(ctx, l.insertApply, int64(e.ID), e.Account, e.Amount).Scan(&n); err != nil {
		return false, fmt.Errorf("pgstore: insert and apply event %d: %w", e.ID, err)
	}
	return n == 1, nil
}

// insertApplyBatchSQL is insertApplySQL for a batch of distinct events,
// given as three parallel arrays: the ids are inserted sorted, so that two
// batches with ids in common lock them in the same order, and the effects
// of the inserted ones are applied, summed per account in account order.
func insertApplyBatchSQL(t tables) string {
	return fmt.Sprintf(`WITH ins AS (
	INSERT INTO %[1]s (event_id) SELECT id FROM unnest($1::bigint[]) AS i(id) ORDER BY id
	ON CONFLICT DO NOTHING RETURNING event_id),
ev AS (
	SELECT e.id, e.account, e.amount FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS e(id, account, amount)
	JOIN ins ON ins.event_id = e.id),
acct AS (
	INSERT INTO %[2]s AS a (account, balance)
	SELECT account, sum(amount)::bigint FROM ev GROUP BY account ORDER BY account
	ON CONFLICT (account) DO UPDATE SET balance = a.balance + EXCLUDED.balance),
led AS (
	INSERT INTO %[3]s (event_id, account, amount) SELECT id, account, amount FROM ev)
SELECT event_id FROM ins`, t.processed, t.accounts, t.ledger)
}

// InsertApplyBatch is InsertApply for a batch, in one statement: it
// reports per event whether this call applied it. A later copy of an id
// earlier in the batch is a duplicate, never applied twice.
func (l *Ledger) InsertApplyBatch(ctx context.Context, events []strategies.Event) ([]bool, error) {
	applied := make([]bool, len(events))
	if len(events) == 0 {
		return applied, nil
	}
	first := make(map[strategies.EventID]int, len(events))
	var distinct []strategies.Event
	for i, e := range events {
		if _, seen := first[e.ID]; !seen {
			first[e.ID] = i
			distinct = append(distinct, e)
		}
	}
	ids, accounts, amounts := effectArrays(distinct)
	rows, err := l.pool.Query(ctx, l.insertApplyBatch, ids, accounts, amounts)
	if err != nil {
		return nil, fmt.Errorf("pgstore: insert and apply a batch of %d events: %w", len(distinct), err)
	}
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		applied[first[strategies.EventID(id)]] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgstore: insert and apply a batch of %d events: %w", len(distinct), err)
	}
	return applied, nil
}
