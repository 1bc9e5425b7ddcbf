package realrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// How the NATS broker waits. A pull waits at most fetchWait for a
// delivery, so that a consumer told to stop or leave notices within it;
// publishTimeout bounds a publish and its PubAck; settlePoll is how often
// the run asks the server whether every message is settled.
const (
	fetchWait      = 200 * time.Millisecond
	publishTimeout = 2 * time.Second
	settlePoll     = 200 * time.Millisecond
)

// natsBroker is NATS JetStream behind the seam (Broker), through nats.go's
// jetstream package: the run publishes to its own stream, and each
// consumer pulls from the run's one durable consumer, one delivery at a
// time, over a connection of its own through a proxy of its own.
//
// It knows only what a client knows. It records a Deliver when a pull
// returns a message (its Tag is the server's delivery count), never a
// Requeue (the server redelivers after AckWait without saying so). An ack
// is sent with AckSync: a reply means the server took it (Acked); no reply
// in time is AckUnknown, since such an ack may still be applied
// (BROKER-FACTS row 3). A message is settled when an ack of it was
// accepted, or when the server says so: its ack floor passed it, or the
// consumer has nothing pending at all.
type natsBroker struct {
	r       *session
	srv     *natsServer
	proxies []*tcpproxy.Proxy
	rAck    *rand.Rand // the redeliver fault's lost acks, as the memory broker draws them

	brokerRun // its lock, the run's stop and leaves, AllDone
	msgs      []natsMessage
	bySeq     map[uint64]int // message number by stream sequence
	published int
	accepted  int // messages with an accepted ack, or dead-lettered
	advisory  *nats.Subscription
}

// natsMessage is what the client knows of one message.
type natsMessage struct {
	event    strategies.EventID
	seq      uint64 // its stream sequence, from the PubAck; 0 before
	accepted bool   // an ack of it was accepted
	// unknown: an ack of it got no answer (the first such, by unknownBy
	// at unknownAt): it may have been applied.
	unknown   bool
	unknownBy int
	unknownAt time.Duration
	// dead: the server said it reached MaxDeliver (its advisory), with
	// no ack of it accepted: this consumer skips it from now on.
	dead bool
}

var (
	_ Broker  = (*natsBroker)(nil)
	_ proxied = (*natsBroker)(nil)
)

func newNATSBroker(r *session, events []strategies.EventID) (*natsBroker, error) {
	b := &natsBroker{r: r, srv: r.srv.nats, rAck: rand.New(rand.NewPCG(r.cfg.Seed, run.StreamAckLoss)), bySeq: map[uint64]int{}}
	b.brokerRun.init(r.cfg.Instances)
	for _, e := range events {
		b.msgs = append(b.msgs, natsMessage{event: e})
	}
	if r.cfg.Broker.MaxDeliveries > 0 {
		if err := b.watchMaxDeliveries(); err != nil {
			return nil, err
		}
	}
	proxies := r.cfg.Instances
	if publishes(r.cfg) {
		proxies++ // the outbox's relay's, numbered after the consumers
	}
	for i := 0; i < proxies; i++ {
		p, err := tcpproxy.Start(b.srv.addr)
		if err != nil {
			b.closeProxies()
			return nil, fmt.Errorf("a loopback proxy to NATS: %w", err)
		}
		b.proxies = append(b.proxies, p)
	}
	go b.pollSettled()
	return b, nil
}

func (b *natsBroker) proxy(consumer int) brokerLink { return b.proxies[consumer] }

func (b *natsBroker) closeProxies() {
	for _, p := range b.proxies {
		_ = p.Close()
	}
	if b.advisory != nil {
		_ = b.advisory.Unsubscribe()
	}
}

// maxDeliveriesAdvisory is the part of JetStream's advisory
// $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer> that the
// run reads: which message reached MaxDeliver, after how many deliveries.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint32 `json:"deliveries"`
}

