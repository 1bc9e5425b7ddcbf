package broker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/idemsim/idemsim/run"
)

// Defaults of the queue's parameters. They are part of the simulator's
// determinism contract: changing one changes every trace.
const (
	DefaultAckDeadline = 5 * time.Second        // an unacked delivery goes back to the queue after this
	DefaultNackRetry   = 200 * time.Millisecond // a nacked message is ready again after this
	DefaultPrefetch    = 1                      // deliveries in flight per instance
)

// QueueParams are the parameters of the queue model, each with its value
// spelled out (QueueParamsOf fills in a run's defaults).
type QueueParams struct {
	// AckDeadline is how long a delivery may stay unacked before its
	// message goes back to the queue, for any instance (SQS's visibility
	// timeout, JetStream's AckWait). 0: none, as RabbitMQ has none: an
	// unacked message stays with its consumer until the consumer's
	// channel closes (it crashed or was cut off from the broker), and
	// then goes to the head of the queue.
	AckDeadline time.Duration
	// NackRetry is how long a nacked message waits before it is ready
	// again.
	NackRetry time.Duration
	// Prefetch is how many deliveries an instance holds at once, unacked:
	// the broker sends it more while it has fewer, and it handles them
	// one at a time, in the order they arrive.
	Prefetch int
	// MaxDeliveries is how many deliveries a message may have in all
	// (JetStream's MaxDeliver, SQS's maxReceiveCount; RabbitMQ's quorum
	// delivery-limit N is N+1 of them): when its last delivery fails
	// (its deadline passes, its nack's delay ends, its channel closes),
	// the message is dead-lettered rather than going back. 0: unlimited.
	MaxDeliveries int
}

// DefaultQueue is the queue as idemsim has always simulated it.
var DefaultQueue = QueueParams{AckDeadline: DefaultAckDeadline, NackRetry: DefaultNackRetry, Prefetch: DefaultPrefetch}

// QueueParamsOf returns the queue's parameters that a run's p asks for:
// each zero value of p is the default's.
func QueueParamsOf(p run.BrokerParams) QueueParams {
	q := DefaultQueue
	switch {
	case p.AckDeadline == run.NoAckDeadline:
		q.AckDeadline = 0
	case p.AckDeadline > 0:
		q.AckDeadline = p.AckDeadline
	}
	if p.NackRetry > 0 {
		q.NackRetry = p.NackRetry
	}
	if p.Prefetch > 0 {
		q.Prefetch = p.Prefetch
	}
	q.MaxDeliveries = p.MaxDeliveries
	return q
}

// Validate reports what is wrong with p, or nil.
func (p QueueParams) Validate() error {
	switch {
	case p.AckDeadline < 0:
		return fmt.Errorf("broker: queue: ack deadline %v: want more than 0, or 0 for none", p.AckDeadline)
	case p.NackRetry <= 0:
		return fmt.Errorf("broker: queue: nack retry delay %v: want more than 0", p.NackRetry)
	case p.Prefetch < 1 || p.Prefetch > run.MaxPrefetch:
		return fmt.Errorf("broker: queue: prefetch %d: want 1 to %d", p.Prefetch, run.MaxPrefetch)
	case p.MaxDeliveries < 0:
		return fmt.Errorf("broker: queue: max deliveries %d: want 0 (unlimited) or more", p.MaxDeliveries)
	}
	return nil
}

type msgState uint8

const (
	msgUnpublished msgState = iota
	msgReady                // waiting in the ready queue
	msgInflight             // delivered, not yet acked
	msgWaiting              // nacked, ready again after the retry delay
	msgDone                 // acked: the broker considers it processed
	msgDead                 // dead-lettered: never delivered again
)

// message is one published copy of an event.
type message struct {
	state msgState
	tag   uint32 // delivery tag of the latest delivery: its deliveries so far
	inst  int32  // instance of the latest delivery
	igen  uint32 // that instance's incarnation
	holds bool   // the latest delivery holds one of that instance's prefetch slots
}

