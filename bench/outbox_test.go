package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// benchRealOutbox measures the outbox end to end on the real servers, as
// a real run has it: N consumers handle the shared workload (each event
// twice) with the strategy's handler, which commits the effect and the
// outbox row in one PostgreSQL transaction; one relay (the strategy's
// Relay) reads the outbox, publishes each row to an in-process downstream
// topic and marks it sent; one downstream consumer applies each
// downstream event with db-unique into <prefix>_downstream. One op is one
// delivery; the run ends when the downstream applied every event, so
// events/s is upstream deliveries per second of the whole pipeline, beside
// db-unique's upstream alone (BenchmarkStrategy/db-unique/real). It
// reports p50-ms and p99-ms of the upstream Handle calls, dups/op
// (upstream applications beyond the first, per delivery) and
// down-dups/op (downstream rows beyond the first per event, per delivery,
// which db-unique downstream must keep at 0).
func benchRealOutbox(b *testing.B, envs *realEnvs, n int) {
	env := envs.get(b, n)
	env.reset(b)
	ctx := context.Background()
	if err := env.ledger.EnsureOutbox(ctx); err != nil {
		b.Fatal(err)
	}
	if err := env.ledger.ResetOutbox(ctx); err != nil {
		b.Fatal(err)
	}
	topic := make(chan downEvent, 1024)
	pub := &benchPublisher{topic: topic}
	reader := &benchOutbox{Ledger: env.ledger, pub: pub}
	relay, ok, err := strategies.NewRelay("outbox", strategies.Deps{Ledger: reader, Publisher: pub})
	if err != nil || !ok {
		b.Fatalf("the outbox's relay: %v", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var applied atomic.Int64
	wg.Add(2)
	go func() { // the relay
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sent, err := relay.RelayOnce(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			if !sent {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	go func() { // the downstream consumer
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case m := <-topic:
				fresh, err := env.ledger.InsertDownstream(ctx, m.event, m.effect)
				if err != nil {
					b.Error(err)
					return
				}
				if fresh {
					applied.Add(1)
				}
			}
		}
	}()
	start := time.Now()
	lat := runConsumers(b, n, func(int) opFunc {
		h, err := strategies.New("outbox", strategies.Deps{Ledger: env.ledger, Publisher: pub})
		if err != nil {
			panic(err)
		}
		return func(ctx context.Context, i uint64) error {
			_, err := h.Handle(ctx, deliveryEvent(i))
			return err
		}
	})
	// b.N is known only now: with one consumer runConsumers is a b.Loop
	// loop, which calls this function once and grows b.N inside it.
	events := uint64(b.N+1) / 2
	for deadline := time.Now().Add(time.Minute); applied.Load() < int64(events); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			b.Errorf("the downstream applied %d of %d events within a minute", applied.Load(), events)
			break
		}
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	reportLatency(b, lat, "p50-ms", "p99-ms")
	dups, lost := env.audit(b, events)
	rows, err := env.ledger.DownstreamRows(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
	b.ReportMetric(float64(len(rows)-int(applied.Load()))/float64(b.N), "down-dups/op")
	if dups > 0 || lost > 0 || len(rows) != int(events) {
		b.Errorf("outbox without faults: %d duplicates, %d events lost upstream; %d downstream rows for %d events", dups, lost, len(rows), events)
	}
}

// downEvent is a downstream event: the upstream event and the effect (its
// transaction) it announces.
type downEvent struct {
	event  strategies.EventID
	effect int64
}

// benchPublisher is the in-process downstream topic; it announces the
// effect of the outbox row the relay last read (benchOutbox).
type benchPublisher struct {
	topic  chan downEvent
	effect atomic.Int64
}

func (p *benchPublisher) Publish(ctx context.Context, e strategies.Event) error {
	select {
	case p.topic <- downEvent{event: e.ID, effect: p.effect.Load()}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// benchOutbox is the ledger as the relay reads it: each row it reads
// tells the publisher the effect the row announces.
type benchOutbox struct {
	*pgstore.Ledger
	pub *benchPublisher
}

func (o *benchOutbox) NextOutbox(ctx context.Context) (strategies.OutboxRow, bool, error) {
	row, found, err := o.NextOutboxEntry(ctx)
	if found {
		o.pub.effect.Store(row.Effect)
	}
	return row.OutboxRow, found, err
}
