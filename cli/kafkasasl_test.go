package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/sim"
)

const kafkaTestPassword = "s3cr3tK4fkaPW"

// The SASL flags reach the real run's settings; misplaced or bad ones are
// refused with exit status 2, nothing run, the password in no message.
func TestKafkaSASLFlags(t *testing.T) {
	for _, env := range []string{"IDEMSIM_KAFKA_SASL_MECHANISM", "IDEMSIM_KAFKA_SASL_USER", "IDEMSIM_KAFKA_SASL_PASSWORD", "IDEMSIM_KAFKA_TLS"} {
		t.Setenv(env, "")
	}
	kafka := []string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "kafka", "--kafka-brokers", "k1:9092"}
	for _, tc := range []struct {
		flags []string
		want  string // "" for accepted
	}{
		{append(kafka, "--kafka-sasl-user", "alice", "--kafka-sasl-password", kafkaTestPassword, "--kafka-sasl-mechanism", "scram-sha-512", "--kafka-tls"), ""},
		{[]string{"--strategy", "db-unique", "--backend", "real", "--broker", "nats", "--kafka-tls"}, "--kafka-tls needs --broker kafka"},
		{[]string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "kafka", "--kafka-brokers", "kfake", "--kafka-tls"}, "listens in plain text"},
		{append(kafka, "--kafka-sasl-user", "alice", "--kafka-sasl-password", kafkaTestPassword, "--kafka-sasl-mechanism", "md5"), `unknown Kafka SASL mechanism "md5"`},
		{append(kafka, "--kafka-sasl-user", "alice"), `Kafka SASL user "alice" without a password`},
		{append(kafka, "--kafka-sasl-password", kafkaTestPassword), "without a user"},
		{append(kafka, "--kafka-sasl-user", "alice", "--kafka-sasl-password", ""), "--kafka-sasl-password is empty"},
		{append(kafka, "--kafka-sasl-user", ""), "--kafka-sasl-user is empty"},
		{[]string{"--strategy", "db-unique", "--backend", "real", "--kafka-sasl-user", "alice"}, "--kafka-sasl-user needs --broker kafka"},
		{[]string{"--strategy", "db-unique", "--kafka-sasl-password", kafkaTestPassword}, "--kafka-sasl-password needs --backend real"},
		{[]string{"--strategy", "kafka-commit", "--backend", "real", "--broker", "kafka", "--kafka-brokers", "kfake", "--kafka-sasl-user", "alice", "--kafka-sasl-password", kafkaTestPassword}, "takes no credentials"},
	} {
		args := append([]string{"run", "--faults", "crash", "--seed", "1"}, tc.flags...)
		var got []realrun.Config
		e, out, errOut := fakeEnv(nil, nil)
		e.realRun = func(rc realrun.Config) (*sim.Result, error) {
			got = append(got, rc)
			return &sim.Result{Strategy: rc.Strategy, Linearizable: boolPtr(true), AuditOK: true}, nil
		}
		code := e.main(args)
		assert.NotContains(t, out.String()+errOut.String(), kafkaTestPassword, "%q", args)
		if tc.want != "" {
			assert.Equal(t, ExitUsage, code, "%q", args)
			assert.Contains(t, errOut.String(), tc.want, "%q", args)
			assert.Empty(t, got, "%q: nothing runs", args)
			continue
		}
		require.Equal(t, ExitOK, code, "%q: %s", args, errOut.String())
		require.Len(t, got, 1)
		assert.Equal(t, "alice", got[0].KafkaSASLUser)
		assert.Equal(t, kafkaTestPassword, got[0].KafkaSASLPassword)
		assert.Equal(t, "scram-sha-512", got[0].KafkaSASLMechanism)
		assert.True(t, got[0].KafkaTLS)
	}
	code, _, stderr := runCLI(t, "clean", "--kafka-sasl-user", "alice", "--kafka-sasl-password", kafkaTestPassword)
	assert.Equal(t, ExitUsage, code, "clean: SASL without --broker kafka")
	assert.Contains(t, stderr, "need the kafka broker")
	assert.NotContains(t, stderr, kafkaTestPassword)
}

// Through the whole command, on a kfake cluster that asks for SASL: with
// the right credentials (the password from the environment) a run gives
// its verdict and clean cleans; with a wrong password the run ends within
// seconds, exit status 1, naming Kafka and the authentication, and no
// verdict. The password shows in no output.
func TestKafkaSASLThroughTheCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis and PostgreSQL of its own")
	}
	kc := testserver.Kafka(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "alice", kafkaTestPassword))
	if !kc.Owned {
		t.Skip("needs a cluster of the test's own")
	}
	rs, ps := testserver.Redis(t), testserver.Postgres(t)
	brokers := strings.Join(kc.Brokers, ",")
	common := []string{"--backend", "real", "--broker", "kafka", "--kafka-brokers", brokers,
		"--redis-url", rs.URL, "--postgres-url", ps.URL, "--prefix", "cli_ksasl",
		"--strategy", "db-unique", "--faults", "crash", "--seed", "1", "--events", "30"}
	t.Setenv("IDEMSIM_KAFKA_SASL_PASSWORD", kafkaTestPassword)
	code, stdout, stderr := runCLI(t, append([]string{"run", "--kafka-sasl-user", "alice", "--kafka-sasl-mechanism", "scram-sha-256"}, common...)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "exactly-once     held")
	all := stdout + stderr

	t.Setenv("IDEMSIM_KAFKA_SASL_PASSWORD", kafkaTestPassword+"-wrong")
	start := time.Now()
	code, stdout, stderr = runCLI(t, append([]string{"run", "--kafka-sasl-user", "alice", "--kafka-sasl-mechanism", "scram-sha-256"}, common...)...)
	assert.Equal(t, ExitError, code, stderr)
	assert.Less(t, time.Since(start), 8*time.Second)
	assert.Contains(t, stderr, "Kafka at "+brokers)
	assert.Contains(t, stderr, "SASL authentication failed")
	assert.NotContains(t, stdout, "exactly-once", "no verdict")
	all += stdout + stderr

	t.Setenv("IDEMSIM_KAFKA_SASL_PASSWORD", "")
	code, stdout, stderr = runCLI(t, "clean", "--broker", "kafka", "--kafka-brokers", brokers,
		"--redis-url", rs.URL, "--postgres-url", ps.URL, "--prefix", "cli_ksasl",
		"--kafka-sasl-user", "alice", "--kafka-sasl-mechanism", "scram-sha-256", "--kafka-sasl-password", kafkaTestPassword)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "removed no Kafka topic or group of prefix cli_ksasl")
	all += stdout + stderr
	assert.NotContains(t, all, kafkaTestPassword)
}
