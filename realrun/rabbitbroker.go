package realrun

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// rabbitBroker is RabbitMQ behind the seam (Broker), through amqp091-go:
// the run publishes to its own quorum queue with publisher confirms, and
// each consumer incarnation consumes from it over a connection of its own,
// through a proxy of its own, with manual acks and basic.qos prefetch
// (--prefetch; 1 by default, the simulator's default). With a delivery
// limit (--max-deliveries N: x-delivery-limit N-1), what RabbitMQ
// dead-letters arrives on the run's dead-letter queue, which it reads.
//
// It knows only what a client knows. basic.ack has no reply, so every ack
// is recorded as sent with its outcome unknown (AckUnknown); Final, once
// every consumer closed its channel (which returns what it held to the
// queue), reads what is left in the queue and settles every message with
// an ack of the run's own that is not there. A delivery's tag belongs to
// its channel (BROKER-FACTS row 10): a consumer keeps each delivery's tag
// with the channel that gave it, and after a reconnect an ack of an older
// delivery is not sent at all (its message went back to the queue when its
// channel closed) rather than sent with a tag that now names another
// message.
//
// To know when to stop waiting, the run uses the one signal AMQP gives: a
// later synchronous round trip on the same channel (basic.qos) that
// succeeds shows that the acks sent before it were taken (an ack of a bad
// tag would have closed the channel). That only ends the wait; the
// verdict's settling comes from the queue's state at the end.
type rabbitBroker struct {
	r       *session
	srv     *rabbitServer
	proxies []*tcpproxy.Proxy
	rAck    *rand.Rand

	brokerRun // its lock, the run's stop and leaves, AllDone
	msgs      []rabbitMessage
	published int
	confirmed int
	conns     map[*rabbitConn]struct{}
	quiet     int // polls in a row that found nothing left to do
}

type rabbitMessage struct {
	event     strategies.EventID
	ackSent   bool // an ack of it was sent on a channel (outcome unknown)
	confirmed bool // a later round trip on that channel succeeded, or it is dead
	// dead: it arrived on the run's dead-letter queue (its delivery
	// limit was reached): RabbitMQ dead-letters only what no ack
	// settled, so it is not done.
	dead      bool
	unknownBy int
	unknownAt time.Duration
}

var (
	_ Broker  = (*rabbitBroker)(nil)
	_ proxied = (*rabbitBroker)(nil)
)

func newRabbitBroker(r *session, events []strategies.EventID) (*rabbitBroker, error) {
	b := &rabbitBroker{r: r, srv: r.srv.rabbit,
		conns: map[*rabbitConn]struct{}{},
		rAck:  rand.New(rand.NewPCG(r.cfg.Seed, run.StreamAckLoss))}
	b.brokerRun.init(r.cfg.Instances)
	for _, e := range events {
		b.msgs = append(b.msgs, rabbitMessage{event: e})
	}
	proxies := r.cfg.Instances
	if publishes(r.cfg) {
		proxies++ // the outbox's relay's, numbered after the consumers
	}
	for i := 0; i < proxies; i++ {
		p, err := tcpproxy.Start(b.srv.addr)
		if err != nil {
			b.closeProxies()
			return nil, fmt.Errorf("a loopback proxy to RabbitMQ: %w", err)
		}
		b.proxies = append(b.proxies, p)
	}
	go b.pollSettled()
	return b, nil
}

func (b *rabbitBroker) proxy(consumer int) brokerLink { return b.proxies[consumer] }

func (b *rabbitBroker) closeProxies() {
	for _, p := range b.proxies {
		_ = p.Close()
	}
}

// liveness is how long RabbitMQ takes to notice a silent consumer: the
// zombie fault's unit here.
func (b *rabbitBroker) liveness() time.Duration { return rabbitLiveness }

