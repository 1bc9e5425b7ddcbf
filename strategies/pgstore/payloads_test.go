package pgstore

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
)

// Two events under one id (a producer that reuses ids) are counted apart
// by payload, where Applications adds them up under the id; and
// db-unique-payload, on PostgreSQL, applies the first, skips its copy and
// refuses the second payload, whose hash it finds unlike the stored one.
func TestApplicationsByPayloadAndDBUniquePayload(t *testing.T) {
	pool, ctx := testPool(t), ctx5(t)
	l, err := New(ctx, pool, "pg_payload")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = Drop(ctx5(t), pool, "pg_payload") })
	require.NoError(t, l.Reset(ctx))

	first := strategies.Event{ID: 7, Account: 2, Amount: 10}
	second := strategies.Event{ID: 7, Account: 3, Amount: 11}
	h := strategies.DBUniquePayload{Ledger: l}
	for _, c := range []struct {
		e    strategies.Event
		want strategies.Outcome
	}{{first, strategies.Applied}, {first, strategies.Skipped}, {second, strategies.Refused}} {
		out, err := h.Handle(ctx, c.e)
		require.NoError(t, err)
		assert.Equal(t, c.want, out, "%+v", c.e)
	}
	// The second payload's effect, applied as a strategy that keeps no
	// mark would.
	tx, err := l.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Apply(ctx, second))
	require.NoError(t, tx.Commit(ctx))

	byPayload, err := l.ApplicationsByPayload(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.Event]int{first: 1, second: 1}, byPayload)
	byID, err := l.Applications(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.EventID]int{7: 2}, byID)
}
