package strategies

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// batchStore is a sequential, in-memory BatchMarkStore, BatchApplier,
// BatchLedger and BatchInsertApplier that records its calls. It is also a
// plain MarkStore and Ledger, so that the single-event strategies run on it
// too, and so that HandleBatchRedis can be seen going through Begin when
// the BatchApplier is hidden.
type batchStore struct {
	marks     map[EventID]bool
	processed map[EventID]bool
	applied   map[EventID]int
	failApply bool // the next transaction fails at its effects
	calls     []string
}

func newBatchStore() *batchStore {
	return &batchStore{marks: map[EventID]bool{}, processed: map[EventID]bool{}, applied: map[EventID]int{}}
}

func (s *batchStore) SetNX(_ context.Context, id EventID, _ time.Duration) (bool, error) {
	s.calls = append(s.calls, "SetNX")
	if s.marks[id] {
		return false, nil
	}
	s.marks[id] = true
	return true, nil
}

func (s *batchStore) Exists(_ context.Context, id EventID) (bool, error) {
	s.calls = append(s.calls, "Exists")
	return s.marks[id], nil
}

func (s *batchStore) Set(_ context.Context, id EventID, _ time.Duration) error {
	s.calls = append(s.calls, "Set")
	s.marks[id] = true
	return nil
}

func (s *batchStore) SetNXBatch(_ context.Context, ids []EventID, _ time.Duration) ([]bool, error) {
	s.calls = append(s.calls, "SetNXBatch")
	out := make([]bool, len(ids))
	for i, id := range ids {
		if !s.marks[id] {
			s.marks[id] = true
			out[i] = true
		}
	}
	return out, nil
}

// fail reports whether this transaction fails, and clears the flag.
func (s *batchStore) fail() bool {
	f := s.failApply
	s.failApply = false
	return f
}

func (s *batchStore) ApplyBatch(_ context.Context, events []Event) error {
	s.calls = append(s.calls, "ApplyBatch")
	if s.fail() {
		return errApplyBatch
	}
	for _, e := range events {
		s.applied[e.ID]++
	}
	return nil
}

func (s *batchStore) ApplyBatchUnique(_ context.Context, events []Event) ([]bool, error) {
	s.calls = append(s.calls, "ApplyBatchUnique")
	if s.fail() {
		return nil, errApplyBatch // nothing commits: neither marks nor effects
	}
	out := make([]bool, len(events))
	for i, e := range events {
		if !s.processed[e.ID] {
			s.processed[e.ID] = true
			s.applied[e.ID]++
			out[i] = true
		}
	}
	return out, nil
}

func (s *batchStore) InsertApplyBatch(_ context.Context, events []Event) ([]bool, error) {
	s.calls = append(s.calls, "InsertApplyBatch")
	if s.fail() {
		return nil, errApplyBatch // one statement: nothing commits
	}
	out := make([]bool, len(events))
	for i, e := range events {
		if !s.processed[e.ID] {
			s.processed[e.ID] = true
			s.applied[e.ID]++
			out[i] = true
		}
	}
	return out, nil
}

func (s *batchStore) InsertApply(_ context.Context, e Event) (bool, error) {
	s.calls = append(s.calls, "InsertApply")
	if s.fail() {
		return false, errApplyBatch
	}
	if s.processed[e.ID] {
		return false, nil
	}
	s.processed[e.ID] = true
	s.applied[e.ID]++
	return true, nil
}

func (s *batchStore) Begin(context.Context) (Tx, error) {
	s.calls = append(s.calls, "Begin")
	return &batchTx{s: s}, nil
}

type batchTx struct {
	s        *batchStore
	inserted []EventID
	effects  []Event
}

func (t *batchTx) InsertProcessed(_ context.Context, id EventID) (bool, error) {
	t.s.calls = append(t.s.calls, "Insert")
	if t.s.processed[id] || slices.Contains(t.inserted, id) {
		return false, nil
	}
	t.inserted = append(t.inserted, id)
	return true, nil
}

func (t *batchTx) Apply(_ context.Context, e Event) error {
	t.s.calls = append(t.s.calls, "Apply")
	if t.s.fail() {
		return errApplyBatch
	}
	t.effects = append(t.effects, e)
	return nil
}

func (t *batchTx) Commit(context.Context) error {
	t.s.calls = append(t.s.calls, "Commit")
	for _, id := range t.inserted {
		t.s.processed[id] = true
	}
	for _, e := range t.effects {
		t.s.applied[e.ID]++
	}
	return nil
}

