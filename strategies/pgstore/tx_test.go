package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/txscript"
	"github.com/idemsim/idemsim/strategies"
)

// The rules of the processed-ids table, played on PostgreSQL: the very
// scenarios that package memstore's Ledger passes, so that the in-process
// double waits, sees and misses exactly what PostgreSQL does.
func TestTxScenarios(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_tx")
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx))
	for i, sc := range txscript.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			txscript.Play(t, l, strategies.EventID(100*(i+1)), sc, 200*time.Millisecond)
		})
	}
}

// backendPID is the PostgreSQL backend of a transaction.
func backendPID(t *testing.T, ctx context.Context, tx strategies.Tx) int32 {
	var pid int32
	require.NoError(t, tx.(*Tx).tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	return pid
}

// ReadProcessed is SELECT ... FOR UPDATE: a second transaction's read of
// the row waits on the first one's row lock, as PostgreSQL itself shows
// (pg_stat_activity: waiting on a Lock), and then reads the row as the
// first one left it. A row another open transaction inserted is not
// there for it, and it does not wait.
func TestReadProcessedWaitsForTheRowLock(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_lockwait")
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx))
	setup, err := l.Begin(ctx)
	require.NoError(t, err)
	_, err = setup.InsertProcessed(ctx, 1)
	require.NoError(t, err)
	_, err = setup.UpdateProcessed(ctx, 1, "", "v1")
	require.NoError(t, err)
	require.NoError(t, setup.Commit(ctx))

	t1, err := l.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = t1.Rollback(context.Background()) }()
	t2, err := l.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = t2.Rollback(context.Background()) }()
	pid2 := backendPID(t, ctx, t2)

	state, found, err := t1.ReadProcessed(ctx, 1)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "v1", state)

	type read struct {
		state string
		found bool
		err   error
	}
	done := make(chan read, 1)
	go func() {
		s, f, err := t2.ReadProcessed(ctx, 1)
		done <- read{s, f, err}
	}()
	require.Eventually(t, func() bool {
		var waiting string
		err := pool.QueryRow(ctx, `SELECT coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = $1`, pid2).Scan(&waiting)
		return err == nil && waiting == "Lock"
	}, 3*time.Second, 10*time.Millisecond, "PostgreSQL shows the second read waiting on a lock")
	select {
	case r := <-done:
		t.Fatalf("the second read answered while the first transaction held the row: %+v", r)
	default:
	}

	ok, err := t1.UpdateProcessed(ctx, 1, "v1", "v2")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, t1.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	assert.True(t, r.found)
	assert.Equal(t, "v2", r.state, "read as the first transaction left it")

	// An insert another open transaction made is invisible, and not waited for.
	t3, err := l.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = t3.Rollback(context.Background()) }()
	ok, err = t3.InsertProcessed(ctx, 2)
	require.NoError(t, err)
	require.True(t, ok)
	start := time.Now()
	_, found, err = t2.ReadProcessed(ctx, 2)
	require.NoError(t, err)
	assert.False(t, found, "uncommitted: not there")
	assert.Less(t, time.Since(start), time.Second, "not waited for")
	require.NoError(t, t3.Commit(ctx))
	state, found, err = t2.ReadProcessed(ctx, 2)
	require.NoError(t, err)
	assert.True(t, found, "committed: the next statement sees it (READ COMMITTED)")
	assert.Equal(t, "", state, "an inserted row's state")
	require.NoError(t, t2.Commit(ctx))
}

