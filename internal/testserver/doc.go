// Package testserver gives tests and benchmarks real Redis, PostgreSQL and
// RabbitMQ servers, and Kafka clusters, to run idemsim's backends and
// brokers against.
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
//
// RabbitMQ and SharedRabbitMQ start a throwaway RabbitMQ node from the
// installed rabbitmq-server (Debian's package; the script its
// /usr/sbin/rabbitmq-server wraps, so that it runs as the test's own child
// and not as the machine's rabbitmq user and node). The node has its own
// name, config, data and log directories and Erlang cookie under a fresh
// temporary directory, AMQP and distribution ports picked free on loopback,
// and an epmd of its own on a free port: the machine's RabbitMQ
// (127.0.0.1:5672, node rabbit@host) and the machine's epmd (4369) never
// hear of it. A node starts in about 4 s on an idle 2-core machine (up to
// 9 s with three starting at once beside other tests); it can be Killed
// (SIGKILL: connections reset at once), Stopped cleanly, Started again with
// its data, and Frozen (SIGSTOP to the VM: connections stay open and
// silent, so a client notices only through its heartbeat). The node, its
// helper processes (erl_child_setup, inet_gethost, the disk monitor) and
// its epmd are killed when the test ends; if the test binary dies, the
// kernel kills the VM and the epmd, and the helpers exit as their pipes
// close. IDEMSIM_AMQP_URL points the functions at an existing server
// instead. Measured on RabbitMQ 3.10.8: a quorum queue killed within
// milliseconds of its declaration may come back with no leader for more
// than a minute; one second later it recovers within 100 ms.
//
// Kafka starts franz-go's kfake cluster in the test process (nothing to
// install, so it never skips), or returns the cluster
// IDEMSIM_KAFKA_BROKERS names, with SASL from IDEMSIM_KAFKA_SASL_USER,
// IDEMSIM_KAFKA_SASL_PASSWORD and IDEMSIM_KAFKA_SASL_MECHANISM.
package testserver
