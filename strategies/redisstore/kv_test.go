package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// kvOn returns a run's KV on the shared Redis, its client, and a context.
func kvOn(t *testing.T, prefix, runID string) (*redisstore.KV, *redis.Client, context.Context) {
	t.Helper()
	rs := testserver.SharedRedis(t)
	opt, err := redis.ParseURL(rs.URL)
	require.NoError(t, err)
	opt.MaxRetries = -1 // as real runs configure it
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	kv, err := redisstore.NewRunKV(rdb, prefix, runID)
	require.NoError(t, err)
	return kv, rdb, ctx
}

// DelIfEqual and SetIfEqual act only on the value given, under the run's
// namespace, and SetIfEqual's TTL is the new one (0: none).
func TestKVCompareAndAct(t *testing.T) {
	kv, rdb, ctx := kvOn(t, "cas", "00000000c0de")
	full := kv.Namespace() + "lock"
	assert.Equal(t, "cas:run:00000000c0de:kv:lock", full)

	ok, err := kv.DelIfEqual(ctx, "lock", "t1")
	require.NoError(t, err)
	assert.False(t, ok, "no key")
	ok, err = kv.SetIfEqual(ctx, "lock", "", "t1", 0)
	require.NoError(t, err)
	assert.False(t, ok, "no key is not an empty value")
	assert.Zero(t, rdb.Exists(ctx, full).Val())

	_, err = kv.Set(ctx, "lock", "t1", strategies.IfAbsent, 500*time.Millisecond)
	require.NoError(t, err)
	ok, err = kv.DelIfEqual(ctx, "lock", "t2")
	require.NoError(t, err)
	assert.False(t, ok, "another token")
	ok, err = kv.SetIfEqual(ctx, "lock", "t2", "t3", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "another token")
	assert.Equal(t, "t1", rdb.Get(ctx, full).Val())

	ok, err = kv.SetIfEqual(ctx, "lock", "t1", "t1b", 0)
	require.NoError(t, err)
	assert.True(t, ok, "extended")
	assert.Equal(t, "t1b", rdb.Get(ctx, full).Val())
	assert.Equal(t, time.Duration(-1), rdb.PTTL(ctx, full).Val(), "TTL 0: no expiry any more")
	ok, err = kv.SetIfEqual(ctx, "lock", "t1b", "t1", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
	pttl := rdb.PTTL(ctx, full).Val()
	assert.Greater(t, pttl, 50*time.Second, "the new TTL, on the server")
	assert.LessOrEqual(t, pttl, time.Minute)
	ok, err = kv.SetIfEqual(ctx, "lock", "t1", "t1", 30*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, ok)
	time.Sleep(80 * time.Millisecond)
	ok, err = kv.DelIfEqual(ctx, "lock", "t1")
	require.NoError(t, err)
	assert.False(t, ok, "the lease expired on the server's clock")

	_, err = kv.Set(ctx, "lock", "t1", strategies.Always, 0)
	require.NoError(t, err)
	ok, err = kv.DelIfEqual(ctx, "lock", "t1")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, rdb.Exists(ctx, full).Val())

	// Of token holders racing to release, each on its own connection,
	// only the owner does.
	_, err = kv.Set(ctx, "race", "tok-3", strategies.Always, time.Minute)
	require.NoError(t, err)
	var dels atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := kv.Shared(rdb).DelIfEqual(ctx, "race", "tok-"+strconv.Itoa(i%4))
			assert.NoError(t, err)
			if ok {
				dels.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), dels.Load())

	// A script flushed from Redis's cache is sent again (EVALSHA, then EVAL).
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	_, err = kv.Set(ctx, "lock", "t9", strategies.Always, time.Minute)
	require.NoError(t, err)
	ok, err = kv.DelIfEqual(ctx, "lock", "t9")
	require.NoError(t, err)
	assert.True(t, ok)
}

// Sets: SADD reports new members; a ttl > 0 sets the set's TTL (in the same
// script) and 0 leaves it; SREM of the last member deletes the set.
func TestKVSets(t *testing.T) {
	kv, rdb, ctx := kvOn(t, "sets", "00000000beef")
	full := kv.Namespace() + "s"
	ok, err := kv.SIsMember(ctx, "s", "a")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = kv.SRem(ctx, "s", "a")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = kv.SAdd(ctx, "s", "a", 0)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, time.Duration(-1), rdb.PTTL(ctx, full).Val(), "a new set does not expire")
	ok, err = kv.SAdd(ctx, "s", "a", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "already a member")
	assert.Greater(t, rdb.PTTL(ctx, full).Val(), 50*time.Second, "the TTL given, for the whole set, member there or not")
	ok, err = kv.SAdd(ctx, "s", "b", 0)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Greater(t, rdb.PTTL(ctx, full).Val(), 50*time.Second, "0 leaves the TTL")
	assert.ElementsMatch(t, []string{"a", "b"}, rdb.SMembers(ctx, full).Val(), "stored under the run's namespace")
	ok, err = kv.SIsMember(ctx, "s", "b")
	require.NoError(t, err)
	assert.True(t, ok)
	for _, m := range []string{"a", "b"} {
		ok, err = kv.SRem(ctx, "s", m)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Zero(t, rdb.Exists(ctx, full).Val(), "the last member took the set with it")

	_, err = kv.SAdd(ctx, "t", "a", 30*time.Millisecond)
	require.NoError(t, err)
	time.Sleep(80 * time.Millisecond)
	ok, err = kv.SIsMember(ctx, "t", "a")
	require.NoError(t, err)
	assert.False(t, ok, "the set expired on the server's clock")

	var added atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := kv.SAdd(ctx, "race", "m", time.Minute)
			assert.NoError(t, err)
			if ok {
				added.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), added.Load())
}

