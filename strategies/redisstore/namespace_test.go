package redisstore_test

import (
	"context"
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