// Delete and update report whether they matched; a state PostgreSQL's text
// cannot hold, or longer than a KV value, is refused before any round trip.
func TestDeleteAndUpdateProcessed(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_delupd")
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx))
	tx, err := l.Begin(ctx)
	require.NoError(t, err)
	ok, err := tx.InsertProcessed(ctx, 5)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = tx.UpdateProcessed(ctx, 5, "x", "y")
	require.NoError(t, err)
	assert.False(t, ok, "the state is empty, not x")
	ok, err = tx.UpdateProcessed(ctx, 5, "", "y")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = tx.UpdateProcessed(ctx, 6, "", "y")
	require.NoError(t, err)
	assert.False(t, ok, "no row")
	_, err = tx.UpdateProcessed(ctx, 5, "y", "nul\x00")
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	require.NoError(t, tx.Commit(ctx))

	tx, err = l.Begin(ctx)
	require.NoError(t, err)
	ok, err = tx.DeleteProcessed(ctx, 5)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = tx.DeleteProcessed(ctx, 5)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, tx.Commit(ctx))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_delupd_processed`).Scan(&n))
	assert.Zero(t, n)
}

// A processed table an older idemsim created, without the state column,
// gets it (its rows read as ""); a state column someone changed is
// refused, untouched, with what to do.
func TestStateColumnOfOlderTables(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	_, err := New(ctx, pool, "pg_old")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `TRUNCATE pg_old_processed; ALTER TABLE pg_old_processed DROP COLUMN state; INSERT INTO pg_old_processed VALUES (9)`)
	require.NoError(t, err)

	l, err := New(ctx, pool, "pg_old")
	require.NoError(t, err, "the column is added")
	tx, err := l.Begin(ctx)
	require.NoError(t, err)
	state, found, err := tx.ReadProcessed(ctx, 9)
	require.NoError(t, err)
	assert.True(t, found, "the old row is kept")
	assert.Equal(t, "", state)
	require.NoError(t, tx.Commit(ctx))
	var comment string
	require.NoError(t, pool.QueryRow(ctx, `SELECT obj_description('pg_old_processed'::regclass, 'pg_class')`).Scan(&comment))
	assert.Contains(t, comment, "created by idemsim", "still idemsim's")

	_, err = pool.Exec(ctx, `ALTER TABLE pg_old_processed DROP COLUMN state; ALTER TABLE pg_old_processed ADD COLUMN state integer`)
	require.NoError(t, err)
	_, err = New(ctx, pool, "pg_old")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "public.pg_old_processed has a column state of type integer (nullable), not text NOT NULL")
	assert.Contains(t, err.Error(), "idemsim clean --prefix pg_old")
	var typ string
	require.NoError(t, pool.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'pg_old_processed'::regclass AND attname = 'state'`).Scan(&typ))
	assert.Equal(t, "integer", typ, "left as it was")
	_, err = Drop(ctx, pool, "pg_old")
	require.NoError(t, err)
}

// The rules of the log's offsets table, played on PostgreSQL: the
// scenarios that memstore's Ledger and the simulator's database pass.
func TestOffsetScenarios(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_offsets")
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx))
	for i, sc := range txscript.OffsetScenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			txscript.Play(t, l, strategies.EventID(100*(i+1)), sc, 200*time.Millisecond)
		})
	}
}

// The offsets table is made with the others, marked as idemsim's, emptied
// by Reset and dropped by Drop; an older idemsim's tables, without it, get
// it. Bad partitions and offsets are refused before any round trip.
func TestOffsetsTable(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_offtab")
	require.NoError(t, err)
	tx, err := l.Begin(ctx)
	require.NoError(t, err)
	ok, err := tx.AdvanceOffset(ctx, 3, 0, 7)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = tx.ReadOffset(ctx, 0)
	assert.ErrorIs(t, err, strategies.ErrBadOffset)
	_, err = tx.AdvanceOffset(ctx, 3, 7, -2)
	assert.ErrorIs(t, err, strategies.ErrBadOffset)
	require.NoError(t, tx.Commit(ctx))
	var comment string
	require.NoError(t, pool.QueryRow(ctx, `SELECT obj_description('pg_offtab_offsets'::regclass, 'pg_class')`).Scan(&comment))
	assert.Contains(t, comment, "created by idemsim")
	require.NoError(t, l.Reset(ctx))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_offtab_offsets`).Scan(&n))
	assert.Zero(t, n, "Reset empties it")

	_, err = pool.Exec(ctx, `DROP TABLE pg_offtab_offsets`)
	require.NoError(t, err)
	_, err = New(ctx, pool, "pg_offtab")
	require.NoError(t, err, "an older idemsim's tables get the offsets table")
	dropped, err := Drop(ctx, pool, "pg_offtab")
	require.NoError(t, err)
	assert.Contains(t, dropped, "public.pg_offtab_offsets")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'pg_offtab_offsets'`).Scan(&n))
	assert.Zero(t, n)
}
