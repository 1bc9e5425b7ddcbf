package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
)

// The NATS loop: each op publishes one delivery (operation i's, the
// workload's event i/2, so each event twice), waits for its PubAck, pulls
// the next message from the one durable pull consumer (one at a time, as a
// real run's consumers pull), and acks it with AckSync. BenchmarkRawNATS
// runs that loop with the plain nats.go client, alone and with the none
// strategy's PostgreSQL transaction written against pgx between the pull
// and the ack; BenchmarkStrategy/<s>/real/broker=nats/consumers=N runs it
// with the strategy's Handle there, on the real Redis and PostgreSQL: its
// events/s over a raw loop's ops/s at the same N is the share of that loop
// the strategy keeps.
//
// The server is a NATS with JetStream embedded in the benchmark's process
// (testserver.NATS), with the stream in memory, as a real run's is; it
// shares the machine's cores with the benchmark, for the raw loop and the
// strategies alike.

const (
	benchStream   = benchPrefix + "_events"
	benchSubject  = benchPrefix + ".events"
	benchConsumer = benchPrefix + "_consumers"
	natsOpTimeout = 5 * time.Second
)

// natsEnvs starts one embedded NATS per top-level benchmark (top), on
// first use, stopped when top ends.
type natsEnvs struct {
	top  *testing.B
	once sync.Once
	ns   *testserver.NATSServer
}

func (e *natsEnvs) get() *testserver.NATSServer {
	e.once.Do(func() { e.ns = testserver.NATS(e.top) })
	return e.ns
}

// natsLoop is one benchmark run's stream and consumer, new and empty, and
// a connection per consumer goroutine.
type natsLoop struct {
	conns []*nats.Conn
	js    []jetstream.JetStream
	cons  []jetstream.Consumer
}

func newNATSLoop(b *testing.B, ns *testserver.NATSServer, n int) *natsLoop {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := &natsLoop{}
	b.Cleanup(func() {
		for _, nc := range l.conns {
			nc.Close()
		}
	})
	for w := 0; w < n; w++ {
		nc, err := nats.Connect(ns.URL, nats.Name(fmt.Sprintf("idemsim-bench-%d", w)))
		if err != nil {
			b.Fatalf("NATS at %s: %v", ns.Addr, err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		l.conns, l.js = append(l.conns, nc), append(l.js, js)
	}
	if err := l.js[0].DeleteStream(ctx, benchStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		b.Fatal(err)
	}
	st, err := l.js[0].CreateStream(ctx, jetstream.StreamConfig{Name: benchStream, Subjects: []string{benchSubject}, Storage: jetstream.MemoryStorage})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: benchConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute, MaxAckPending: -1}); err != nil {
		b.Fatal(err)
	}
	for w := 0; w < n; w++ {
		c, err := l.js[w].Consumer(ctx, benchStream, benchConsumer)
		if err != nil {
			b.Fatal(err)
		}
		l.cons = append(l.cons, c)
	}
	return l
}

// worker returns consumer goroutine w's op: publish delivery i, pull the
// next message, hand it to handle (nil: nothing), AckSync it.
func (l *natsLoop) worker(w int, handle func(ctx context.Context, e strategies.Event) error) opFunc {
	js, cons := l.js[w], l.cons[w]
	return func(ctx context.Context, i uint64) error {
		ctx, cancel := context.WithTimeout(ctx, natsOpTimeout)
		defer cancel()
		if _, err := js.Publish(ctx, benchSubject, strconv.AppendUint(nil, i, 10)); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(natsOpTimeout))
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		if handle != nil {
			k, err := strconv.ParseUint(string(msg.Data()), 10, 64)
			if err != nil {
				return fmt.Errorf("payload %q: %w", msg.Data(), err)
			}
			if err := handle(ctx, deliveryEvent(k)); err != nil {
				return err
			}
		}
		return msg.DoubleAck(ctx)
	}
}

// BenchmarkRawNATS measures the broker loop with the plain nats.go client
// at 1, 4 and 16 consumers, in ops/s (one op is one message) and p50-ms,
// p99-ms:
//
//	publish-fetch-acksync/consumers=N            publish with PubAck, pull
//	                                             one, AckSync: the loop alone
//	publish-fetch-pg-apply-tx-acksync/consumers=N the same loop with, between
//	                                             the pull and the ack, the
//	                                             none strategy's effect
//	                                             written directly against
//	                                             pgx (BEGIN; apply; COMMIT)
//
// BenchmarkStrategy/none/real/broker=nats over the second is the cost of
// idemsim's strategy code in the loop; over the first, the cost of the
// loop's PostgreSQL transaction as well.
func BenchmarkRawNATS(b *testing.B) {
	envs := natsEnvs{top: b}
	pg := newRealEnvs(b)
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("publish-fetch-acksync/consumers=%d", n), func(b *testing.B) {
			l := newNATSLoop(b, envs.get(), n)
			lat := runConsumers(b, n, func(w int) opFunc { return l.worker(w, nil) })
			reportRate(b, "ops/s", 1)
			reportLatency(b, lat, "p50-ms", "p99-ms")
		})
		b.Run(fmt.Sprintf("publish-fetch-pg-apply-tx-acksync/consumers=%d", n), func(b *testing.B) {
			env := pg.get(b, n)
			env.reset(b)
			l := newNATSLoop(b, envs.get(), n)
			lat := runConsumers(b, n, func(w int) opFunc {
				return l.worker(w, func(ctx context.Context, e strategies.Event) error { return rawApplyEventTx(ctx, env, e) })
			})
			reportRate(b, "ops/s", 1)
			reportLatency(b, lat, "p50-ms", "p99-ms")
		})
	}
}

// benchNATSStrategy runs strategy st in the NATS loop with n consumers, on
// the real servers of envs: BenchmarkStrategy/<st>/real/broker=nats.
func benchNATSStrategy(b *testing.B, envs *realEnvs, nenvs *natsEnvs, st string, n int, inProcess bool) {
	env := envs.get(b, n)
	env.reset(b)
	deps, audit := brokerDeps(b, env, inProcess)
	if _, err := strategies.New(st, deps); err != nil {
		b.Fatal(err)
	}
	l := newNATSLoop(b, nenvs.get(), n)
	var retries atomic.Int64
	lat := runConsumers(b, n, func(w int) opFunc {
		h, err := strategies.New(st, deps)
		if err != nil {
			panic(err) // New succeeded above with the same arguments
		}
		return l.worker(w, func(ctx context.Context, e strategies.Event) error {
			out, err := h.Handle(ctx, e)
			if out == strategies.RetryLater {
				retries.Add(1)
			}
			return err
		})
	})
	reportRate(b, "events/s", 1)
	reportLatency(b, lat, "p50-ms", "p99-ms")
	dups, lost := audit(uint64(b.N+1) / 2)
	b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
	b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/op")
	if exactlyOnceWithoutFaults(st) && (dups > 0 || lost > 0) {
		b.Errorf("%s through NATS without faults: %d duplicates, %d events lost", st, dups, lost)
	}
}
