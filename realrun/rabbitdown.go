package realrun

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/idemsim/idemsim/internal/tcpproxy"
)

// The downstream topic on RabbitMQ: a second quorum queue of the run,
// <prefix>_downstream, marked in its arguments as the upstream queue is.
// A publisher publishes on a connection of its own through its
// incarnation's proxy, on a channel in confirm mode, and waits for the
// confirm; the downstream consumer takes the queue's messages one at a
// time (basic.get) on the run's own connection, with no proxy and no
// faults, and acks each after applying it.

func rabbitDownQueue(p string) string { return p + "_downstream" }

// rabbitDownArgs are the downstream queue's arguments, its mark: as the
// dead-letter queue's, a dead-letter exchange that never exists and a
// routing key of its own, which RabbitMQ checks on a declare (it does not
// check the idemsim-* ones).
func rabbitDownArgs(prefix string) amqp.Table {
	return amqp.Table{
		"x-queue-type":              amqp.QueueTypeQuorum,
		"x-dead-letter-exchange":    rabbitMarkDLX,
		"x-dead-letter-routing-key": rabbitDeadKey(prefix) + ".downstream",
		"idemsim-created-by":        "idemsim",
		"idemsim-prefix":            prefix,
	}
}

// ownedDownstream says whether the downstream queue exists, and refuses
// it if it does without idemsim's mark.
func (q *rabbitServer) ownedDownstream(ctx context.Context) (exists bool, refused, err error) {
	name := rabbitDownQueue(q.prefix)
	_, exists, err = q.inspectQueue(ctx, name)
	if err != nil || !exists {
		return exists, nil, err
	}
	why, err := q.declareMarked(ctx, declareQueue(name, rabbitDownArgs(q.prefix)))
	if why != nil {
		return true, notOwnedRabbit(name, why), nil
	}
	return true, nil, err
}

// checkDownstream refuses a downstream queue of the prefix's name that
// idemsim did not create, before anything is made.
func (q *rabbitServer) checkDownstream(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, refused, err := q.ownedDownstream(sctx)
	if err != nil {
		return q.err(ErrServerFailed, "looking for the queue "+rabbitDownQueue(q.prefix), err)
	}
	return refused
}

// setUpDownstream makes the run's downstream queue, deleting first one
// that a killed run left.
func (q *rabbitServer) setUpDownstream(ctx context.Context) error {
	name := rabbitDownQueue(q.prefix)
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := q.deleteNamed(sctx, name); err != nil {
		return q.err(ErrServerFailed, "deleting the queue "+name+" a killed run left", err)
	}
	q.downCreated = true
	why, err := q.declareMarked(sctx, declareQueue(name, rabbitDownArgs(q.prefix)))
	if why != nil {
		return notOwnedRabbit(name, why)
	}
	if err != nil {
		return q.err(ErrServerFailed, "creating the quorum queue "+name, err)
	}
	return nil
}

// cleanDownstream deletes the downstream queue if it bears idemsim's
// mark.
func (q *rabbitServer) cleanDownstream(ctx context.Context) (removed []string, notOwned error, err error) {
	exists, refused, err := q.ownedDownstream(ctx)
	switch {
	case err != nil:
		return nil, nil, q.err(ErrServerFailed, "looking for the queue "+rabbitDownQueue(q.prefix), err)
	case refused != nil:
		return nil, refused, nil
	case !exists:
		return nil, nil, nil
	}
	if err := q.deleteNamed(ctx, rabbitDownQueue(q.prefix)); err != nil {
		return nil, nil, q.err(ErrServerFailed, "deleting the queue "+rabbitDownQueue(q.prefix), err)
	}
	return []string{"quorum queue " + rabbitDownQueue(q.prefix)}, nil, nil
}

// rabbitDownstream is the downstream topic on RabbitMQ.
type rabbitDownstream struct {
	r    *session
	q    *rabbitServer
	busy atomic.Bool
	// emptyAt is when the last get that found the queue empty started,
	// -1 after one that found a message; askedAt when drained was first
	// asked.
	emptyAt atomic.Int64
	askedAt atomic.Int64
}

func newRabbitDownstream(r *session, q *rabbitServer) *rabbitDownstream {
	t := &rabbitDownstream{r: r, q: q}
	t.emptyAt.Store(-1)
	t.askedAt.Store(-1)
	return t
}