// watchMaxDeliveries subscribes, on the run's own connection, to the
// advisory the server publishes when a message of the run's consumer
// reaches MaxDeliver: the only way a client learns that the consumer
// skips it from now on (BROKER-FACTS row 4; the message stays in the
// stream, and no dead-letter queue exists). The server publishes it
// lazily, at the next delivery attempt with a pull waiting, which the
// consumers' pulls give it.
func (b *natsBroker) watchMaxDeliveries() error {
	n := b.srv
	subject := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + n.stream + "." + n.consumer
	sub, err := n.nc.Subscribe(subject, func(m *nats.Msg) {
		var a maxDeliveriesAdvisory
		if json.Unmarshal(m.Data, &a) != nil || a.Stream != n.stream || a.Consumer != n.consumer {
			return
		}
		b.deadLetter(a.StreamSeq, a.Deliveries)
	})
	if err == nil {
		ctx, cancel := context.WithTimeout(b.r.ctx, pingTimeout)
		err = n.nc.FlushWithContext(ctx)
		cancel()
	}
	if err != nil {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
		return n.err(ErrServerFailed, "subscribing to the consumer "+n.consumer+"'s max-deliveries advisories", err)
	}
	b.advisory = sub
	return nil
}

// deadLetter notes the server's word that the message of stream sequence
// seq reached MaxDeliver after deliveries deliveries: the simulator's
// dead letter, unless an ack of it was accepted already.
func (b *natsBroker) deadLetter(seq uint64, deliveries uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.bySeq[seq]
	if !ok {
		return
	}
	msg := &b.msgs[m]
	if msg.accepted || msg.dead {
		return
	}
	msg.dead = true
	rec := msgRecord(run.DeadLetter, -1, m, msg.event)
	rec.Tag = deliveries
	b.r.rec.add(rec)
	b.accepted++
	if b.accepted == len(b.msgs) {
		b.finishLocked()
	}
}

// dead reports, after Final, the events a copy of which the server
// dead-lettered and no ack of the run's own settled.
func (b *natsBroker) dead(events int) []bool {
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

// Publish publishes message m, its number as the payload, and waits for
// the PubAck. Each copy of an event is a message of its own: no
// Nats-Msg-Id is set, so the server's deduplication (BROKER-FACTS row 6)
// never merges the redeliver fault's duplicate publishes, which stand for
// a producer that published twice with no id to deduplicate by.
func (b *natsBroker) Publish(ctx context.Context, m int) error {
	b.mu.Lock()
	ev := b.msgs[m].event
	b.mu.Unlock()
	b.r.rec.add(b.r.publishRecord(m, ev))
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	ack, err := b.srv.js.Publish(pctx, b.srv.subject, []byte(strconv.Itoa(m)))
	cancel()
	if err != nil {
		e := b.srv.err(ErrServerFailed, fmt.Sprintf("publishing message %d of %d to the stream %s", m+1, len(b.msgs), b.srv.stream), err).(*ServerError)
		e.Hint = stoppedHint(err)
		return e
	}
	b.mu.Lock()
	b.msgs[m].seq = ack.Sequence
	b.bySeq[ack.Sequence] = m
	b.published++
	b.mu.Unlock()
	return nil
}

func (b *natsBroker) Attach(_ context.Context, consumer int) (Conn, error) {
	return &natsConn{b: b, consumer: consumer}, nil
}

func (b *natsBroker) Progress() (settled, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accepted, len(b.msgs)
}

// settle notes an accepted ack of m. The caller holds mu.
func (b *natsBroker) settle(m int) {
	if b.msgs[m].accepted {
		return
	}
	b.msgs[m].accepted = true
	if b.msgs[m].dead {
		// A late ack of its last delivery: the server takes it
		// (BROKER-FACTS row 4), and the message is done, not dead.
		b.msgs[m].dead = false
		return
	}
	b.accepted++
	if b.accepted == len(b.msgs) {
		b.finishLocked()
	}
}

func (b *natsBroker) finishLocked() {
	b.settledLocked()
}

// pollSettled asks the server, every settlePoll once everything is
// published, whether the consumer has anything left: an ack whose answer
// was lost may have settled the last messages, which no accepted ack
// would then tell. Its errors are the health watch's to judge.
func (b *natsBroker) pollSettled() {
	t := time.NewTicker(settlePoll)
	defer t.Stop()
	waits := 0
	for {
		select {
		case <-b.halted:
			return
		case <-b.r.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		all := b.published == len(b.msgs)
		b.mu.Unlock()
		if !all {
			continue
		}
		info, err := b.info(b.r.ctx)
		if err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
			if waits < settleQuiet && b.unexplained() {
				// With a delivery limit, a message that neither an
				// ack nor an advisory explains may be dead-lettered,
				// its advisory still to come (at the next pull).
				waits++
				continue
			}
			b.mu.Lock()
			b.finishLocked()
			b.mu.Unlock()
			return
		}
	}
}

// unexplained reports whether, with a delivery limit, a message has
// neither an ack of the run's own (accepted or unanswered) nor a
// dead-letter advisory.
func (b *natsBroker) unexplained() bool {
	if b.r.cfg.Broker.MaxDeliveries == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, msg := range b.msgs {
		if !msg.accepted && !msg.unknown && !msg.dead {
			return true
		}
	}
	return false
}

func (b *natsBroker) info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	ictx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	c, err := b.srv.js.Consumer(ictx, b.srv.stream, b.srv.consumer)
	if err != nil {
		return nil, err
	}
	return c.CachedInfo(), nil
}