func (t *batchTx) Rollback(context.Context) error {
	t.s.calls = append(t.s.calls, "Rollback")
	return nil
}

// plainLedger hides the BatchApplier of a batchStore.
type plainLedger struct{ s *batchStore }

func (p plainLedger) Begin(ctx context.Context) (Tx, error) { return p.s.Begin(ctx) }

func (p plainLedger) InsertApply(ctx context.Context, e Event) (bool, error) {
	return p.s.InsertApply(ctx, e)
}

var errApplyBatch = errors.New("apply batch failed")

// batchEvents builds a batch of events with the given ids.
func batchEvents(ids ...EventID) []Event {
	out := make([]Event, len(ids))
	for i, id := range ids {
		out[i] = Event{ID: id, Account: int(id % 3), Amount: 10}
	}
	return out
}

func TestHandleBatchRedis(t *testing.T) {
	ctx := context.Background()
	s := newBatchStore()
	s.marks[4] = true // claimed earlier
	out, err := HandleBatchRedis(ctx, s, s, time.Hour, batchEvents(1, 2, 1, 4, 3, 2))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Applied, Applied, Skipped, Skipped, Applied, Skipped}, out)
	assert.Equal(t, map[EventID]int{1: 1, 2: 1, 3: 1}, s.applied)
	assert.Equal(t, []string{"SetNXBatch", "ApplyBatch"}, s.calls, "one pipelined claim, one transaction")

	// A redelivery of the batch skips it all, without a transaction.
	s.calls = nil
	out, err = HandleBatchRedis(ctx, s, s, time.Hour, batchEvents(1, 2, 3))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Skipped, Skipped, Skipped}, out)
	assert.Equal(t, []string{"SetNXBatch"}, s.calls)
}

func TestHandleBatchRedisOverAPlainLedger(t *testing.T) {
	s := newBatchStore()
	out, err := HandleBatchRedis(context.Background(), s, plainLedger{s}, 0, batchEvents(5, 6, 5))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Applied, Applied, Skipped}, out)
	assert.Equal(t, map[EventID]int{5: 1, 6: 1}, s.applied)
	assert.Equal(t, []string{"SetNXBatch", "Begin", "Apply", "Apply", "Commit"}, s.calls, "one transaction for the batch")

	s = newBatchStore()
	s.failApply = true
	_, err = HandleBatchRedis(context.Background(), s, plainLedger{s}, 0, batchEvents(5, 6))
	require.ErrorIs(t, err, errApplyBatch)
	assert.Equal(t, []string{"SetNXBatch", "Begin", "Apply", "Rollback"}, s.calls)
	assert.Empty(t, s.applied)
}

func TestHandleBatchRedisLosesTheBatchWhenItsEffectsFail(t *testing.T) {
	// The claims commit before the effects: when the transaction fails,
	// the marks stay and the redelivered batch is skipped. Every event of
	// the batch is lost, as with the single-event redis strategy.
	ctx := context.Background()
	s := newBatchStore()
	s.failApply = true
	out, err := HandleBatchRedis(ctx, s, s, time.Hour, batchEvents(1, 2, 3))
	require.ErrorIs(t, err, errApplyBatch)
	assert.Nil(t, out)
	out, err = HandleBatchRedis(ctx, s, s, time.Hour, batchEvents(1, 2, 3))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Skipped, Skipped, Skipped}, out)
	assert.Empty(t, s.applied, "lost: marked, never applied")
}

func TestHandleBatchDBUnique(t *testing.T) {
	ctx := context.Background()
	s := newBatchStore()
	s.processed[4] = true
	out, err := HandleBatchDBUnique(ctx, s, batchEvents(1, 2, 1, 4, 3, 2))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Applied, Applied, Skipped, Skipped, Applied, Skipped}, out)
	assert.Equal(t, map[EventID]int{1: 1, 2: 1, 3: 1}, s.applied)
	assert.Equal(t, []string{"ApplyBatchUnique"}, s.calls)

	out, err = HandleBatchDBUnique(ctx, s, batchEvents(3, 5))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Skipped, Applied}, out)
}

func TestHandleBatchDBUniqueRetriesAFailedBatch(t *testing.T) {
	// Marks and effects commit together: after a failed transaction the
	// redelivered batch applies every event, once.
	ctx := context.Background()
	s := newBatchStore()
	s.failApply = true
	_, err := HandleBatchDBUnique(ctx, s, batchEvents(1, 2))
	require.ErrorIs(t, err, errApplyBatch)
	out, err := HandleBatchDBUnique(ctx, s, batchEvents(1, 2))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Applied, Applied}, out)
	assert.Equal(t, map[EventID]int{1: 1, 2: 1}, s.applied)
}

