package realrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/strategies"
)

// The downstream topic on NATS JetStream: a second stream of the run,
// <prefix>_downstream on the subject <prefix>.downstream, marked as the
// upstream stream is, with one durable pull consumer, <prefix>_downstream.
// A publisher publishes on a connection of its own through its
// incarnation's proxy, and waits for the stream's PubAck (the publish
// confirm); the downstream consumer reads on the run's own connection,
// with no proxy and no faults, and acks each message after applying it.

func natsDownStream(p string) string  { return p + "_downstream" }
func natsDownSubject(p string) string { return p + ".downstream" }

// publishes reports whether cfg's strategy sends events on.
func publishes(cfg Config) bool {
	st, _ := strategies.Lookup(cfg.Strategy)
	return st.Needs.Has(strategies.NeedsPublisher)
}

// checkDownstream refuses a downstream stream of the prefix's name that
// idemsim did not create, before anything is made.
func (n *natsServer) checkDownstream(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	st, err := n.js.Stream(sctx, natsDownStream(n.prefix))
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil
	case err != nil:
		return n.err(ErrServerFailed, "looking for the stream "+natsDownStream(n.prefix), err)
	case !marked(st.CachedInfo().Config.Metadata):
		return notOwnedNATS("stream " + natsDownStream(n.prefix))
	}
	return nil
}

// setUpDownstream makes the run's downstream stream and its consumer,
// deleting first one that a killed run left (checkDownstream refused a
// foreign one).
func (n *natsServer) setUpDownstream(ctx context.Context, cfg Config) error {
	name, subject := natsDownStream(n.prefix), natsDownSubject(n.prefix)
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := n.js.DeleteStream(sctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return n.err(ErrServerFailed, "deleting the stream "+name+" a killed run left", err)
	}
	md := map[string]string{natsMarkKey: natsMarkValue, natsPrefixKey: n.prefix, natsRunKey: n.runID}
	st, err := n.js.CreateStream(sctx, jetstream.StreamConfig{
		Name:        name,
		Description: "created by idemsim for a real run of prefix " + n.prefix + " (its downstream topic); idemsim clean --prefix " + n.prefix + " removes it",
		Subjects:    []string{subject},
		Storage:     jetstream.MemoryStorage,
		Replicas:    1,
		Metadata:    md,
	})
	if err != nil {
		if strings.Contains(err.Error(), "overlap") {
			return refusal{fmt.Errorf("NATS: another stream already takes the subject %s: %w", subject, err),
				"; idemsim leaves it untouched: choose another --prefix"}
		}
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return notOwnedNATS("stream " + name)
		}
		return n.err(ErrServerFailed, "creating the stream "+name, err)
	}
	n.downCreated = true
	if _, err := st.CreateConsumer(sctx, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "created by idemsim for a real run of prefix " + n.prefix + " (its downstream consumer)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.Timing.AckDeadline,
		FilterSubject: subject,
		Metadata:      md,
	}); err != nil {
		return n.err(ErrServerFailed, "creating the consumer "+name, err)
	}
	return nil
}

// deleteDownstream deletes the run's downstream stream, for tearDown.
func (n *natsServer) deleteDownstream() error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	err := n.js.DeleteStream(ctx, natsDownStream(n.prefix))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return err
}

// natsTopic is the downstream topic on NATS.
type natsTopic struct {
	r    *session
	n    *natsServer
	busy atomic.Bool // the consumer holds a message it has not acked
}

func (t *natsTopic) client(link brokerLink) downClient {
	p, _ := link.(*tcpproxy.Proxy)
	return &natsPublisher{t: t, proxy: p}
}

// natsPublisher is an incarnation's publisher on NATS: its own
// connection, through its proxy, made at its first publish.
type natsPublisher struct {
	t     *natsTopic
	proxy *tcpproxy.Proxy
	mu    sync.Mutex
	nc    *nats.Conn
	js    jetstream.JetStream
	done  bool
}

func (p *natsPublisher) open() (jetstream.JetStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil, errCrashed
	}
	if p.js != nil {
		return p.js, nil
	}
	nc, err := nats.Connect(p.t.n.url, natsOptions("idemsim-publisher", natsDialer{addr: p.proxy.Addr()})...)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.nc, p.js = nc, js
	return js, nil
}

// publish publishes m and waits for the stream's PubAck.
func (p *natsPublisher) publish(ctx context.Context, m downMsg) error {
	js, err := p.open()
	if err != nil {
		return err
	}
	_, err = js.Publish(ctx, natsDownSubject(p.t.n.prefix), m.encode())
	return err
}

func (p *natsPublisher) close() {
	p.mu.Lock()
	nc := p.nc
	p.nc, p.js, p.done = nil, nil, true
	p.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
}

// consume pulls the downstream consumer's messages on the run's own
// connection, applies each and acks it, until stop.
func (t *natsTopic) consume(apply func(downMsg) error, stop <-chan struct{}) {
	r := t.r
	name := natsDownStream(t.n.prefix)
	cctx, cancel := context.WithTimeout(r.ctx, setupTimeout)
	cons, err := t.n.js.Consumer(cctx, name, name)
	cancel()
	if err != nil {
		if r.ctx.Err() == nil {
			r.fail(t.n.err(ErrServerFailed, "opening the downstream consumer "+name, err))
		}
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-r.ctx.Done():
			return
		default:
		}
		batch, err := cons.Fetch(16, jetstream.FetchMaxWait(50*time.Millisecond))
		if err != nil {
			if r.ctx.Err() == nil {
				r.fail(t.n.err(ErrServerFailed, "fetching from the downstream consumer "+name, err))
			}
			return
		}
		for msg := range batch.Messages() {
			t.busy.Store(true)
			m, err := decodeDownMsg(msg.Data())
			if err != nil {
				r.fail(t.n.err(ErrServerFailed, "reading the downstream stream "+name, err))
				return
			}
			if apply(m) != nil {
				return
			}
			actx, cancel := context.WithTimeout(r.ctx, setupTimeout)
			err = msg.DoubleAck(actx)
			cancel()
			t.busy.Store(false)
			if err != nil && r.ctx.Err() == nil {
				r.fail(t.n.err(ErrServerFailed, "acking a downstream message", err))
				return
			}
		}
	}
}

// drained asks the server whether its downstream consumer has anything
// left: nothing pending, nothing unacked.
func (t *natsTopic) drained() bool {
	if t.busy.Load() {
		return false
	}
	name := natsDownStream(t.n.prefix)
	ctx, cancel := context.WithTimeout(t.r.ctx, setupTimeout)
	defer cancel()
	c, err := t.n.js.Consumer(ctx, name, name)
	if err != nil {
		return false
	}
	info := c.CachedInfo()
	return info.NumPending == 0 && info.NumAckPending == 0 && !t.busy.Load()
}

func (t *natsTopic) close() {}