// Final settles what the server says is settled: every message up to its
// ack floor, and all of them if nothing is pending. A message settled so
// whose acks all went unanswered gets its ack in the history now, as an
// operation from the first unanswered ack's sending to now: it took effect
// somewhere in between. A message the server settled with no ack of the
// run's own is not counted settled: the client cannot explain it.
func (b *natsBroker) Final(ctx context.Context, events int) (done, settled []bool, err error) {
	info, err := b.info(ctx)
	if err != nil {
		return nil, nil, b.srv.err(ErrServerFailed, "reading the consumer "+b.srv.consumer+"'s state at the end of the run", err)
	}
	all := info.NumAckPending == 0 && info.NumPending == 0
	b.mu.Lock()
	defer b.mu.Unlock()
	done = make([]bool, events+1)
	settled = make([]bool, events+1)
	for i := 1; i <= events; i++ {
		settled[i] = true
	}
	for m := range b.msgs {
		msg := &b.msgs[m]
		ok := msg.accepted
		// A dead-lettered message holds the ack floor below it, and
		// leaves nothing pending: only the floor passing it says that
		// an unanswered ack of it was applied after all.
		if !ok && msg.unknown && msg.seq > 0 && (all && !msg.dead || msg.seq <= info.AckFloor.Stream) {
			ok = true
			msg.dead = false
			b.r.rec.ack(msg.unknownBy, msg.event, msg.unknownAt)
		}
		switch {
		case ok:
			done[msg.event] = true
		case msg.dead:
			// Settled: the server is finished with it.
		default:
			settled[msg.event] = false
		}
	}
	return done, settled, nil
}