func (t *rabbitDownstream) client(link brokerLink) downClient {
	p, _ := link.(*tcpproxy.Proxy)
	return &rabbitPublisher{t: t, proxy: p}
}

// rabbitPublisher is an incarnation's publisher on RabbitMQ: its own
// connection through its proxy, made at its first publish, and a channel
// in confirm mode.
type rabbitPublisher struct {
	t     *rabbitDownstream
	proxy *tcpproxy.Proxy
	mu    sync.Mutex
	conn  *amqp.Connection
	ch    *amqp.Channel
	done  bool
}

func (p *rabbitPublisher) open(ctx context.Context) (*amqp.Channel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil, errCrashed
	}
	if p.ch != nil && !p.ch.IsClosed() {
		return p.ch, nil
	}
	timeout := connectTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	if p.conn == nil || p.conn.IsClosed() {
		conn, err := dialRabbit(p.t.q.url, p.proxy.Addr(), "idemsim-publisher", timeout, nil)
		if err != nil {
			return nil, err
		}
		p.conn = conn
	}
	conn := p.conn
	ch, err := rpc(ctx, func() (*amqp.Channel, error) {
		ch, err := conn.Channel()
		if err != nil {
			return nil, err
		}
		return ch, ch.Confirm(false)
	})
	if err != nil {
		return nil, err
	}
	p.ch = ch
	return ch, nil
}

// publish publishes m, persistent, and waits for its confirm until ctx
// ends.
func (p *rabbitPublisher) publish(ctx context.Context, m downMsg) error {
	ch, err := p.open(ctx)
	if err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", rabbitDownQueue(p.t.q.prefix), false, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent, Body: m.encode(),
	})
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err == nil && !ok {
		err = errors.New("no confirm: the broker nacked the publish, or the connection closed first")
	}
	return err
}

func (p *rabbitPublisher) close() {
	p.mu.Lock()
	conn := p.conn
	p.conn, p.ch, p.done = nil, nil, true
	p.mu.Unlock()
	if conn != nil {
		go func() { _ = conn.Close() }() // Close waits for the server
	}
}

// consume gets the queue's messages one at a time on a channel of the
// run's own connection, applying and acking each, until stop.
func (t *rabbitDownstream) consume(apply func(downMsg) error, stop <-chan struct{}) {
	r := t.r
	name := rabbitDownQueue(t.q.prefix)
	ch, err := rpc(r.ctx, t.q.conn.Channel)
	if err != nil {
		if r.ctx.Err() == nil {
			r.fail(t.q.err(ErrServerFailed, "opening a channel for the downstream consumer", err))
		}
		return
	}
	defer func() { go func() { _ = ch.Close() }() }()
	for {
		select {
		case <-stop:
			return
		case <-r.ctx.Done():
			return
		default:
		}
		start := r.rec.now()
		ctx, cancel := context.WithTimeout(r.ctx, setupTimeout)
		type got struct {
			d  amqp.Delivery
			ok bool
		}
		g, err := rpc(ctx, func() (got, error) {
			d, ok, err := ch.Get(name, false)
			return got{d, ok}, err
		})
		cancel()
		if err != nil {
			if r.ctx.Err() == nil {
				r.fail(t.q.err(ErrServerFailed, "getting from the downstream queue "+name, err))
			}
			return
		}
		if !g.ok {
			t.emptyAt.Store(int64(start))
			select {
			case <-stop:
				return
			case <-r.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		t.emptyAt.Store(-1)
		t.busy.Store(true)
		m, err := decodeDownMsg(g.d.Body)
		if err != nil {
			r.fail(t.q.err(ErrServerFailed, "reading the downstream queue "+name, err))
			return
		}
		if apply(m) != nil {
			return
		}
		if err := g.d.Ack(false); err != nil && r.ctx.Err() == nil {
			r.fail(t.q.err(ErrServerFailed, "acking a downstream message", err))
			return
		}
		t.busy.Store(false)
	}
}

// drained reports whether a get that started after drained was first
// asked found the queue empty: every message confirmed before then was
// applied and acked.
func (t *rabbitDownstream) drained() bool {
	t.askedAt.CompareAndSwap(-1, int64(t.r.rec.now()))
	return !t.busy.Load() && t.emptyAt.Load() >= t.askedAt.Load()
}

func (t *rabbitDownstream) close() {}
