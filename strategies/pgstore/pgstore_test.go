package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ps := testserver.SharedPostgres(t)
	pool, err := pgxpool.New(context.Background(), ps.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// New creates the tables with idemsim's mark, finds them again, and Drop
// removes them.
func TestNewMarksAndDropRemoves(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_own")
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx))
	var marked int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'pg\_own\_%'
		AND obj_description(oid, 'pg_class') LIKE 'created by idemsim for prefix pg_own;%'`).Scan(&marked))
	assert.Equal(t, 4, marked, "three tables and the ledger's index")
	_, err = New(ctx, pool, "pg_own") // again: found, not created
	require.NoError(t, err)

	dropped, err := Drop(ctx, pool, "pg_own")
	require.NoError(t, err)
	assert.Equal(t, []string{"public.pg_own_processed", "public.pg_own_accounts", "public.pg_own_ledger"}, dropped)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'pg\_own\_%'`).Scan(&left))
	assert.Zero(t, left)
}

// A relation of a prefix's names that idemsim did not create is refused by
// New and left alone by Drop, whatever its kind.
func TestForeignRelationsAreLeftAlone(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS pg_theirs_processed; DROP VIEW IF EXISTS pg_theirs_ledger;
		CREATE TABLE pg_theirs_processed (event_id bigint PRIMARY KEY); INSERT INTO pg_theirs_processed VALUES (42);
		CREATE VIEW pg_theirs_ledger AS SELECT 1 AS x`)
	require.NoError(t, err)

	_, err = New(ctx, pool, "pg_theirs")
	var notOwned *NotOwnedError
	require.ErrorAs(t, err, &notOwned)
	assert.ErrorIs(t, err, ErrNotOwned)
	assert.Equal(t, []string{"pg_theirs_processed (table)", "pg_theirs_ledger (view)"}, notOwned.Relations)

	dropped, err := Drop(ctx, pool, "pg_theirs")
	assert.ErrorIs(t, err, ErrNotOwned)
	assert.Empty(t, dropped)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_theirs_processed`).Scan(&n))
	assert.Equal(t, 1, n)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'pg_theirs_accounts'`).Scan(&n))
	assert.Zero(t, n, "nothing created beside them")
}

// A prefix is held by one session at a time, and the refusal names it.
func TestLockPrefixIsExclusive(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	lock, err := LockPrefix(ctx, pool, "pg_lock")
	require.NoError(t, err)
	assert.Equal(t, "public", lock.Schema)

	_, err = LockPrefix(ctx, pool, "pg_lock")
	var inUse *InUseError
	require.ErrorAs(t, err, &inUse)
	assert.ErrorIs(t, err, ErrPrefixInUse)
	assert.Contains(t, inUse.Holder, "PostgreSQL backend pid ")

	other, err := LockPrefix(ctx, pool, "pg_lock_other")
	require.NoError(t, err, "another prefix is free")
	require.NoError(t, other.Release(ctx))

	require.NoError(t, lock.Release(ctx))
	again, err := LockPrefix(ctx, pool, "pg_lock")
	require.NoError(t, err, "released, it can be taken again")
	require.NoError(t, again.Release(ctx))
}
