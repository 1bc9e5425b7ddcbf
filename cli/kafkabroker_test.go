package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
)

// --broker kafka with --backend real runs on Kafka, whose model is the
// log: the log's strategies and parameters apply (but auto-commit), and
// --kafka-brokers names the cluster (kfake: the in-process one). Each
// refusal is exit status 2, and nothing runs.
func TestKafkaBrokerFlag(t *testing.T) {
	for _, tc := range []struct {
		flags   []string
		brokers string // the run's seed list, "-" for a refusal
		want    string
	}{
		{[]string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "kafka"}, "", ""},
		{[]string{"--strategy", "offset-in-db", "--backend", "real", "--broker", "kafka", "--kafka-brokers", "kfake"}, "kfake", ""},
		{[]string{"--strategy", "db-unique", "--backend", "real", "--broker", "kafka", "--kafka-brokers", "k1:9092,k2:9092", "--commit", "record", "--batch", "3"}, "k1:9092,k2:9092", ""},
		{[]string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "kafka", "--commit", "auto"}, "-", "--commit auto: a real run on Kafka commits after each batch or each record"},
		{[]string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "kafka", "--kafka-brokers", ""}, "-", "--kafka-brokers is empty"},
		{[]string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "kafka", "--kafka-brokers", "kafka://k1:9092"}, "-", `bad Kafka seed list "kafka://k1:9092"`},
		{[]string{"--strategy", "db-unique", "--backend", "real", "--kafka-brokers", "kfake"}, "-", "--kafka-brokers needs --broker kafka"},
		{[]string{"--strategy", "db-unique", "--kafka-brokers", "kfake"}, "-", "--kafka-brokers needs --backend real"},
		{[]string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "nats"}, "-", "kafka-commit"},
	} {
		args := append([]string{"run", "--faults", "crash", "--seed", "1"}, tc.flags...)
		var got []realrun.Config
		e, _, errOut := fakeEnv(nil, nil)
		e.realRun = func(rc realrun.Config) (*sim.Result, error) {
			got = append(got, rc)
			return &sim.Result{Strategy: rc.Strategy, Linearizable: boolPtr(true), AuditOK: true}, nil
		}
		code := e.main(args)
		if tc.brokers == "-" {
			assert.Equal(t, ExitUsage, code, "%q", args)
			assert.Contains(t, errOut.String(), tc.want, "%q", args)
			assert.Empty(t, got, "%q: nothing runs", args)
			continue
		}
		require.Equal(t, ExitOK, code, "%q: %s", args, errOut.String())
		require.Len(t, got, 1)
		assert.Equal(t, realrun.BrokerKafka, got[0].BrokerServer, "%q", args)
		assert.Equal(t, "log", got[0].BrokerModel, "%q: Kafka's model", args)
		assert.Equal(t, tc.brokers, got[0].KafkaBrokers, "%q", args)
		if tc.brokers == "k1:9092,k2:9092" {
			assert.Equal(t, run.CommitRecord, got[0].Broker.Commit)
			assert.Equal(t, 3, got[0].Broker.Batch)
		}
	}
}

// Through the whole command, on a kfake cluster and the test's own Redis
// and PostgreSQL: a real run on Kafka gives its verdict, names its broker
// and the model it matches, and its reproduce line names Kafka; clean
// --broker kafka says what it removed.
func TestKafkaRealRunThroughTheCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis and PostgreSQL of its own")
	}
	rs, ps := testserver.Redis(t), testserver.Postgres(t)
	kc := testserver.Kafka(t)
	brokers := strings.Join(kc.Brokers, ",")
	code, stdout, stderr := runCLI(t, "run", "--backend", "real", "--broker", "kafka", "--kafka-brokers", brokers,
		"--strategy", "db-unique", "--faults", "crash,zombie", "--seed", "1", "--events", "40",
		"--redis-url", rs.URL, "--postgres-url", ps.URL, "--prefix", "cli_kafka")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "kafka: Kafka through franz-go")
	assert.Contains(t, stdout, "(the simulator's model: log)")
	assert.Contains(t, stdout, "exactly-once     held")
	code, stdout, stderr = runCLI(t, "clean", "--broker", "kafka", "--kafka-brokers", brokers,
		"--redis-url", rs.URL, "--postgres-url", ps.URL, "--prefix", "cli_kafka")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "removed no Kafka topic or group of prefix cli_kafka", "the run deleted its own")
}

// A password typed into the seed list never shows.
func TestKafkaSeedListPasswordNeverShown(t *testing.T) {
	for _, brokers := range []string{"alice:s3cr3tPW@127.0.0.1:1", "kafka://alice:s3cr3tPW@127.0.0.1:1,127.0.0.1:2"} {
		code, stdout, stderr := runCLI(t, "run", "--backend", "real", "--broker", "kafka", "--kafka-brokers", brokers,
			"--strategy", "kafka-commit", "--faults", "crash", "--seed", "1")
		assert.Equal(t, ExitUsage, code)
		assert.NotContains(t, stdout+stderr, "s3cr3tPW")
		assert.Contains(t, stderr, "bad Kafka seed list")
	}
}
