package strategies

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ReadProcessed reads id's row, as this transaction left it.
func (t *memTx) ReadProcessed(_ context.Context, id EventID) (string, bool, error) {
	t.m.calls = append(t.m.calls, "ReadProcessed")
	if st, ok := t.states[id]; ok {
		return st, true, nil
	}
	for _, in := range t.inserted {
		if in == id {
			return "", true, nil
		}
	}
	st, ok := t.m.states[id]
	return st, ok || t.m.processed[id], nil
}

// UpdateProcessed sets id's state to state if it is old.
func (t *memTx) UpdateProcessed(ctx context.Context, id EventID, old, state string) (bool, error) {
	cur, found, _ := t.ReadProcessed(ctx, id)
	t.m.calls[len(t.m.calls)-1] = "UpdateProcessed"
	if !found || cur != old {
		return false, nil
	}
	if t.states == nil {
		t.states = map[EventID]string{}
	}
	t.states[id] = state
	return true, nil
}

// Charge is the double's provider: keys kept forever, every charge an
// application of the event.
func (m *memory) Charge(_ context.Context, key string, e Event) (Receipt, error) {
	m.calls = append(m.calls, "Charge")
	if r, ok := m.keys[key]; ok && key != "" {
		r.Replayed = true
		return r, nil
	}
	m.charges++
	m.applied[e.ID]++
	r := Receipt{Charge: ChargeID(m.charges)}
	if key != "" {
		m.keys[key] = r
	}
	return r, nil
}

// scriptedProvider answers each charge with the next of its errors (nil:
// a fresh charge, errReplay: a replay), counting the calls.
type scriptedProvider struct {
	answers []error
	calls   int
}

var errReplay = errors.New("replay")

func (p *scriptedProvider) Charge(context.Context, string, Event) (Receipt, error) {
	a := p.answers[p.calls]
	p.calls++
	switch a {
	case nil:
		return Receipt{Charge: "ch_1"}, nil
	case errReplay:
		return Receipt{Charge: "ch_1", Replayed: true}, nil
	}
	return Receipt{}, a
}

var errLost = fmt.Errorf("reply lost: %w", ErrUnknownOutcome)

// TestAPIKeyOutcomes: api-key claims Applied only for a charge it made,
// and never claims to have done nothing after a try whose outcome it does
// not know.
func TestAPIKeyOutcomes(t *testing.T) {
	for _, c := range []struct {
		name    string
		answers []error
		want    Outcome
		err     error
		calls   int
	}{
		{"charged", []error{nil}, Applied, nil, 1},
		{"replayed", []error{errReplay}, Skipped, nil, 1},
		{"conflict", []error{ErrKeyConflict}, RetryLater, nil, 1},
		{"5xx then charged", []error{ErrProviderFailed, nil}, Applied, nil, 2},
		{"5xx then replayed", []error{ErrProviderFailed, errReplay}, Skipped, nil, 2},
		{"lost reply then replayed", []error{errLost, errReplay}, 0, ErrUnknownOutcome, 2},
		{"lost reply then conflict", []error{errLost, ErrKeyConflict}, 0, ErrUnknownOutcome, 2},
		{"lost reply then charged", []error{errLost, nil}, Applied, nil, 2},
		// A key known with other parameters (a reused id): refused to
		// a dead-letter queue, surfaced, not retried forever.
		{"mismatch", []error{ErrKeyMismatch}, Refused, nil, 1},
		{"gives up", []error{errLost, errLost, errLost, errLost}, 0, ErrUnknownOutcome, chargeRetries},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &scriptedProvider{answers: c.answers}
			out, err := APIKey{Provider: p}.Handle(context.Background(), Event{ID: 1, Account: 1, Amount: 1})
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, c.want, out)
			assert.Equal(t, c.calls, p.calls, "charges tried")
		})
	}
}

// TestAPINoKeyNeverRetries: without a key, a charge whose reply was lost
// is not repeated (it could charge twice), and the mark rolls back.
func TestAPINoKeyNeverRetries(t *testing.T) {
	m := newMemory()
	p := &scriptedProvider{answers: []error{errLost}}
	_, err := APINoKey{Ledger: m, Provider: p}.Handle(context.Background(), Event{ID: 1, Account: 1, Amount: 1})
	require.ErrorIs(t, err, ErrUnknownOutcome)
	assert.Equal(t, 1, p.calls)
	assert.False(t, m.processed[1], "the mark rolled back")
}

// TestAPIKeyDBRecordsTheKey: the intent's row holds the key; a copy that
// finds only the intent charges again with that key; one that finds the
// row done skips without a charge.
func TestAPIKeyDBRecordsTheKey(t *testing.T) {
	m := newMemory()
	keys := []string{"k1", "k2"}
	h := APIKeyDB{Ledger: m, Provider: m, newKey: func() string { k := keys[0]; keys = keys[1:]; return k }}
	e := Event{ID: 4, Account: 1, Amount: 3}
	// An intent left by a handler that crashed after its charge.
	m.processed[4], m.states[4] = true, "k0"
	m.keys["k0"] = Receipt{Charge: "ch_0"}
	out, err := h.Handle(context.Background(), e)
	require.NoError(t, err)
	assert.Equal(t, Skipped, out, "the recorded key's charge is replayed")
	assert.Equal(t, "done", m.states[4])
	assert.Zero(t, m.applied[4])
	calls := len(m.calls)
	out, err = h.Handle(context.Background(), e)
	require.NoError(t, err)
	assert.Equal(t, Skipped, out)
	assert.Equal(t, []string{"ReadProcessed", "Rollback"}, m.calls[calls:], "done: no charge")
	// A new event gets a fresh key, recorded before the charge.
	out, err = h.Handle(context.Background(), Event{ID: 5, Account: 1, Amount: 3})
	require.NoError(t, err)
	assert.Equal(t, Applied, out)
	assert.Contains(t, m.keys, "k1")
	assert.Equal(t, "done", m.states[5])
}