// Publish publishes message m (its number as the body, persistent) to the
// run's queue through the default exchange, and waits for the broker's
// confirm. Each copy of an event is a message of its own.
func (b *rabbitBroker) Publish(ctx context.Context, m int) error {
	b.mu.Lock()
	ev := b.msgs[m].event
	b.mu.Unlock()
	b.r.rec.add(b.r.publishRecord(m, ev))
	q := b.srv
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	// Publishing takes no lock of the server's side that a frozen node
	// could hold (amqp091 writes the frame, and WaitContext ends with
	// pctx), so it runs here, not in rpc.
	q.pubMu.Lock()
	var ok bool
	dc, err := q.pub.PublishWithDeferredConfirmWithContext(pctx, "", q.queue, false, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent, Body: []byte(strconv.Itoa(m)),
	})
	if err == nil {
		ok, err = dc.WaitContext(pctx)
	}
	q.pubMu.Unlock()
	if err == nil && !ok {
		// amqp091 resolves a confirm still awaited as a nack when the
		// connection closes: say which it was.
		if q.conn.IsClosed() || q.pub.IsClosed() {
			err = fmt.Errorf("the connection closed before the confirm came")
		} else {
			err = fmt.Errorf("the broker nacked the publish (basic.nack)")
		}
	}
	if err != nil {
		e := q.err(ErrServerFailed, fmt.Sprintf("publishing message %d of %d to the queue %s (waiting for its confirm)", m+1, len(b.msgs), q.queue), err).(*ServerError)
		e.Hint = stoppedHint(err)
		return e
	}
	b.mu.Lock()
	b.published++
	b.mu.Unlock()
	return nil
}

func (b *rabbitBroker) Attach(_ context.Context, consumer int) (Conn, error) {
	c := &rabbitConn{b: b, consumer: consumer}
	b.mu.Lock()
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	return c, nil
}

func (b *rabbitBroker) Progress() (settled, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.confirmed, len(b.msgs)
}

func (b *rabbitBroker) stopOrLeave(consumer int) (received, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.stopped:
		return gotStop, true
	case b.leaving[consumer]:
		return gotLeave, true
	}
	return gotDelivery, false
}

// settleQuiet is how many polls in a row must find nothing left to do
// before a run whose acks are not all confirmed stops waiting: a second
// (settlePoll apart), past a consumer's longest backoff (backoffMax) and a
// receive's wait (fetchWait), in which a message RabbitMQ sent to a
// consumer's client but the consumer has not taken yet would show.
const settleQuiet = 5

