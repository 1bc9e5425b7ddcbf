package pgstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
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
	assert.Equal(t, 5, marked, "four tables and the ledger's index")
	_, err = New(ctx, pool, "pg_own") // again: found, not created
	require.NoError(t, err)

	dropped, err := Drop(ctx, pool, "pg_own")
	require.NoError(t, err)
	assert.Equal(t, []string{"public.pg_own_processed", "public.pg_own_accounts", "public.pg_own_ledger", "public.pg_own_offsets"}, dropped)
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

// InsertApply applies an event once however often it is called, also from
// many goroutines at once; the batch does the same for a batch with copies.
func TestInsertApplyIsOnce(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_fast")
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx))
	e := strategies.Event{ID: 1, Account: 2, Amount: 5}
	applied := make(chan bool, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := l.InsertApply(ctx, e)
			assert.NoError(t, err)
			applied <- ok
		}()
	}
	wg.Wait()
	close(applied)
	n := 0
	for ok := range applied {
		if ok {
			n++
		}
	}
	assert.Equal(t, 1, n, "one of eight concurrent calls applies")

	got, err := l.InsertApplyBatch(ctx, []strategies.Event{{ID: 2, Account: 1, Amount: 1}, {ID: 1, Account: 2, Amount: 5}, {ID: 2, Account: 1, Amount: 1}, {ID: 3, Account: 1, Amount: 2}})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false, false, true}, got, "a new id applies once; a known one and a copy in the batch do not")
	apps, err := l.Applications(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.EventID]int{1: 1, 2: 1, 3: 1}, apps)
	var balance int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT balance FROM pg_fast_accounts WHERE account = 1`).Scan(&balance))
	assert.Equal(t, int64(3), balance)
}
