package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemsim/idemsim/strategies"
)

// Ledger is a strategies.Ledger on PostgreSQL.
type Ledger struct {
	pool   *pgxpool.Pool
	prefix string
	t      tables
	// The statements, with the table names spliced in once (the prefix is
	// validated and the schema quoted).
	insertProcessed, apply, insertApply, insertApplyBatch, applications string
	readProcessed, deleteProcessed, updateProcessed                     string
	readOffset, insertOffset, updateOffset                              string
}

// tables are the SQL names of a prefix's tables, schema-qualified and quoted
// when the schema is known.
type tables struct {
	processed, accounts, ledger, offsets string
	// outbox and downstream are set by EnsureOutbox (outbox.go).
	outbox, downstream string
}

func tablesOf(schema, prefix string) tables {
	name := func(suffix string) string {
		if schema == "" {
			return prefix + suffix
		}
		return pgx.Identifier{schema, prefix + suffix}.Sanitize()
	}
	return tables{processed: name("_processed"), accounts: name("_accounts"), ledger: name("_ledger"), offsets: name("_offsets")}
}

// New returns the ledger of prefix in pool. It creates the prefix's tables in
// the current schema if they do not exist, each with a comment that marks it
// as idemsim's, and refuses (with a *NotOwnedError) to use a table of one of
// those names that idemsim did not create. Every later statement names the
// tables with their schema, so a table of the same name elsewhere on the
// search path is never touched. The prefix is validated by
// strategies.ValidatePrefix. Give ctx a deadline: a table locked by another
// session makes creation wait.
func New(ctx context.Context, pool *pgxpool.Pool, prefix string) (*Ledger, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	schema, err := currentSchema(ctx, pool)
	if err != nil {
		return nil, err
	}
	if err := ensureTables(ctx, pool, schema, prefix); err != nil {
		return nil, err
	}
	return newLedger(pool, schema, prefix), nil
}

// Attach returns the ledger of prefix in pool without creating or checking
// anything: for a second pool on a database where New already ran. It names
// the tables without a schema, so they resolve through the search path; use
// On to share a ledger made by New with another pool instead.
func Attach(pool *pgxpool.Pool, prefix string) (*Ledger, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	return newLedger(pool, "", prefix), nil
}

// On returns the same ledger (the same tables, schema-qualified as New found
// them) used through another pool: each consumer instance has its own pool.
func (l *Ledger) On(pool *pgxpool.Pool) *Ledger {
	c := *l
	c.pool = pool
	return &c
}

