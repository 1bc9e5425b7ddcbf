package pgstore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
)

// The outbox on PostgreSQL: a row commits, or rolls back, with its
// transaction; the relay reads the oldest unsent committed row and marks
// it; each row names the effect of its transaction, which Effects finds
// among the committed ones, and an effect that rolled back is not there.
func TestOutboxCommitsWithItsTransaction(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_outbox")
	require.NoError(t, err)
	require.NoError(t, l.Reset(ctx))
	require.NoError(t, l.EnsureOutbox(ctx))
	require.NoError(t, l.ResetOutbox(ctx))

	insert := func(e strategies.Event, commit bool) int64 {
		tx, err := l.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.Apply(ctx, e))
		require.NoError(t, tx.(strategies.OutboxTx).InsertOutbox(ctx, e))
		effect := tx.(*Tx).Effect()
		require.NotZero(t, effect)
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
		return effect
	}
	e1, e2, e3 := strategies.Event{ID: 1, Account: 3, Amount: 10}, strategies.Event{ID: 2, Account: 4, Amount: 20}, strategies.Event{ID: 3, Account: 5, Amount: 30}
	fx1 := insert(e1, true)
	fx2 := insert(e2, false)
	fx3 := insert(e3, true)
	assert.NotEqual(t, fx1, fx3, "two transactions, two effects")

	// An open transaction's row is not there for the relay.
	open, err := l.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = open.Rollback(context.Background()) }()
	require.NoError(t, open.Apply(ctx, strategies.Event{ID: 4, Account: 6, Amount: 40}))
	require.NoError(t, open.(strategies.OutboxTx).InsertOutbox(ctx, strategies.Event{ID: 4, Account: 6, Amount: 40}))

	row, found, err := l.NextOutboxEntry(ctx)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, e1, row.Event)
	assert.Equal(t, fx1, row.Effect)
	was, err := l.MarkSent(ctx, row.Seq)
	require.NoError(t, err)
	assert.True(t, was)
	was, err = l.MarkSent(ctx, row.Seq)
	require.NoError(t, err)
	assert.False(t, was, "a row marked twice was sent already")

	next, found, err := l.NextOutbox(ctx)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, e3, next.Event, "the rolled back row is gone, the open one unseen")
	assert.Greater(t, next.Seq, row.Seq)
	_, err = l.MarkSent(ctx, next.Seq)
	require.NoError(t, err)
	_, found, err = l.NextOutbox(ctx)
	require.NoError(t, err)
	assert.False(t, found)

	effects, err := l.Effects(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []Effect{{Event: e1, Effect: fx1}, {Event: e3, Effect: fx3}}, effects)
	assert.NotContains(t, effects, Effect{Event: e2, Effect: fx2})

	// The downstream consumer's db-unique.
	fresh, err := l.InsertDownstream(ctx, 1, fx1)
	require.NoError(t, err)
	assert.True(t, fresh)
	fresh, err = l.InsertDownstream(ctx, 1, fx1)
	require.NoError(t, err)
	assert.False(t, fresh)
	fresh, err = l.InsertDownstream(ctx, 2, fx2)
	require.NoError(t, err)
	assert.True(t, fresh)
	rows, err := l.DownstreamRows(ctx)
	require.NoError(t, err)
	assert.Equal(t, []DownstreamRow{{1, fx1}, {2, fx2}}, rows)
}

// An outbox table of the prefix's name that idemsim did not create is
// refused and left as it is; Drop removes idemsim's own.
func TestOutboxRefusesAForeignTableAndDropRemoves(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS pg_obforeign_outbox, pg_obforeign_downstream`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `CREATE TABLE pg_obforeign_outbox (mine text)`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DROP TABLE IF EXISTS pg_obforeign_outbox`) })
	_, err = pool.Exec(ctx, `INSERT INTO pg_obforeign_outbox VALUES ('keep me')`)
	require.NoError(t, err)
	l, err := New(ctx, pool, "pg_obforeign")
	require.NoError(t, err)
	err = l.EnsureOutbox(ctx)
	require.ErrorIs(t, err, ErrNotOwned)
	assert.Contains(t, err.Error(), "pg_obforeign_outbox (table)")
	var mine string
	require.NoError(t, pool.QueryRow(ctx, `SELECT mine FROM pg_obforeign_outbox`).Scan(&mine))
	assert.Equal(t, "keep me", mine)
	var downstream bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('pg_obforeign_downstream') IS NOT NULL`).Scan(&downstream))
	assert.False(t, downstream, "nothing created beside a foreign table")
	dropped, err := Drop(ctx, pool, "pg_obforeign")
	require.ErrorIs(t, err, ErrNotOwned)
	assert.NotContains(t, dropped, "public.pg_obforeign_outbox")

	own, err := New(ctx, pool, "pg_obown")
	require.NoError(t, err)
	require.NoError(t, own.EnsureOutbox(ctx))
	dropped, err = Drop(ctx, pool, "pg_obown")
	require.NoError(t, err)
	assert.Contains(t, dropped, "public.pg_obown_outbox")
	assert.Contains(t, dropped, "public.pg_obown_downstream")
}
