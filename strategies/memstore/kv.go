package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// KV is an in-memory strategies.KV, with expiry on the wall clock. As in
// Redis, a key holds a string or a set: a string call on a set, or a set
// call on a string, fails with strategies.ErrWrongType and changes
// nothing, except SET, which overwrites a key of either kind (as Redis's
// SET does), and DEL, which deletes either.
type KV struct {
	mu sync.Mutex
	m  map[string]kvEntry
}

type kvEntry struct {
	value string
	set   map[string]struct{} // not nil: the key holds a set, not value
	exp   time.Time           // zero: no expiry
}

// NewKV returns an empty KV store.
func NewKV() *KV { return &KV{m: map[string]kvEntry{}} }

func (k *KV) live(key string) (kvEntry, bool) {
	e, ok := k.m[key]
	return e, ok && (e.exp.IsZero() || time.Now().Before(e.exp))
}

// str returns key's live string value, whether key exists, and
// ErrWrongType (wrapped, naming the call op) if it holds a set.
func (k *KV) str(op, key string) (string, bool, error) {
	e, ok := k.live(key)
	switch {
	case !ok:
		return "", false, nil
	case e.set != nil:
		return "", false, wrongType(op, key)
	}
	return e.value, true, nil
}

// members returns key's live set, whether key exists, and ErrWrongType
// (wrapped) if it holds a string.
func (k *KV) members(op, key string) (kvEntry, bool, error) {
	e, ok := k.live(key)
	switch {
	case !ok:
		return kvEntry{}, false, nil // an expired key is no key
	case e.set == nil:
		return kvEntry{}, false, wrongType(op, key)
	}
	return e, true, nil
}

func wrongType(op, key string) error {
	return fmt.Errorf("memstore: %s %q: %w", op, key, strategies.ErrWrongType)
}

// expiry is the expiry time of a TTL: zero for none. A negative TTL is
// refused.
func expiry(ttl time.Duration) (time.Time, error) {
	switch {
	case ttl < 0:
		return time.Time{}, fmt.Errorf("%w: negative TTL %v", strategies.ErrBadValue, ttl)
	case ttl == 0:
		return time.Time{}, nil
	}
	return time.Now().Add(ttl), nil
}

// validate checks a key and the values of a call.
func validate(key string, values ...string) error {
	if err := strategies.ValidateKey(key); err != nil {
		return err
	}
	for _, v := range values {
		if err := strategies.ValidateValue(v); err != nil {
			return err
		}
	}
	return nil
}

// Get returns key's value, and whether it exists.
func (k *KV) Get(_ context.Context, key string) (string, bool, error) {
	if err := validate(key); err != nil {
		return "", false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.str("GET", key)
}

// Set sets key to value if cond allows, with ttl (0: no expiry). Like
// Redis's SET, it overwrites a set as it does a string.
func (k *KV) Set(_ context.Context, key, value string, cond strategies.Cond, ttl time.Duration) (bool, error) {
	if err := validate(key, value); err != nil {
		return false, err
	}
	exp, err := expiry(ttl)
	if err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.live(key)
	if cond == strategies.IfAbsent && ok || cond == strategies.IfPresent && !ok {
		return false, nil
	}
	k.m[key] = kvEntry{value: value, exp: exp}
	return true, nil
}

// Del deletes key, a string or a set, and reports whether it existed.
func (k *KV) Del(_ context.Context, key string) (bool, error) {
	if err := validate(key); err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.live(key)
	delete(k.m, key)
	return ok, nil
}

// DelIfEqual deletes key if its value is value, atomically, and reports
// whether it deleted it.
func (k *KV) DelIfEqual(_ context.Context, key, value string) (bool, error) {
	if err := validate(key, value); err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok, err := k.str("DEL IFEQ", key)
	if err != nil || !ok || v != value {
		return false, err
	}
	delete(k.m, key)
	return true, nil
}

// SetIfEqual sets key to value with ttl (0: no expiry) if its value is
// old, atomically, and reports whether it set it.
func (k *KV) SetIfEqual(_ context.Context, key, old, value string, ttl time.Duration) (bool, error) {
	if err := validate(key, old, value); err != nil {
		return false, err
	}
	exp, err := expiry(ttl)
	if err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok, err := k.str("SET IFEQ", key)
	if err != nil || !ok || v != old {
		return false, err
	}
	k.m[key] = kvEntry{value: value, exp: exp}
	return true, nil
}

// SAdd adds member to the set at key and reports whether it was not
// there; a ttl > 0 then gives the whole set that TTL, 0 leaves its expiry
// (a new set has none).
func (k *KV) SAdd(_ context.Context, key, member string, ttl time.Duration) (bool, error) {
	if err := validate(key, member); err != nil {
		return false, err
	}
	exp, err := expiry(ttl)
	if err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok, err := k.members("SADD", key)
	if err != nil {
		return false, err
	}
	if !ok {
		e = kvEntry{set: map[string]struct{}{}} // an expired set is gone: a new one
	}
	_, had := e.set[member]
	e.set[member] = struct{}{}
	if ttl > 0 {
		e.exp = exp
	}
	k.m[key] = e
	return !had, nil
}

// SIsMember reports whether member is in the set at key.
func (k *KV) SIsMember(_ context.Context, key, member string) (bool, error) {
	if err := validate(key, member); err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, _, err := k.members("SISMEMBER", key)
	_, in := e.set[member]
	return in && err == nil, err
}

// SRem removes member from the set at key and reports whether it was
// there; the set goes with its last member.
func (k *KV) SRem(_ context.Context, key, member string) (bool, error) {
	if err := validate(key, member); err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, _, err := k.members("SREM", key)
	if _, in := e.set[member]; !in || err != nil {
		return false, err
	}
	delete(e.set, member)
	if len(e.set) == 0 {
		delete(k.m, key)
	}
	return true, nil
}
