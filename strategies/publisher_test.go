package strategies

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memory's Publisher and outbox, for the strategies that send events on.

var errPublish = errors.New("publish failed")

func (m *memory) Publish(_ context.Context, e Event) error {
	m.calls = append(m.calls, "Publish")
	if m.failApply < 0 { // a negative failApply fails publishes instead
		return errPublish
	}
	m.published = append(m.published, e.ID)
	return nil
}

func (t *memTx) InsertOutbox(_ context.Context, e Event) error {
	t.m.calls = append(t.m.calls, "InsertOutbox")
	t.outbox = append(t.outbox, e)
	return nil
}

func (m *memory) NextOutbox(context.Context) (OutboxRow, bool, error) {
	m.calls = append(m.calls, "NextOutbox")
	for _, r := range m.outbox {
		if !m.sent[r.Seq] {
			return r, true, nil
		}
	}
	return OutboxRow{}, false, nil
}

func (m *memory) MarkSent(_ context.Context, seq int64) (bool, error) {
	m.calls = append(m.calls, "MarkSent")
	if m.sent == nil {
		m.sent = map[int64]bool{}
	}
	was := m.sent[seq]
	m.sent[seq] = true
	return !was, nil
}

// TestPublishOrder pins down where each strategy publishes, and that a
// duplicate publishes nothing.
func TestPublishOrder(t *testing.T) {
	for _, name := range []string{"publish-after-commit", "publish-in-tx"} {
		t.Run(name, func(t *testing.T) {
			m := newMemory()
			h, err := New(name, m.deps())
			require.NoError(t, err)
			e := Event{ID: 3, Account: 1, Amount: 2}
			out, err := h.Handle(context.Background(), e)
			require.NoError(t, err)
			assert.Equal(t, Applied, out)
			out, err = h.Handle(context.Background(), e)
			require.NoError(t, err)
			assert.Equal(t, Skipped, out)
			assert.Equal(t, []EventID{3}, m.published, "one publish, by the copy that applied")
		})
	}
}

// TestPublishInTxRollsBackOnFailedPublish: a publish that fails rolls the
// transaction back (and the broker may hold the event all the same: the
// simulator shows the ghost).
func TestPublishInTxRollsBackOnFailedPublish(t *testing.T) {
	m := newMemory()
	m.failApply = -1
	h, err := New("publish-in-tx", m.deps())
	require.NoError(t, err)
	_, err = h.Handle(context.Background(), Event{ID: 1, Account: 1, Amount: 1})
	require.ErrorIs(t, err, errPublish)
	assert.Equal(t, []string{"Insert", "Apply", "Publish", "Rollback"}, m.calls)
	assert.Zero(t, m.applied[1])
}

// TestOutboxRelay: the handler only writes the outbox; the relay
// publishes each committed row once, marks it sent, and then finds none.
func TestOutboxRelay(t *testing.T) {
	m := newMemory()
	h, err := New("outbox", m.deps())
	require.NoError(t, err)
	for id := EventID(1); id <= 2; id++ {
		out, err := h.Handle(context.Background(), Event{ID: id, Account: 1, Amount: 1})
		require.NoError(t, err)
		assert.Equal(t, Applied, out)
	}
	assert.Empty(t, m.published, "the handler publishes nothing itself")
	r, ok, err := NewRelay("outbox", m.deps())
	require.NoError(t, err)
	require.True(t, ok)
	for i := 0; i < 2; i++ {
		sent, err := r.RelayOnce(context.Background())
		require.NoError(t, err)
		assert.True(t, sent)
	}
	sent, err := r.RelayOnce(context.Background())
	require.NoError(t, err)
	assert.False(t, sent)
	assert.Equal(t, []EventID{1, 2}, m.published)

	_, ok, err = NewRelay("db-unique", m.deps())
	require.NoError(t, err)
	assert.False(t, ok, "a strategy without a relay has none")
}

// TestNewRefusesMissingPublisher: misuse is an error, never a panic.
func TestNewRefusesMissingPublisher(t *testing.T) {
	m := newMemory()
	d := m.deps()
	d.Publisher = nil
	for _, name := range []string{"publish-after-commit", "publish-in-tx", "outbox"} {
		_, err := New(name, d)
		require.Error(t, err, name)
	}
}
