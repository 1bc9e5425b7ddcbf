package realrun

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

type msgState uint8

const (
	msgUnpublished msgState = iota
	msgReady
	msgInflight
	msgWaiting // nacked; ready again after NackRetry
	msgDone
	msgDead // its last delivery failed (run.BrokerParams.MaxDeliveries): never delivered again
)

type message struct {
	event strategies.EventID
	state msgState
	tag   uint32
	inst  int // consumer of the latest delivery, -1 before the first
}

// delivery is one message handed to one consumer.
type delivery struct {
	msg int
	tag uint32
}

// record is the record of kind about d, of event ev, by consumer.
func (d delivery) record(kind run.Kind, consumer int, ev strategies.EventID) run.Record {
	rec := msgRecord(kind, consumer, d.msg, ev)
	rec.Tag = d.tag
	return rec
}

// broker is an in-process at-least-once queue on the wall clock with
// competing consumers that pull one delivery at a time. An unacked delivery
// goes back to the queue after the ack deadline, to whichever consumer asks
// first. The ready queue is ordered by message number, as the simulator's
// is: a message that goes back (deadline passed, or after a nack) returns
// to its original position, ahead of every message published after it, as
// RabbitMQ requeues. So a redelivery is as prompt as in the simulator, even
// with a backlog.
type broker struct {
	mu      sync.Mutex
	cond    *sync.Cond
	r       *session
	msgs    []message
	ready   []int // message numbers, ascending
	stopped bool
	halted  chan struct{} // closed by stop: waits for a later start end
	// leaving[i]: consumer i was told to leave (rebalance); its receive
	// returns leave instead of waiting, until it starts again.
	leaving []bool
	pending int           // messages not done
	allDone chan struct{} // closed when pending reaches 0
	rAck    *rand.Rand
}

func newBroker(r *session, events []strategies.EventID) *broker {
	b := &broker{r: r, allDone: make(chan struct{}), halted: make(chan struct{}), pending: len(events),
		leaving: make([]bool, r.cfg.Instances), rAck: rand.New(rand.NewPCG(r.cfg.Seed, run.StreamAckLoss))}
	b.cond = sync.NewCond(&b.mu)
	for _, e := range events {
		b.msgs = append(b.msgs, message{event: e, inst: -1})
	}
	return b
}

func (b *broker) publish(m int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs[m].state = msgReady
	b.r.rec.add(b.r.publishRecord(m, b.msgs[m].event))
	b.enqueue(m)
}

// enqueue makes m ready at its position by message number, and wakes a
// consumer. The caller holds mu.
func (b *broker) enqueue(m int) {
	i, _ := slices.BinarySearch(b.ready, m)
	b.ready = slices.Insert(b.ready, i, m)
	b.cond.Signal()
}

// received is what receive got: a delivery, or why none.
type received uint8

const (
	gotDelivery received = iota
	gotStop              // the broker stopped: the run is over
	gotLeave             // the consumer was told to leave (callOff)
)

// receive blocks until a message is ready, then delivers it to consumer;
// it returns gotStop once the broker stopped, and gotLeave once the
// consumer was told to leave, instead of a delivery.
func (b *broker) receive(consumer int) (d delivery, e strategies.EventID, got received) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var m int
	for {
		for len(b.ready) == 0 && !b.stopped && !b.leaving[consumer] {
			b.cond.Wait()
		}
		if b.stopped {
			return delivery{}, 0, gotStop
		}
		if b.leaving[consumer] {
			return delivery{}, 0, gotLeave
		}
		m = b.ready[0]
		b.ready = b.ready[1:]
		// A late ack may have settled a message after its deadline put
		// it back in the queue: it is done, not to be delivered again.
		if b.msgs[m].state == msgReady {
			break
		}
	}
	msg := &b.msgs[m]
	msg.state = msgInflight
	msg.tag++
	msg.inst = consumer
	tag := msg.tag
	rec := msgRecord(run.Deliver, consumer, m, msg.event)
	rec.Tag = tag
	b.r.rec.add(rec)
	time.AfterFunc(b.r.cfg.Timing.AckDeadline, func() { b.deadline(m, tag) })
	return delivery{msg: m, tag: tag}, msg.event, gotDelivery
}

