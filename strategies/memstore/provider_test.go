package memstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
)

// TestProviderKeys: a kept key replays its first receipt without a charge;
// other parameters are a mismatch; no key charges every time; a key past
// its retention is forgotten.
func TestProviderKeys(t *testing.T) {
	ctx := context.Background()
	p := NewProvider()
	p.Retention = 50 * time.Millisecond
	e := strategies.Event{ID: 1, Account: 2, Amount: 30}
	r1, err := p.Charge(ctx, "k", e)
	require.NoError(t, err)
	assert.False(t, r1.Replayed)
	r2, err := p.Charge(ctx, "k", e)
	require.NoError(t, err)
	assert.True(t, r2.Replayed)
	assert.Equal(t, r1.Charge, r2.Charge, "the first request's receipt")
	_, err = p.Charge(ctx, "k", strategies.Event{ID: 1, Account: 2, Amount: 31})
	assert.ErrorIs(t, err, strategies.ErrKeyMismatch)
	assert.Equal(t, 1, p.Charges()[1])

	for range 2 {
		_, err = p.Charge(ctx, "", e)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, p.Charges()[1], "no key: every request charges")

	time.Sleep(60 * time.Millisecond)
	r3, err := p.Charge(ctx, "k", e)
	require.NoError(t, err)
	assert.False(t, r3.Replayed, "the key expired: a new charge")
	assert.Equal(t, 4, p.Charges()[1])

	_, err = p.Charge(ctx, "bad\nkey", e)
	assert.ErrorIs(t, err, strategies.ErrBadKey)
}

// TestProviderConflict: a request whose key's first request still runs is
// refused as a conflict, and charges nothing.
func TestProviderConflict(t *testing.T) {
	ctx := context.Background()
	p := NewProvider()
	p.Processing = 100 * time.Millisecond
	e := strategies.Event{ID: 7, Account: 1, Amount: 1}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := p.Charge(ctx, "k", e)
		assert.NoError(t, err)
	}()
	time.Sleep(20 * time.Millisecond)
	_, err := p.Charge(ctx, "k", e)
	assert.ErrorIs(t, err, strategies.ErrKeyConflict)
	wg.Wait()
	assert.Equal(t, 1, p.Charges()[7])
}

// TestProviderCountsReusedIDsApart: two events that share an id, each with
// a payload of its own (a producer that reused an id), are counted apart
// per payload, and together per id.
func TestProviderCountsReusedIDsApart(t *testing.T) {
	ctx := context.Background()
	p := NewProvider()
	first := strategies.Event{ID: 5, Account: 1, Amount: 10}
	reused := strategies.Event{ID: 5, Account: 1, Amount: 11}
	_, err := p.Charge(ctx, "", first)
	require.NoError(t, err)
	for range 2 {
		_, err = p.Charge(ctx, "", reused)
		require.NoError(t, err)
	}
	// With a key, the reused id's other payload is a mismatch: no charge.
	_, err = p.Charge(ctx, "evt-5", first)
	require.NoError(t, err)
	_, err = p.Charge(ctx, "evt-5", reused)
	assert.ErrorIs(t, err, strategies.ErrKeyMismatch)

	assert.Equal(t, map[strategies.Event]int{first: 2, reused: 2}, p.ChargesByPayload())
	assert.Equal(t, map[strategies.EventID]int{5: 4}, p.Charges())
}
