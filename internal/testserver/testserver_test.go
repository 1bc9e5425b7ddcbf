package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

// ownedRedis returns a Redis server the test owns, skipping the test when
// IDEMSIM_REDIS_URL points at an existing one, which it must not write to.
func ownedRedis(t *testing.T) *RedisServer {
	s := Redis(t)
	if !s.Owned {
		t.Skipf("%s is set: this test restarts the server", envRedisURL)
	}
	return s
}

func TestRedisRestartStartsEmpty(t *testing.T) {
	t.Parallel()
	s := ownedRedis(t)
	require.Equal(t, "redis://"+s.Addr+"/0", s.URL)
	opts, err := redis.ParseURL(s.URL)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()

	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	got, err := c.Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got)

	addr := s.Addr
	s.Restart(t)
	assert.Equal(t, addr, s.Addr, "a restarted server keeps its port")
	_, err = c.Get(ctx, "k").Result()
	assert.ErrorIs(t, err, redis.Nil, "a restarted server is empty")
}

func TestRedisKillKeepsItDownUntilStart(t *testing.T) {
	t.Parallel()
	s := ownedRedis(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	require.NoError(t, c.Set(context.Background(), "k", "v", 0).Err())

	s.Kill(t)
	s.Kill(t) // a second Kill does nothing
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.Error(t, c.Ping(ctx).Err(), "a killed server does not answer")
	assert.Less(t, time.Since(began), 3*time.Second)

	s.Start(t)
	s.Start(t) // a second Start does nothing
	require.NoError(t, c.Ping(context.Background()).Err())
	assert.ErrorIs(t, c.Get(context.Background(), "k").Err(), redis.Nil)
}

func TestRedisRestartWhileClientsRun(t *testing.T) {
	t.Parallel()
	s := ownedRedis(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		defer c.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.Ping(context.Background()).Err() // fails while the server is down
			_ = s.URL
			time.Sleep(time.Millisecond)
		}
	}()
	s.Restart(t)
	s.Restart(t)
	close(stop)
	wg.Wait()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	require.NoError(t, c.Ping(context.Background()).Err())
}

func TestPostgresKeepsDataAcrossRestartAndKill(t *testing.T) {
	t.Parallel()
	s := Postgres(t)
	if !s.Owned {
		t.Skipf("%s is set: this test restarts the server", envPostgresURL)
	}
	ctx := context.Background()
	query := func(sql string) (int, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return 0, err
		}
		defer conn.Close(ctx)
		var n int
		err = conn.QueryRow(ctx, sql).Scan(&n)
		return n, err
	}

	conn, err := pgx.Connect(ctx, s.URL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE TABLE marks (id int PRIMARY KEY)")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "INSERT INTO marks VALUES (1), (2)")
	require.NoError(t, err)

	url := s.URL
	s.Restart(t)
	assert.Equal(t, url, s.URL, "a restarted server keeps its port")
	n, err := query("SELECT count(*) FROM marks")
	require.NoError(t, err, "the table survives a restart")
	assert.Equal(t, 2, n)

	s.Kill(t)
	began := time.Now()
	_, err = query("SELECT 1")
	assert.Error(t, err, "a killed server refuses connections")
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	assert.Error(t, conn.QueryRow(qctx, "SELECT 1").Scan(new(int)), "a connection open across Kill fails")
	assert.Less(t, time.Since(began), 3*time.Second)

	s.Start(t)
	n, err = query("SELECT count(*) FROM marks")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

func TestSharedServersAreOnePerBinaryAndCannotBeKilled(t *testing.T) {
	t.Parallel()
	r := SharedRedis(t)
	assert.Same(t, r, SharedRedis(t))
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	require.NoError(t, c.Ping(context.Background()).Err())

	p := SharedPostgres(t)
	assert.Same(t, p, SharedPostgres(t))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.URL)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	if r.Owned {
		rec := record(t, func(tb testing.TB) { r.Kill(tb) })
		assert.True(t, rec.failed, "Kill on a shared Redis fails the test")
		assert.Contains(t, rec.msg, "shared")
		require.NoError(t, c.Ping(context.Background()).Err())
	}
	if p.Owned {
		rec := record(t, func(tb testing.TB) { p.Restart(tb) })
		assert.True(t, rec.failed, "Restart on a shared PostgreSQL fails the test")
		assert.Contains(t, rec.msg, "shared")
	}
}

// These tests change the environment, so they do not run in parallel.

