package memstore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
)

// TestOutboxCommitsWithItsTransaction: a row is there once its
// transaction commits, never if it rolls back, and a relay marks it sent
// once.
func TestOutboxCommitsWithItsTransaction(t *testing.T) {
	ctx := context.Background()
	l := NewLedger()
	for i, commit := range []bool{false, true} {
		tx, err := l.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.(strategies.OutboxTx).InsertOutbox(ctx, strategies.Event{ID: strategies.EventID(i + 1)}))
		_, found, err := l.NextOutbox(ctx)
		require.NoError(t, err)
		assert.False(t, found, "an open transaction's row is not there")
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	row, found, err := l.NextOutbox(ctx)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, strategies.EventID(2), row.Event.ID)
	ok, err := l.MarkSent(ctx, row.Seq)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = l.MarkSent(ctx, row.Seq)
	require.NoError(t, err)
	assert.False(t, ok, "sent already")
	_, found, err = l.NextOutbox(ctx)
	require.NoError(t, err)
	assert.False(t, found)
	_, err = l.MarkSent(ctx, 9)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
}
