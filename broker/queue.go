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

// QueueParams are the parameters of the queue model.
type QueueParams struct {
	// AckDeadline is how long a delivery may stay unacked before its
	// message goes back to the queue, for any instance.
	AckDeadline time.Duration
	// NackRetry is how long a nacked message waits before it is ready
	// again.
	NackRetry time.Duration
	// Prefetch is how many deliveries an instance holds at once. Only 1
	// is modelled so far.
	Prefetch int
}

// DefaultQueue is the queue as idemsim has always simulated it.
var DefaultQueue = QueueParams{AckDeadline: DefaultAckDeadline, NackRetry: DefaultNackRetry, Prefetch: DefaultPrefetch}

// Validate reports what is wrong with p, or nil.
func (p QueueParams) Validate() error {
	switch {
	case p.AckDeadline <= 0:
		return fmt.Errorf("broker: queue: ack deadline %v: want more than 0", p.AckDeadline)
	case p.NackRetry <= 0:
		return fmt.Errorf("broker: queue: nack retry delay %v: want more than 0", p.NackRetry)
	case p.Prefetch != 1:
		return fmt.Errorf("broker: queue: prefetch %d: only 1 is modelled so far", p.Prefetch)
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
)

// message is one published copy of an event.
type message struct {
	state msgState
	tag   uint32 // delivery tag of the latest delivery
	inst  int32  // instance of the latest delivery
	igen  uint32 // that instance's incarnation
	holds bool   // the latest delivery holds that instance's prefetch slot
}

// Queue is an at-least-once queue with competing consumers and a prefetch
// of one: each instance is sent one delivery at a time, which it must ack
// before its ack deadline, or the message goes back to the queue and may go
// to any instance. A nacked message is ready again after the retry delay.
// An ack settles the message whichever delivery it acks, even one whose
// deadline has passed.
//
// The ready queue is ordered by message number, which is publish order: a
// message that goes back takes its original place, ahead of every ready
// message published after it, as RabbitMQ requeues a message to its
// original position. With a backlog, a redelivery thus goes out next rather
// than behind every later message.
//
// It knows of the instances only their prefetch slots, which Up and Down
// open and close. An instance that goes down frees its slot: the next
// incarnation starts with a free one, while the delivery the old one held
// stays out until its deadline or a late ack.
type Queue struct {
	p        QueueParams
	msgs     []message
	ready    []uint32 // ready[head:] is the queue, in message number order
	head     int
	slots    []slot
	scripted bool       // the world requests each delivery itself
	pick     *rand.Rand // which free instance gets a delivery
	fx       []Effect
}

var _ Model = (*Queue)(nil)

// slot is one instance's prefetch slot, as the queue sees it.
type slot struct {
	up   bool   // the instance runs
	gen  uint32 // its incarnation
	busy bool   // it holds a delivery not yet acked, nacked or timed out
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

// Reset empties the queue for a run. Message 0 exists and is done, so that
// 0 means "no message" in traces and in an instance that holds no delivery.
func (q *Queue) Reset(s Setup) {
	q.msgs, q.ready, q.head = append(q.msgs[:0], message{inst: -1, state: msgDone}), q.ready[:0], 0
	q.slots = append(q.slots[:0], make([]slot, s.Instances)...)
	q.scripted, q.pick, q.fx = s.Scripted, s.Pick, q.fx[:0]
}

// Add makes a new message and returns its number.
func (q *Queue) Add() uint32 {
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

// Up opens instance inst's prefetch slot, free, for incarnation gen, and
// sends what it can.
func (q *Queue) Up(inst int32, gen uint32) []Effect {
	q.fx = q.fx[:0]
	q.slots[inst] = slot{up: true, gen: gen}
	q.dispatch()
	return q.fx
}

// Down closes instance inst's slot. Its delivery stays out until its
// deadline or a late ack.
func (q *Queue) Down(inst int32) []Effect {
	q.fx = q.fx[:0]
	q.slots[inst].up = false
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
	for q.head < len(q.ready) {
		n := 0
		for i, s := range q.slots {
			if s.up && !s.busy {
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
	q.slots[i].busy = true
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
		s.busy = false
	}
}

// deadline: delivery tag of m was not acked in time. Only the latest
// delivery's deadline counts.
func (q *Queue) deadline(m, tag uint32) {
	msg := &q.msgs[m]
	if msg.tag != tag {
		return
	}
	q.release(m)
	if msg.state == msgInflight {
		msg.state = msgReady
		q.record(run.Requeue, msg.inst, m, 0, run.DeadlinePassed)
		q.putBack(m)
	}
	q.dispatch()
}

// putBack returns m to the ready queue at its original place: ahead of the
// first ready message with a higher number. The queue is a few messages
// long, so a linear search from the back is cheap. It may also hold
// messages that a late ack settled after they went back, which dispatch
// skips; they keep their order too. A message is never in the queue twice:
// only an inflight message (its deadline passed) or a waiting one (nacked)
// goes back, and it left the queue when it was delivered.
func (q *Queue) putBack(m uint32) {
	i := len(q.ready)
	for i > q.head && q.ready[i-1] > m {
		i--
	}
	q.ready = slices.Insert(q.ready, i, m)
}

// ack settles m, whichever of its deliveries tag is; only the latest
// delivery's ack frees a slot.
func (q *Queue) ack(m, tag uint32, inst int32, sent int64) {
	msg := &q.msgs[m]
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

// retry: a nacked message's delay has passed: it is ready again, at its
// original place.
func (q *Queue) retry(m uint32) {
	msg := &q.msgs[m]
	if msg.state != msgWaiting {
		return
	}
	msg.state = msgReady
	q.record(run.Requeue, msg.inst, m, 0, run.AfterNack)
	q.putBack(m)
	q.dispatch()
}