// callOff tells consumer to leave (the rebalance fault): it takes no new
// delivery, and one waiting for a delivery stops waiting. What it holds it
// handles and acks first, as a consumer told to stop drains. The broker
// itself keeps nothing per consumer: what a leaver holds unacked (a lost
// ack) comes back at its deadline, as the simulator's queue has it (its
// Leave is Down: with an ack deadline, deliveries stay out until it).
func (b *broker) callOff(consumer int) {
	b.mu.Lock()
	b.leaving[consumer] = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

// rejoin: consumer starts again, a new incarnation, and receives as any
// other.
func (b *broker) rejoin(consumer int) {
	b.mu.Lock()
	b.leaving[consumer] = false
	b.mu.Unlock()
}

func (b *broker) deadline(m int, tag uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msg := &b.msgs[m]
	if msg.tag != tag || msg.state != msgInflight {
		return
	}
	if b.deadLetter(m) {
		return
	}
	msg.state = msgReady
	rec := msgRecord(run.Requeue, msg.inst, m, msg.event)
	rec.Cause = run.DeadlinePassed
	b.r.rec.add(rec)
	b.enqueue(m)
}

// deadLetter dead-letters m, if its last delivery was its last allowed
// one (run.BrokerParams.MaxDeliveries), as the simulator's queue does when
// the delivery fails: it is settled, and never delivered again. The caller
// holds mu.
func (b *broker) deadLetter(m int) bool {
	msg := &b.msgs[m]
	limit := b.r.cfg.Broker.MaxDeliveries
	if limit == 0 || int(msg.tag) < limit {
		return false
	}
	msg.state = msgDead
	rec := msgRecord(run.DeadLetter, -1, m, msg.event)
	rec.Tag = msg.tag
	b.r.rec.add(rec)
	b.settleLocked()
	return true
}

// settleLocked counts one more message settled. The caller holds mu.
func (b *broker) settleLocked() {
	b.pending--
	if b.pending == 0 {
		close(b.allDone)
	}
}

// ack is consumer's ack of d, sent at sent. A fault may lose it. The
// in-process broker knows what became of it: accepted, or lost.
func (b *broker) ack(consumer int, d delivery, sent time.Duration) AckOutcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	msg := &b.msgs[d.msg]
	b.r.rec.add(d.record(run.AckSend, consumer, msg.event))
	if b.r.faultsOn() && b.rAck.Float64() < b.r.params.AckLoss {
		b.r.rec.lostAck()
		b.r.rec.add(d.record(run.AckLost, consumer, msg.event))
		return AckNotSent
	}
	if msg.state == msgDone {
		return AckAccepted
	}
	// A late ack of a dead-lettered message still settles it, as
	// JetStream takes a late ack of the last delivery (the simulator's
	// queue with an ack deadline has it so).
	wasDead := msg.state == msgDead
	msg.state = msgDone
	b.r.rec.add(d.record(run.Acked, consumer, msg.event))
	b.r.rec.ack(consumer, msg.event, sent)
	if !wasDead {
		b.settleLocked()
	}
	return AckAccepted
}

func (b *broker) nack(consumer int, d delivery) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msg := &b.msgs[d.msg]
	b.r.rec.add(d.record(run.Nack, consumer, msg.event))
	if msg.tag != d.tag || msg.state != msgInflight {
		return
	}
	msg.state = msgWaiting
	time.AfterFunc(b.r.cfg.Timing.NackRetry, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if msg.state == msgWaiting {
			if b.deadLetter(d.msg) {
				return
			}
			msg.state = msgReady
			rec := msgRecord(run.Requeue, msg.inst, d.msg, msg.event)
			rec.Cause = run.AfterNack
			b.r.rec.add(rec)
			b.enqueue(d.msg)
		}
	})
}

// stop wakes every waiting consumer and makes receive return false.
func (b *broker) stop() {
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		close(b.halted)
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

// progress counts the messages settled (acked) so far, and all of them.
func (b *broker) progress() (settled, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs) - b.pending, len(b.msgs)
}

// doneEvents reports per event id whether any copy was acked, and whether
// every copy was: done and settled.
func (b *broker) doneEvents(n int) (done, settled []bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	done = make([]bool, n+1)
	settled = make([]bool, n+1)
	for i := 1; i <= n; i++ {
		settled[i] = true
	}
	for _, m := range b.msgs {
		switch m.state {
		case msgDone:
			done[m.event] = true
		case msgDead:
		default:
			settled[m.event] = false
		}
	}
	return done, settled
}

// deadEvents reports per event id whether a copy was dead-lettered (and
// not settled by a late ack since); nil when none was.
func (b *broker) deadEvents(n int) []bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	var dead []bool
	for _, m := range b.msgs {
		if m.state == msgDead {
			if dead == nil {
				dead = make([]bool, n+1)
			}
			dead[m.event] = true
		}
	}
	return dead
}

// memoryBroker is the in-process broker behind the seam (Broker): the
// default of a real run, which needs no broker server. It sees everything,
// so it records the queue's own view too (Requeue), and its lost acks are
// decided inside it (ack).
type memoryBroker struct{ b *broker }

var _ Broker = memoryBroker{}

func (m memoryBroker) Publish(_ context.Context, i int) error { m.b.publish(i); return nil }

func (m memoryBroker) Attach(_ context.Context, consumer int) (Conn, error) {
	return memoryConn{b: m.b, consumer: consumer}, nil
}

func (m memoryBroker) CallOff(consumer int)           { m.b.callOff(consumer) }
func (m memoryBroker) Rejoin(consumer int)            { m.b.rejoin(consumer) }
func (m memoryBroker) Stop()                          { m.b.stop() }
func (m memoryBroker) Halted() <-chan struct{}        { return m.b.halted }
func (m memoryBroker) AllDone() <-chan struct{}       { return m.b.allDone }
func (m memoryBroker) Progress() (settled, total int) { return m.b.progress() }

func (m memoryBroker) dead(events int) []bool { return m.b.deadEvents(events) }

func (m memoryBroker) Final(_ context.Context, events int) (done, settled []bool, err error) {
	done, settled = m.b.doneEvents(events)
	return done, settled, nil
}

// memoryConn is a consumer's link to the in-process broker: there is no
// connection to close, so a crash or a leave closes nothing; what the
// consumer held comes back at its deadline.
type memoryConn struct {
	b        *broker
	consumer int
}

func (c memoryConn) Receive(context.Context) (delivery, strategies.EventID, received) {
	return c.b.receive(c.consumer)
}

func (c memoryConn) Ack(_ context.Context, d delivery, sent time.Duration) AckOutcome {
	return c.b.ack(c.consumer, d, sent)
}

func (c memoryConn) Nack(_ context.Context, d delivery) { c.b.nack(c.consumer, d) }
func (c memoryConn) Crash()                             {}
func (c memoryConn) Close()                             {}
