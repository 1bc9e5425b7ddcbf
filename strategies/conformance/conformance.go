// Package conformance is the suite every strategy passes on every backend:
// what each strategy promises (a duplicate is skipped, two copies at once
// apply once) and what it does not (across instances, after a failed
// effect, after a mark expired). A backend plugs in with Run; the in-process
// backend (memstore) and real Redis plus PostgreSQL run it in this package's
// tests, and the simulator's own stores are held to the same promises by the
// outcome table (package sim).
package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
)

// Env is one test's view of a backend: empty stores shared by every
// instance it opens.
type Env struct {
	// Instance returns the stores of one more consumer instance (its own
	// connections, the shared data).
	Instance func() (strategies.MarkStore, strategies.Ledger)
	// Applications counts the committed applications of each event.
	Applications func() map[strategies.EventID]int
}

// Backend names a backend and opens a fresh Env for each test.
type Backend struct {
	Name string
	Open func(t *testing.T) Env
}

// Run runs the whole suite against b, for every strategy.
func Run(t *testing.T, b Backend) {
	for _, name := range strategies.Names {
		t.Run(name, func(t *testing.T) {
			t.Run("new event applies", func(t *testing.T) { newEventApplies(t, b, name) })
			t.Run("duplicate on the same instance", func(t *testing.T) { sameInstance(t, b, name) })
			t.Run("duplicate on another instance", func(t *testing.T) { otherInstance(t, b, name) })
			t.Run("two copies at once", func(t *testing.T) { concurrentCopies(t, b, name) })
			t.Run("failed effect then redelivery", func(t *testing.T) { failedEffect(t, b, name) })
			if strategies.NeedsMarks(name) {
				t.Run("mark expires", func(t *testing.T) { markExpires(t, b, name) })
			}
		})
	}
}

var nextID atomic.Uint64

// event returns an event no other test of this process uses, so that
// backends shared between tests need no cleaning.
func event() strategies.Event {
	id := strategies.EventID(nextID.Add(1) + uint64(time.Now().UnixNano()%1_000_000_000)*1000)
	return strategies.Event{ID: id, Account: int(id%10) + 1, Amount: 5}
}

func handler(t *testing.T, env Env, name string, ttl time.Duration, wrap func(strategies.Ledger) strategies.Ledger) strategies.Handler {
	t.Helper()
	marks, ledger := env.Instance()
	if wrap != nil {
		ledger = wrap(ledger)
	}
	h, err := strategies.New(name, strategies.Deps{Marks: marks, Ledger: ledger, MarkTTL: ttl})
	require.NoError(t, err)
	return h
}

func handle(t *testing.T, h strategies.Handler, e strategies.Event) strategies.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Handle(ctx, e)
	require.NoError(t, err)
	return out
}

func newEventApplies(t *testing.T, b Backend, name string) {
	env := b.Open(t)
	e := event()
	assert.Equal(t, strategies.Applied, handle(t, handler(t, env, name, 0, nil), e))
	assert.Equal(t, 1, env.Applications()[e.ID])
}

func sameInstance(t *testing.T, b Backend, name string) {
	env := b.Open(t)
	h := handler(t, env, name, 0, nil)
	e := event()
	handle(t, h, e)
	out := handle(t, h, e)
	if name == "none" {
		assert.Equal(t, strategies.Applied, out, "none deduplicates nothing")
		assert.Equal(t, 2, env.Applications()[e.ID])
		return
	}
	assert.Equal(t, strategies.Skipped, out)
	assert.Equal(t, 1, env.Applications()[e.ID])
}

// shared reports whether a strategy's memory is shared between instances.
func shared(name string) bool { return name != "none" && name != "local-cache" }

func otherInstance(t *testing.T, b Backend, name string) {
	env := b.Open(t)
	e := event()
	handle(t, handler(t, env, name, 0, nil), e)
	out := handle(t, handler(t, env, name, 0, nil), e)
	if !shared(name) {
		assert.Equal(t, strategies.Applied, out, "%s: another instance cannot know", name)
		assert.Equal(t, 2, env.Applications()[e.ID])
		return
	}
	assert.Equal(t, strategies.Skipped, out)
	assert.Equal(t, 1, env.Applications()[e.ID])
}

