package testserver

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// Shared servers: one of each per test binary, started by the first test
// that asks and stopped by Main after the last.
var (
	mainRunning atomic.Bool // Main is running the tests, so will stop shared servers

	sharedRedisOnce sync.Once
	sharedRedis     *RedisServer
	sharedRedisErr  error

	sharedPostgresOnce sync.Once
	sharedPostgres     *PostgresServer
	sharedPostgresErr  error

	sharedRabbitOnce sync.Once
	sharedRabbit     *RabbitMQServer
	sharedRabbitErr  error
)

// errNoMain reports a shared server asked for outside Main.
var errNoMain = errors.New("testserver: shared servers need testserver.Main(m) in the package's TestMain, which stops them after the tests; add: func TestMain(m *testing.M) { testserver.Main(m) }")

// SharedRedis returns the test binary's one shared Redis server, starting it
// on first use, like Redis but not stopped when tb ends. Tests using it must
// not assume it is empty: they keep to their own keys. It cannot be killed or
// restarted. The package must run its tests through Main.
func SharedRedis(tb testing.TB) *RedisServer {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatalf("%v", errNoMain)
	}
	sharedRedisOnce.Do(func() {
		sharedRedis, sharedRedisErr = newRedis()
		if sharedRedisErr == nil {
			sharedRedis.shared = true
		}
	})
	if sharedRedisErr != nil {
		fail(tb, sharedRedisErr)
	}
	return sharedRedis
}

// SharedPostgres returns the test binary's one shared PostgreSQL server,
// starting it on first use, like Postgres but not stopped when tb ends.
// Tests using it must not assume it is empty: they keep to their own tables
// or schemas. It cannot be killed or restarted. The package must run its
// tests through Main.
func SharedPostgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatalf("%v", errNoMain)
	}
	sharedPostgresOnce.Do(func() {
		sharedPostgres, sharedPostgresErr = newPostgres()
		if sharedPostgresErr == nil {
			sharedPostgres.shared = true
		}
	})
	if sharedPostgresErr != nil {
		fail(tb, sharedPostgresErr)
	}
	return sharedPostgres
}

// SharedRabbitMQ returns the test binary's one shared RabbitMQ server,
// starting it on first use (about 4 s), like RabbitMQ but not stopped when
// tb ends. Tests using it must not assume it is empty: they keep to their
// own queues and exchanges, and delete them. It cannot be killed, restarted
// or frozen. The package must run its tests through Main.
func SharedRabbitMQ(tb testing.TB) *RabbitMQServer {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatalf("%v", errNoMain)
	}
	sharedRabbitOnce.Do(func() {
		sharedRabbit, sharedRabbitErr = newRabbitMQ()
		if sharedRabbitErr == nil {
			sharedRabbit.shared = true
		}
	})
	if sharedRabbitErr != nil {
		fail(tb, sharedRabbitErr)
	}
	return sharedRabbit
}

// Main runs the tests of m, stops the shared servers, and exits with the
// tests' status. Call it from TestMain in every package that uses
// SharedRedis, SharedPostgres or SharedRabbitMQ:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
//
// It calls os.Exit, so deferred calls in the caller's TestMain do not run.
func Main(m *testing.M) {
	if os.Getenv(providerChildEnv) == "1" {
		// A real run started this test binary as its payment provider,
		// and the package's TestMain did not serve as one: running the
		// tests again here would start runs, and providers, without
		// end.
		fmt.Fprintf(os.Stderr, "testserver: this test binary was started as a payment provider (%s=1), but its TestMain does not serve as one: call provider.ChildMain() first in TestMain\n", providerChildEnv)
		os.Exit(2)
	}
	mainRunning.Store(true)
	code := m.Run()
	mainRunning.Store(false)
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// providerChildEnv is provider.ChildEnv (which this package cannot import:
// the provider's own tests use this package).
const providerChildEnv = "IDEMSIM_PROVIDER_CHILD"

// stopShared stops whichever shared servers were started.
func stopShared() error {
	var errs []error
	// Once.Do with an empty function waits for a start in progress and
	// stops later ones from starting a server nobody would stop.
	sharedRedisOnce.Do(func() {})
	if sharedRedis != nil && sharedRedis.Owned {
		errs = append(errs, sharedRedis.close())
	}
	sharedPostgresOnce.Do(func() {})
	if sharedPostgres != nil && sharedPostgres.Owned {
		errs = append(errs, sharedPostgres.close())
	}
	sharedRabbitOnce.Do(func() {})
	if sharedRabbit != nil && sharedRabbit.Owned {
		errs = append(errs, sharedRabbit.close())
	}
	return errors.Join(errs...)
}
