package realrun

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// TestMain serves as the payment provider when a run of the tests
// started this binary as one (a real run starts its own executable, which
// here is the test binary), and otherwise runs the tests.
func TestMain(m *testing.M) { provider.ChildMain(); testserver.Main(m) }

// sharedServers returns a Config pointing at the shared throwaway servers, with a
// prefix of the test's own.
func sharedServers(t *testing.T, prefix string) Config {
	t.Helper()
	rs := testserver.SharedRedis(t)
	ps := testserver.SharedPostgres(t)
	return Config{RedisURL: rs.URL, PostgresURL: ps.URL, Prefix: prefix}
}

func realRun(t *testing.T, cfg Config) *run.Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.True(t, res.CheckersAgree(), "porcupine and the audit disagree on a real run: %s", res.Reproduce)
	return res
}

// The three outcomes the spec's table names, on real servers.

func TestDBUniqueHoldsUnderEveryFault(t *testing.T) {
	for seed := uint64(1); seed <= 2; seed++ {
		cfg := sharedServers(t, "rr_dbunique")
		cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.AllFaults, Seed: seed, Events: 120}
		res := realRun(t, cfg)
		assert.Zero(t, res.Duplicates, "seed %d", seed)
		assert.Zero(t, res.Lost, "seed %d", seed)
		assert.Zero(t, res.Stuck, "seed %d", seed)
		assert.Positive(t, res.FaultsInjected["crash"]+res.FaultsInjected["partition"]+res.FaultsInjected["slow"], "faults struck")
	}
}

func TestLocalCacheDuplicatesAcrossInstances(t *testing.T) {
	cfg := sharedServers(t, "rr_localcache")
	cfg.Config = run.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 1, Instances: 3, Events: 120}
	res := realRun(t, cfg)
	assert.Positive(t, res.Duplicates, "a copy handled by another instance is applied again")
	assert.Zero(t, res.Lost)
}

func TestRedisClaimLosesEventsOnCrash(t *testing.T) {
	// A real run is not reproducible, so try a few seeds: a claim left by
	// a crash between claim and effect must lose an event in one of them.
	lost := 0
	for seed := uint64(1); seed <= 3 && lost == 0; seed++ {
		cfg := sharedServers(t, "rr_redis")
		cfg.Config = run.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: seed, Events: 150}
		res := realRun(t, cfg)
		assert.Zero(t, res.Duplicates)
		lost += res.Lost
	}
	assert.Positive(t, lost, "redis with crashes never lost an event")
}

func TestUnreachableServersAreNamedQuickly(t *testing.T) {
	ps := testserver.SharedPostgres(t)
	rs := testserver.SharedRedis(t)
	for _, tc := range []struct {
		name, redisURL, pgURL, want string
	}{
		{"redis", "redis://:s3cret@127.0.0.1:1/0", ps.URL, "Redis at 127.0.0.1:1"},
		{"postgres", rs.URL, "postgres://postgres:s3cret@127.0.0.1:1/postgres?sslmode=disable", "PostgreSQL at 127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Run(context.Background(), Config{Config: run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1},
				RedisURL: tc.redisURL, PostgresURL: tc.pgURL, Prefix: "rr_unreachable"})
			require.ErrorIs(t, err, ErrUnreachable)
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "start one with")
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestBadInputIsRefusedBeforeConnecting(t *testing.T) {
	for _, cfg := range []Config{
		{Config: run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash)}, Prefix: "Bad-Prefix"},
		{Config: run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash)}, RedisURL: "localhost:6379"},
		{Config: run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash)}, PostgresURL: "mysql://x@y/z"},
		{Config: run.Config{Strategy: "memcached", Faults: faults.Of(faults.Crash)}},
	} {
		_, err := Run(context.Background(), cfg)
		assert.ErrorIs(t, err, run.ErrBadConfig, "%+v", cfg)
	}
}

