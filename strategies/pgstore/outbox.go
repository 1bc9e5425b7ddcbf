package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/idemsim/idemsim/strategies"
)

// Events sent on: the outbox table (strategies.OutboxTx,
// strategies.OutboxReader) and the downstream consumer's table.
//
// A downstream event announces one upstream effect, and the checkers must
// tell afterwards whether that effect committed (a ghost if not). The
// effect is named by the PostgreSQL transaction that applied it: Apply
// returns the xmin of the ledger row it inserted, which is the id of its
// transaction, and Tx keeps it (Tx.Effect). A committed effect is a ledger
// row with that xmin (Effects); an effect of a transaction that rolled
// back has no row. Ledger rows are only ever inserted, never updated, so
// their xmin stays the inserting transaction's for the whole run.

// outboxNames are the relations EnsureOutbox creates.
func outboxNames(prefix string) []string {
	return []string{prefix + "_outbox", prefix + "_downstream"}
}

// EnsureOutbox creates, in the current schema, whichever of prefix's
// outbox tables are missing, marked as idemsim's as New marks the
// ledger's, and makes l's outbox statements name them. It refuses (with a
// *NotOwnedError) a relation of those names that idemsim did not create,
// and touches nothing then. Drop removes them with the rest of the
// prefix's tables. Give ctx a deadline.
//
//	<prefix>_outbox     (seq, event_id, account, amount, effect, sent): one
//	                    row per downstream event a transaction inserted,
//	                    numbered in the order they were inserted
//	<prefix>_downstream (event_id, effect) PRIMARY KEY: the downstream
//	                    consumer's processed table, one row per downstream
//	                    event it applied (db-unique)
func (l *Ledger) EnsureOutbox(ctx context.Context) error {
	pool, prefix := l.pool, l.prefix
	schema, err := currentSchema(ctx, pool)
	if err != nil {
		return err
	}
	set := outboxNames(prefix)
	rels, err := existing(ctx, pool, schema, prefix)
	if err != nil {
		return err
	}
	if err := foreign(schema, prefix, set, rels); err != nil {
		return err
	}
	l.t.outbox = pgx.Identifier{schema, set[0]}.Sanitize()
	l.t.downstream = pgx.Identifier{schema, set[1]}.Sanitize()
	if hasAll(rels, set) {
		return nil
	}
	ddl := map[string]string{
		set[0]: fmt.Sprintf(`CREATE TABLE %s (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id bigint NOT NULL, account int NOT NULL, amount bigint NOT NULL,
	effect bigint NOT NULL, sent boolean NOT NULL DEFAULT false)`, l.t.outbox),
		set[1]: fmt.Sprintf(`CREATE TABLE %s (event_id bigint NOT NULL, effect bigint NOT NULL, PRIMARY KEY (event_id, effect))`, l.t.downstream),
	}
	return createMarked(ctx, pool, schema, prefix, set, ddl)
}

// errNoOutbox is what the outbox calls return on a ledger whose
// EnsureOutbox did not run.
var errNoOutbox = errors.New("pgstore: the outbox tables are not set up (EnsureOutbox)")

// ResetOutbox empties the outbox tables, for a fresh run, and restarts the
// outbox's numbering.
func (l *Ledger) ResetOutbox(ctx context.Context) error {
	if l.t.outbox == "" {
		return errNoOutbox
	}
	if _, err := l.pool.Exec(ctx, fmt.Sprintf(`TRUNCATE %s, %s RESTART IDENTITY`, l.t.outbox, l.t.downstream)); err != nil {
		return fmt.Errorf("pgstore: empty the tables %s_outbox and %s_downstream: %w", l.prefix, l.prefix, err)
	}
	return nil
}

// Effect is the effect of the transaction's last Apply: its transaction
// id, 0 before any Apply.
func (t *Tx) Effect() int64 { return t.effect }

// InsertOutbox adds e's downstream event to the outbox, unsent, in the
// transaction. The row announces the effect of the transaction's last
// Apply (Effect): it commits, or rolls back, with it.
func (t *Tx) InsertOutbox(ctx context.Context, e strategies.Event) error {
	if t.l.t.outbox == "" {
		return errNoOutbox
	}
	q := fmt.Sprintf(`INSERT INTO %s (event_id, account, amount, effect) VALUES ($1, $2, $3, $4)`, t.l.t.outbox)
	if _, err := t.tx.Exec(ctx, q, int64(e.ID), e.Account, e.Amount, t.effect); err != nil {
		return fmt.Errorf("pgstore: insert event %d into the outbox: %w", e.ID, err)
	}
	return nil
}

// OutboxEntry is an outbox row with the effect its downstream event
// announces.
type OutboxEntry struct {
	strategies.OutboxRow
	Effect int64
}

