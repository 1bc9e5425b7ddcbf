package bench

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/idemsim/idemsim/strategies"
)

// benchRabbitStrategy runs strategy st in the RabbitMQ loop of
// BenchmarkRawBroker/rabbitmq (the same queue, publisher, prefetch and
// manual acks) with n consumers, each running the strategy's Handle
// between a delivery and its ack, on the real servers of envs:
// BenchmarkStrategy/<st>/real/broker=rabbitmq. Its events/s over the raw
// loop's msgs/s at the same N is the share of the broker loop the strategy
// keeps. Delivery i is the workload's event i/2 (deliveryEvent): each
// event twice.
func benchRabbitStrategy(b *testing.B, envs *realEnvs, st string, n int, inProcess bool) {
	env := envs.get(b, n)
	env.reset(b)
	deps, audit := brokerDeps(b, env, inProcess)
	if _, err := strategies.New(st, deps); err != nil {
		b.Fatal(err)
	}
	var retries atomic.Int64
	t := rabbitLoop(b, n, func(int) func(ctx context.Context, i uint64) error {
		h, err := strategies.New(st, deps)
		if err != nil {
			panic(err) // New succeeded above with the same arguments
		}
		return func(ctx context.Context, i uint64) error {
			out, err := h.Handle(ctx, deliveryEvent(i))
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
	if exactlyOnceWithoutFaults(st) && (dups > 0 || lost > 0) {
		b.Errorf("%s through RabbitMQ without faults: %d duplicates, %d events lost", st, dups, lost)
	}
}
