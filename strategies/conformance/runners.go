package conformance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Env is one case's view of a backend: empty stores shared by every
// instance it opens.
type Env struct {
	// Instance returns the stores of one more consumer instance (its own
	// connections, the shared data): its Marks, KV and Ledger, and, if
	// it gives one, its Memory, which must be that instance's own
	// (memstore.NewMemory); strategies.New gives each instance a fresh
	// one where it gives none.
	Instance func() strategies.Deps
	// Applications counts the committed applications of each event.
	Applications func() map[strategies.EventID]int
	// Charges counts the charges of each event at the payment provider
	// that Instance gives (Deps.Provider): the effects of a strategy that
	// charges (strategies.NeedsProvider), which Run counts instead of
	// Applications. A backend with no provider leaves both nil, and
	// cannot play such a strategy.
	Charges func() map[strategies.EventID]int
}

// EnvRunner plays cases on a backend's stores: one handler per instance,
// the deliveries of each moment as goroutines started together, on the
// wall clock.
type EnvRunner struct {
	Backend string
	Open    func(t testing.TB) Env
}

// Name is the backend's name.
func (r EnvRunner) Name() string { return r.Backend }

var nextID atomic.Uint64

// nextPartition numbers the partitions of the cases' events.
var nextPartition atomic.Int32

// freshID returns an event id no other case of this process uses, so that
// backends shared between cases need no cleaning.
func freshID() strategies.EventID {
	return strategies.EventID(nextID.Add(1) + uint64(time.Now().UnixNano()%1_000_000_000)*1000)
}

var errInjected = errors.New("conformance: injected failure of the effect")

// caseLease is the lease of a case's handlers: longer than any case's
// redeliveries, so that a lease never ends within a case.
const caseLease = 5 * time.Second

// Run plays c. Instance i's handler gets Deps.Instance i and, unless the
// backend names it, Deps.Name "instance-i", as in the simulator.
func (r EnvRunner) Run(t testing.TB, strategy string, c Case) ([]strategies.Outcome, []int, error) {
	env := r.Open(t)
	events := make([]strategies.Event, c.Events())
	for k := range events {
		id := freshID()
		// Each event is record 0 of a partition of its own, as the
		// log would give it: every copy of an event is then the same
		// record, and a strategy of the log's offsets (offset-in-db)
		// plays every case; the others ignore where it lies.
		events[k] = strategies.Event{ID: id, Account: int(id%10) + 1, Amount: 1, Partition: int(nextPartition.Add(1))}
	}
	fail := &failures{once: map[strategies.EventID]*atomic.Bool{}}
	for _, k := range c.FailApply {
		fail.once[events[k].ID] = new(atomic.Bool)
	}
	st, _ := strategies.Lookup(strategy)
	if err := canPlay(env, st); err != nil {
		return nil, nil, err
	}
	charges := st.Needs.Has(strategies.NeedsProvider)
	if charges {
		if env.Charges == nil {
			return nil, nil, fmt.Errorf("conformance: backend %s gives no payment provider, which %s needs", r.Backend, strategy)
		}
		// The effect is the charge: the first handling of the event
		// fails at the provider instead, at every try.
		fail.charging = map[strategies.EventID]*atomic.Bool{}
		for id := range fail.once {
			fail.charging[id] = new(atomic.Bool)
		}
		fail.once = map[strategies.EventID]*atomic.Bool{}
	}
	handlers := make([]strategies.Handler, c.Instances)
	for i := range handlers {
		deps := env.Instance()
		deps.Ledger, deps.MarkTTL, deps.Lease = failing(deps.Ledger, fail), c.MarkTTL, caseLease
		if deps.Provider != nil {
			deps.Provider = failingProvider{deps.Provider, fail}
		}
		deps.Instance = i
		if deps.Name == "" {
			deps.Name = fmt.Sprintf("instance-%d", i)
		}
		h, err := strategies.New(strategy, deps)
		if err != nil {
			return nil, nil, err
		}
		handlers[i] = h
	}
	out := make([]strategies.Outcome, len(c.Deliveries))
	order := make([]int, len(c.Deliveries))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(c.Deliveries[a].At, c.Deliveries[b].At) })
	start := time.Now()
	for lo := 0; lo < len(order); {
		at := c.Deliveries[order[lo]].At
		hi := lo
		for hi < len(order) && c.Deliveries[order[hi]].At == at {
			hi++
		}
		time.Sleep(time.Until(start.Add(at)))
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for _, i := range order[lo:hi] {
			d := c.Deliveries[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if o, err := handlers[d.Instance].Handle(ctx, events[d.Event]); err == nil {
					out[i] = o
				}
				if done, ok := fail.charging[events[d.Event].ID]; ok {
					done.Store(true) // its first handling is over
				}
			}()
		}
		close(gate)
		wg.Wait()
		lo = hi
	}
	count := env.Applications
	if charges {
		count = env.Charges
	}
	counts := count()
	apps := make([]int, len(events))
	for k, e := range events {
		apps[k] = counts[e.ID]
	}
	return out, apps, nil
}

