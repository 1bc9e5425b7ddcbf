package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemsim/idemsim/strategies"
)

// What makes a table idemsim's: New writes a comment beginning with
// ownerMark on every table and index it creates, and nothing of a prefix's
// names without it is ever written to, emptied or dropped.
const ownerMark = "created by idemsim"

func ownerComment(prefix string) string {
	return fmt.Sprintf("%s for prefix %s; idemsim clean --prefix %s removes it", ownerMark, prefix, prefix)
}

// ErrNotOwned is what NotOwnedError matches with errors.Is.
var ErrNotOwned = errors.New("pgstore: a table of this prefix was not created by idemsim")

// NotOwnedError reports relations that bear one of a prefix's table names
// but were not created by idemsim. They are left untouched.
type NotOwnedError struct {
	Schema, Prefix string
	Relations      []string // e.g. "app_ledger (table)"
}

// Error says which relations and what to do.
func (e *NotOwnedError) Error() string {
	exists, was, lacks := "exists", "was", "it lacks"
	if len(e.Relations) > 1 {
		exists, was, lacks = "exist", "were", "they lack"
	}
	return fmt.Sprintf("%s.%s %s but %s not created by idemsim (%s idemsim's comment)",
		e.Schema, strings.Join(e.Relations, ", "+e.Schema+"."), exists, was, lacks)
}

// Is makes errors.Is(err, ErrNotOwned) true.
func (e *NotOwnedError) Is(target error) bool { return target == ErrNotOwned }

// relation is one row of pg_class with one of a prefix's names.
type relation struct {
	kind    string // pg_class.relkind: r table, p partitioned table, i index, v view, ...
	comment string
}

func (r relation) owned() bool {
	return strings.HasPrefix(r.comment, ownerMark) && (r.kind == "r" || r.kind == "p" || r.kind == "i")
}

var kindNames = map[string]string{"r": "table", "p": "table", "i": "index", "v": "view", "m": "materialized view", "S": "sequence", "f": "foreign table", "c": "type"}

// names are the relations a prefix owns, in creation order: the ledger's
// (ledgerNames), then the payment provider's (providerNames), then the
// outbox's (outboxNames). Drop and
// clean look for all of them.
func names(prefix string) []string {
	return append(append(ledgerNames(prefix), providerNames(prefix)...), outboxNames(prefix)...)
}

// ledgerNames are the relations New creates, in creation order: the
// ledger's index after the ledger, and the log's offsets table, added
// later, last.
func ledgerNames(prefix string) []string {
	return []string{prefix + "_processed", prefix + "_accounts", prefix + "_ledger", prefix + "_ledger_event", prefix + "_offsets"}
}

// providerNames are the relations EnsureProvider creates: idemsim's
// payment provider's idempotency keys and charges.
func providerNames(prefix string) []string {
	return []string{prefix + "_provider_keys", prefix + "_provider_charges"}
}

// querier is a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func currentSchema(ctx context.Context, q querier) (string, error) {
	var schema *string
	if err := q.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("pgstore: find the current schema: %w", err)
	}
	if schema == nil {
		return "", errors.New("pgstore: no schema to create tables in: no schema of the search_path exists")
	}
	return *schema, nil
}

