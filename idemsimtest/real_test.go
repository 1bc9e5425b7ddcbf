package idemsimtest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// skipShort leaves the real sweeps out of the fast tier: they start
// servers and play real runs of a second each.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("real sweeps run in the full test run")
	}
}

// sharedStores are the test binary's throwaway Redis and PostgreSQL, as
// RealServers takes them.
func sharedStores(t *testing.T, broker string) *RealServers {
	t.Helper()
	return &RealServers{Broker: broker, RedisURL: testserver.SharedRedis(t).URL, PostgresURL: testserver.SharedPostgres(t).URL, Prefix: "idemsimtest_real"}
}

func TestRealSweepOfDBUniquePasses(t *testing.T) {
	skipShort(t)
	f := call("TestReal", builtin(t, "db-unique"), Options{Real: sharedStores(t, "memory"), Scenarios: []string{"crash", "redeliver"}, Seeds: 1, Events: 30})
	require.Empty(t, f.errors)
	require.Len(t, f.logs, 1)
	assert.Contains(t, f.logs[0], "db-unique on real servers (broker memory): seed 1, 3 instances, 30 events: crash ok, redeliver ok")
}

func TestRealSweepFindsALocalCachesDuplicates(t *testing.T) {
	skipShort(t)
	f := call("TestReal", builtin(t, "local-cache"), Options{Real: sharedStores(t, "memory"), Scenarios: []string{"redeliver"}, Seeds: 2, Events: 50})
	require.Len(t, f.errors, 1)
	msg := f.errors[0]
	assert.Contains(t, msg, "local-cache is not exactly-once on real servers (broker memory): it fails under redeliver")
	assert.Contains(t, msg, "reproduce on real servers with: idemsim run --strategy local-cache --faults redeliver --seed ")
	assert.Contains(t, msg, "--backend real --prefix idemsimtest_real")
	assert.Contains(t, msg, "the same workload in the simulator: idemsim run --strategy local-cache --faults redeliver")
	assert.Contains(t, msg, "rerun it from this test: go test -run '^TestReal$' -idemsim.scenario=redeliver -idemsim.seed=")
	// The server addresses are the test's, on other ports than the
	// defaults, and the line names them without a password.
	assert.Contains(t, msg, "--redis-url ")
}

func TestRealSweepOnNATS(t *testing.T) {
	skipShort(t)
	real := sharedStores(t, "nats")
	real.NATSURL = testserver.NATS(t).URL
	f := call("TestReal", builtin(t, "db-unique"), Options{Real: real, Scenarios: []string{"redeliver"}, Seeds: 1, Events: 30})
	require.Empty(t, f.errors)
	require.Len(t, f.logs, 1)
	assert.Contains(t, f.logs[0], "db-unique on real servers (broker nats): seed 1, 3 instances, 30 events: redeliver ok")
}

// A server that is down fails the test with what the server did, not with
// a verdict on the strategy.
func TestRealSweepWithRedisDownIsNoVerdict(t *testing.T) {
	skipShort(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	real := sharedStores(t, "memory")
	real.RedisURL = "redis://" + addr + "/0"
	f := call("TestReal", builtin(t, "redis"), Options{Real: real, Scenarios: []string{"crash"}, Seeds: 1, Events: 10})
	require.Len(t, f.errors, 1)
	assert.True(t, f.fatal)
	assert.Contains(t, f.errors[0], "idemsimtest: a real run (idemsim run --strategy redis --faults crash --seed 1")
	assert.Contains(t, f.errors[0], "Redis")
	assert.NotContains(t, f.errors[0], "not exactly-once")
}

func TestRealOptionsRefused(t *testing.T) {
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Real: &RealServers{Broker: "kafkaa"}}, `Real.Broker "kafkaa": unknown broker (accepted: memory, nats, rabbitmq, kafka)`},
		{Options{Real: &RealServers{}, Brokers: []string{"log"}}, "Options.Brokers names simulated models; with Real the broker is Real.Broker (memory), whose model is the queue"},
		{Options{Real: &RealServers{Broker: "rabbitmq"}, BrokerParams: run.BrokerParams{AckDeadline: 2 * time.Second}}, "--ack-deadline 2s: RabbitMQ has no ack deadline"},
		{Options{Real: &RealServers{Broker: "kafka", KafkaBrokers: "k1:9092", KafkaSASLUser: "alice"}}, `Kafka SASL user "alice" without a password`},
	}
	for _, env := range []string{"IDEMSIM_KAFKA_SASL_MECHANISM", "IDEMSIM_KAFKA_SASL_USER", "IDEMSIM_KAFKA_SASL_PASSWORD"} {
		t.Setenv(env, "")
	}
	for _, c := range cases {
		f := call("TestReal", builtin(t, "db-unique"), c.o)
		require.Len(t, f.errors, 1)
		assert.True(t, f.fatal)
		assert.True(t, strings.HasPrefix(f.errors[0], "idemsimtest: db-unique: "), f.errors[0])
		assert.Contains(t, f.errors[0], c.want)
	}
}
