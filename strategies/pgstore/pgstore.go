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
	pool *pgxpool.Pool
	p    string // prefix
	// The statements, with the prefix spliced in once (it is validated).
	insertProcessed, apply, applications string
}

// New returns the ledger of prefix in pool, creating its tables if they do
// not exist. The prefix is validated by strategies.ValidatePrefix.
func New(ctx context.Context, pool *pgxpool.Pool, prefix string) (*Ledger, error) {
	l, err := Attach(pool, prefix)
	if err != nil {
		return nil, err
	}
	schema := fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s_processed (event_id bigint PRIMARY KEY);
CREATE TABLE IF NOT EXISTS %[1]s_accounts (account int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE IF NOT EXISTS %[1]s_ledger (event_id bigint NOT NULL, account int NOT NULL, amount bigint NOT NULL);
CREATE INDEX IF NOT EXISTS %[1]s_ledger_event ON %[1]s_ledger (event_id);`, prefix)
	if _, err := pool.Exec(ctx, schema); err != nil {
		return nil, fmt.Errorf("pgstore: create tables %s_*: %w", prefix, err)
	}
	return l, nil
}

// Attach returns the ledger of prefix in pool without creating anything:
// for a second pool on a database where New already ran.
func Attach(pool *pgxpool.Pool, prefix string) (*Ledger, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	l := &Ledger{pool: pool, p: prefix}
	l.insertProcessed = fmt.Sprintf(`INSERT INTO %s_processed (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, prefix)
	// One round trip: add the amount to the balance and record the
	// application.
	l.apply = fmt.Sprintf(`WITH acct AS (
	INSERT INTO %[1]s_accounts (account, balance) VALUES ($2, $3)
	ON CONFLICT (account) DO UPDATE SET balance = %[1]s_accounts.balance + EXCLUDED.balance)
INSERT INTO %[1]s_ledger (event_id, account, amount) VALUES ($1, $2, $3)`, prefix)
	l.applications = fmt.Sprintf(`SELECT event_id, count(*) FROM %s_ledger GROUP BY event_id`, prefix)
	return l, nil
}

// Begin starts a transaction.
func (l *Ledger) Begin(ctx context.Context) (strategies.Tx, error) {
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: begin: %w", err)
	}
	return &Tx{tx: tx, l: l}, nil
}

// Reset empties this prefix's tables, for a fresh run.
func (l *Ledger) Reset(ctx context.Context) error {
	_, err := l.pool.Exec(ctx, fmt.Sprintf(`TRUNCATE %[1]s_processed, %[1]s_accounts, %[1]s_ledger`, l.p))
	if err != nil {
		return fmt.Errorf("pgstore: truncate %s_*: %w", l.p, err)
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

// Apply adds e's amount to its account and records the application.
func (t *Tx) Apply(ctx context.Context, e strategies.Event) error {
	if _, err := t.tx.Exec(ctx, t.l.apply, int64(e.ID), e.Account, e.Amount); err != nil {
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
