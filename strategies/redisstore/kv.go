package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/strategies"
)

// KV is a strategies.KV on Redis: the keys a strategy names, under a
// namespace of their own, so that nothing outside it is touched.
type KV struct {
	c       redis.UniversalClient
	prefix  string  // every key begins with it
	written *keySet // the keys set through this KV, for DeleteWritten
}

// keySet is a set of keys that several KVs share and write at once.
type keySet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

// NewKV returns the keys of prefix on client c: a strategy's key k is
// stored as "<prefix>:kv:<k>". The prefix is validated by
// strategies.ValidatePrefix.
func NewKV(c redis.UniversalClient, prefix string) (*KV, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	return &KV{c: c, prefix: prefix + ":kv:", written: &keySet{m: map[string]struct{}{}}}, nil
}

// NewRunKV returns one run's keys of prefix on client c:
// "<prefix>:run:<runID>:kv:<k>", beside NewRun's marks.
func NewRunKV(c redis.UniversalClient, prefix, runID string) (*KV, error) {
	if _, err := NewRun(c, prefix, runID); err != nil {
		return nil, err
	}
	return &KV{c: c, prefix: prefix + ":run:" + runID + ":kv:", written: &keySet{m: map[string]struct{}{}}}, nil
}

// Namespace is the common beginning of every key of this KV.
func (k *KV) Namespace() string { return k.prefix }

// Shared returns a KV over another client, sharing this one's namespace and
// its record of written keys: each consumer has its own connections, and
// the run deletes every key any of them wrote.
func (k *KV) Shared(c redis.UniversalClient) *KV {
	return &KV{c: c, prefix: k.prefix, written: k.written}
}

func (k *KV) key(key string) (string, error) {
	if err := strategies.ValidateKey(key); err != nil {
		return "", err
	}
	return k.prefix + key, nil
}

// Get returns key's value, and whether it exists.
func (k *KV) Get(ctx context.Context, key string) (string, bool, error) {
	full, err := k.key(key)
	if err != nil {
		return "", false, err
	}
	v, err := k.c.Get(ctx, full).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("redisstore: GET %s: %w", full, err)
	}
	return v, true, nil
}

// Set sets key to value under cond with ttl (0: no expiry): SET with NX or
// XX and PX. It reports whether it set it.
func (k *KV) Set(ctx context.Context, key, value string, cond strategies.Cond, ttl time.Duration) (bool, error) {
	full, err := k.key(key)
	if err != nil {
		return false, err
	}
	if err := strategies.ValidateValue(value); err != nil {
		return false, err
	}
	if ttl < 0 {
		return false, fmt.Errorf("%w: negative TTL %v", strategies.ErrBadValue, ttl)
	}
	args := redis.SetArgs{TTL: ttl}
	switch cond {
	case strategies.IfAbsent:
		args.Mode = "NX"
	case strategies.IfPresent:
		args.Mode = "XX"
	}
	k.remember(full)
	_, err = k.c.SetArgs(ctx, full, value, args).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil // the condition did not hold
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: SET %s: %w", full, err)
	}
	return true, nil
}

// Del deletes key and reports whether it existed.
func (k *KV) Del(ctx context.Context, key string) (bool, error) {
	full, err := k.key(key)
	if err != nil {
		return false, err
	}
	n, err := k.c.Del(ctx, full).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: DEL %s: %w", full, err)
	}
	return n == 1, nil
}

// remember notes a key about to be written, before the write, so that a
// write whose reply is lost is deleted too.
func (k *KV) remember(full string) {
	k.written.mu.Lock()
	k.written.m[full] = struct{}{}
	k.written.mu.Unlock()
}

// DeleteWritten deletes every key written through this KV (and the KVs
// Shared from it), pipelined, and returns how many existed: no SCAN, no key
// outside the namespace.
func (k *KV) DeleteWritten(ctx context.Context) (int, error) {
	k.written.mu.Lock()
	keys := make([]string, 0, len(k.written.m))
	for key := range k.written.m {
		keys = append(keys, key)
	}
	k.written.mu.Unlock()
	deleted := 0
	for start := 0; start < len(keys); start += deleteChunk {
		chunk := keys[start:min(start+deleteChunk, len(keys))]
		cmds := make([]*redis.IntCmd, len(chunk))
		if _, err := k.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, key := range chunk {
				cmds[i] = p.Unlink(ctx, key)
			}
			return nil
		}); err != nil {
			return deleted, fmt.Errorf("redisstore: delete %d keys %s*: %w", len(chunk), k.prefix, err)
		}
		for _, c := range cmds {
			deleted += int(c.Val())
		}
	}
	return deleted, nil
}
