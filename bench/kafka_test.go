package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
)

// kafkaEnvs starts one Kafka cluster (kfake in process, or the one
// IDEMSIM_KAFKA_BROKERS names) per top-level benchmark, on first use.
type kafkaEnvs struct {
	top  *testing.B
	once sync.Once
	kc   *testserver.KafkaCluster
}

func (e *kafkaEnvs) get() *testserver.KafkaCluster {
	e.once.Do(func() { e.kc = testserver.Kafka(e.top) })
	return e.kc
}

// benchKafkaStrategy runs strategy st in the raw Kafka loop
// (BenchmarkRawBroker/kafka/consumers=N) with n consumers, the strategy's
// Handle between the poll and the commit of each batch, on the real
// servers of envs: BenchmarkStrategy/<st>/real/broker=kafka. Its events/s
// over the raw loop's msgs/s at the same N is the share of the broker loop
// the strategy keeps.
func benchKafkaStrategy(b *testing.B, envs *realEnvs, kenvs *kafkaEnvs, st string, n int, inProcess bool) {
	env := envs.get(b, n)
	env.reset(b)
	deps, audit := brokerDeps(b, env, inProcess)
	if _, err := strategies.New(st, deps); err != nil {
		b.Fatal(err)
	}
	var retries atomic.Int64
	t := kafkaLoop(b, kenvs.get(), n, func(int) func(context.Context, strategies.Event) error {
		h, err := strategies.New(st, deps)
		if err != nil {
			panic(err) // New succeeded above with the same arguments
		}
		return func(ctx context.Context, e strategies.Event) error {
			out, err := h.Handle(ctx, e)
			if out == strategies.RetryLater {
				retries.Add(1)
			}
			return err
		}
	})
	reportRate(b, "events/s", 1)
	reportLatency(b, t.lat, "p50-ms", "p99-ms")
	dups, lost := audit(uint64(b.N+1) / 2)
	b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
	b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/op")
	// Every event is published twice, as two records at two offsets: a
	// producer's duplicate, which a strategy that fences by offset
	// (offset-in-db) applies again by design, as its redeliver cell on
	// the log says. Only a strategy that holds under redeliver must show
	// none here.
	if exactlyOnceWithoutFaults(st) && holdsUnderRedeliver(st, "log") && (dups > 0 || lost > 0) {
		b.Errorf("%s through Kafka without faults: %d duplicates, %d events lost", st, dups, lost)
	}
}