// concurrentCopies hands one event to two instances at the same moment,
// many times. Claims in one atomic step (redis) or a unique constraint
// (db-unique, db-unique-split) apply it once every time; a check and a set
// in two steps (redis-after) promise nothing; without shared memory it is
// applied twice.
func concurrentCopies(t *testing.T, b Backend, name string) {
	env := b.Open(t)
	const trials = 25
	h1, h2 := handler(t, env, name, 0, nil), handler(t, env, name, 0, nil)
	var ids []strategies.EventID
	for i := 0; i < trials; i++ {
		e := event()
		ids = append(ids, e.ID)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 2)
		for _, h := range []strategies.Handler{h1, h2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := h.Handle(context.Background(), e)
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	apps := env.Applications()
	twice := 0
	for _, id := range ids {
		switch n := apps[id]; n {
		case 1:
		case 2:
			twice++
		default:
			t.Fatalf("event %d applied %d times by two copies", id, n)
		}
	}
	switch name {
	case "redis", "db-unique", "db-unique-split":
		assert.Zero(t, twice, "%s applied two concurrent copies twice", name)
	case "none", "local-cache":
		assert.Equal(t, trials, twice, "%s: both copies apply", name)
	default:
		t.Logf("%s applied %d of %d concurrent pairs twice (it promises nothing here)", name, twice, trials)
	}
}

// failingOnce makes the first Apply of one event fail.
type failingOnce struct {
	strategies.Ledger
	id     strategies.EventID
	failed *atomic.Bool
}

var errInjected = errors.New("conformance: injected failure of the effect")

func (f failingOnce) Begin(ctx context.Context) (strategies.Tx, error) {
	tx, err := f.Ledger.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return failingTx{Tx: tx, f: f}, nil
}

type failingTx struct {
	strategies.Tx
	f failingOnce
}

func (t failingTx) Apply(ctx context.Context, e strategies.Event) error {
	if e.ID == t.f.id && t.f.failed.CompareAndSwap(false, true) {
		return errInjected
	}
	return t.Tx.Apply(ctx, e)
}

// failedEffect fails the effect once; the broker redelivers. A strategy
// whose mark commits with the effect (db-unique) applies it on the retry; one
// whose mark was committed before (redis, db-unique-split) skips it, and the
// event is lost; the others apply it.
func failedEffect(t *testing.T, b Backend, name string) {
	env := b.Open(t)
	e := event()
	var failed atomic.Bool
	h := handler(t, env, name, 0, func(l strategies.Ledger) strategies.Ledger {
		return failingOnce{Ledger: l, id: e.ID, failed: &failed}
	})
	_, err := h.Handle(context.Background(), e)
	require.ErrorIs(t, err, errInjected)
	out := handle(t, h, e)
	switch name {
	case "redis", "db-unique-split":
		assert.Equal(t, strategies.Skipped, out, "%s keeps its mark after the failure", name)
		assert.Equal(t, 0, env.Applications()[e.ID], "%s loses the event", name)
	default:
		assert.Equal(t, strategies.Applied, out)
		assert.Equal(t, 1, env.Applications()[e.ID])
	}
}

// markExpires: once the mark's TTL has passed, a late copy applies again.
func markExpires(t *testing.T, b Backend, name string) {
	env := b.Open(t)
	const ttl = 100 * time.Millisecond
	h := handler(t, env, name, ttl, nil)
	e := event()
	handle(t, h, e)
	assert.Equal(t, strategies.Skipped, handle(t, h, e), "within the TTL the mark holds")
	time.Sleep(2 * ttl)
	assert.Equal(t, strategies.Applied, handle(t, h, e), fmt.Sprintf("after %v the mark is gone", 2*ttl))
	assert.Equal(t, 2, env.Applications()[e.ID])
}
