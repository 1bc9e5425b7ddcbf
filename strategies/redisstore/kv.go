package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
		return "", false, callErr("GET", full, err)
	}
	return v, true, nil
}

// callErr wraps the error of a call on key full: Redis's WRONGTYPE as
// strategies.ErrWrongType (and not as a Redis error reply, which a runner
// takes for a failing server: a call on a key of the other kind is the
// strategy's doing), anything else as it is.
func callErr(op, full string, err error) error {
	if isWrongType(err) {
		return fmt.Errorf("redisstore: %s %s: %w", op, full, strategies.ErrWrongType)
	}
	return fmt.Errorf("redisstore: %s %s: %w", op, full, err)
}

// isWrongType reports whether err is Redis's WRONGTYPE error reply. From a
// script, Redis 7 passes the reply on as it is; Redis 6 puts it inside an
// "ERR Error running script" reply, so it is looked for anywhere in it.
func isWrongType(err error) bool {
	var rErr redis.Error
	return errors.As(err, &rErr) && strings.Contains(rErr.Error(), "WRONGTYPE")
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
		return false, callErr("SET", full, err)
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
		return false, callErr("DEL", full, err)
	}
	return n == 1, nil
}

// The compare-and-act calls are Lua scripts, which Redis runs atomically;
// KEYS[1] is the full key. A script stops at its first failing call, so a
// WRONGTYPE from GET or SADD leaves the key as it was.
var (
	// delIfEqualScript: ARGV[1] the token.
	delIfEqualScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)
	// setIfEqualScript: ARGV[1] the old value, ARGV[2] the new one,
	// ARGV[3] the TTL in milliseconds, "0" for none.
	setIfEqualScript = redis.NewScript(`if redis.call("GET", KEYS[1]) ~= ARGV[1] then
	return 0
end
if ARGV[3] == "0" then
	redis.call("SET", KEYS[1], ARGV[2])
else
	redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
end
return 1`)
	// saddExpireScript: ARGV[1] the member, ARGV[2] the set's TTL in
	// milliseconds. A script rather than MULTI/EXEC, which runs PEXPIRE
	// even after SADD failed with WRONGTYPE and so would give a string
	// key the set's TTL.
	saddExpireScript = redis.NewScript(`local added = redis.call("SADD", KEYS[1], ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return added`)
)

// millis is ttl in whole milliseconds for PX and PEXPIRE, at least 1 for a
// positive ttl (as go-redis rounds SET's PX).
func millis(ttl time.Duration) int64 {
	if ms := ttl.Milliseconds(); ms > 0 || ttl <= 0 {
		return ms
	}
	return 1
}

// checkTTL refuses a negative TTL.
func checkTTL(ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("%w: negative TTL %v", strategies.ErrBadValue, ttl)
	}
	return nil
}

// keyValues validates key and values and returns the full key.
func (k *KV) keyValues(key string, values ...string) (string, error) {
	full, err := k.key(key)
	if err != nil {
		return "", err
	}
	for _, v := range values {
		if err := strategies.ValidateValue(v); err != nil {
			return "", err
		}
	}
	return full, nil
}

// DelIfEqual deletes key if its value is value, atomically (a Lua script:
// GET, compare, DEL), and reports whether it deleted it.
func (k *KV) DelIfEqual(ctx context.Context, key, value string) (bool, error) {
	full, err := k.keyValues(key, value)
	if err != nil {
		return false, err
	}
	n, err := delIfEqualScript.Run(ctx, k.c, []string{full}, value).Int64()
	if err != nil {
		return false, callErr("DEL IFEQ", full, err)
	}
	return n == 1, nil
}

// SetIfEqual sets key to value with ttl (0: no expiry) if its value is
// old, atomically (a Lua script: GET, compare, SET [PX]), and reports
// whether it set it.
func (k *KV) SetIfEqual(ctx context.Context, key, old, value string, ttl time.Duration) (bool, error) {
	full, err := k.keyValues(key, old, value)
	if err != nil {
		return false, err
	}
	if err := checkTTL(ttl); err != nil {
		return false, err
	}
	k.remember(full)
	n, err := setIfEqualScript.Run(ctx, k.c, []string{full}, old, value, millis(ttl)).Int64()
	if err != nil {
		return false, callErr("SET IFEQ", full, err)
	}
	return n == 1, nil
}

// SAdd adds member to the set at key and reports whether it was not
// there: SADD, and with a ttl > 0 PEXPIRE of the whole set in the same
// Lua script.
func (k *KV) SAdd(ctx context.Context, key, member string, ttl time.Duration) (bool, error) {
	full, err := k.keyValues(key, member)
	if err != nil {
		return false, err
	}
	if err := checkTTL(ttl); err != nil {
		return false, err
	}
	k.remember(full)
	var n int64
	if ttl > 0 {
		n, err = saddExpireScript.Run(ctx, k.c, []string{full}, member, millis(ttl)).Int64()
	} else {
		n, err = k.c.SAdd(ctx, full, member).Result()
	}
	if err != nil {
		return false, callErr("SADD", full, err)
	}
	return n == 1, nil
}

// SIsMember reports whether member is in the set at key (SISMEMBER).
func (k *KV) SIsMember(ctx context.Context, key, member string) (bool, error) {
	full, err := k.keyValues(key, member)
	if err != nil {
		return false, err
	}
	in, err := k.c.SIsMember(ctx, full, member).Result()
	if err != nil {
		return false, callErr("SISMEMBER", full, err)
	}
	return in, nil
}

// SRem removes member from the set at key (SREM) and reports whether it
// was there; Redis deletes a set with its last member.
func (k *KV) SRem(ctx context.Context, key, member string) (bool, error) {
	full, err := k.keyValues(key, member)
	if err != nil {
		return false, err
	}
	n, err := k.c.SRem(ctx, full, member).Result()
	if err != nil {
		return false, callErr("SREM", full, err)
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