// Queue is an at-least-once queue with competing consumers. Each instance
// is sent up to a prefetch of deliveries at a time (by default one), which
// it must ack before their ack deadline, or their messages go back to the
// queue and may go to any instance. A nacked message is ready again after
// the retry delay. An ack settles the message whichever delivery it acks,
// even one whose deadline has passed (JetStream acks the message, not the
// delivery: BROKER-FACTS row 3).
//
// The ready queue is ordered by message number, which is publish order: a
// message that goes back takes its original place, ahead of every ready
// message published after it, as RabbitMQ requeues a message to its
// original position. With a backlog, a redelivery thus goes out next rather
// than behind every later message.
//
// With no ack deadline (RabbitMQ), a delivery stays with its instance until
// the instance acks or nacks it, or its channel closes: the instance
// crashes (Down) or is cut off from the broker (Disconnect; the heartbeat's
// delay in noticing a silent peer is not modelled: the channel closes when
// the cut begins). A closed channel's deliveries go to the head of the
// queue, ahead of every ready message (BROKER-FACTS row 8), as does a
// nacked message once its delay ends; and only an ack of a delivery its
// instance still holds counts: a channel's acks die with it.
//
// With a maximum number of deliveries, a message whose last delivery fails
// is dead-lettered (a DeadLetter record) instead of going back. With a
// deadline, a late ack of it still settles it, as JetStream accepts a late
// ack of the last delivery (row 4); with none, the message has left the
// queue, as in RabbitMQ (row 9).
//
// It knows of the instances only their prefetch slots, which Up and Down
// open and close. An instance that goes down frees its slots: the next
// incarnation starts with free ones, while the deliveries the old one held
// stay out until their deadline or a late ack (with no deadline, they go
// back at once).
type Queue struct {
	p        QueueParams
	msgs     []message
	ready    []uint32 // ready[head:] is the queue, in message number order (with a deadline)
	head     int
	slots    []slot
	scripted bool       // the world requests each delivery itself
	pick     *rand.Rand // which free instance gets a delivery
	fx       []Effect
}

var _ Model = (*Queue)(nil)

// slot is one instance's prefetch slots, as the queue sees them.
type slot struct {
	up   bool   // the instance runs
	cut  bool   // its channel is closed: it is cut off from the broker (no ack deadline only)
	gen  uint32 // its incarnation
	held int32  // deliveries it holds, not yet acked, nacked or timed out
	// cancelled: it stopped taking deliveries (Leave); its channel is
	// still open until Down.
	cancelled bool
}

// NewQueue returns a queue with parameters p, or p's error.
func NewQueue(p QueueParams) (*Queue, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Queue{p: p}, nil
}

// Params returns the queue's parameters.
func (q *Queue) Params() QueueParams { return q.p }

// SetParams gives the queue parameters p for the runs after the next
// Reset, or returns p's error and leaves them as they were.
func (q *Queue) SetParams(p QueueParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	q.p = p
	return nil
}

// Reset empties the queue for a run. Message 0 exists and is done, so that
// 0 means "no message" in traces and in an instance that holds no delivery.
func (q *Queue) Reset(s Setup) {
	q.msgs, q.ready, q.head = append(q.msgs[:0], message{inst: -1, state: msgDone}), q.ready[:0], 0
	q.slots = append(q.slots[:0], make([]slot, s.Instances)...)
	q.scripted, q.pick, q.fx = s.Scripted, s.Pick, q.fx[:0]
}

// Add makes a new message and returns its number.
func (q *Queue) Add(uint32) uint32 {
	q.msgs = append(q.msgs, message{inst: -1})
	return uint32(len(q.msgs) - 1)
}

// Each input empties the effects of the last, decides, and returns its own.

// Publish makes m ready and sends what it can.
func (q *Queue) Publish(m uint32) []Effect {
	q.fx = q.fx[:0]
	q.publish(m)
	return q.fx
}

// Deliver sends m to instance inst, as a script asks.
func (q *Queue) Deliver(m uint32, inst int32) []Effect {
	q.fx = q.fx[:0]
	q.deliver(m, inst)
	return q.fx
}

// Up opens instance inst's prefetch slots, free, for incarnation gen, and
// sends what it can.
func (q *Queue) Up(inst int32, gen uint32) []Effect {
	q.fx = q.fx[:0]
	q.slots[inst] = slot{up: true, gen: gen, cut: q.slots[inst].cut}
	q.dispatch()
	return q.fx
}

// Down closes instance inst's slots. With an ack deadline, its deliveries
// stay out until their deadline or a late ack; with none, its channel
// closed, and they go back to the head of the queue.
func (q *Queue) Down(inst int32) []Effect {
	q.fx = q.fx[:0]
	back := q.closeChannel(inst)
	q.slots[inst].up = false
	if back {
		q.dispatch()
	}
	return q.fx
}

// Configure sets the parameters a run's p asks for (QueueParamsOf).
func (q *Queue) Configure(p run.BrokerParams) error { return q.SetParams(QueueParamsOf(p)) }

// Stall is the ack deadline, or with none the default's: a stall is as
// long as on any other queue.
func (q *Queue) Stall() time.Duration {
	if q.p.AckDeadline > 0 {
		return q.p.AckDeadline
	}
	return DefaultAckDeadline
}

// Liveness is Stall: a queue knows a consumer is gone only by its ack
// deadline (or, with none, its channel).
func (q *Queue) Liveness() time.Duration { return q.Stall() }