// pollSettled confirms, every settlePoll, the acks each live channel sent
// (a basic.qos round trip on it), and closes AllDone once every message's
// ack is confirmed, or once every message had an ack sent, nothing is
// held or unconfirmed on a live channel, and the queue has nothing
// ready, settleQuiet times in a row (an ack whose channel closed before it
// was confirmed may have been taken: its message then never comes back).
func (b *rabbitBroker) pollSettled() {
	t := time.NewTicker(settlePoll)
	defer t.Stop()
	for {
		select {
		case <-b.halted:
			return
		case <-b.r.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		var conns []*rabbitConn
		for c := range b.conns {
			conns = append(conns, c)
		}
		b.mu.Unlock()
		busy := false
		for _, c := range conns {
			if c.sync(b.r.ctx) {
				busy = true
			}
		}
		if b.srv.limit >= 0 {
			if err := b.drainDead(b.r.ctx); err != nil {
				continue // the health watch judges the server
			}
		}
		b.mu.Lock()
		all := b.published == len(b.msgs)
		allSent := all
		for i := range b.msgs {
			if !b.msgs[i].ackSent && !b.msgs[i].dead {
				allSent = false
				break
			}
		}
		if all && b.confirmed == len(b.msgs) {
			b.finishLocked()
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		if !allSent || busy {
			b.quiet = 0
			continue
		}
		info, exists, err := b.srv.inspect(b.r.ctx)
		if err != nil || !exists || info.Messages > 0 {
			b.quiet = 0
			continue
		}
		if b.quiet++; b.quiet >= settleQuiet {
			b.mu.Lock()
			b.finishLocked()
			b.mu.Unlock()
			return
		}
	}
}

func (b *rabbitBroker) finishLocked() {
	b.settledLocked()
}

// Final reads what is left in the queue once every consumer's channel is
// closed (the run's consumers closed theirs; RabbitMQ returned what they
// held), and settles every message with an ack of the run's own that is
// not left: that ack took effect, somewhere between its sending and now,
// and goes into the history as such. A message left is not settled; one
// gone with no ack of the run's own is not counted settled: the client
// cannot explain it.
func (b *rabbitBroker) Final(ctx context.Context, events int) (done, settled []bool, err error) {
	q := b.srv
	fctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	// Every consumer closed its connection (the run waited for them);
	// one whose close went unanswered is cut at its proxy now. Then wait
	// for RabbitMQ to see every consumer gone, so that what they held is
	// back in the queue.
	for _, p := range b.proxies {
		p.CloseConns()
	}
	for {
		info, exists, err := q.inspect(fctx)
		if err == nil && !exists {
			err = errQueueGone
		}
		if err != nil {
			return nil, nil, q.err(ErrServerFailed, "reading the queue "+q.queue+"'s state at the end of the run", err)
		}
		if info.Consumers == 0 {
			break
		}
		sleepCtx(fctx, 20*time.Millisecond)
	}
	if q.limit >= 0 {
		// What the delivery limit dead-lettered, as far as RabbitMQ
		// has moved it to the dead-letter queue by now; a message no
		// ack and no dead letter explains is waited for a little (the
		// move is asynchronous), then left unsettled: not guessed.
		for i := 0; ; i++ {
			if err := b.drainDead(fctx); err != nil {
				return nil, nil, q.err(ErrServerFailed, "reading the dead-letter queue "+q.deadQueue+" at the end of the run", err)
			}
			if i == settleQuiet || !b.unexplained() {
				break
			}
			sleepCtx(fctx, settlePoll/4)
		}
	}
	q.stMu.Lock()
	left, err := rpc(fctx, func() (map[int]bool, error) {
		left := map[int]bool{}
		ch, err := q.stateChannel()
		if err != nil {
			return nil, err
		}
		for {
			d, ok, err := ch.Get(q.queue, false)
			if err != nil || !ok {
				// What the gets took goes back when the channel
				// closes, for the queue's deletion.
				q.chMu.Lock()
				if q.state == ch {
					q.state = nil
				}
				q.chMu.Unlock()
				_ = ch.Close()
				return left, err
			}
			if m, perr := strconv.Atoi(string(d.Body)); perr == nil {
				left[m] = true
			}
		}
	})
	q.stMu.Unlock()
	if err != nil {
		return nil, nil, q.err(ErrServerFailed, "reading what is left in the queue "+q.queue+" at the end of the run", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	done = make([]bool, events+1)
	settled = make([]bool, events+1)
	for i := 1; i <= events; i++ {
		settled[i] = true
	}
	for m := range b.msgs {
		msg := &b.msgs[m]
		switch {
		case msg.dead:
			// Settled, not done: RabbitMQ is finished with it.
		case !left[m] && msg.ackSent:
			done[msg.event] = true
			b.r.rec.ack(msg.unknownBy, msg.event, msg.unknownAt)
		default:
			settled[msg.event] = false
		}
	}
	return done, settled, nil
}

// unexplained reports whether a message has neither an ack of the run's
// own sent nor a dead letter.
func (b *rabbitBroker) unexplained() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, msg := range b.msgs {
		if !msg.ackSent && !msg.dead {
			return true
		}
	}
	return false
}

// drainDead takes what the run's dead-letter queue holds (basic.get with
// auto-ack) and records each message as dead-lettered: its delivery limit
// N was reached, after N+1 deliveries (BROKER-FACTS row 9), which is
// run.BrokerParams.MaxDeliveries.
func (b *rabbitBroker) drainDead(ctx context.Context) error {
	q := b.srv
	gctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	q.stMu.Lock()
	got, err := rpc(gctx, func() ([]int, error) {
		var got []int
		ch, err := q.stateChannel()
		if err != nil {
			return nil, err
		}
		for {
			d, ok, err := ch.Get(q.deadQueue, true)
			if err != nil || !ok {
				return got, err
			}
			if m, perr := strconv.Atoi(string(d.Body)); perr == nil {
				got = append(got, m)
			}
		}
	})
	q.stMu.Unlock()
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range got {
		if m < 0 || m >= len(b.msgs) || b.msgs[m].dead {
			continue
		}
		msg := &b.msgs[m]
		msg.dead = true
		rec := msgRecord(run.DeadLetter, -1, m, msg.event)
		rec.Tag = uint32(b.r.cfg.Broker.MaxDeliveries)
		b.r.rec.add(rec)
		if !msg.confirmed {
			msg.confirmed = true
			b.confirmed++
		}
	}
	return nil
}

// dead reports, after Final, the events a copy of which RabbitMQ
// dead-lettered.
func (b *rabbitBroker) dead(events int) []bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	var dead []bool
	for _, msg := range b.msgs {
		if msg.dead {
			if dead == nil {
				dead = make([]bool, events+1)
			}
			dead[msg.event] = true
		}
	}
	return dead
}

// rabbitConn is one incarnation's connection to RabbitMQ, through its
// consumer's proxy, made when it first receives and made again after it
// broke (a lost ack, a partition noticed by the heartbeats).
type rabbitConn struct {
	b        *rabbitBroker
	consumer int

	mu         sync.Mutex
	conn       *amqp.Connection
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	// held maps each delivery received on the current channel, not yet
	// acked or nacked, to its delivery tag on that channel. A new
	// channel starts with none: an older delivery's tag means nothing
	// on it.
	held        map[delivery]uint64
	unconfirmed []int // messages acked on the current channel since its last round trip
	crashed     atomic.Bool
}

// tag is the consumer tag of the incarnation's consumer.
func (c *rabbitConn) tag() string { return instanceName(c.b.r.host, c.consumer) }

// open connects, if not connected: a connection, a channel with basic.qos
// prefetch (the run's), and a consumer with manual acks.
func (c *rabbitConn) open() (<-chan amqp.Delivery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed.Load() {
		return nil, errCrashed
	}
	if c.conn != nil && !c.conn.IsClosed() && c.ch != nil && !c.ch.IsClosed() {
		return c.deliveries, nil
	}
	c.dropLocked()
	b := c.b
	conn, err := dialRabbit(b.srv.url, b.proxies[c.consumer].Addr(), c.tag(), time.Second, nil)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Qos(b.r.cfg.prefetch(), 0, false)
	}
	var ds <-chan amqp.Delivery
	if err == nil {
		ds, err = ch.Consume(b.srv.queue, c.tag(), false, false, false, false, nil)
	}
	if err != nil {
		go conn.Close()
		return nil, err
	}
	c.conn, c.ch, c.deliveries, c.held = conn, ch, ds, map[delivery]uint64{}
	return ds, nil
}

// dropLocked forgets the current connection, closing it without waiting:
// its deliveries' tags die with it, and its acks not yet confirmed are no
// longer counted (they may or may not have been taken; Final tells). The
// caller holds mu.
func (c *rabbitConn) dropLocked() {
	if c.conn != nil {
		conn := c.conn
		go func() { _ = conn.Close() }()
	}
	c.conn, c.ch, c.deliveries, c.held, c.unconfirmed = nil, nil, nil, nil, nil
}

// sync confirms the acks the current channel sent, with a basic.qos round
// trip on it; it reports whether the consumer holds or sent anything not
// yet known to be settled.
func (c *rabbitConn) sync(ctx context.Context) (busy bool) {
	c.mu.Lock()
	ch, pending, held := c.ch, c.unconfirmed, len(c.held)
	c.unconfirmed = nil
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	if len(pending) == 0 {
		return held > 0
	}
	sctx, cancel := context.WithTimeout(ctx, pingTimeout)
	prefetch := c.b.r.cfg.prefetch()
	err := rpc0(sctx, func() error { return ch.Qos(prefetch, 0, false) })
	cancel()
	if err != nil {
		return true
	}
	b := c.b
	b.mu.Lock()
	for _, m := range pending {
		if !b.msgs[m].confirmed {
			b.msgs[m].confirmed = true
			b.confirmed++
		}
	}
	b.mu.Unlock()
	return held > 0
}

func (c *rabbitConn) Receive(ctx context.Context) (delivery, strategies.EventID, received) {
	b := c.b
	for {
		if got, stop := b.stopOrLeave(c.consumer); stop {
			return delivery{}, 0, got
		}
		if ctx.Err() != nil {
			return delivery{}, 0, gotStop
		}
		start := time.Now()
		ds, err := c.open()
		if err != nil {
			if amqpCode(err) == amqp.NotFound && ctx.Err() == nil {
				b.r.fail(b.srv.err(ErrServerFailed, fmt.Sprintf("consuming for consumer %d: %v", c.consumer, errQueueGone), err))
				return delivery{}, 0, gotStop
			}
			// A partition, or a server that died (the health watch
			// judges that): try again, not in a tight loop.
			if time.Since(start) < fetchWait/4 {
				sleepCtx(ctx, fetchWait/4)
			}
			continue
		}
		var msg amqp.Delivery
		var ok bool
		t := time.NewTimer(fetchWait)
		select {
		case msg, ok = <-ds:
		case <-t.C:
		case <-b.halted:
		case <-ctx.Done():
		}
		t.Stop()
		if !ok {
			// No delivery in time, or the channel closed (the next
			// open connects again).
			continue
		}
		if got, stop := b.stopOrLeave(c.consumer); stop && got == gotStop {
			// The run is over: what came is not handed out; closing
			// the channel returns it.
			return delivery{}, 0, gotStop
		}
		m, perr := strconv.Atoi(string(msg.Body))
		if perr != nil || m < 0 || m >= len(b.msgs) {
			b.r.fail(b.srv.err(ErrServerFailed, "consuming: a message idemsim did not publish is in the run's queue "+b.srv.queue, fmt.Errorf("body %.40q", msg.Body)))
			return delivery{}, 0, gotStop
		}
		// The delivery's number, for the trace: the quorum queue's
		// count of earlier returns, plus one.
		n := uint32(1)
		if v, ok := msg.Headers["x-delivery-count"]; ok {
			switch x := v.(type) {
			case int64:
				n += uint32(x)
			case int32:
				n += uint32(x)
			case int:
				n += uint32(x)
			}
		} else if msg.Redelivered {
			n = 2
		}
		d := delivery{msg: m, tag: n}
		c.mu.Lock()
		if c.ch == nil || msg.Acknowledger != c.ch {
			// From a channel that is gone already: not handed out.
			c.mu.Unlock()
			continue
		}
		for c.held[d] != 0 {
			d.tag++ // never the same key twice on a channel
		}
		c.held[d] = msg.DeliveryTag
		c.mu.Unlock()
		ev := b.msgs[m].event
		b.r.rec.add(d.record(run.Deliver, c.consumer, ev))
		return d, ev, gotDelivery
	}
}

// take removes d from the held deliveries and returns its channel and
// tag; a nil channel means d came on a channel that is gone.
func (c *rabbitConn) take(d delivery) (*amqp.Channel, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tag, ok := c.held[d]
	if !ok {
		return nil, 0
	}
	delete(c.held, d)
	return c.ch, tag
}

// breakConn breaks the connection on the wire, as a network that lost a
// frame and reset the connection would: the server sees it close with
// nothing more, and returns what it held to the head of the queue; the
// client connects again at its next receive.
func (c *rabbitConn) breakConn() {
	c.b.proxies[c.consumer].CloseConns()
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
}

// Ack sends basic.ack of d on the channel that delivered it. It has no
// reply: the outcome is unknown (AckUnknown), and Final tells. The
// redeliver fault loses an ack on the wire, as the simulator's queue
// without an ack deadline has it: the connection breaks with the ack
// unsent, and the client connects again. An ack of a delivery whose
// channel is gone is not sent: its tag would name another message on the
// new channel (BROKER-FACTS row 10), and its message went back to the
// queue when the channel closed.
func (c *rabbitConn) Ack(_ context.Context, d delivery, sent time.Duration) AckOutcome {
	b, r := c.b, c.b.r
	ev := b.msgs[d.msg].event
	ch, tag := c.take(d)
	r.rec.add(d.record(run.AckSend, c.consumer, ev))
	b.mu.Lock()
	lose := r.faultsOn() && b.rAck.Float64() < r.params.AckLoss
	b.mu.Unlock()
	if lose {
		r.rec.lostAck()
		r.rec.add(d.record(run.AckLost, c.consumer, ev))
		c.breakConn()
		return AckNotSent
	}
	if ch == nil {
		r.rec.add(d.record(run.AckLost, c.consumer, ev))
		return AckNotSent
	}
	err := ch.Ack(tag, false)
	if err != nil && isAMQPClosed(err) {
		// Its channel closed before the ack was written (a pause or a
		// partition the heartbeats noticed): never sent.
		r.rec.add(d.record(run.AckLost, c.consumer, ev))
		return AckNotSent
	}
	b.mu.Lock()
	if mm := &b.msgs[d.msg]; !mm.ackSent {
		mm.ackSent, mm.unknownBy, mm.unknownAt = true, c.consumer, sent
	}
	b.mu.Unlock()
	if err == nil {
		c.mu.Lock()
		if c.ch == ch {
			c.unconfirmed = append(c.unconfirmed, d.msg)
		}
		c.mu.Unlock()
	}
	r.rec.add(d.record(run.AckUnknown, c.consumer, ev))
	return AckUnknown
}

// Nack waits the run's nack retry delay (RabbitMQ has no delayed nack),
// then sends basic.nack with requeue: the message goes back to the head.
func (c *rabbitConn) Nack(ctx context.Context, d delivery) {
	ev := c.b.msgs[d.msg].event
	c.b.r.rec.add(d.record(run.Nack, c.consumer, ev))
	sleepCtx(ctx, c.b.r.cfg.Timing.NackRetry)
	ch, tag := c.take(d)
	if ch != nil {
		_ = ch.Nack(tag, false, true)
	}
}

// Crash cuts the connection at the proxy first, so that nothing the client
// still buffers reaches the server, then drops it: RabbitMQ sees the
// socket close and returns what the incarnation held to the head of the
// queue at once (BROKER-FACTS row 8).
func (c *rabbitConn) Crash() {
	c.crashed.Store(true)
	c.b.proxies[c.consumer].CloseConns()
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
	c.forget()
}

// Close leaves gracefully: basic.cancel, then the connection's close (what
// it still holds, unacked, goes back to the queue).
func (c *rabbitConn) Close() {
	c.mu.Lock()
	conn, ch := c.conn, c.ch
	c.conn, c.ch, c.deliveries, c.held, c.unconfirmed = nil, nil, nil, nil, nil
	c.mu.Unlock()
	c.forget()
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = rpc0(ctx, func() error {
		if ch != nil {
			_ = ch.Cancel(c.tag(), false)
		}
		return conn.Close()
	})
}

func (c *rabbitConn) forget() {
	c.b.mu.Lock()
	delete(c.b.conns, c)
	c.b.mu.Unlock()
}
