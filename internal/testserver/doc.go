// Package testserver gives tests and benchmarks real Redis and PostgreSQL
// servers to run idemsim's backends against.
//
// Redis and Postgres start a throwaway server owned by the calling test: a
// child redis-server or postgres process on a free loopback port, with its
// data under a fresh temporary directory, stopped and removed by tb.Cleanup.
// Because the test owns the process, it can Kill it, keep it down for a
// while, Start it again, or Restart it, to see what a strategy does when its
// backend goes away. A Redis server comes back empty (it persists nothing);
// a PostgreSQL server comes back with its committed data.
//
// SharedRedis and SharedPostgres start one server per test binary, for the
// many tests that only need somewhere to write (PostgreSQL takes a second or
// two to initialise). A package that uses them must call Main from its
// TestMain, which stops the shared servers after the tests:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
//
// Shared servers cannot be killed or restarted; tests that do that use the
// unshared ones.
//
// When IDEMSIM_REDIS_URL or IDEMSIM_POSTGRES_URL is set, every function
// returns that existing server instead (Owned is false; Kill, Start and
// Restart skip the test). testserver never flushes, drops or otherwise
// cleans such a server: callers keep to their own key and table prefixes.
// An unreachable URL fails the test within five seconds, naming the address.
//
// When a server's binaries are not installed, the test is skipped with a
// message saying what to install, unless the CI environment variable is set,
// in which case it fails: in CI a missing server is a broken machine, not a
// reason to pass. scripts/test installs both on a Debian machine when run as
// root.
//
// initdb and postgres refuse to run as root. When the test binary runs as
// root, testserver runs them as the "postgres" system user (created by the
// Debian postgresql package), with the data and socket directories owned by
// that user.
//
// Every server process gets SIGKILL (Redis) or SIGQUIT (PostgreSQL) from the
// kernel if the test binary dies without cleaning up, so a crashed or
// timed-out test run leaves no servers behind.
package testserver
