package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// KV is an in-memory strategies.KV, with expiry on the wall clock.
type KV struct {
	mu sync.Mutex
	m  map[string]kvEntry
}

type kvEntry struct {
	value string
	exp   time.Time // zero: no expiry
}

// NewKV returns an empty KV store.
func NewKV() *KV { return &KV{m: map[string]kvEntry{}} }

func (k *KV) live(key string) (kvEntry, bool) {
	e, ok := k.m[key]
	return e, ok && (e.exp.IsZero() || time.Now().Before(e.exp))
}

// Get returns key's value, and whether it exists.
func (k *KV) Get(_ context.Context, key string) (string, bool, error) {
	if err := strategies.ValidateKey(key); err != nil {
		return "", false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.live(key)
	return e.value, ok, nil
}

// Set sets key to value if cond allows, with ttl (0: no expiry).
func (k *KV) Set(_ context.Context, key, value string, cond strategies.Cond, ttl time.Duration) (bool, error) {
	if err := strategies.ValidateKey(key); err != nil {
		return false, err
	}
	if err := strategies.ValidateValue(value); err != nil {
		return false, err
	}
	if ttl < 0 {
		return false, fmt.Errorf("%w: negative TTL %v", strategies.ErrBadValue, ttl)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.live(key)
	if cond == strategies.IfAbsent && ok || cond == strategies.IfPresent && !ok {
		return false, nil
	}
	e := kvEntry{value: value}
	if ttl > 0 {
		e.exp = time.Now().Add(ttl)
	}
	k.m[key] = e
	return true, nil
}

// Del deletes key and reports whether it existed.
func (k *KV) Del(_ context.Context, key string) (bool, error) {
	if err := strategies.ValidateKey(key); err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.live(key)
	delete(k.m, key)
	return ok, nil
}
