package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Provider is an in-process payment provider with the semantics of
// strategies.Provider: idempotency keys kept for Retention after their
// request finished, a mismatch for a key reused with other parameters, and
// a conflict for a request whose key's first request is still running.
// Processing, if set, is how long a charge runs before it takes effect,
// holding its key "running" meanwhile: what makes a conflict possible. It
// is safe for concurrent use; Charges counts the charges of each event
// id, ChargesByPayload those of each event id and payload.
type Provider struct {
	// Retention is how long a key is kept after its request finished;
	// 0 means strategies.DefaultKeyRetention.
	Retention time.Duration
	// Processing is how long each charge takes at the provider.
	Processing time.Duration
	// Fail, if set, is asked before each charge; an error it returns is
	// the provider's answer (use strategies.ErrProviderFailed for a 5xx),
	// with nothing charged and no key kept.
	Fail func(key string, e strategies.Event) error

	mu      sync.Mutex
	keys    map[string]*providerKey
	charges map[payload]int
	n       int
}

// payload is what the provider keeps of a charge to count it: its
// reference (the event id) and its parameters. Two events of one id with
// payloads of their own, as a producer that reused an id makes them, are
// counted apart, as the simulator's provider counts them.
type payload struct {
	id      strategies.EventID
	account int
	amount  int64
}

func payloadOf(e strategies.Event) payload { return payload{e.ID, e.Account, e.Amount} }

// providerKey is what the provider keeps of an idempotency key.
type providerKey struct {
	e       strategies.Event // the parameters of the first request
	running bool
	receipt strategies.Receipt
	expires time.Time
}

// NewProvider returns a provider with no charges and no keys, which keeps
// keys for the default retention window.
func NewProvider() *Provider { return &Provider{} }

func (p *Provider) retention() time.Duration {
	if p.Retention > 0 {
		return p.Retention
	}
	return strategies.DefaultKeyRetention
}

// Charge charges e as strategies.Provider says.
func (p *Provider) Charge(ctx context.Context, key string, e strategies.Event) (strategies.Receipt, error) {
	if key != "" {
		if err := strategies.ValidateKey(key); err != nil {
			return strategies.Receipt{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return strategies.Receipt{}, err
	}
	if p.Fail != nil {
		if err := p.Fail(key, e); err != nil {
			return strategies.Receipt{}, err
		}
	}
	p.mu.Lock()
	if p.keys == nil {
		p.keys, p.charges = map[string]*providerKey{}, map[payload]int{}
	}
	now := time.Now()
	var k *providerKey
	if key != "" {
		if old := p.keys[key]; old != nil && (old.running || now.Before(old.expires)) {
			// Read under the lock: a running charge completes its
			// key meanwhile.
			first, running, r := old.e, old.running, old.receipt
			p.mu.Unlock()
			switch {
			case !sameCharge(first, e):
				return strategies.Receipt{}, strategies.ErrKeyMismatch
			case running:
				return strategies.Receipt{}, strategies.ErrKeyConflict
			}
			r.Replayed = true
			return r, nil
		}
		k = &providerKey{e: e, running: true}
		p.keys[key] = k
	}
	p.mu.Unlock()
	if p.Processing > 0 {
		// The charge runs whatever the caller does meanwhile: a caller
		// that gives up does not stop it.
		time.Sleep(p.Processing)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.charges[payloadOf(e)]++
	r := strategies.Receipt{Charge: strategies.ChargeID(p.n)}
	if k != nil {
		k.running, k.receipt, k.expires = false, r, time.Now().Add(p.retention())
	}
	if err := ctx.Err(); err != nil {
		return strategies.Receipt{}, fmt.Errorf("memstore: provider: charged, but the caller gave up: %w: %w", strategies.ErrUnknownOutcome, err)
	}
	return r, nil
}

// sameCharge reports whether two requests have the same parameters.
func sameCharge(a, b strategies.Event) bool {
	return a.ID == b.ID && a.Account == b.Account && a.Amount == b.Amount
}

// Charges counts the charges made for each event id: the charges of two
// events that share an id (id-reuse) add up; ChargesByPayload tells them
// apart.
func (p *Provider) Charges() map[strategies.EventID]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[strategies.EventID]int, len(p.charges))
	for c, n := range p.charges {
		out[c.id] += n
	}
	return out
}

// ChargesByPayload counts the charges made for each event id and payload:
// the key is an event with its ID, Account and Amount set. With
// run.Workload.Number it counts per event, as the checkers judge.
func (p *Provider) ChargesByPayload() map[strategies.Event]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[strategies.Event]int, len(p.charges))
	for c, n := range p.charges {
		out[strategies.Event{ID: c.id, Account: c.account, Amount: c.amount}] = n
	}
	return out
}
