package realrun

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// The reproductions of "real runs you can trust", each against throwaway
// servers: what a real run must never do to a user's data, and how it must
// report a server that fails.

func pgConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := conn.Exec(ctx, sql)
	require.NoError(t, err, sql)
}

func count(t *testing.T, conn *pgx.Conn, sql string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&n), sql)
	return n
}

// A table of the prefix's names that idemsim did not create is refused and
// left exactly as it was: its rows, its indexes, and no table added beside
// it.
func TestForeignTableIsRefusedUntouched(t *testing.T) {
	cfg := sharedServers(t, "app")
	conn := pgConn(t, cfg.PostgresURL)
	exec(t, conn, `DROP TABLE IF EXISTS app_ledger; CREATE TABLE app_ledger (event_id bigint, note text); INSERT INTO app_ledger VALUES (1, 'keep me')`)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 50}

	_, err := Run(context.Background(), cfg)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrRefused, "exit status 2: the user's data is protected, the run did not start")
	assert.NotErrorIs(t, err, ErrServerFailed)
	assert.Contains(t, err.Error(), "public.app_ledger (table) exists but was not created by idemsim")

	assert.Equal(t, 1, count(t, conn, `SELECT count(*) FROM app_ledger WHERE note = 'keep me'`))
	assert.Zero(t, count(t, conn, `SELECT count(*) FROM pg_indexes WHERE tablename = 'app_ledger'`), "no index added")
	assert.Zero(t, count(t, conn, `SELECT count(*) FROM pg_tables WHERE tablename IN ('app_processed', 'app_accounts')`), "nothing created beside it")
}

// A table idemsim created carries its mark, and a run on it works; a
// second run finds its own tables and empties them.
func TestOwnTablesAreReused(t *testing.T) {
	cfg := sharedServers(t, "rr_own")
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 20}
	realRun(t, cfg)
	conn := pgConn(t, cfg.PostgresURL)
	assert.Equal(t, 4, count(t, conn, `SELECT count(*) FROM pg_tables t WHERE t.tablename LIKE 'rr\_own\_%'
		AND obj_description(format('%I.%I', t.schemaname, t.tablename)::regclass, 'pg_class') LIKE 'created by idemsim%'`))
	res := realRun(t, cfg)
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "the second run started from empty tables")
}

// Two runs on one prefix would corrupt each other: the second is refused
// while the first goes on, unharmed.
func TestSecondRunOnAPrefixIsRefused(t *testing.T) {
	cfg := sharedServers(t, "rr_twice")
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 400}
	started := make(chan struct{})
	var once sync.Once
	first := cfg
	first.Progress = func(string) { once.Do(func() { close(started) }) }
	var res *run.Result
	var firstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, firstErr = Run(context.Background(), first)
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the first run did not start")
	}
	begin := time.Now()
	_, err := Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrRefused)
	assert.Contains(t, err.Error(), "prefix rr_twice (schema public) is in use by another idemsim run")
	assert.Contains(t, err.Error(), "application idemsim")
	assert.Less(t, time.Since(begin), 5*time.Second)

	<-done
	require.NoError(t, firstErr)
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "the first run was left alone")
	// Once the first run ended, the prefix is free again.
	cfg.Events = 10
	realRun(t, cfg)
}

// runAndBreak starts a run, breaks a server a second into it, and returns
// the run's error and how long after the break it came.
func runAndBreak(t *testing.T, cfg Config, breakIt func()) (error, time.Duration) {
	t.Helper()
	started := make(chan struct{})
	var once sync.Once
	cfg.Progress = func(string) { once.Do(func() { close(started) }) }
	var err error
	var res *run.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = Run(context.Background(), cfg)
	}()
	select {
	case <-started:
	case <-done:
		t.Fatalf("the run ended before the break: %v", err)
	}
	time.Sleep(time.Second)
	breakIt()
	broke := time.Now()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end within 30 s of the break")
	}
	assert.Nil(t, res, "no result, no verdict, for a run whose server failed")
	return err, time.Since(broke)
}

// A server that dies or hangs mid-run ends the run within seconds, with an
// error that names the server and what the run was doing: it is never
// reported as the strategy's violation.
func TestServerFailureMidRunIsNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own servers and breaks them")
	}
	for _, tc := range []struct {
		name   string
		server string // "Redis" or "PostgreSQL"
		brk    func(t *testing.T, rs *testserver.RedisServer, ps *testserver.PostgresServer)
	}{
		{"redis-killed", "Redis", func(t *testing.T, rs *testserver.RedisServer, _ *testserver.PostgresServer) { rs.Kill(t) }},
		{"redis-frozen", "Redis", func(t *testing.T, rs *testserver.RedisServer, _ *testserver.PostgresServer) { rs.Freeze(t) }},
		{"postgres-stopped", "PostgreSQL", func(t *testing.T, _ *testserver.RedisServer, ps *testserver.PostgresServer) { ps.Kill(t) }},
		{"postgres-frozen", "PostgreSQL", func(t *testing.T, _ *testserver.RedisServer, ps *testserver.PostgresServer) { ps.Freeze(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs *testserver.RedisServer
			var ps *testserver.PostgresServer
			if tc.server == "Redis" {
				rs, ps = testserver.Redis(t), testserver.SharedPostgres(t)
			} else {
				rs, ps = testserver.SharedRedis(t), testserver.Postgres(t)
			}
			cfg := Config{RedisURL: rs.URL, PostgresURL: ps.URL, Prefix: "rr_break"}
			cfg.Config = run.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 3, Events: 400}
			err, took := runAndBreak(t, cfg, func() { tc.brk(t, rs, ps) })
			require.Error(t, err)
			var se *ServerError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, ErrServerFailed)
			assert.Equal(t, tc.server, se.Server)
			assert.Contains(t, err.Error(), tc.server+" at 127.0.0.1:")
			assert.NotContains(t, err.Error(), "reproduce")
			assert.Less(t, took, 10*time.Second, "named within seconds: %v", err)
			t.Logf("%v after the break: %v", took.Round(time.Millisecond), err)
		})
	}
}