// NextOutboxEntry reads the committed, unsent row with the lowest
// sequence number, in a statement of its own, with the effect it
// announces. The sequence numbers follow the inserts; a row inserted
// earlier may commit later, and is then read after rows numbered above
// it were marked: the relay still sends every committed row.
func (l *Ledger) NextOutboxEntry(ctx context.Context) (OutboxEntry, bool, error) {
	if l.t.outbox == "" {
		return OutboxEntry{}, false, errNoOutbox
	}
	var r OutboxEntry
	var id int64
	q := fmt.Sprintf(`SELECT seq, event_id, account, amount, effect FROM %s WHERE NOT sent ORDER BY seq LIMIT 1`, l.t.outbox)
	err := l.pool.QueryRow(ctx, q).Scan(&r.Seq, &id, &r.Event.Account, &r.Event.Amount, &r.Effect)
	if errors.Is(err, pgx.ErrNoRows) {
		return OutboxEntry{}, false, nil
	}
	if err != nil {
		return OutboxEntry{}, false, fmt.Errorf("pgstore: read the outbox: %w", err)
	}
	r.Event.ID = strategies.EventID(id)
	return r, true, nil
}

// NextOutbox returns the committed, unsent row with the lowest sequence
// number (strategies.OutboxReader).
func (l *Ledger) NextOutbox(ctx context.Context) (strategies.OutboxRow, bool, error) {
	r, found, err := l.NextOutboxEntry(ctx)
	return r.OutboxRow, found, err
}

// MarkSent marks row seq sent, in a transaction of its own, and reports
// whether it was unsent.
func (l *Ledger) MarkSent(ctx context.Context, seq int64) (bool, error) {
	if l.t.outbox == "" {
		return false, errNoOutbox
	}
	if seq < 1 {
		return false, fmt.Errorf("%w: outbox row %d, which the outbox does not hold", strategies.ErrBadValue, seq)
	}
	tag, err := l.pool.Exec(ctx, fmt.Sprintf(`UPDATE %s SET sent = true WHERE seq = $1 AND NOT sent`, l.t.outbox), seq)
	if err != nil {
		return false, fmt.Errorf("pgstore: mark outbox row %d sent: %w", seq, err)
	}
	return tag.RowsAffected() == 1, nil
}

// InsertDownstream is the downstream consumer's db-unique: it inserts
// (event, effect) into the downstream table in a statement of its own and
// reports whether it was new.
func (l *Ledger) InsertDownstream(ctx context.Context, event strategies.EventID, effect int64) (bool, error) {
	if l.t.downstream == "" {
		return false, errNoOutbox
	}
	tag, err := l.pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (event_id, effect) VALUES ($1, $2) ON CONFLICT DO NOTHING`, l.t.downstream), int64(event), effect)
	if err != nil {
		return false, fmt.Errorf("pgstore: insert downstream event %d of effect %d: %w", event, effect, err)
	}
	return tag.RowsAffected() == 1, nil
}

// DownstreamRow is a row of the downstream table.
type DownstreamRow struct {
	Event  strategies.EventID
	Effect int64
}

// DownstreamRows reads the downstream table.
func (l *Ledger) DownstreamRows(ctx context.Context) ([]DownstreamRow, error) {
	if l.t.downstream == "" {
		return nil, errNoOutbox
	}
	rows, err := l.pool.Query(ctx, fmt.Sprintf(`SELECT event_id, effect FROM %s ORDER BY event_id, effect`, l.t.downstream))
	if err != nil {
		return nil, fmt.Errorf("pgstore: read the downstream table: %w", err)
	}
	var out []DownstreamRow
	var r DownstreamRow
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &r.Effect}, func() error {
		r.Event = strategies.EventID(id)
		out = append(out, r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgstore: read the downstream table: %w", err)
	}
	return out, nil
}

// Effect is one committed effect: the event it applied (ID, Account and
// Amount) and its transaction (Tx.Effect).
type Effect struct {
	Event  strategies.Event
	Effect int64
}

// Effects reads every committed effect of the ledger.
func (l *Ledger) Effects(ctx context.Context) ([]Effect, error) {
	rows, err := l.pool.Query(ctx, fmt.Sprintf(`SELECT event_id, account, amount, xmin::text::bigint FROM %s`, l.t.ledger))
	if err != nil {
		return nil, fmt.Errorf("pgstore: read the ledger's effects: %w", err)
	}
	var out []Effect
	var e Effect
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &e.Event.Account, &e.Event.Amount, &e.Effect}, func() error {
		e.Event.ID = strategies.EventID(id)
		out = append(out, e)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgstore: read the ledger's effects: %w", err)
	}
	return out, nil
}

var (
	_ strategies.OutboxTx     = (*Tx)(nil)
	_ strategies.OutboxReader = (*Ledger)(nil)
)