// stopOrLeave says whether consumer is to take no delivery: the run
// stopped, or it was told to leave.
func (b *natsBroker) stopOrLeave(consumer int) (received, bool) {
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

// natsConn is one incarnation's connection to NATS, through its
// consumer's proxy, made when it first pulls (a restart during a
// partition connects once the partition heals).
type natsConn struct {
	b        *natsBroker
	consumer int

	mu   sync.Mutex
	nc   *nats.Conn
	cons jetstream.Consumer
	held map[delivery]jetstream.Msg // deliveries received, not yet acked or nacked
	// buf holds what the last pull brought beyond the delivery it
	// handed out (a prefetch above one): the consumer's to handle next,
	// each counting against its AckWait meanwhile, as the simulator's
	// prefetched deliveries do. A crash or a leave drops it; the server
	// redelivers it after AckWait.
	buf     []jetstream.Msg
	crashed atomic.Bool
}

// open connects, if not connected yet.
func (c *natsConn) open(ctx context.Context) (jetstream.Consumer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cons != nil {
		return c.cons, nil
	}
	if c.crashed.Load() {
		return nil, errCrashed
	}
	b := c.b
	opts := natsOptions(instanceName(b.r.host, c.consumer), natsDialer{addr: b.proxies[c.consumer].Addr()})
	nc, err := nats.Connect(b.srv.url, opts...)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	cons, err := js.Consumer(cctx, b.srv.stream, b.srv.consumer)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.nc, c.cons, c.held = nc, cons, map[delivery]jetstream.Msg{}
	return cons, nil
}

// gone reports whether err says the run's stream or consumer no longer
// exists: something deleted it under the run.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}

func (c *natsConn) Receive(ctx context.Context) (delivery, strategies.EventID, received) {
	b := c.b
	for {
		if got, stop := b.stopOrLeave(c.consumer); stop {
			return delivery{}, 0, got
		}
		if ctx.Err() != nil {
			return delivery{}, 0, gotStop
		}
		start := time.Now()
		cons, err := c.open(ctx)
		var msg jetstream.Msg
		if err == nil {
			msg, err = c.pull(cons)
		}
		if err != nil {
			if gone(err) && ctx.Err() == nil {
				b.r.fail(b.srv.err(ErrServerFailed, fmt.Sprintf("pulling a delivery for consumer %d: the run's stream or consumer is gone (deleted by someone else?)", c.consumer), err))
				return delivery{}, 0, gotStop
			}
			// No message in time, a partition, or a server that
			// died (the health watch judges that): pull again, and
			// not in a tight loop.
			if time.Since(start) < fetchWait/4 {
				sleepCtx(ctx, fetchWait/4)
			}
			continue
		}
		if got, stop := b.stopOrLeave(c.consumer); stop && got == gotStop {
			// The run is over: what the pull brought is not handed
			// out, as the memory broker hands out nothing once stopped.
			return delivery{}, 0, gotStop
		}
		meta, err := msg.Metadata()
		m, perr := strconv.Atoi(string(msg.Data()))
		if err != nil || perr != nil || m < 0 || m >= len(b.msgs) || msg.Subject() != b.srv.subject {
			b.r.fail(b.srv.err(ErrServerFailed, "pulling a delivery: a message idemsim did not publish is in the run's stream "+b.srv.stream, fmt.Errorf("payload %.40q on %s", msg.Data(), msg.Subject())))
			return delivery{}, 0, gotStop
		}
		d := delivery{msg: m, tag: uint32(meta.NumDelivered)}
		c.mu.Lock()
		if c.held != nil {
			c.held[d] = msg
		}
		c.mu.Unlock()
		ev := b.msgs[m].event // fixed at construction
		b.r.rec.add(d.record(run.Deliver, c.consumer, ev))
		return d, ev, gotDelivery
	}
}

// pull returns the next message: one the last pull brought, or a new
// pull's. With a prefetch of P above one, a pull first takes up to P
// messages that are there now (FetchNoWait), and waits for one (Next)
// only if there is none.
func (c *natsConn) pull(cons jetstream.Consumer) (jetstream.Msg, error) {
	c.mu.Lock()
	if len(c.buf) > 0 {
		msg := c.buf[0]
		c.buf = c.buf[1:]
		c.mu.Unlock()
		return msg, nil
	}
	c.mu.Unlock()
	if p := c.b.r.cfg.prefetch(); p > 1 {
		batch, err := cons.FetchNoWait(p)
		if err != nil {
			return nil, err
		}
		var got []jetstream.Msg
		for msg := range batch.Messages() {
			got = append(got, msg)
		}
		if len(got) > 0 {
			c.mu.Lock()
			if c.cons == cons { // not crashed or closed meanwhile
				c.buf = append(c.buf, got[1:]...)
			}
			c.mu.Unlock()
			return got[0], nil
		}
	}
	return cons.Next(jetstream.FetchMaxWait(fetchWait))
}

// take removes d from the held deliveries and returns its message.
func (c *natsConn) take(d delivery) jetstream.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg := c.held[d]
	delete(c.held, d)
	return msg
}