// existing returns the relations in schema that bear prefix's names.
func existing(ctx context.Context, q querier, schema, prefix string) (map[string]relation, error) {
	rows, err := q.Query(ctx, `SELECT c.relname::text, c.relkind::text, coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2)`, schema, names(prefix))
	if err != nil {
		return nil, fmt.Errorf("pgstore: look for the tables %s.%s_*: %w", schema, prefix, err)
	}
	out := map[string]relation{}
	var name string
	var r relation
	if _, err := pgx.ForEachRow(rows, []any{&name, &r.kind, &r.comment}, func() error {
		out[name] = r
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgstore: look for the tables %s.%s_*: %w", schema, prefix, err)
	}
	return out, nil
}

// foreign lists the relations of rels among set that idemsim did not
// create, or nil.
func foreign(schema, prefix string, set []string, rels map[string]relation) error {
	var bad []string
	for _, n := range set {
		if r, ok := rels[n]; ok && !r.owned() {
			kind := kindNames[r.kind]
			if kind == "" {
				kind = "relation"
			}
			bad = append(bad, fmt.Sprintf("%s (%s)", n, kind))
		}
	}
	if bad == nil {
		return nil
	}
	return &NotOwnedError{Schema: schema, Prefix: prefix, Relations: bad}
}

// stateColumn is the processed table's state column: PostgreSQL's name of
// its type, and whether it is NOT NULL; found is false if there is none.
func stateColumn(ctx context.Context, q querier, schema, prefix string) (typ string, notNull, found bool, err error) {
	err = q.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = 'state' AND NOT a.attisdropped`, schema, prefix+"_processed").Scan(&typ, &notNull)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, fmt.Errorf("pgstore: look for the column %s.%s_processed.state: %w", schema, prefix, err)
	}
	return typ, notNull, true, nil
}

// stateColumnOK reports whether the state column is as idemsim makes it.
func stateColumnOK(typ string, notNull bool) bool { return typ == "text" && notNull }

// badStateColumn says that the state column of idemsim's own table is not
// what idemsim made: someone changed it. Nothing is changed; the tables
// hold nothing worth keeping (every run empties them), so clean removes
// them and the next run makes them anew.
func badStateColumn(schema, prefix, typ string, notNull bool) error {
	if !notNull {
		typ += " (nullable)"
	}
	return fmt.Errorf("pgstore: %s.%s_processed has a column state of type %s, not text NOT NULL as idemsim makes it; it is left as it is: remove the tables with idemsim clean --prefix %s, and the next run creates them anew",
		schema, prefix, typ, prefix)
}

// ensureTables creates whichever of prefix's tables are missing, refusing
// if a relation of their names is not idemsim's. Creation runs in one
// transaction under an advisory lock, so two creators cannot race.
//
// A processed table that an older idemsim created has no state column:
// ensureTables adds it, in the same transaction,
//
//	ALTER TABLE <prefix>_processed ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT ''
//
// That is safe: the table bears idemsim's mark, so it is idemsim's to
// change; every run empties it anyway; the column takes the value a new
// row gets, so rows already there mean what they meant; and since
// PostgreSQL 11 adding a column with a constant default rewrites nothing.
// Refusing instead would make every user of an older idemsim run clean
// first, for nothing. A state column of another shape is someone's
// change, and is refused untouched (see badStateColumn).
func ensureTables(ctx context.Context, pool *pgxpool.Pool, schema, prefix string) error {
	rels, err := existing(ctx, pool, schema, prefix)
	if err != nil {
		return err
	}
	if err := foreign(schema, prefix, ledgerNames(prefix), rels); err != nil {
		return err
	}
	if hasAll(rels, ledgerNames(prefix)) {
		typ, notNull, found, err := stateColumn(ctx, pool, schema, prefix)
		if err != nil {
			return err
		}
		if found && !stateColumnOK(typ, notNull) {
			return badStateColumn(schema, prefix, typ, notNull)
		}
		if found {
			return nil
		}
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("create", schema, prefix)); err != nil {
			return fmt.Errorf("pgstore: lock creation of %s.%s_*: %w", schema, prefix, err)
		}
		rels, err := existing(ctx, tx, schema, prefix) // another creator may have won
		if err != nil {
			return err
		}
		if err := foreign(schema, prefix, ledgerNames(prefix), rels); err != nil {
			return err
		}
		t := tablesOf(schema, prefix)
		index := pgx.Identifier{schema, prefix + "_ledger_event"}.Sanitize()
		ddl := map[string]string{
			prefix + "_processed":    fmt.Sprintf(`CREATE TABLE %s (event_id bigint PRIMARY KEY, state text NOT NULL DEFAULT '')`, t.processed),
			prefix + "_accounts":     fmt.Sprintf(`CREATE TABLE %s (account int PRIMARY KEY, balance bigint NOT NULL)`, t.accounts),
			prefix + "_ledger":       fmt.Sprintf(`CREATE TABLE %s (event_id bigint NOT NULL, account int NOT NULL, amount bigint NOT NULL)`, t.ledger),
			prefix + "_ledger_event": fmt.Sprintf(`CREATE INDEX %s ON %s (event_id)`, pgx.Identifier{prefix + "_ledger_event"}.Sanitize(), t.ledger),
			prefix + "_offsets":      fmt.Sprintf(`CREATE TABLE %s (partition int PRIMARY KEY, next_offset bigint NOT NULL)`, t.offsets),
		}
		for _, n := range ledgerNames(prefix) {
			if _, ok := rels[n]; ok {
				continue
			}
			what, target := "TABLE", pgx.Identifier{schema, n}.Sanitize()
			if n == prefix+"_ledger_event" {
				what, target = "INDEX", index
			}
			if _, err := tx.Exec(ctx, ddl[n]); err != nil {
				return fmt.Errorf("pgstore: create %s.%s: %w", schema, n, err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`COMMENT ON %s %s IS '%s'`, what, target, ownerComment(prefix))); err != nil {
				return fmt.Errorf("pgstore: mark %s.%s as idemsim's: %w", schema, n, err)
			}
		}
		typ, notNull, found, err := stateColumn(ctx, tx, schema, prefix)
		switch {
		case err != nil:
			return err
		case found && !stateColumnOK(typ, notNull):
			return badStateColumn(schema, prefix, typ, notNull)
		case !found: // a table an older idemsim created
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT ''`, t.processed)); err != nil {
				return fmt.Errorf("pgstore: add the column state to %s.%s_processed: %w", schema, prefix, err)
			}
		}
		return nil
	})
}

