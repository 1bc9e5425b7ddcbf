package strategies_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/memstore"
)

func logHandler(t *testing.T, name string, l *memstore.Ledger) strategies.Handler {
	t.Helper()
	h, err := strategies.New(name, strategies.Deps{Ledger: l})
	require.NoError(t, err)
	return h
}

func handle(t *testing.T, h strategies.Handler, e strategies.Event) strategies.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := h.Handle(ctx, e)
	require.NoError(t, err)
	return out
}

// rec is the record at offset off of partition p, carrying event id.
func rec(id strategies.EventID, p int, off int64) strategies.Event {
	return strategies.Event{ID: id, Account: 1, Amount: 10, Partition: p, Offset: off}
}

// offset-in-db applies a partition's records in order and skips a replay
// of one the database has passed, whichever instance it comes to.
func TestOffsetInDBSkipsAReplay(t *testing.T) {
	l := memstore.NewLedger()
	a, b := logHandler(t, "offset-in-db", l), logHandler(t, "offset-in-db", l)
	assert.Equal(t, strategies.Applied, handle(t, a, rec(1, 3, 0)))
	assert.Equal(t, strategies.Applied, handle(t, a, rec(2, 3, 1)))
	assert.Equal(t, strategies.Skipped, handle(t, b, rec(1, 3, 0)), "replayed to another owner after a rebalance")
	assert.Equal(t, strategies.Skipped, handle(t, a, rec(2, 3, 1)), "replayed to the same owner after a lost commit")
	assert.Equal(t, map[strategies.EventID]int{1: 1, 2: 1}, l.Applications())
	assert.Equal(t, map[int]int64{3: 2}, l.Offsets())
}

// A producer's duplicate is a new record at a new offset: offset-in-db
// fences offsets, not events, and applies it again (the spec's "dup under
// redeliver").
func TestOffsetInDBAppliesAProducerDuplicate(t *testing.T) {
	l := memstore.NewLedger()
	h := logHandler(t, "offset-in-db", l)
	assert.Equal(t, strategies.Applied, handle(t, h, rec(1, 2, 0)))
	assert.Equal(t, strategies.Applied, handle(t, h, rec(1, 2, 1)), "the producer's retry appended event 1 again")
	assert.Equal(t, 2, l.Applications()[1])
}

// A record ahead of the stored offset waits for those before it
// (RetryLater), with nothing applied; partitions are apart.
func TestOffsetInDBRetriesAGap(t *testing.T) {
	l := memstore.NewLedger()
	h := logHandler(t, "offset-in-db", l)
	assert.Equal(t, strategies.RetryLater, handle(t, h, rec(2, 1, 1)), "offset 0 is not applied yet")
	assert.Equal(t, strategies.Applied, handle(t, h, rec(9, 2, 0)), "another partition goes on")
	assert.Empty(t, l.Applications()[2])
	assert.Equal(t, strategies.Applied, handle(t, h, rec(1, 1, 0)))
	assert.Equal(t, strategies.Applied, handle(t, h, rec(2, 1, 1)), "once the gap is filled")
	assert.Equal(t, map[int]int64{1: 2, 2: 1}, l.Offsets())
}

// A zombie and the partition's new owner handle the same record at once:
// the offset row lets exactly one apply, and the other skips; over many
// trials, never both.
func TestOffsetInDBZombieRace(t *testing.T) {
	l := memstore.NewLedger()
	zombie, owner := logHandler(t, "offset-in-db", l), logHandler(t, "offset-in-db", l)
	const trials = 50
	skipped := 0
	for k := range trials {
		e := rec(strategies.EventID(k+1), 1, int64(k))
		var wg sync.WaitGroup
		outs := make([]strategies.Outcome, 2)
		for i, h := range []strategies.Handler{zombie, owner} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i] = handle(t, h, e)
			}()
		}
		wg.Wait()
		assert.ElementsMatch(t, []strategies.Outcome{strategies.Applied, strategies.Skipped}, outs, "record %d", k)
		for _, o := range outs {
			if o == strategies.Skipped {
				skipped++
			}
		}
	}
	assert.Equal(t, trials, skipped)
	for id, n := range l.Applications() {
		assert.Equal(t, 1, n, "event %d", id)
	}
	assert.Equal(t, map[int]int64{1: trials}, l.Offsets())
}

// An effect that fails leaves the offset where it was: the record applies
// when it comes again.
func TestOffsetInDBFailedEffectKeepsTheOffset(t *testing.T) {
	l := memstore.NewLedger()
	failed := false
	l.FailApply = func(strategies.Event) error {
		if failed {
			return nil
		}
		failed = true
		return assert.AnError
	}
	h := logHandler(t, "offset-in-db", l)
	_, err := h.Handle(context.Background(), rec(1, 1, 0))
	require.Error(t, err)
	assert.Empty(t, l.Offsets())
	assert.Equal(t, strategies.Applied, handle(t, h, rec(1, 1, 0)))
}

// kafka-commit deduplicates nothing: a replay and a producer's duplicate
// both apply again, and it never touches the offsets table (the consumer
// loop commits the offset in the broker).
func TestKafkaCommitAppliesEveryCopy(t *testing.T) {
	l := memstore.NewLedger()
	a, b := logHandler(t, "kafka-commit", l), logHandler(t, "kafka-commit", l)
	assert.Equal(t, strategies.Applied, handle(t, a, rec(1, 1, 0)))
	assert.Equal(t, strategies.Applied, handle(t, b, rec(1, 1, 0)), "a replay to another owner")
	assert.Equal(t, strategies.Applied, handle(t, a, rec(1, 1, 1)), "a producer's duplicate")
	assert.Equal(t, 3, l.Applications()[1])
	assert.Empty(t, l.Offsets())
}

// Both run on the log only, and say so.
func TestLogStrategiesRunOnTheLogOnly(t *testing.T) {
	for _, name := range []string{"kafka-commit", "offset-in-db"} {
		s, ok := strategies.Lookup(name)
		require.True(t, ok)
		assert.True(t, s.RunsOn("log"), name)
		assert.False(t, s.RunsOn("queue"), name)
		assert.NotContains(t, strategies.NamesOn("queue"), name)
		assert.Contains(t, strategies.NamesOn("log"), name)
	}
}

// offset-in-db tells a newly assigned owner where to start: the stored
// offset, or none before the partition's first record applied; the seek
// holds no lock.
func TestOffsetInDBSeeks(t *testing.T) {
	l := memstore.NewLedger()
	h := logHandler(t, "offset-in-db", l)
	seeker, ok := h.(strategies.Seeker)
	require.True(t, ok, "offset-in-db is a Seeker")
	ctx := context.Background()
	_, found, err := seeker.Seek(ctx, 4)
	require.NoError(t, err)
	assert.False(t, found, "nothing applied yet: start where the group committed")
	assert.Equal(t, strategies.Applied, handle(t, h, rec(1, 4, 0)))
	assert.Equal(t, strategies.Applied, handle(t, h, rec(2, 4, 1)))
	next, found, err := seeker.Seek(ctx, 4)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, int64(2), next)
	assert.Equal(t, strategies.Applied, handle(t, h, rec(3, 4, 2)), "the seek left no lock behind")

	kc := logHandler(t, "kafka-commit", l)
	_, isSeeker := kc.(strategies.Seeker)
	assert.False(t, isSeeker, "kafka-commit starts where the group committed")
}