// Leave: instance inst stops gracefully: it cancels its consumer, and the
// broker sends it nothing more. What it holds stays with it: its acks are
// on the way, and Down, when its connection closes, returns what it did
// not ack (with no ack deadline) or leaves it to its deadline.
func (q *Queue) Leave(inst int32) []Effect {
	q.slots[inst].cancelled = true
	return nil
}

// Fetch is never called: the queue pushes (its description's Pull is
// false). It does nothing.
func (q *Queue) Fetch(int32) []Effect { return nil }

// Disconnect: instance inst was cut off from the broker. With an ack
// deadline, nothing changes: the broker goes on sending, and what it sends
// is lost on the way. With none, the instance's channel closes: its
// deliveries go back to the head of the queue, and it gets no more until
// Reconnect.
func (q *Queue) Disconnect(inst int32) []Effect {
	q.fx = q.fx[:0]
	if q.p.AckDeadline == 0 && !q.slots[inst].cut {
		back := q.closeChannel(inst)
		q.slots[inst].cut = true
		if back {
			q.dispatch()
		}
	}
	return q.fx
}

// Reconnect: instance inst can reach the broker again. With no ack
// deadline, it opens a new channel and is sent what it can be.
func (q *Queue) Reconnect(inst int32) []Effect {
	q.fx = q.fx[:0]
	if q.slots[inst].cut {
		q.slots[inst].cut = false
		q.dispatch()
	}
	return q.fx
}

// Ack settles m; see ack.
func (q *Queue) Ack(m, tag uint32, inst int32, sent int64) []Effect {
	q.fx = q.fx[:0]
	q.ack(m, tag, inst, sent)
	return q.fx
}

// Nack makes m wait for the retry delay; see nack.
func (q *Queue) Nack(m, tag uint32) []Effect {
	q.fx = q.fx[:0]
	q.nack(m, tag)
	return q.fx
}

// Fire handles a due timer: a delivery's deadline, or a nacked message's
// retry. A timer the queue never arms is a broken invariant and panics.
func (q *Queue) Fire(t Timer, m, tag uint32) []Effect {
	q.fx = q.fx[:0]
	switch t {
	case Deadline:
		q.deadline(m, tag)
	case Retry:
		q.retry(m)
	default:
		panic(fmt.Sprintf("broker: invariant broken: the queue has no timer %d", t))
	}
	return q.fx
}

// Done reports whether m was acked.
func (q *Queue) Done(m uint32) bool { return q.msgs[m].state == msgDone }

// Dead reports whether m was dead-lettered (and not settled by a late ack
// since).
func (q *Queue) Dead(m uint32) bool { return q.msgs[m].state == msgDead }

func (q *Queue) record(kind run.Kind, inst int32, m uint32, tag uint32, cause run.Cause) {
	q.fx = append(q.fx, Effect{Kind: Record, Record: kind, Inst: inst, Msg: m, Tag: tag, Cause: cause})
}

func (q *Queue) publish(m uint32) {
	q.msgs[m].state = msgReady
	q.record(run.Publish, -1, m, 0, 0)
	q.ready = append(q.ready, m)
	q.dispatch()
}

// dispatch sends ready messages, oldest first, to instances with a free
// prefetch slot, choosing among them at random.
func (q *Queue) dispatch() {
	if q.scripted || q.head == len(q.ready) {
		return // nothing to send: the common case, kept cheap
	}
	var free [run.MaxInstances]int32
	pf := int32(q.p.Prefetch)
	for q.head < len(q.ready) {
		n := 0
		for i, s := range q.slots {
			if s.up && !s.cut && !s.cancelled && s.held < pf {
				free[n] = int32(i)
				n++
			}
		}
		if n == 0 {
			break
		}
		m := q.ready[q.head]
		q.head++
		if q.head == len(q.ready) {
			q.ready, q.head = q.ready[:0], 0
		}
		// A late ack may have settled a message after its deadline put
		// it back in the queue: it is done, not to be delivered again.
		if q.msgs[m].state != msgReady {
			continue
		}
		q.deliver(m, free[q.pick.IntN(n)])
	}
}

// deliver sends m to instance i, with its ack deadline.
func (q *Queue) deliver(m uint32, i int32) {
	msg := &q.msgs[m]
	msg.state = msgInflight
	msg.tag++
	msg.inst, msg.igen, msg.holds = i, q.slots[i].gen, true
	q.slots[i].held++
	q.fx = append(q.fx, Effect{Kind: Send, Msg: m, Inst: i, Gen: msg.igen, Tag: msg.tag, After: q.p.AckDeadline})
}