func newLedger(pool *pgxpool.Pool, schema, prefix string) *Ledger {
	t := tablesOf(schema, prefix)
	l := &Ledger{pool: pool, prefix: prefix, t: t}
	l.insertProcessed = fmt.Sprintf(`INSERT INTO %s (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, t.processed)
	// One round trip: add the amount to the balance and record the
	// application, which returns its transaction's id, the effect's
	// name (outbox.go).
	l.apply = fmt.Sprintf(`WITH acct AS (
	INSERT INTO %[1]s AS a (account, balance) VALUES ($2, $3)
	ON CONFLICT (account) DO UPDATE SET balance = a.balance + EXCLUDED.balance)
INSERT INTO %[2]s (event_id, account, amount) VALUES ($1, $2, $3)
RETURNING xmin::text::bigint`, t.accounts, t.ledger)
	l.insertApply = insertApplySQL(t)
	l.insertApplyBatch = insertApplyBatchSQL(t)
	l.readProcessed = fmt.Sprintf(`SELECT state FROM %s WHERE event_id = $1 FOR UPDATE`, t.processed)
	l.deleteProcessed = fmt.Sprintf(`DELETE FROM %s WHERE event_id = $1`, t.processed)
	l.updateProcessed = fmt.Sprintf(`UPDATE %s SET state = $3 WHERE event_id = $1 AND state = $2`, t.processed)
	l.readOffset = fmt.Sprintf(`SELECT next_offset FROM %s WHERE partition = $1 FOR UPDATE`, t.offsets)
	// A missing row counts as 0: an expected 0 inserts it, or, if it is
	// there (or another open transaction inserts it meanwhile, which the
	// insert waits for), locks it and sets it only if it is 0.
	l.insertOffset = fmt.Sprintf(`INSERT INTO %s AS o (partition, next_offset) VALUES ($1, $2)
ON CONFLICT (partition) DO UPDATE SET next_offset = EXCLUDED.next_offset WHERE o.next_offset = 0`, t.offsets)
	l.updateOffset = fmt.Sprintf(`UPDATE %s SET next_offset = $3 WHERE partition = $1 AND next_offset = $2`, t.offsets)
	l.applications = fmt.Sprintf(`SELECT event_id, count(*) FROM %s GROUP BY event_id`, t.ledger)
	return l
}

// Begin starts a transaction.
func (l *Ledger) Begin(ctx context.Context) (strategies.Tx, error) {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: begin: %w", err)
	}
	return &Tx{tx: tx, l: l}, nil
}

// Reset empties this prefix's tables, for a fresh run. It waits for locks
// other sessions hold on them, so give ctx a deadline (or the session a
// lock_timeout).
func (l *Ledger) Reset(ctx context.Context) error {
	_, err := l.pool.Exec(ctx, fmt.Sprintf(`TRUNCATE %s, %s, %s, %s`, l.t.processed, l.t.accounts, l.t.ledger, l.t.offsets))
	if err != nil {
		return fmt.Errorf("pgstore: empty the tables %s_*: %w", l.prefix, err)
	}
	return nil
}

// Applications counts, per event id, the ledger rows: how many times each
// event's effect was applied.
func (l *Ledger) Applications(ctx context.Context) (map[strategies.EventID]int, error) {
	rows, err := l.pool.Query(ctx, l.applications)
	if err != nil {
		return nil, fmt.Errorf("pgstore: count applications: %w", err)
	}
	out := map[strategies.EventID]int{}
	var id, n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[strategies.EventID(id)] = int(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: count applications: %w", err)
	}
	return out, nil
}

// Tx is one PostgreSQL transaction.
type Tx struct {
	tx pgx.Tx
	l  *Ledger
	// effect is the transaction id of its last Apply (Effect).
	effect int64
}

// InsertProcessed inserts id with ON CONFLICT DO NOTHING: PostgreSQL makes
// it wait for another open transaction that inserted id, and it reports
// false if id was there.
func (t *Tx) InsertProcessed(ctx context.Context, id strategies.EventID) (bool, error) {
	tag, err := t.tx.Exec(ctx, t.l.insertProcessed, int64(id))
	if err != nil {
		return false, fmt.Errorf("pgstore: insert processed %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReadProcessed reads id's row with SELECT state ... FOR UPDATE:
// PostgreSQL makes it wait for another open transaction that locked,
// updated or deleted the row, and the row stays locked until this
// transaction ends.
func (t *Tx) ReadProcessed(ctx context.Context, id strategies.EventID) (string, bool, error) {
	var state string
	err := t.tx.QueryRow(ctx, t.l.readProcessed, int64(id)).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("pgstore: read processed %d for update: %w", id, err)
	}
	return state, true, nil
}

// DeleteProcessed deletes id's row and reports whether there was one.
func (t *Tx) DeleteProcessed(ctx context.Context, id strategies.EventID) (bool, error) {
	tag, err := t.tx.Exec(ctx, t.l.deleteProcessed, int64(id))
	if err != nil {
		return false, fmt.Errorf("pgstore: delete processed %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// UpdateProcessed sets the state of id's row to state if it is old, and
// reports whether the row matched. The states are checked as KV values are
// (strategies.ValidateValue), so that every backend takes the same ones.
func (t *Tx) UpdateProcessed(ctx context.Context, id strategies.EventID, old, state string) (bool, error) {
	for _, s := range []string{old, state} {
		if err := strategies.ValidateValue(s); err != nil {
			return false, fmt.Errorf("pgstore: processed row state: %w", err)
		}
	}
	tag, err := t.tx.Exec(ctx, t.l.updateProcessed, int64(id), old, state)
	if err != nil {
		return false, fmt.Errorf("pgstore: update processed %d from %q to %q: %w", id, old, state, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReadOffset reads partition's next offset with SELECT next_offset ...
// FOR UPDATE, 0 if the partition has no row: PostgreSQL makes it wait for
// another open transaction that holds the row's lock, and the row stays
// locked until this transaction ends.
func (t *Tx) ReadOffset(ctx context.Context, partition int) (int64, error) {
	if err := strategies.ValidateOffset(partition); err != nil {
		return 0, fmt.Errorf("pgstore: %w", err)
	}
	var next int64
	err := t.tx.QueryRow(ctx, t.l.readOffset, partition).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: read the offset of partition %d for update: %w", partition, err)
	}
	return next, nil
}

// AdvanceOffset sets partition's next offset to next if it is expect, and
// reports whether it did: for expect 0, INSERT ... ON CONFLICT DO UPDATE
// ... WHERE next_offset = 0 (a missing row is 0); otherwise UPDATE ...
// WHERE next_offset = expect. strategies.Tx says how each waits and locks.
func (t *Tx) AdvanceOffset(ctx context.Context, partition int, expect, next int64) (bool, error) {
	if err := strategies.ValidateOffset(partition, expect, next); err != nil {
		return false, fmt.Errorf("pgstore: %w", err)
	}
	var err error
	var n int64
	if expect == 0 {
		tag, e := t.tx.Exec(ctx, t.l.insertOffset, partition, next)
		err, n = e, tag.RowsAffected()
	} else {
		tag, e := t.tx.Exec(ctx, t.l.updateOffset, partition, expect, next)
		err, n = e, tag.RowsAffected()
	}
	if err != nil {
		return false, fmt.Errorf("pgstore: advance the offset of partition %d from %d to %d: %w", partition, expect, next, err)
	}
	return n == 1, nil
}

// Apply adds e's amount to its account and records the application. The
// account's row stays locked until the transaction ends, so another
// transaction's Apply to the same account waits for this one.
func (t *Tx) Apply(ctx context.Context, e strategies.Event) error {
	if err := t.tx.QueryRow(ctx, t.l.apply, int64(e.ID), e.Account, e.Amount).Scan(&t.effect); err != nil {
		return fmt.Errorf("pgstore: apply event %d: %w", e.ID, err)
	}
	return nil
}

// Commit commits. An error may hide a commit that happened.
func (t *Tx) Commit(ctx context.Context) error {
	if err := t.tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	return nil
}

// Rollback rolls back; after a commit or a closed connection it does
// nothing.
func (t *Tx) Rollback(ctx context.Context) error {
	err := t.tx.Rollback(ctx)
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("pgstore: rollback: %w", err)
	}
	return nil
}
