package realrun

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// A URL whose port is the other server's gets told so, not "cannot be
// reached ... start one": Redis's client meets PostgreSQL, which closes
// the connection on a Redis command, and PostgreSQL's client meets Redis,
// which never answers its handshake (with sslmode prefer, the default,
// the first thing it sends is the TLS request). Nothing but the run's own
// connection attempt touches the other server.
func TestAnotherServersPortIsNamed(t *testing.T) {
	rs := testserver.SharedRedis(t)
	ps := testserver.SharedPostgres(t)
	pc, err := pgxpool.ParseConfig(ps.URL)
	require.NoError(t, err)
	pgAddr := net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port)))
	if !strings.HasPrefix(pgAddr, "127.0.0.1:") {
		t.Skipf("needs PostgreSQL on TCP, not %s", pgAddr)
	}
	ctx := context.Background()
	opt, err := redis.ParseURL(rs.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keysBefore, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)

	for _, tc := range []struct {
		name, redisURL, pgURL, server, addr, how string
	}{
		{"redis URL at PostgreSQL", "redis://" + pgAddr + "/0", ps.URL, "Redis", pgAddr, "closed it without a Redis reply"},
		{"postgres URL at Redis", rs.URL, "postgres://postgres@" + rs.Addr + "/postgres", "PostgreSQL", rs.Addr, "did not answer PostgreSQL's handshake"},
		{"postgres URL at Redis, no TLS", rs.URL, "postgres://postgres@" + rs.Addr + "/postgres?sslmode=disable", "PostgreSQL", rs.Addr, "did not answer PostgreSQL's handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Run(ctx, Config{Config: run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1},
				RedisURL: tc.redisURL, PostgresURL: tc.pgURL, Prefix: "rr_wrongport"})
			require.Error(t, err)
			assert.Less(t, time.Since(start), 5*time.Second, "told within seconds")
			assert.ErrorIs(t, err, ErrWrongService)
			assert.NotErrorIs(t, err, ErrUnreachable)
			var se *ServerError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.server, se.Server)
			msg := err.Error()
			assert.Contains(t, msg, "something that is not "+tc.server+" listens at "+tc.addr+": ")
			assert.Contains(t, msg, tc.how)
			assert.Contains(t, msg, "is the port right?")
			assert.NotContains(t, msg, "start one with", "the server is not missing: another one is there")
		})
	}

	require.NoError(t, rdb.Ping(ctx).Err(), "Redis still answers")
	if rs.Owned {
		keysAfter, err := rdb.DBSize(ctx).Result()
		require.NoError(t, err)
		assert.Equal(t, keysBefore, keysAfter, "PostgreSQL's handshake wrote nothing into Redis")
	}
}

func TestWrongServiceHintNamesTheUsualPort(t *testing.T) {
	assert.Contains(t, wrongServiceHint("Redis", "127.0.0.1:5432", "--redis-url", "IDEMSIM_REDIS_URL"), "5432 is PostgreSQL's usual port")
	assert.Contains(t, wrongServiceHint("PostgreSQL", "db:6379", "--postgres-url", "IDEMSIM_POSTGRES_URL"), "6379 is Redis's usual port")
	h := wrongServiceHint("Redis", "127.0.0.1:7000", "--redis-url", "IDEMSIM_REDIS_URL")
	assert.NotContains(t, h, "usual port")
	assert.Contains(t, h, "--redis-url / IDEMSIM_REDIS_URL")
}
