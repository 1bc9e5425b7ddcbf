package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
)

// The raw broker loops' settings.
const (
	// rawPrefetch is each RabbitMQ consumer's prefetch (basic.qos): the
	// unacked deliveries the broker lets it hold.
	rawPrefetch = 32
	// rawConfirmWindow is how many publishes may await their confirm at
	// once: the publisher waits for the oldest beyond it.
	rawConfirmWindow = 256
	// rawPartitions is the Kafka topic's partition count: enough for 16
	// consumers to own one each.
	rawPartitions = 16
	// rawKafkaInFlight bounds the Kafka records produced and not yet
	// committed; RabbitMQ's bound is twice the consumers' prefetch.
	rawKafkaInFlight = 4096
	// rawTimeout bounds one benchmark run; a broker that stops answering
	// fails it instead of hanging the suite.
	rawTimeout = 2 * time.Minute
)

// rawRuns numbers the queues and topics of the raw loops, so that no run
// sees another's leftovers.
var rawRuns atomic.Int64

// BenchmarkRawBroker measures the raw broker loop with the brokers' plain
// Go clients, at 1, 4 and 16 consumers, so that a strategy run through a
// real broker (BenchmarkStrategy/<s>/real/broker=<b>) can be read as a
// fraction of it:
//
//	rabbitmq/consumers=N  amqp091-go on a throwaway RabbitMQ node: one
//	                      publisher (persistent messages, publisher
//	                      confirms, at most 256 awaiting) into a quorum
//	                      queue; N consumers, each on its own connection
//	                      with prefetch 32, ack every delivery by itself
//	                      (manual ack)
//	kafka/consumers=N     franz-go (kgo) on kfake in process: one producer
//	                      (acks=all, round-robin over 16 partitions); N
//	                      members of one consumer group, auto-commit off,
//	                      each committing the records of every poll
//	                      (CommitRecords, synchronous) before polling again
//
// One op is one message published, delivered and acked (RabbitMQ) or
// committed (Kafka). The loop is closed: the publisher keeps at most a
// bound of messages in flight (published and not yet acked or committed:
// twice the consumers' prefetch for RabbitMQ, 4096 for Kafka), so that the
// broker serves a steady flow instead of a backlog that would grow with
// b.N and turn the latencies into queueing time. The clock runs from the first publish to the last
// ack sent or commit answered, with the consumers already subscribed (and,
// for Kafka, the group stable): the connections, the queue or topic and the
// group's rebalances are set up before it starts. It reports msgs/s,
// p50-ms and p99-ms (from a message's publish to its ack being sent or its
// commit answered) and redelivered/op (deliveries beyond the first; 0
// without faults). The loop is a pipeline, so the benchmark counts its own
// b.N messages rather than calling b.Loop once per message.
//
// Beside each loop, <broker>-pg-apply-tx/consumers=N runs the same loop
// with, for each delivery before its ack (RabbitMQ) or each record before
// its poll's commit (Kafka), the none strategy's effect written directly
// against pgx (BEGIN; apply; COMMIT, as BenchmarkRaw/pg-apply-tx):
// BenchmarkStrategy/none/real/broker=<broker> over it is the cost of
// idemsim's strategy code in the loop, and over the loop alone the cost of
// the PostgreSQL transaction as well.
func BenchmarkRawBroker(b *testing.B) {
	pg := newRealEnvs(b)
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("rabbitmq/consumers=%d", n), func(b *testing.B) { benchRawRabbitMQ(b, n) })
		b.Run(fmt.Sprintf("rabbitmq-pg-apply-tx/consumers=%d", n), func(b *testing.B) { benchRawRabbitMQEffect(b, pg, n) })
	}
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("kafka/consumers=%d", n), func(b *testing.B) { benchRawKafka(b, n) })
		b.Run(fmt.Sprintf("kafka-pg-apply-tx/consumers=%d", n), func(b *testing.B) { benchRawKafkaEffect(b, pg, n) })
	}
}

// stamp returns a message body holding the time of its publish.
func stamp() []byte { return binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())) }

