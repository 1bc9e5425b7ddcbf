package realrun

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The downstream topic on Kafka: a second topic of the run,
// <prefix>_downstream, one partition, marked as the upstream topic is. A
// publisher produces on a client of its own through its incarnation's
// proxies (acks from all in-sync replicas: the produce's confirm); the
// downstream consumer reads the partition from its start on a client of
// its own, with no proxy and no faults, applying each record in order.

func kafkaDownTopic(p string) string { return p + "_downstream" }

// checkDownstream refuses a downstream topic of the prefix's name that
// idemsim did not create, before anything is made.
func (k *kafkaServer) checkDownstream(ctx context.Context) error {
	name := kafkaDownTopic(k.prefix)
	exists, marked, err := k.topicNamedMarked(ctx, name)
	if err != nil {
		return k.err(ErrServerFailed, "looking for the topic "+name, err)
	}
	if exists && !marked {
		return notOwnedKafka("topic " + name)
	}
	return nil
}

// setUpDownstream makes the run's downstream topic, deleting first one
// that a killed run left (checkDownstream refused a foreign one).
func (k *kafkaServer) setUpDownstream(ctx context.Context) error {
	name := kafkaDownTopic(k.prefix)
	exists, _, err := k.topicNamedMarked(ctx, name)
	if err != nil {
		return k.err(ErrServerFailed, "looking for the topic "+name, err)
	}
	if exists {
		if err := k.deleteTopicNamed(ctx, name); err != nil {
			return k.err(ErrServerFailed, "deleting the topic "+name+" a killed run left", err)
		}
	}
	mark, ret, policy := kafkaMarkValue, kafkaRetention, "delete"
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	for {
		_, err = k.adm.CreateTopic(sctx, 1, -1, map[string]*string{kafkaMarkKey: &mark, "retention.ms": &ret, "cleanup.policy": &policy}, name)
		// A topic just deleted may still be going on a real cluster.
		if !errors.Is(err, kerr.TopicAlreadyExists) || !exists || sctx.Err() != nil {
			break
		}
		sleepCtx(sctx, 100*time.Millisecond)
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return notOwnedKafka("topic " + name)
	}
	if err != nil {
		return k.err(ErrServerFailed, "creating the topic "+name, err)
	}
	k.downCreated = true
	return nil
}

func (k *kafkaServer) deleteTopicNamed(ctx context.Context, name string) error {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, err := k.adm.DeleteTopic(sctx, name)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		err = nil
	}
	return err
}

// kafkaDownstream is the downstream topic on Kafka.
type kafkaDownstream struct {
	r    *session
	k    *kafkaServer
	busy atomic.Bool
	next atomic.Int64 // the offset after the last record applied
	// adm is the downstream consumer's client, for drained.
	adm atomic.Pointer[kadm.Client]
}

func (t *kafkaDownstream) client(link brokerLink) downClient {
	ps, _ := link.(*proxySet)
	return &kafkaPublisher{t: t, ps: ps}
}

// kafkaPublisher is an incarnation's producer: its own client, through
// its proxies, made at its first publish.
type kafkaPublisher struct {
	t    *kafkaDownstream
	ps   *proxySet
	mu   sync.Mutex
	cl   *kgo.Client
	done bool
}

func (p *kafkaPublisher) open() (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil, errCrashed
	}
	if p.cl != nil {
		return p.cl, nil
	}
	ps := p.ps
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(p.t.k.seeds...),
		kgo.ClientID("idemsim-publisher"),
		kgo.DialTimeout(time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			addr, err := ps.addr(host)
			if err != nil {
				return nil, err
			}
			return (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, addr)
		}),
	)
	if err != nil {
		return nil, err
	}
	p.cl = cl
	return cl, nil
}

// publish produces m and waits for the broker's ack until ctx ends. The
// client does not give up a record its request already carries (it
// waits for that request's answer, past the caller's deadline): a
// publish held by a partition may land after the caller stopped
// waiting, an unknown outcome, as on any broker.
func (p *kafkaPublisher) publish(ctx context.Context, m downMsg) error {
	cl, err := p.open()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	cl.Produce(ctx, &kgo.Record{Topic: kafkaDownTopic(p.t.k.prefix), Partition: 0, Value: m.encode()}, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *kafkaPublisher) close() {
	p.mu.Lock()
	cl := p.cl
	p.cl, p.done = nil, true
	p.mu.Unlock()
	if cl != nil {
		go cl.Close() // a client cut off may take a while to close
	}
}

// consume reads the downstream partition from its start, applying each
// record, until stop.
func (t *kafkaDownstream) consume(apply func(downMsg) error, stop <-chan struct{}) {
	r := t.r
	name := kafkaDownTopic(t.k.prefix)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(t.k.seeds...),
		kgo.ClientID("idemsim-downstream"),
		kgo.DialTimeout(time.Second),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{name: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		r.fail(t.k.err(ErrServerFailed, "reading the downstream topic "+name, err))
		return
	}
	defer cl.Close()
	// drained asks through this client, which knows the topic: the
	// run's own client may hold metadata from before it was created.
	t.adm.Store(kadm.NewClient(cl))
	for {
		select {
		case <-stop:
			return
		case <-r.ctx.Done():
			return
		default:
		}
		ctx, cancel := context.WithTimeout(r.ctx, 100*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) && r.ctx.Err() == nil {
				r.fail(t.k.err(ErrServerFailed, "reading the downstream topic "+name, fe.Err))
				return
			}
		}
		failed := false
		fs.EachRecord(func(rec *kgo.Record) {
			if failed {
				return
			}
			t.busy.Store(true)
			m, err := decodeDownMsg(rec.Value)
			if err != nil {
				r.fail(t.k.err(ErrServerFailed, "reading the downstream topic "+name, err))
				failed = true
				return
			}
			if apply(m) != nil {
				failed = true
				return
			}
			t.next.Store(rec.Offset + 1)
			t.busy.Store(false)
		})
		if failed {
			return
		}
	}
}

// drained asks the broker for the partition's end offset: every record
// before it applied.
func (t *kafkaDownstream) drained() bool {
	if t.busy.Load() {
		return false
	}
	adm := t.adm.Load()
	if adm == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(t.r.ctx, setupTimeout)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, kafkaDownTopic(t.k.prefix))
	if err != nil {
		return false
	}
	end, ok := ends.Lookup(kafkaDownTopic(t.k.prefix), 0)
	if !ok || end.Err != nil {
		return false
	}
	return t.next.Load() >= end.Offset && !t.busy.Load()
}

func (t *kafkaDownstream) close() {}