// TestTouchesOnlyItsPrefix: a run creates and empties its own tables,
// writes Redis keys only under its own namespace and deletes them at the
// end, and leaves everything else alone.
func TestTouchesOnlyItsPrefix(t *testing.T) {
	cfg := sharedServers(t, "rr_mine")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cfg.PostgresURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS rr_other_ledger (x int); TRUNCATE rr_other_ledger; INSERT INTO rr_other_ledger VALUES (7)`)
	require.NoError(t, err)
	opt, err := redis.ParseURL(cfg.RedisURL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	for _, k := range []string{"rr_other:mark:1", "rr_mine:mark:1", "rr_mine:other", "unrelated"} {
		require.NoError(t, rdb.Set(ctx, k, "keep", 0).Err())
	}

	// Under store-loss the run deletes its own keys mid-run, and must
	// delete nothing else; under crash its marks stay until it ends, so
	// the progress line of the heal phase sees them.
	for _, f := range []faults.Fault{faults.StoreLoss, faults.Crash} {
		var keysDuring int
		cfg.Config = run.Config{Strategy: "redis", Faults: faults.Of(f), Seed: 1, Events: 60}
		cfg.Progress = func(string) {
			n, _ := rdb.Keys(ctx, "rr_mine:run:*").Result()
			keysDuring = max(keysDuring, len(n))
		}
		res := realRun(t, cfg)
		assert.Equal(t, 60, res.Events)

		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM rr_other_ledger`).Scan(&n))
		assert.Equal(t, 1, n)
		for _, k := range []string{"rr_other:mark:1", "rr_mine:mark:1", "rr_mine:other", "unrelated"} {
			v, err := rdb.Get(ctx, k).Result()
			require.NoError(t, err, k)
			assert.Equal(t, "keep", v, "%s, after a run under %s", k, f)
		}
		var marks int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM rr_mine_processed`).Scan(&marks))
		assert.Zero(t, marks, "redis keeps its marks in Redis, not in the processed table")
		keys, err := rdb.Keys(ctx, "rr_mine:run:*").Result()
		require.NoError(t, err)
		assert.Empty(t, keys, "the run deletes its own keys when it ends")
		if f == faults.Crash {
			assert.Positive(t, keysDuring, "during the run its marks are in Redis under its own namespace")
		}
	}
}

// A real run's reproduce line keeps --backend real, a prefix and server
// addresses that are not the defaults, without their passwords, quoted for
// the shell.
func TestReproduceKeepsSettingsWithoutPasswords(t *testing.T) {
	base := run.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 3, Events: 40}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Config: base}, "idemsim run --strategy redis --faults crash --seed 3 --instances 3 --events 40 --broker queue --backend real"},
		{Config{Config: base, Prefix: DefaultPrefix, RedisURL: DefaultRedisURL}, "--events 40 --broker queue --backend real"},
		{Config{Config: base, Prefix: "mine", RedisURL: "redis://:s3cr3tPW@10.0.0.1:6380/2", PostgresURL: "postgres://app:s3cr3tPW@db:5432/app?sslmode=disable"},
			"--backend real --prefix mine --redis-url redis://10.0.0.1:6380/2 --postgres-url 'postgres://app@db:5432/app?sslmode=disable'"},
		{Config{Config: base, PostgresURL: "host=db user=app password=s3cr3tPW"}, "--backend real --postgres-url 'host=db user=app'"},
	} {
		got := tc.cfg.Reproduce()
		assert.True(t, strings.HasSuffix(got, tc.want), "%s\nwant suffix %s", got, tc.want)
		assert.NotContains(t, got, "s3cr3tPW")
	}
}

// A real run whose store calls time out where no fault of its scenario
// makes them time out says that its violation may be the machine's
// slowness, not the strategy's: here every call's deadline is too short
// for any server to answer.
func TestUninjectedTimeoutsAreNamed(t *testing.T) {
	cfg := sharedServers(t, "rr_slowcalls")
	cfg.Timing = DefaultTiming
	cfg.Timing.CallTimeout = time.Microsecond
	cfg.Timing.Liveness = 300 * time.Millisecond
	cfg.Config = run.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 1, Events: 3}
	var warnings []string
	cfg.Warn = func(s string) { warnings = append(warnings, s) }
	res := realRun(t, cfg)
	require.True(t, res.Violating(), "no call can succeed, so no event settles")
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], "although no fault of this run (crash) makes calls time out: the servers or this machine were slow")
}