// sinceStamp returns the time since the publish body records.
func sinceStamp(body []byte) time.Duration {
	if len(body) < 8 {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - int64(binary.BigEndian.Uint64(body)))
}

// tally counts a run's deliveries across consumers and closes done when
// every message has been handled once. inFlight holds a token for each
// message published and not yet handled.
type tally struct {
	inFlight    chan struct{}
	want        int64
	handled     atomic.Int64 // first deliveries handled
	redelivered atomic.Int64
	done        chan struct{}
	doneOnce    sync.Once
	mu          sync.Mutex
	lat         []time.Duration
}

func newTally(want, inFlight int) *tally {
	return &tally{want: int64(want), done: make(chan struct{}), inFlight: make(chan struct{}, inFlight)}
}

// publishing waits until another message may be in flight.
func (t *tally) publishing(ctx context.Context) error {
	select {
	case t.inFlight <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// add records k handled deliveries with their latencies.
func (t *tally) add(lat []time.Duration, redelivered int) {
	t.mu.Lock()
	t.lat = append(t.lat, lat...)
	t.mu.Unlock()
	t.redelivered.Add(int64(redelivered))
	for range len(lat) - redelivered {
		select {
		case <-t.inFlight:
		default: // a message beyond b.N, which nothing waits for
		}
	}
	if t.handled.Add(int64(len(lat)-redelivered)) >= t.want {
		t.doneOnce.Do(func() { close(t.done) })
	}
}

func (t *tally) report(b *testing.B) {
	reportRate(b, "msgs/s", 1)
	reportLatency(b, t.lat, "p50-ms", "p99-ms")
	b.ReportMetric(float64(t.redelivered.Load())/float64(b.N), "redelivered/op")
}

// benchRawRabbitMQ runs the RabbitMQ loop with n consumers.
func benchRawRabbitMQ(b *testing.B, n int) {
	rabbitLoop(b, n, nil).report(b)
}

// benchRawRabbitMQEffect runs the RabbitMQ loop with n consumers, each
// applying none's effect through pgx before its ack.
func benchRawRabbitMQEffect(b *testing.B, pg *realEnvs, n int) {
	env := pg.get(b, n)
	env.reset(b)
	rabbitLoop(b, n, func(int) func(ctx context.Context, i uint64) error {
		return func(ctx context.Context, i uint64) error { return rawApplyTx(ctx, env, i) }
	}).report(b)
}

// rabbitLoop runs the RabbitMQ loop with n consumers; handle, if not nil,
// gives consumer w's handling of delivery i (the i-th published), run
// between the delivery and its ack (BenchmarkStrategy's broker=rabbitmq).
// It returns the run's tally, for the caller to report.
func rabbitLoop(b *testing.B, n int, handle func(w int) func(ctx context.Context, i uint64) error) *tally {
	s := testserver.SharedRabbitMQ(b)
	ctx, cancel := context.WithTimeout(b.Context(), rawTimeout)
	defer cancel()
	queue := fmt.Sprintf("%s_raw_%d", benchPrefix, rawRuns.Add(1))
	dial := func() *amqp.Connection {
		c, err := amqp.DialConfig(s.URL, amqp.Config{Heartbeat: 5 * time.Second, Dial: amqp.DefaultDial(5 * time.Second)})
		if err != nil {
			b.Fatalf("bench: connect to RabbitMQ at %s: %v", s.Addr, err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}

	pubConn := dial()
	pub, err := pubConn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pub.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if ch, err := dial().Channel(); err == nil {
			_, _ = ch.QueueDelete(queue, false, false, false)
		}
	})
	if err := pub.Confirm(false); err != nil {
		b.Fatal(err)
	}

	t := newTally(b.N, 2*n*rawPrefetch)
	var wg sync.WaitGroup
	consumerErr := make(chan error, n)
	for w := range n {
		ch, err := dial().Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Qos(rawPrefetch, 0, false); err != nil {
			b.Fatal(err)
		}
		deliveries, err := ch.Consume(queue, fmt.Sprintf("raw-%d", w), false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		var h func(ctx context.Context, i uint64) error
		if handle != nil {
			h = handle(w)
		}
		wg.Go(func() {
			lat := make([]time.Duration, 1)
			for {
				select {
				case <-t.done:
					return
				case <-ctx.Done():
					return
				case d, ok := <-deliveries:
					if !ok {
						select {
						case <-t.done:
						default:
							consumerErr <- fmt.Errorf("consumer %d: deliveries closed", w)
						}
						return
					}
					if h != nil && len(d.Body) >= 16 {
						if err := h(ctx, binary.BigEndian.Uint64(d.Body[8:])); err != nil {
							consumerErr <- fmt.Errorf("consumer %d: handle: %w", w, err)
							return
						}
					}
					if err := d.Ack(false); err != nil {
						consumerErr <- fmt.Errorf("consumer %d: ack: %w", w, err)
						return
					}
					lat[0] = sinceStamp(d.Body)
					red := 0
					if d.Redelivered {
						red = 1
					}
					t.add(lat, red)
				}
			}
		})
	}

	b.ResetTimer()
	var pending []*amqp.DeferredConfirmation
	waitConfirm := func(dc *amqp.DeferredConfirmation) {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			b.Fatalf("bench: waiting for a publisher confirm: %v", err)
		}
		if !ok {
			b.Fatal("bench: the broker nacked a publish")
		}
	}
	for i := range b.N {
		if err := t.publishing(ctx); err != nil {
			b.Fatalf("bench: %d of %d messages acked within %v", t.handled.Load(), b.N, rawTimeout)
		}
		// The publish time, then the message's number (for handle).
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			Body:         binary.BigEndian.AppendUint64(stamp(), uint64(i)),
		})
		if err != nil {
			b.Fatalf("bench: publish: %v", err)
		}
		pending = append(pending, dc)
		if len(pending) > rawConfirmWindow {
			waitConfirm(pending[0])
			pending = slices.Delete(pending, 0, 1)
		}
	}
	for _, dc := range pending {
		waitConfirm(dc)
	}
	select {
	case <-t.done:
	case err := <-consumerErr:
		b.Fatal(err)
	case <-ctx.Done():
		b.Fatalf("bench: %d of %d messages acked within %v", t.handled.Load(), b.N, rawTimeout)
	}
	b.StopTimer()
	wg.Wait()
	return t
}