func TestHandleBatchDBUniqueFast(t *testing.T) {
	ctx := context.Background()
	s := newBatchStore()
	s.processed[4] = true
	out, err := HandleBatchDBUniqueFast(ctx, s, batchEvents(1, 2, 1, 4, 3, 2))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Applied, Applied, Skipped, Skipped, Applied, Skipped}, out)
	assert.Equal(t, map[EventID]int{1: 1, 2: 1, 3: 1}, s.applied)
	assert.Equal(t, []string{"InsertApplyBatch"}, s.calls, "one statement for the batch")

	out, err = HandleBatchDBUniqueFast(ctx, s, batchEvents(3, 5))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Skipped, Applied}, out)
}

func TestHandleBatchDBUniqueFastRetriesAFailedBatch(t *testing.T) {
	// Marks and effects commit in one statement: after a failed one the
	// redelivered batch applies every event, once.
	ctx := context.Background()
	s := newBatchStore()
	s.failApply = true
	out, err := HandleBatchDBUniqueFast(ctx, s, batchEvents(1, 2))
	require.ErrorIs(t, err, errApplyBatch)
	assert.Nil(t, out)
	out, err = HandleBatchDBUniqueFast(ctx, s, batchEvents(1, 2))
	require.NoError(t, err)
	assert.Equal(t, []Outcome{Applied, Applied}, out)
	assert.Equal(t, map[EventID]int{1: 1, 2: 1}, s.applied)
}

// shortAnswer answers InsertApplyBatch for one event fewer than asked.
type shortAnswer struct{}

func (shortAnswer) InsertApplyBatch(_ context.Context, events []Event) ([]bool, error) {
	return make([]bool, len(events)-1), nil
}

func TestHandleBatchDBUniqueFastPanicsOnABrokenStore(t *testing.T) {
	assert.PanicsWithValue(t, "strategies: InsertApplyBatch answered 1 results for 2 events", func() {
		_, _ = HandleBatchDBUniqueFast(context.Background(), shortAnswer{}, batchEvents(1, 2))
	})
}

func TestBatchHandlersMatchTheirSingleEventStrategies(t *testing.T) {
	// The same deliveries, in batches or one by one, give the same
	// outcomes and the same ledger.
	ctx := context.Background()
	batches := [][]Event{batchEvents(1, 2, 3), batchEvents(2, 4, 4, 1), batchEvents(5), batchEvents(5, 6, 3, 7)}
	handlers := map[string]func(*batchStore, []Event) ([]Outcome, error){
		"redis": func(s *batchStore, b []Event) ([]Outcome, error) {
			return HandleBatchRedis(ctx, s, s, time.Hour, b)
		},
		"db-unique":      func(s *batchStore, b []Event) ([]Outcome, error) { return HandleBatchDBUnique(ctx, s, b) },
		"db-unique-fast": func(s *batchStore, b []Event) ([]Outcome, error) { return HandleBatchDBUniqueFast(ctx, s, b) },
	}
	for _, name := range []string{"redis", "db-unique", "db-unique-fast"} {
		t.Run(name, func(t *testing.T) {
			bs, one := newBatchStore(), newBatchStore()
			h, err := New(name, Deps{Marks: one, Ledger: one, MarkTTL: time.Hour})
			require.NoError(t, err)
			for _, batch := range batches {
				got, err := handlers[name](bs, batch)
				require.NoError(t, err)
				want := make([]Outcome, len(batch))
				for i, e := range batch {
					want[i], err = h.Handle(ctx, e)
					require.NoError(t, err)
				}
				assert.Equal(t, want, got, "batch %v", batch)
			}
			assert.Equal(t, one.applied, bs.applied)
		})
	}
}

func TestEmptyBatchCallsNothing(t *testing.T) {
	s := newBatchStore()
	out, err := HandleBatchRedis(context.Background(), s, s, 0, nil)
	require.NoError(t, err)
	assert.Empty(t, out)
	out, err = HandleBatchDBUnique(context.Background(), s, nil)
	require.NoError(t, err)
	assert.Empty(t, out)
	out, err = HandleBatchDBUniqueFast(context.Background(), s, nil)
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.Empty(t, s.calls)
}