// hasAll reports whether rels holds every relation of set.
func hasAll(rels map[string]relation, set []string) bool {
	for _, n := range set {
		if _, ok := rels[n]; !ok {
			return false
		}
	}
	return true
}

// lockKey is the advisory lock key of prefix in schema for purpose: a
// 64-bit hash, so that unrelated advisory locks are unlikely to collide.
func lockKey(purpose, schema, prefix string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "idemsim\x00%s\x00%s\x00%s", purpose, schema, prefix)
	return int64(h.Sum64())
}

// ErrPrefixInUse is what InUseError matches with errors.Is.
var ErrPrefixInUse = errors.New("pgstore: prefix in use by another run")

// InUseError reports that another session holds a prefix's lock.
type InUseError struct {
	Schema, Prefix string
	Holder         string // who holds it, as far as pg_stat_activity tells
}

// Error says who holds the prefix.
func (e *InUseError) Error() string {
	return fmt.Sprintf("prefix %s (schema %s) is in use by another idemsim run (%s); wait for it to end, or choose another prefix", e.Prefix, e.Schema, e.Holder)
}

// Is makes errors.Is(err, ErrPrefixInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrPrefixInUse }

// PrefixLock is a prefix held for one run: a session advisory lock on a
// connection of its own, released by Release or when the connection ends
// (so a run that dies cannot hold it).
type PrefixLock struct {
	conn   *pgxpool.Conn
	key    int64
	Schema string // the schema the prefix's tables live in
}

// LockPrefix takes prefix for the caller, or fails with an *InUseError if
// another session holds it. It keeps one connection of pool until Release.
func LockPrefix(ctx context.Context, pool *pgxpool.Pool, prefix string) (*PrefixLock, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	schema, err := currentSchema(ctx, conn)
	if err != nil {
		conn.Release()
		return nil, err
	}
	key := lockKey("run", schema, prefix)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("pgstore: lock prefix %s: %w", prefix, err)
	}
	if !ok {
		holder := holderOf(ctx, conn, key)
		conn.Release()
		return nil, &InUseError{Schema: schema, Prefix: prefix, Holder: holder}
	}
	return &PrefixLock{conn: conn, key: key, Schema: schema}, nil
}