// benchRawKafka runs the Kafka loop with n consumers.
func benchRawKafka(b *testing.B, n int) { kafkaLoop(b, testserver.Kafka(b), n, nil).report(b) }

// benchRawKafkaEffect runs the Kafka loop with n consumers, each applying
// none's effect through pgx to every record it polled before the commit.
func benchRawKafkaEffect(b *testing.B, pg *realEnvs, n int) {
	env := pg.get(b, n)
	env.reset(b)
	kafkaLoop(b, testserver.Kafka(b), n, func(int) func(context.Context, strategies.Event) error {
		return func(ctx context.Context, e strategies.Event) error { return rawApplyEventTx(ctx, env, e) }
	}).report(b)
}

// kafkaLoop runs the Kafka loop with n consumers on kc; with handlers, it
// hands each record polled to consumer w's handler (handlers(w)), as
// operation k's delivery (deliveryEvent(k), with the record's partition,
// from 1, and offset), before the commit: BenchmarkStrategy/<s>/real/broker=kafka.
// It returns the run's tally, for the caller to report.
func kafkaLoop(b *testing.B, kc *testserver.KafkaCluster, n int, handlers func(w int) func(context.Context, strategies.Event) error) *tally {
	ctx, cancel := context.WithTimeout(b.Context(), rawTimeout)
	defer cancel()
	topic := fmt.Sprintf("%s_raw_%d", benchPrefix, rawRuns.Add(1))
	group := topic + "_group"

	prod, err := kgo.NewClient(append(kc.ClientOpts(),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	)...)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	created, err := adm.CreateTopic(ctx, rawPartitions, 1, nil, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		b.Fatalf("bench: create topic %s: %v", topic, err)
	}
	defer func() {
		_, _ = adm.DeleteGroups(context.Background(), group)
		_, _ = adm.DeleteTopics(context.Background(), topic)
	}()

	// Each member's partitions, kept by the group callbacks, to know when
	// the group has settled.
	var mu sync.Mutex
	owned := make([]int, n)
	t := newTally(b.N, rawKafkaInFlight)
	var wg sync.WaitGroup
	consumerErr := make(chan error, n)
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	for w := range n {
		var handle func(context.Context, strategies.Event) error
		if handlers != nil {
			handle = handlers(w)
		}
		cl, err := kgo.NewClient(append(kc.ClientOpts(),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				mu.Lock()
				owned[w] += len(m[topic])
				mu.Unlock()
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				mu.Lock()
				owned[w] -= len(m[topic])
				mu.Unlock()
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				mu.Lock()
				owned[w] -= len(m[topic])
				mu.Unlock()
			}),
		)...)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		wg.Go(func() {
			var lat []time.Duration
			for {
				fs := cl.PollFetches(pollCtx)
				if pollCtx.Err() != nil {
					return
				}
				var batch []*kgo.Record
				var fetchErr error
				fs.EachError(func(topic string, p int32, err error) { fetchErr = fmt.Errorf("fetch %s/%d: %w", topic, p, err) })
				if fetchErr != nil {
					consumerErr <- fmt.Errorf("consumer %d: %w", w, fetchErr)
					return
				}
				fs.EachRecord(func(r *kgo.Record) { batch = append(batch, r) })
				if len(batch) == 0 {
					continue
				}
				if handle != nil {
					for _, r := range batch {
						k, err := strconv.ParseUint(string(r.Key), 10, 64)
						if err != nil {
							consumerErr <- fmt.Errorf("consumer %d: key %q: %w", w, r.Key, err)
							return
						}
						e := deliveryEvent(k)
						e.Partition, e.Offset = int(r.Partition)+1, r.Offset
						if err := handle(pollCtx, e); err != nil {
							if pollCtx.Err() == nil {
								consumerErr <- fmt.Errorf("consumer %d: handle: %w", w, err)
							}
							return
						}
					}
				}
				if err := cl.CommitRecords(pollCtx, batch...); err != nil {
					if pollCtx.Err() == nil {
						consumerErr <- fmt.Errorf("consumer %d: commit: %w", w, err)
					}
					return
				}
				lat = lat[:0]
				for _, r := range batch {
					lat = append(lat, sinceStamp(r.Value))
				}
				t.add(lat, 0)
			}
		})
	}
	if err := waitGroupSettled(ctx, adm, group, n, func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, k := range owned {
			if k == 0 && n <= rawPartitions {
				return false
			}
			total += k
		}
		return total == rawPartitions
	}); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	var produceErr atomic.Pointer[error]
	for i := range b.N {
		if err := t.publishing(ctx); err != nil {
			b.Fatalf("bench: %d of %d records committed within %v", t.handled.Load(), b.N, rawTimeout)
		}
		prod.Produce(ctx, &kgo.Record{Key: strconv.AppendInt(nil, int64(i), 10), Value: stamp()}, func(_ *kgo.Record, err error) {
			if err != nil {
				produceErr.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatalf("bench: produce: %v", err)
	}
	if p := produceErr.Load(); p != nil {
		b.Fatalf("bench: produce: %v", *p)
	}
	select {
	case <-t.done:
	case err := <-consumerErr:
		b.Fatal(err)
	case <-ctx.Done():
		b.Fatalf("bench: %d of %d records committed within %v", t.handled.Load(), b.N, rawTimeout)
	}
	b.StopTimer()
	stopPolling()
	wg.Wait()
	return t
}

// waitGroupSettled waits until group is Stable with n members and settled
// reports that the members own every partition between them.
func waitGroupSettled(ctx context.Context, adm *kadm.Client, group string, n int, settled func() bool) error {
	for {
		gs, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			g := gs[group]
			if g.Err == nil && g.State == "Stable" && len(g.Members) == n && settled() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: consumer group %s of %d members did not settle: %w", group, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