// Ack sends an AckSync of d with the run's call deadline. The redeliver
// fault loses an ack on the wire by not sending it, as a connection that
// dropped it would: the server never hears of it.
func (c *natsConn) Ack(ctx context.Context, d delivery, sent time.Duration) AckOutcome {
	b, r := c.b, c.b.r
	ev := b.msgs[d.msg].event
	msg := c.take(d)
	r.rec.add(d.record(run.AckSend, c.consumer, ev))
	b.mu.Lock()
	lose := r.faultsOn() && b.rAck.Float64() < r.params.AckLoss
	b.mu.Unlock()
	if lose || msg == nil {
		r.rec.lostAck()
		r.rec.add(d.record(run.AckLost, c.consumer, ev))
		return AckNotSent
	}
	actx, cancel := context.WithTimeout(ctx, r.cfg.Timing.CallTimeout)
	err := msg.DoubleAck(actx)
	cancel()
	switch {
	case err == nil:
		b.mu.Lock()
		b.settle(d.msg)
		b.mu.Unlock()
		r.rec.add(d.record(run.Acked, c.consumer, ev))
		r.rec.ack(c.consumer, ev, sent)
		return AckAccepted
	case errors.Is(err, nats.ErrNoResponders) && ctx.Err() == nil && !c.crashed.Load():
		// Nothing answers acks of the run's consumer: it is gone.
		r.fail(b.srv.err(ErrServerFailed, fmt.Sprintf("acking message %d for consumer %d: no responders (was the run's consumer deleted?)", d.msg+1, c.consumer), err))
		r.rec.add(d.record(run.AckUnknown, c.consumer, ev))
		return AckRefused
	}
	// No answer in time: it may still be applied, now or once a cut
	// link heals (the client buffers it).
	b.mu.Lock()
	if mm := &b.msgs[d.msg]; !mm.unknown {
		mm.unknown, mm.unknownBy, mm.unknownAt = true, c.consumer, sent
	}
	b.mu.Unlock()
	r.rec.add(d.record(run.AckUnknown, c.consumer, ev))
	return AckUnknown
}

// Nack sends a Nak with the run's retry delay; the server redelivers after
// it, without saying so.
func (c *natsConn) Nack(_ context.Context, d delivery) {
	ev := c.b.msgs[d.msg].event
	msg := c.take(d)
	c.b.r.rec.add(d.record(run.Nack, c.consumer, ev))
	if msg != nil {
		_ = msg.NakWithDelay(c.b.r.cfg.Timing.NackRetry)
	}
}

// Crash cuts the connection's sockets at the proxy first, so that nothing
// the client still buffers reaches the server, then closes the client:
// the server sees the connection drop, as when a process dies. What the
// incarnation held comes back after AckWait.
func (c *natsConn) Crash() {
	c.crashed.Store(true)
	c.b.proxies[c.consumer].CloseConns()
	c.mu.Lock()
	nc := c.nc
	c.nc, c.cons, c.held, c.buf = nil, nil, nil, nil
	c.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
}

// Close closes the connection, flushing what it buffered: a process that
// stops cleanly.
func (c *natsConn) Close() {
	c.mu.Lock()
	nc := c.nc
	c.nc, c.cons, c.held, c.buf = nil, nil, nil, nil
	c.mu.Unlock()
	if nc != nil {
		_ = nc.FlushTimeout(c.b.r.cfg.Timing.CallTimeout)
		nc.Close()
	}
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
