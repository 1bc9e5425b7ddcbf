package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// Timing of the simulated payment provider: a charge runs this long at the
// provider before it takes effect and answers, holding its idempotency key
// "running" meanwhile, so that a second request with the key can find it
// running (a conflict).
const (
	processingMin = 1 * time.Millisecond
	processingMax = 30 * time.Millisecond
)

// provider is the simulated payment provider (strategies.Provider): its
// idempotency keys, kept for the retention window after their request
// finished, and the charges it made, per event. It draws from a stream of
// its own (run.StreamProvider), only when a strategy charges, so that the
// runs of the other strategies draw as they always have.
type provider struct {
	keys      map[string]*providerKey
	charges   []int // per event id
	n         int   // charges made
	retention int64
	// failCharge makes every charge of these events fail with a 5xx
	// during the first handling attempt that charges them (RunScript's
	// FailApply): the message that attempt handles, once known, else 0.
	failCharge map[strategies.EventID]uint32
}

// providerKey is what the provider keeps of an idempotency key.
type providerKey struct {
	ev      strategies.Event // the first request's parameters
	running bool
	charge  string
	expires int64
}

func (p *provider) init(events int, retention time.Duration) {
	clear(p.keys)
	p.charges = resize(p.charges, events+1)
	p.n = 0
	p.retention = int64(retention)
	p.failCharge = nil
}

// serveCharge executes charge call id at the provider when its request
// arrives: a 5xx now and then, an answer from the key, or a charge that
// runs for a processing delay and then answers (chargeDone).
func (w *world) serveCharge(id uint32) {
	c := &w.calls[id]
	kv := &w.kvs[c.kv]
	r := w.rProvider
	p := &w.prov
	if w.p.ProviderErrors > 0 && r.Float64() < w.p.ProviderErrors || p.failing(c) {
		w.reply(id, reply{err: strategies.ErrProviderFailed})
		return
	}
	if kv.key != "" {
		k := p.keys[kv.key]
		if k != nil && !k.running && w.now >= k.expires && w.p.KeyRetention > 0 {
			// The key-expiry fault made the provider forget this key
			// early, and a request with it came.
			w.rec.Injected(faults.KeyExpiry, 1)
		}
		if k != nil && (k.running || w.now < k.expires) {
			switch {
			case k.ev.ID != c.ev.ID || k.ev.Account != c.ev.Account || k.ev.Amount != c.ev.Amount:
				w.reply(id, reply{err: strategies.ErrKeyMismatch})
			case k.running:
				w.reply(id, reply{err: strategies.ErrKeyConflict})
			default:
				kv.aux = k.charge
				w.reply(id, reply{ok: true, err: errReplayed})
			}
			return
		}
		if p.keys == nil {
			p.keys = make(map[string]*providerKey)
		}
		p.keys[kv.key] = &providerKey{ev: c.ev, running: true}
	}
	w.at(run.UniformDur(r, processingMin, processingMax), event{kind: evChargeDone, a: id})
}

// failing reports whether call c fails by the script's FailApply: it is a
// charge of the first attempt that charges its event.
func (p *provider) failing(c *call) bool {
	m, ok := p.failCharge[c.ev.ID]
	if !ok {
		return false
	}
	if m == 0 {
		p.failCharge[c.ev.ID] = c.msg
		return true
	}
	return m == c.msg
}

// chargeDone is charge call id taking effect at the provider, after its
// processing delay, whatever became of its caller: the charge counts, its
// key (if any) keeps the receipt for the retention window, and the answer
// goes back.
func (w *world) chargeDone(id uint32) {
	c := &w.calls[id]
	kv := &w.kvs[c.kv]
	p := &w.prov
	p.n++
	p.charges[w.number(c.ev)]++
	kv.aux = strategies.ChargeID(p.n)
	if kv.key != "" {
		k := p.keys[kv.key]
		k.running, k.charge, k.expires = false, kv.aux, w.now+p.retention
	}
	w.reply(id, reply{ok: true})
}

// errReplayed is how the provider's side marks a reply that it answered
// from a key (run.Replayed): its client gets a reply with replayed set,
// and no error. A sentinel, so that answerOf's test of the common answers
// stays as it was.
var errReplayed = errors.New("sim: provider: replayed from the key")

// simProvider is the instance's client of the payment provider. A bad key
// fails at once, without a round trip.
type simProvider struct{ in *instance }

func (s simProvider) Charge(_ context.Context, key string, e strategies.Event) (strategies.Receipt, error) {
	if key != "" {
		if err := strategies.ValidateKey(key); err != nil {
			return strategies.Receipt{}, err
		}
	}
	w := s.in.w
	if e.ID == 0 || uint64(e.ID) >= uint64(len(w.prov.charges)) {
		// The provider counts charges per event of the run: a charge
		// of another is the strategy's misuse, refused before any round
		// trip.
		return strategies.Receipt{}, fmt.Errorf("%w: a charge of event %d, which this run did not publish", strategies.ErrBadValue, e.ID)
	}
	w.kvs = append(w.kvs, kvCall{key: key})
	r := s.in.do(call{op: run.Charge, ev: e, kv: uint32(len(w.kvs) - 1)})
	if r.err != nil {
		return strategies.Receipt{}, r.err
	}
	return strategies.Receipt{Charge: r.value, Replayed: r.replayed}, nil
}
