package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// A run's marks live under its own namespace; Delete removes exactly them,
// and Clean removes only keys of a run's exact form.
func TestRunNamespaceDeleteAndClean(t *testing.T) {
	rs := testserver.SharedRedis(t)
	opt, err := redis.ParseURL(rs.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err = redisstore.NewRun(rdb, "ns", "not-hex")
	require.Error(t, err)
	a, err := redisstore.NewRun(rdb, "ns", "0123456789ab")
	require.NoError(t, err)
	b, err := redisstore.NewRun(rdb, "ns", "ba9876543210")
	require.NoError(t, err)
	assert.Equal(t, "ns:run:0123456789ab:mark:7", a.Key(7))

	ok, err := a.SetNX(ctx, 7, time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = b.SetNX(ctx, 7, time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "another run does not see this run's mark")
	require.NoError(t, a.Set(ctx, 8, time.Minute))
	keep := []string{"ns:mark:1", "ns:run:0123456789ab:other", "ns:run:short:mark:1", "other:run:0123456789ab:mark:1"}
	for _, k := range keep {
		require.NoError(t, rdb.Set(ctx, k, "keep", time.Minute).Err())
	}

	n, err := a.Delete(ctx, []strategies.EventID{7, 8, 9})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	ok, err = b.Exists(ctx, 7)
	require.NoError(t, err)
	assert.True(t, ok, "Delete touched only its own run's keys")

	n, err = redisstore.Clean(ctx, rdb, "ns")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "b's leftover mark")
	for _, k := range keep {
		v, err := rdb.Get(ctx, k).Result()
		require.NoError(t, err, k)
		assert.Equal(t, "keep", v, k)
	}
}

// The key-value store: values, conditions, TTLs on the server's clock, DEL,
// bad keys refused, and the keys it wrote deleted, nothing else.
func TestKV(t *testing.T) {
	rs := testserver.SharedRedis(t)
	opt, err := redis.ParseURL(rs.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := redisstore.NewRunKV(rdb, "kvns", "00000000abcd")
	require.NoError(t, err)
	other := kv.Shared(rdb)

	ok, err := kv.Set(ctx, "order:1", "INPROGRESS", strategies.IfAbsent, time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = other.Set(ctx, "order:1", "again", strategies.IfAbsent, 0)
	require.NoError(t, err)
	assert.False(t, ok, "NX: the key exists")
	ok, err = other.Set(ctx, "order:1", "COMPLETED", strategies.IfPresent, 0)
	require.NoError(t, err)
	assert.True(t, ok, "XX: the key exists")
	v, found, err := kv.Get(ctx, "order:1")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "COMPLETED", v)
	ok, err = kv.Set(ctx, "order:2", "x", strategies.IfPresent, 0)
	require.NoError(t, err)
	assert.False(t, ok, "XX: no such key")
	_, found, err = kv.Get(ctx, "order:2")
	require.NoError(t, err)
	assert.False(t, found)
	_, err = kv.Set(ctx, "short", "v", strategies.Always, 30*time.Millisecond)
	require.NoError(t, err)
	time.Sleep(80 * time.Millisecond)
	_, found, err = kv.Get(ctx, "short")
	require.NoError(t, err)
	assert.False(t, found, "the TTL passed on the server's clock")
	deleted, err := kv.Del(ctx, "order:1")
	require.NoError(t, err)
	assert.True(t, deleted)

	for _, bad := range []string{"", "a\nb", strings.Repeat("k", strategies.MaxKeyLen+1)} {
		_, _, err := kv.Get(ctx, bad)
		assert.ErrorIs(t, err, strategies.ErrBadKey, "%q", bad)
	}
	_, err = kv.Set(ctx, "k", "v\x00", strategies.Always, 0)
	assert.ErrorIs(t, err, strategies.ErrBadValue)

	require.NoError(t, rdb.Set(ctx, "kvns:keep", "keep", time.Minute).Err())
	_, err = kv.Set(ctx, "order:3", "v", strategies.Always, time.Minute)
	require.NoError(t, err)
	n, err := kv.DeleteWritten(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "order:3 (order:1 was deleted already, short expired)")
	keep, err := rdb.Get(ctx, "kvns:keep").Result()
	require.NoError(t, err)
	assert.Equal(t, "keep", keep)

	_, err = kv.Set(ctx, "left", "behind", strategies.Always, time.Minute)
	require.NoError(t, err)
	n, err = redisstore.Clean(ctx, rdb, "kvns")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a killed run's key")
}