// ErrCannotPlay is what EnvRunner.Run returns for a strategy that needs a
// store the backend does not give (a Publisher, an outbox): the suite
// skips the strategy's cases there, saying so.
var ErrCannotPlay = errors.New("conformance: the backend cannot play the strategy")

// canPlay reports whether env's instances have what st needs beyond the
// stores every backend gives.
func canPlay(env Env, st strategies.Strategy) error {
	if !st.Needs.Has(strategies.NeedsPublisher) {
		return nil
	}
	d := env.Instance()
	if d.Publisher == nil {
		return fmt.Errorf("%w: %s publishes, and the backend gives no Publisher", ErrCannotPlay, st.Name)
	}
	if _, ok := d.Ledger.(strategies.OutboxReader); st.Needs.Has(strategies.NeedsOutbox) && !ok {
		return fmt.Errorf("%w: %s writes an outbox, and the backend's database has none", ErrCannotPlay, st.Name)
	}
	return nil
}

// failing wraps l so that the first Apply of some events fails; an
// outbox it has stays visible (failingOutbox).
func failing(l strategies.Ledger, f *failures) strategies.Ledger {
	if r, ok := l.(strategies.OutboxReader); ok {
		return failingOutbox{failingLedger{l, f}, r}
	}
	return failingLedger{l, f}
}

// failingOutbox is a failingLedger over a Ledger with an outbox.
type failingOutbox struct {
	failingLedger
	strategies.OutboxReader
}

// InsertOutbox inserts into the wrapped transaction's outbox, if it has one.
func (t failingTx) InsertOutbox(ctx context.Context, e strategies.Event) error {
	if o, ok := t.Tx.(strategies.OutboxTx); ok {
		return o.InsertOutbox(ctx, e)
	}
	return strategies.ErrNoOutbox
}

// failures makes the first Apply of some events fail, whichever instance
// makes it.
type failures struct {
	once map[strategies.EventID]*atomic.Bool
	// charging: for a strategy that charges, every charge of these
	// events fails (a 5xx) until the first handling of the event ends.
	charging map[strategies.EventID]*atomic.Bool
}

type failingProvider struct {
	strategies.Provider
	f *failures
}

func (p failingProvider) Charge(ctx context.Context, key string, e strategies.Event) (strategies.Receipt, error) {
	if done, ok := p.f.charging[e.ID]; ok && !done.Load() {
		return strategies.Receipt{}, strategies.ErrProviderFailed
	}
	return p.Provider.Charge(ctx, key, e)
}

type failingLedger struct {
	strategies.Ledger
	f *failures
}

// InsertApply fails as an Apply would, before anything is written.
func (l failingLedger) InsertApply(ctx context.Context, e strategies.Event) (bool, error) {
	if once, ok := l.f.once[e.ID]; ok && once.CompareAndSwap(false, true) {
		return false, errInjected
	}
	return l.Ledger.InsertApply(ctx, e)
}

func (l failingLedger) Begin(ctx context.Context) (strategies.Tx, error) {
	tx, err := l.Ledger.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return failingTx{tx, l.f}, nil
}

type failingTx struct {
	strategies.Tx
	f *failures
}

func (t failingTx) Apply(ctx context.Context, e strategies.Event) error {
	if once, ok := t.f.once[e.ID]; ok && once.CompareAndSwap(false, true) {
		return errInjected
	}
	return t.Tx.Apply(ctx, e)
}
