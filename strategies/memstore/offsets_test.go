package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/txscript"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/memstore"
)

// Every rule of the log's offsets table, as PostgreSQL keeps it (the same
// scenarios run on PostgreSQL in package pgstore's tests and on the
// simulator's database in package sim's).
func TestOffsetScenarios(t *testing.T) {
	for _, sc := range txscript.OffsetScenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			txscript.Play(t, memstore.NewLedger(), 0, sc, 30*time.Millisecond)
		})
	}
}

// A waiting offset call ends with its context, and the transaction goes
// on; bad partitions and offsets are refused before anything.
func TestOffsetWaitEndsWithContext(t *testing.T) {
	ctx := ctx5(t)
	l := memstore.NewLedger()
	holder, err := l.Begin(ctx)
	require.NoError(t, err)
	ok, err := holder.AdvanceOffset(ctx, 1, 0, 4)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, holder.Commit(ctx))
	holder, err = l.Begin(ctx)
	require.NoError(t, err)
	_, err = holder.ReadOffset(ctx, 1)
	require.NoError(t, err)

	tx, err := l.Begin(ctx)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = tx.AdvanceOffset(short, 1, 4, 5)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, holder.Rollback(ctx))
	ok, err = tx.AdvanceOffset(ctx, 1, 4, 5)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, tx.Commit(ctx))
	assert.Equal(t, map[int]int64{1: 5}, l.Offsets())

	tx, err = l.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.ReadOffset(ctx, 0)
	assert.ErrorIs(t, err, strategies.ErrBadOffset)
	_, err = tx.AdvanceOffset(ctx, 1, -1, 0)
	assert.ErrorIs(t, err, strategies.ErrBadOffset)
	require.NoError(t, tx.Rollback(ctx))
}
