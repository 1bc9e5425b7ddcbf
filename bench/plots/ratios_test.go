package plots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRatiosAreTakenWithinRounds checks that a ratio pairs the k-th line of
// each benchmark (round k), and gives the median over rounds and their
// range, whatever the order of the lines within a round.
func TestRatiosAreTakenWithinRounds(t *testing.T) {
	const in = `
BenchmarkStrategy/redis/real/consumers=1-2   100  1 ns/op  1000 events/s
BenchmarkStrategy/db-unique-fast/real/consumers=1-2  100  1 ns/op  2000 events/s
BenchmarkStrategy/db-unique-fast/real/consumers=1-2  100  1 ns/op  1500 events/s
BenchmarkStrategy/redis/real/consumers=1-2   100  1 ns/op  500 events/s
BenchmarkStrategy/redis/real/consumers=1-2   100  1 ns/op  1000 events/s
BenchmarkStrategy/db-unique-fast/real/consumers=1-2  100  1 ns/op  1200 events/s
`
	f, err := ParseBench(strings.NewReader(in))
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, RatiosTable(&b, f))
	lines := strings.Split(b.String(), "\n")
	require.Len(t, lines, 2+len(allRatios())+1, b.String())
	// Rounds: 2000/1000, 1500/500, 1200/1000: 2.00, 3.00, 1.20.
	assert.Equal(t, "| db-unique-fast ÷ redis, real, events/s | ≥ 1.5 at 1 consumer | 2.00 (1.20–3.00) | – | – |", lines[2])
	assert.Equal(t, "| batch of 32: db-unique ÷ pipelined SET NX | – | – | – | – |", lines[5])
}

// TestRatiosWithoutDataWriteNothing checks that a file with none of the
// ratios' benchmarks is ErrNoData, and that WriteRatios then writes no file.
func TestRatiosWithoutDataWriteNothing(t *testing.T) {
	f, err := ParseBench(strings.NewReader("BenchmarkSimRun/x-2 10 1 ns/op 5 deliveries/s\n"))
	require.NoError(t, err)
	dir := t.TempDir()
	require.ErrorIs(t, WriteRatios(f, dir), ErrNoData)
	_, err = os.Stat(filepath.Join(dir, NameRatios+".md"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestBrokerRatiosFillFromTheirLoops checks that each broker's rows divide
// its strategies by the loop they name: none by the loop with the same
// PostgreSQL transaction and by the loop alone, none with its effect in
// process (real-broker-only) and db-unique-fast by the loop alone, each in the loop's own unit (ops/s for NATS, msgs/s otherwise).
func TestBrokerRatiosFillFromTheirLoops(t *testing.T) {
	const in = `
BenchmarkRawNATS/publish-fetch-acksync/consumers=16-2  100  1 ns/op  1000 ops/s
BenchmarkRawNATS/publish-fetch-pg-apply-tx-acksync/consumers=16-2  100  1 ns/op  400 ops/s
BenchmarkStrategy/none/real/broker=nats/consumers=16-2  100  1 ns/op  0.5 dups/op  360 events/s
BenchmarkStrategy/none/real-broker-only/broker=nats/consumers=16-2  100  1 ns/op  0.5 dups/op  850 events/s
BenchmarkStrategy/db-unique-fast/real/broker=nats/consumers=16-2  100  1 ns/op  0 dups/op  600 events/s
BenchmarkRawBroker/rabbitmq/consumers=1-2  100  1 ns/op  2000 msgs/s
BenchmarkRawBroker/rabbitmq-pg-apply-tx/consumers=1-2  100  1 ns/op  1000 msgs/s
BenchmarkStrategy/none/real/broker=rabbitmq/consumers=1-2  100  1 ns/op  900 events/s
BenchmarkRawBroker/kafka/consumers=4-2  100  1 ns/op  50000 msgs/s
BenchmarkRawBroker/kafka-pg-apply-tx/consumers=4-2  100  1 ns/op  1000 msgs/s
BenchmarkStrategy/none/real/broker=kafka/consumers=4-2  100  1 ns/op  1100 events/s
BenchmarkStrategy/none/real-broker-only/broker=kafka/consumers=4-2  100  1 ns/op  35000 events/s
`
	f, err := ParseBench(strings.NewReader(in))
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, RatiosTable(&b, f))
	table := b.String()
	for _, row := range []string{
		"| none through NATS ÷ the raw NATS loop with the same PostgreSQL transaction (RawNATS/publish-fetch-pg-apply-tx-acksync) | ≥ 0.8 | – | – | 0.90 |",
		"| none through NATS, its effect in process ÷ the raw NATS loop alone (RawNATS/publish-fetch-acksync) | ≥ 0.8 | – | – | 0.85 |",
		"| none through NATS ÷ the raw NATS loop alone (RawNATS/publish-fetch-acksync) | – | – | – | 0.36 |",
		"| db-unique-fast through NATS ÷ the raw NATS loop alone (RawNATS/publish-fetch-acksync) | ≥ 0.5 at 16 consumers | – | – | 0.60 |",
		"| none through RabbitMQ ÷ the raw RabbitMQ loop with the same PostgreSQL transaction (RawBroker/rabbitmq-pg-apply-tx) | ≥ 0.8 | 0.90 | – | – |",
		"| none through RabbitMQ, its effect in process ÷ the raw RabbitMQ loop alone (RawBroker/rabbitmq) | ≥ 0.8 | – | – | – |",
		"| none through RabbitMQ ÷ the raw RabbitMQ loop alone (RawBroker/rabbitmq) | – | 0.45 | – | – |",
		"| db-unique-fast through RabbitMQ ÷ the raw RabbitMQ loop alone (RawBroker/rabbitmq) | – | – | – | – |",
		"| none through Kafka ÷ the raw Kafka loop with the same PostgreSQL transaction (RawBroker/kafka-pg-apply-tx) | ≥ 0.8 | – | 1.10 | – |",
		"| none through Kafka, its effect in process ÷ the raw Kafka loop alone (RawBroker/kafka) | ≥ 0.8 | – | 0.70 | – |",
		"| none through Kafka ÷ the raw Kafka loop alone (RawBroker/kafka) | – | – | 0.02 | – |",
	} {
		assert.Contains(t, table, row+"\n")
	}
}