// holderOf describes the session that holds advisory lock key, for the
// message; it says what it can.
func holderOf(ctx context.Context, conn *pgxpool.Conn, key int64) string {
	var pid int32
	var app, from string
	var since time.Time
	err := conn.QueryRow(ctx, `SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'a local socket'), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = (($1::bigint >> 32) & 4294967295) AND l.objid::bigint = ($1::bigint & 4294967295)
LIMIT 1`, key).Scan(&pid, &app, &from, &since)
	if err != nil {
		return "another session holds its lock"
	}
	if app == "" {
		app = "(none)"
	}
	return fmt.Sprintf("PostgreSQL backend pid %d, application %s, connected from %s since %s", pid, app, from, since.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// Release releases the prefix. If the unlock cannot be sent, the connection
// is closed instead, which releases it on the server.
func (l *PrefixLock) Release(ctx context.Context) error {
	if l == nil || l.conn == nil {
		return nil
	}
	conn := l.conn
	l.conn = nil
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, l.key); err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Conn().Close(closeCtx)
		cancel()
		conn.Release()
		return fmt.Errorf("pgstore: unlock prefix: %w", err)
	}
	conn.Release()
	return nil
}

// Drop removes prefix's tables (and the ledger's index with them) that
// idemsim created, and reports which it dropped. A relation of their names
// that idemsim did not create is left untouched and reported as a
// *NotOwnedError beside what was dropped. Take the prefix's lock first, so
// that no run is using them.
func Drop(ctx context.Context, pool *pgxpool.Pool, prefix string) (dropped []string, err error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	schema, err := currentSchema(ctx, pool)
	if err != nil {
		return nil, err
	}
	rels, err := existing(ctx, pool, schema, prefix)
	if err != nil {
		return nil, err
	}
	notOwned := foreign(schema, prefix, names(prefix), rels)
	for _, n := range names(prefix) {
		r, ok := rels[n]
		if !ok || !r.owned() {
			continue
		}
		what := "TABLE"
		if r.kind == "i" {
			what = "INDEX"
			if l, ok := rels[prefix+"_ledger"]; ok && l.owned() {
				continue // it goes with its table
			}
		}
		if _, err := pool.Exec(ctx, fmt.Sprintf(`DROP %s %s`, what, pgx.Identifier{schema, n}.Sanitize())); err != nil {
			return dropped, fmt.Errorf("pgstore: drop %s.%s: %w", schema, n, err)
		}
		dropped = append(dropped, schema+"."+n)
	}
	return dropped, notOwned
}

// createMarked creates the tables of set that do not exist yet, each with
// its statement in ddl, and marks each as idemsim's, in one transaction
// under the prefix's creation lock. It looks again under the lock: another
// creator may have won, or made a foreign table of one of the names since.
func createMarked(ctx context.Context, pool *pgxpool.Pool, schema, prefix string, set []string, ddl map[string]string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("create", schema, prefix)); err != nil {
			return fmt.Errorf("pgstore: lock creation of %s.%s: %w", schema, strings.Join(set, ", "), err)
		}
		rels, err := existing(ctx, tx, schema, prefix)
		if err != nil {
			return err
		}
		if err := foreign(schema, prefix, set, rels); err != nil {
			return err
		}
		for _, n := range set {
			if _, ok := rels[n]; ok {
				continue
			}
			if _, err := tx.Exec(ctx, ddl[n]); err != nil {
				return fmt.Errorf("pgstore: create %s.%s: %w", schema, n, err)
			}
			target := pgx.Identifier{schema, n}.Sanitize()
			if _, err := tx.Exec(ctx, fmt.Sprintf(`COMMENT ON TABLE %s IS '%s'`, target, ownerComment(prefix))); err != nil {
				return fmt.Errorf("pgstore: mark %s.%s as idemsim's: %w", schema, n, err)
			}
		}
		return nil
	})
}
