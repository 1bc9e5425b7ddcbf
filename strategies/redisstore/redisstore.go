package redisstore

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/strategies"
)

// Marks is a strategies.MarkStore on Redis.
type Marks struct {
	c      redis.UniversalClient
	prefix string
}

// New returns the marks of prefix on client c. The prefix is validated by
// strategies.ValidatePrefix.
//
// Configure c with MaxRetries: -1 (go-redis's default is 3 retries), or
// otherwise make sure SetNX and SetNXBatch are not retried. go-redis retries
// a command or pipeline after a read timeout; if the first SET NX took
// effect but its reply was late, the retry finds the key and answers "not
// set", so SetNX reports (false, nil), "claimed by someone else", and the
// event is skipped although nobody else claimed it. With MaxRetries: -1 the
// caller gets the timeout instead: an unknown outcome it can handle.
// TestSetNXRetryAfterLostReply shows both.
func New(c redis.UniversalClient, prefix string) (*Marks, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	return &Marks{c: c, prefix: prefix + ":mark:"}, nil
}

// runIDRE is the form of a run id: 12 lowercase hex digits.
var runIDRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// NewRun returns the marks of one run of prefix on client c: keys
// "<prefix>:run:<runID>:mark:<id>", so that runs never see each other's
// marks and a run's keys can be told from anyone else's. runID is 12
// lowercase hex digits.
func NewRun(c redis.UniversalClient, prefix, runID string) (*Marks, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if !runIDRE.MatchString(runID) {
		return nil, fmt.Errorf("redisstore: bad run id %q: want 12 lowercase hex digits", runID)
	}
	return &Marks{c: c, prefix: prefix + ":run:" + runID + ":mark:"}, nil
}

// Namespace is the common beginning of every key of these marks.
func (m *Marks) Namespace() string { return m.prefix }

// Key is the Redis key of id's mark.
func (m *Marks) Key(id strategies.EventID) string {
	return m.prefix + strconv.FormatUint(uint64(id), 10)
}

// SetNX claims id: SET key 1 NX PX ttl (no expiry when ttl is 0).
func (m *Marks) SetNX(ctx context.Context, id strategies.EventID, ttl time.Duration) (bool, error) {
	ok, err := m.c.SetNX(ctx, m.Key(id), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: SET NX %s: %w", m.Key(id), err)
	}
	return ok, nil
}

// Exists reports whether id's mark exists.
func (m *Marks) Exists(ctx context.Context, id strategies.EventID) (bool, error) {
	n, err := m.c.Exists(ctx, m.Key(id)).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: EXISTS %s: %w", m.Key(id), err)
	}
	return n == 1, nil
}

// Set sets id's mark: SET key 1 PX ttl.
func (m *Marks) Set(ctx context.Context, id strategies.EventID, ttl time.Duration) error {
	if err := m.c.Set(ctx, m.Key(id), 1, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: SET %s: %w", m.Key(id), err)
	}
	return nil
}

// SetNXBatch claims every id in one pipelined round trip and reports, per
// id, whether this call set its mark.
func (m *Marks) SetNXBatch(ctx context.Context, ids []strategies.EventID, ttl time.Duration) ([]bool, error) {
	cmds := make([]*redis.BoolCmd, len(ids))
	_, err := m.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.SetNX(ctx, m.Key(id), 1, ttl)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: pipelined SET NX of %d marks: %w", len(ids), err)
	}
	out := make([]bool, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// deleteChunk bounds the keys of one pipelined round trip of Delete.
const deleteChunk = 500

// Delete deletes the marks of ids, pipelined, and returns how many
// existed. It touches no other key, and needs no SCAN of the keyspace, so
// it is quick on a large Redis. Each key is its own UNLINK, so that on a
// cluster the keys may live in different slots.
func (m *Marks) Delete(ctx context.Context, ids []strategies.EventID) (int, error) {
	deleted := 0
	for start := 0; start < len(ids); start += deleteChunk {
		chunk := ids[start:min(start+deleteChunk, len(ids))]
		cmds := make([]*redis.IntCmd, len(chunk))
		_, err := m.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = p.Unlink(ctx, m.Key(id))
			}
			return nil
		})
		if err != nil {
			return deleted, fmt.Errorf("redisstore: delete %d marks %s*: %w", len(chunk), m.prefix, err)
		}
		for _, c := range cmds {
			deleted += int(c.Val())
		}
	}
	return deleted, nil
}

// Flush deletes every mark of this prefix, as a Redis restart without
// persistence would, and returns how many it deleted. On a cluster it
// scans every master.
func (m *Marks) Flush(ctx context.Context) (int, error) {
	var deleted atomic.Int64 // ForEachMaster runs masters in parallel
	flushOne := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, m.prefix+"*", 1000).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				n, err := c.Unlink(ctx, keys...).Result()
				if err != nil {
					return err
				}
				deleted.Add(n)
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cc, ok := m.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return flushOne(ctx, c) })
	} else {
		err = flushOne(ctx, m.c)
	}
	if err != nil {
		return int(deleted.Load()), fmt.Errorf("redisstore: flush %s*: %w", m.prefix, err)
	}
	return int(deleted.Load()), nil
}

// Clean deletes, on every master, the keys that runs of prefix left behind
// (runs delete their own keys when they end; a run that was killed cannot):
// keys of the exact forms "<prefix>:run:<12 hex digits>:mark:<digits>" and
// "<prefix>:run:<12 hex digits>:kv:<key>", and nothing else. It returns
// how many it deleted.
func Clean(ctx context.Context, c redis.UniversalClient, prefix string) (int, error) {
	if err := strategies.ValidatePrefix(prefix); err != nil {
		return 0, err
	}
	own := regexp.MustCompile(`^` + prefix + `:run:[0-9a-f]{12}:(mark:[0-9]+|kv:.+)$`)
	var deleted atomic.Int64
	cleanOne := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+":run:*", 1000).Result()
			if err != nil {
				return err
			}
			mine := keys[:0]
			for _, k := range keys {
				if own.MatchString(k) {
					mine = append(mine, k)
				}
			}
			if len(mine) > 0 {
				cmds := make([]*redis.IntCmd, len(mine))
				if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i, k := range mine {
						cmds[i] = p.Unlink(ctx, k)
					}
					return nil
				}); err != nil {
					return err
				}
				for _, cmd := range cmds {
					deleted.Add(cmd.Val())
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return cleanOne(ctx, c) })
	} else {
		err = cleanOne(ctx, c)
	}
	if err != nil {
		return int(deleted.Load()), fmt.Errorf("redisstore: clean %s:run:*: %w", prefix, err)
	}
	return int(deleted.Load()), nil
}