// release frees the prefetch slot that m's latest delivery holds, if the
// instance is still the incarnation it was delivered to.
func (q *Queue) release(m uint32) {
	msg := &q.msgs[m]
	if !msg.holds {
		return
	}
	msg.holds = false
	if s := &q.slots[msg.inst]; s.gen == msg.igen {
		s.held--
	}
}

// closeChannel: with no ack deadline, instance inst's channel closed, and
// every delivery its incarnation holds goes back to the head of the queue,
// in message order (or is dead-lettered, if it was its last). With a
// deadline it does nothing: the deliveries wait for their deadlines. It
// reports whether any delivery was returned; the caller then dispatches,
// once it has closed the instance's slots.
func (q *Queue) closeChannel(inst int32) bool {
	s := &q.slots[inst]
	if q.p.AckDeadline != 0 || !s.up || s.cut || s.held == 0 {
		return false
	}
	var back []uint32
	for m := range q.msgs {
		msg := &q.msgs[m]
		if msg.holds && msg.inst == inst && msg.igen == s.gen && msg.state == msgInflight {
			q.release(uint32(m))
			if q.returns(uint32(m), run.ChannelClosed) {
				back = append(back, uint32(m))
			}
		}
	}
	q.ready = slices.Insert(q.ready, q.head, back...)
	return true
}

// returns decides the fate of m, whose latest delivery failed for cause:
// it records the requeue and reports true, for the caller to put m back;
// or, if that delivery was its last, it dead-letters m and reports false.
func (q *Queue) returns(m uint32, cause run.Cause) bool {
	msg := &q.msgs[m]
	if q.p.MaxDeliveries > 0 && int(msg.tag) >= q.p.MaxDeliveries {
		msg.state = msgDead
		q.fx = append(q.fx, Effect{Kind: Record, Record: run.DeadLetter, Inst: -1, Msg: m, Tag: msg.tag})
		return false
	}
	msg.state = msgReady
	q.record(run.Requeue, msg.inst, m, 0, cause)
	return true
}

// deadline: delivery tag of m was not acked in time. Only the latest
// delivery's deadline counts.
func (q *Queue) deadline(m, tag uint32) {
	msg := &q.msgs[m]
	if msg.tag != tag {
		return
	}
	q.release(m)
	if msg.state == msgInflight && q.returns(m, run.DeadlinePassed) {
		q.putBack(m)
	}
	q.dispatch()
}

// putBack returns m to the ready queue: with an ack deadline at its
// original place, ahead of the first ready message with a higher number;
// with none at the head. The queue is a few messages long, so a linear
// search from the back is cheap. It may also hold messages that a late ack
// settled after they went back, which dispatch skips; they keep their
// order too. A message is never in the queue twice: only an inflight
// message (its deadline passed, its channel closed) or a waiting one
// (nacked) goes back, and it left the queue when it was delivered.
func (q *Queue) putBack(m uint32) {
	i := len(q.ready)
	if q.p.AckDeadline == 0 {
		i = q.head
	}
	for i > q.head && q.ready[i-1] > m {
		i--
	}
	q.ready = slices.Insert(q.ready, i, m)
}

// ack settles m, whichever of its deliveries tag is; only the latest
// delivery's ack frees a slot. With no ack deadline, only an ack of the
// delivery that its instance still holds counts: the others' channels
// closed, and their acks with them.
func (q *Queue) ack(m, tag uint32, inst int32, sent int64) {
	msg := &q.msgs[m]
	if q.p.AckDeadline == 0 && (msg.tag != tag || msg.state != msgInflight) {
		return
	}
	if msg.state != msgDone {
		msg.state = msgDone
		q.record(run.Acked, inst, m, tag, 0)
		q.fx = append(q.fx, Effect{Kind: Accepted, Inst: inst, Msg: m, Sent: sent})
	}
	if msg.tag == tag {
		q.release(m)
		q.dispatch()
	}
}

// nack: the latest delivery of m failed; m waits for the retry delay.
func (q *Queue) nack(m, tag uint32) {
	msg := &q.msgs[m]
	if msg.tag != tag || msg.state != msgInflight {
		return
	}
	q.release(m)
	msg.state = msgWaiting
	q.fx = append(q.fx, Effect{Kind: Arm, Timer: Retry, Msg: m, After: q.p.NackRetry})
	q.dispatch()
}

// retry: a nacked message's delay has passed: it is ready again (see
// putBack for where), or dead-lettered if its delivery was its last.
func (q *Queue) retry(m uint32) {
	msg := &q.msgs[m]
	if msg.state != msgWaiting {
		return
	}
	if q.returns(m, run.AfterNack) {
		q.putBack(m)
	}
	q.dispatch()
}