func TestMissingServersSkipOrFailUnderCI(t *testing.T) {
	t.Setenv(envRedisURL, "")
	t.Setenv(envPostgresURL, "")
	t.Setenv(envAMQPURL, "")
	t.Setenv("PATH", t.TempDir())
	savedRedis, savedLib, savedRabbit := redisPaths, postgresLibDir, rabbitPaths
	t.Cleanup(func() { redisPaths, postgresLibDir, rabbitPaths = savedRedis, savedLib, savedRabbit })
	redisPaths, postgresLibDir, rabbitPaths = nil, t.TempDir(), nil

	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		for name, start := range map[string]func(testing.TB){
			"redis":    func(tb testing.TB) { Redis(tb) },
			"postgres": func(tb testing.TB) { Postgres(tb) },
			"rabbitmq": func(tb testing.TB) { RabbitMQ(tb) },
		} {
			rec := record(t, start)
			hint := "apt-get install -y " + map[string]string{"redis": "redis-server", "postgres": "postgresql", "rabbitmq": "rabbitmq-server"}[name]
			assert.Contains(t, rec.msg, hint, "%s CI=%q", name, ci)
			assert.Equal(t, ci == "", rec.skipped, "%s CI=%q skips", name, ci)
			assert.Equal(t, ci != "", rec.failed, "%s CI=%q fails", name, ci)
		}
	}
}

func TestURLPointsAtAnExistingServer(t *testing.T) {
	owned := Redis(t)
	t.Setenv(envRedisURL, owned.URL)
	s := Redis(t)
	assert.False(t, s.Owned)
	assert.Equal(t, owned.Addr, s.Addr)
	rec := record(t, func(tb testing.TB) { s.Restart(tb) })
	assert.True(t, rec.skipped, "Restart skips on a server the test does not own")
}

func TestUnreachableURLFailsTheTest(t *testing.T) {
	port, err := freePort()
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", port) // closed: refused at once
	for env, url := range map[string]string{
		envRedisURL:    "redis://" + addr + "/0",
		envPostgresURL: "postgres://postgres@" + addr + "/postgres?sslmode=disable",
		envAMQPURL:     "amqp://guest:s3cr3tPW@" + addr + "/",
	} {
		t.Setenv(envRedisURL, "")
		t.Setenv(envPostgresURL, "")
		t.Setenv(envAMQPURL, "")
		t.Setenv(env, url)
		rec := record(t, func(tb testing.TB) {
			switch env {
			case envRedisURL:
				Redis(tb)
			case envPostgresURL:
				Postgres(tb)
			default:
				RabbitMQ(tb)
			}
		})
		assert.NotContains(t, rec.msg, "s3cr3tPW", env)
		assert.True(t, rec.failed, env)
		assert.Contains(t, rec.msg, addr, env)
		assert.Contains(t, rec.msg, env)
	}
}

func TestSilentURLFailsWithinFiveSeconds(t *testing.T) {
	t.Parallel()
	// A listener that accepts connections and never answers: the slowest
	// way for a server to be unreachable.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	addr := silent.Addr().String()

	for env, check := range map[string]func() error{
		envRedisURL: func() error {
			_, err := externalRedis("redis://" + addr + "/0")
			return err
		},
		envPostgresURL: func() error {
			_, err := externalPostgres("postgres://postgres@" + addr + "/postgres?sslmode=disable")
			return err
		},
		envAMQPURL: func() error {
			_, err := externalRabbitMQ("amqp://guest:guest@" + addr + "/")
			return err
		},
	} {
		t.Run(env, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			err := check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), addr)
			assert.Contains(t, err.Error(), env)
			assert.Less(t, time.Since(began), 6*time.Second)
		})
	}
}

func TestPostgresVersionDirsHighestFirst(t *testing.T) {
	saved := postgresLibDir
	t.Cleanup(func() { postgresLibDir = saved })
	postgresLibDir = t.TempDir()
	for _, v := range []string{"9.6", "15", "16", "common", "10"} {
		require.NoError(t, mkdirAll(postgresLibDir+"/"+v+"/bin"))
	}
	var got []string
	for _, d := range postgresVersionDirs() {
		got = append(got, strings.TrimSuffix(strings.TrimPrefix(d, postgresLibDir+"/"), "/bin"))
	}
	assert.Equal(t, []string{"16", "15", "10", "9.6"}, got)
}

// recorder is a testing.TB that records Fatalf, Skipf and Errorf instead of
// acting on them, so tests can check how testserver ends a test.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	skipped  bool
	msg      string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) note(flag *bool, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*flag = true
	r.msg += fmt.Sprintf(format, args...) + "\n"
}

func (r *recorder) Errorf(format string, args ...any) { r.note(&r.failed, format, args...) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.note(&r.failed, format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.note(&r.skipped, format, args...)
	runtime.Goexit()
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// record runs f with a recorder on its own goroutine, as testing runs a
// test, then runs the cleanups f registered.
func record(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r
}

func mkdirAll(path string) error { return os.MkdirAll(path, 0o755) }