// The run's own statements do not wait on a lock another session holds:
// the held lock is named, within seconds.
func TestHeldTableLockIsNamed(t *testing.T) {
	cfg := sharedServers(t, "rr_locked")
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 10}
	realRun(t, cfg) // creates the tables
	conn := pgConn(t, cfg.PostgresURL)
	exec(t, conn, `BEGIN; LOCK TABLE rr_locked_ledger IN ACCESS SHARE MODE`)
	defer exec(t, conn, `ROLLBACK`)

	begin := time.Now()
	_, err := Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrServerFailed)
	assert.Less(t, time.Since(begin), 8*time.Second)
	assert.Contains(t, err.Error(), "emptying the tables rr_locked_*")
	assert.Contains(t, err.Error(), "another session holds a lock on one of the tables: pid ")
	assert.Contains(t, err.Error(), "AccessShareLock")
}

// A frozen server during the final read is reported, not waited on.
func TestFinalReadHasADeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL and freezes it")
	}
	ps := testserver.Postgres(t)
	rs := testserver.SharedRedis(t)
	cfg := Config{RedisURL: rs.URL, PostgresURL: ps.URL, Prefix: "rr_read"}
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 5}
	cfg = cfg.withDefaults()
	srv, err := setUp(context.Background(), cfg)
	require.NoError(t, err)
	ps.Freeze(t)
	begin := time.Now()
	_, err = srv.readLedger(context.Background())
	require.ErrorIs(t, err, ErrServerFailed)
	assert.Contains(t, err.Error(), "reading the ledger at the end of the run")
	assert.Less(t, time.Since(begin), setupTimeout+2*time.Second)
	ps.Thaw(t)
	srv.tearDown(nil, nil)
}

// A server that answers but refuses the connection is not "unreachable":
// a wrong database, role or database number says so.
func TestRejectedConnectionIsNotUnreachable(t *testing.T) {
	rs := testserver.SharedRedis(t)
	ps := testserver.SharedPostgres(t)
	pgWith := func(user, db string) string {
		return strings.Replace(strings.Replace(ps.URL, "postgres@", user+"@", 1), "/postgres?", "/"+db+"?", 1)
	}
	for _, tc := range []struct {
		name, redisURL, pgURL, want string
	}{
		{"postgres database", rs.URL, pgWith("postgres", "no_such_db"), `database "no_such_db" does not exist`},
		{"postgres role", rs.URL, pgWith("no_such_role", "postgres"), `role "no_such_role" does not exist`},
		{"redis database number", strings.TrimSuffix(rs.URL, "/0") + "/999", ps.URL, "DB index is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.pgURL, "127.0.0.1") || !strings.HasPrefix(tc.redisURL, "redis://") {
				t.Skipf("needs throwaway servers: %s %s", tc.redisURL, tc.pgURL)
			}
			begin := time.Now()
			_, err := Run(context.Background(), Config{Config: run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1},
				RedisURL: tc.redisURL, PostgresURL: tc.pgURL, Prefix: "rr_rejected"})
			require.ErrorIs(t, err, ErrRejected)
			assert.NotErrorIs(t, err, ErrUnreachable)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "rejected the connection")
			assert.NotContains(t, err.Error(), "start one with")
			assert.Less(t, time.Since(begin), 5*time.Second)
		})
	}
}

// A SQL error the strategy cannot cause (here: its table dropped under it)
// ends the run and is shown, instead of every event counting as stuck.
func TestSQLErrorMidRunIsShown(t *testing.T) {
	cfg := sharedServers(t, "rr_dropped")
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 400}
	conn := pgConn(t, cfg.PostgresURL)
	err, took := runAndBreak(t, cfg, func() { exec(t, conn, `DROP TABLE rr_dropped_ledger`) })
	require.ErrorIs(t, err, ErrServerFailed)
	assert.Contains(t, err.Error(), "SQLSTATE 42P01")
	assert.Contains(t, err.Error(), "PostgreSQL at ")
	assert.Less(t, took, 5*time.Second)
	var pgErr interface{ SQLState() string }
	assert.True(t, errors.As(err, &pgErr), "the driver's error is kept: %v", err)
}