// Redis's WRONGTYPE is strategies.ErrWrongType, from a command or a
// script, and changes nothing: a failed SADD with a TTL leaves the string's
// TTL alone. SET overwrites a set and DEL deletes one, as Redis does.
func TestKVWrongType(t *testing.T) {
	kv, rdb, ctx := kvOn(t, "wt", "0000000000aa")
	_, err := kv.Set(ctx, "str", "v", strategies.Always, 0)
	require.NoError(t, err)
	_, err = kv.SAdd(ctx, "set", "m", 0)
	require.NoError(t, err)
	for name, call := range map[string]func() error{
		"SADD":         func() error { _, err := kv.SAdd(ctx, "str", "m", 0); return err },
		"SADD+PEXPIRE": func() error { _, err := kv.SAdd(ctx, "str", "m", time.Millisecond); return err },
		"SISMEMBER":    func() error { _, err := kv.SIsMember(ctx, "str", "v"); return err },
		"SREM":         func() error { _, err := kv.SRem(ctx, "str", "v"); return err },
		"GET":          func() error { _, _, err := kv.Get(ctx, "set"); return err },
		"DEL IFEQ":     func() error { _, err := kv.DelIfEqual(ctx, "set", "m"); return err },
		"SET IFEQ":     func() error { _, err := kv.SetIfEqual(ctx, "set", "m", "x", 0); return err },
	} {
		err := call()
		assert.ErrorIs(t, err, strategies.ErrWrongType, name)
		var rErr redis.Error
		assert.NotErrorAs(t, err, &rErr, "%s: not a Redis error reply, which a runner takes for a failing server", name)
		assert.Contains(t, err.Error(), kv.Namespace(), "%s: the message names the key", name)
	}
	time.Sleep(5 * time.Millisecond)
	assert.Equal(t, "v", rdb.Get(ctx, kv.Namespace()+"str").Val())
	assert.Equal(t, time.Duration(-1), rdb.PTTL(ctx, kv.Namespace()+"str").Val(), "the failed SADD set no TTL")
	assert.Equal(t, []string{"m"}, rdb.SMembers(ctx, kv.Namespace()+"set").Val())

	ok, err := kv.Set(ctx, "set", "now a string", strategies.IfPresent, 0)
	require.NoError(t, err)
	assert.True(t, ok)
	v, _, err := kv.Get(ctx, "set")
	require.NoError(t, err)
	assert.Equal(t, "now a string", v)
	_, err = kv.SAdd(ctx, "set2", "m", 0)
	require.NoError(t, err)
	ok, err = kv.Del(ctx, "set2")
	require.NoError(t, err)
	assert.True(t, ok)
}

// Misuse is refused before any round trip: bad keys, values, members and
// TTLs.
func TestKVBadInput(t *testing.T) {
	kv, _, ctx := kvOn(t, "bad", "0000000000bb")
	for _, key := range []string{"", "a\nb", strings.Repeat("k", strategies.MaxKeyLen+1)} {
		_, err := kv.DelIfEqual(ctx, key, "v")
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SetIfEqual(ctx, key, "v", "w", 0)
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SAdd(ctx, key, "m", 0)
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SIsMember(ctx, key, "m")
		assert.ErrorIs(t, err, strategies.ErrBadKey)
		_, err = kv.SRem(ctx, key, "m")
		assert.ErrorIs(t, err, strategies.ErrBadKey)
	}
	_, err := kv.DelIfEqual(ctx, "k", "v\x00")
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SetIfEqual(ctx, "k", "v", "\x01", 0)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SetIfEqual(ctx, "k", "v", "w", -time.Second)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SAdd(ctx, "k", "m\n", 0)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
	_, err = kv.SAdd(ctx, "k", "m", -time.Second)
	assert.ErrorIs(t, err, strategies.ErrBadValue)
}

// The sets and the values SetIfEqual wrote are deleted with the run's other
// keys, and clean finds a killed run's sets: nothing else.
func TestKVSetsAreDeletedAndCleaned(t *testing.T) {
	kv, rdb, ctx := kvOn(t, "setclean", "00000000abcd")
	_, err := kv.SAdd(ctx, "s1", "m", time.Minute)
	require.NoError(t, err)
	_, err = kv.SAdd(ctx, "s2", "m", 0)
	require.NoError(t, err)
	n, err := kv.DeleteWritten(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	require.NoError(t, rdb.SAdd(ctx, "setclean:keep", "m").Err())
	killed, err := redisstore.NewRunKV(rdb, "setclean", "00000000dead")
	require.NoError(t, err)
	_, err = killed.SAdd(ctx, "left", "behind", 0)
	require.NoError(t, err)
	_, err = killed.Set(ctx, "lock", "t", strategies.Always, 0)
	require.NoError(t, err)
	n, err = redisstore.Clean(ctx, rdb, "setclean")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "a killed run's set and string")
	assert.Equal(t, int64(1), rdb.Exists(ctx, "setclean:keep").Val())
}
