package sim

import (
	"math/rand/v2"
	"slices"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

type msgState uint8

const (
	msgUnpublished msgState = iota
	msgReady                // waiting in the ready queue
	msgInflight             // delivered, not yet acked
	msgWaiting              // nacked, ready again after nackRetry
	msgDone                 // acked: the broker considers it processed
)

// message is one published copy of an event.
type message struct {
	event strategies.EventID
	state msgState
	tag   uint32 // delivery tag of the latest delivery
	inst  int32  // instance of the latest delivery
	igen  uint32 // that instance's incarnation
	holds bool   // the latest delivery holds that instance's prefetch slot
}

// broker is an at-least-once queue with competing consumers and a prefetch
// of one: each instance is sent one delivery at a time, which it must ack
// before its ack deadline, or the message goes back to the queue and may go
// to any instance.
//
// The ready queue is ordered by message number, which is publish order: a
// message that goes back takes its original place, ahead of every ready
// message published after it, as RabbitMQ requeues a message to its
// original position. With a backlog, a redelivery thus goes out next rather
// than behind every later message.
//
// The broker does no I/O of its own: each step appends what it decided to
// fx (record this, deliver that message to that instance, arm a timer,
// accept an ack), in order, and the world carries it out
// (world.applyBroker). It knows of the instances only their prefetch
// slots, which the world opens and closes as instances start and crash.
type broker struct {
	msgs     []message
	ready    []uint32 // ready[head:] is the queue, in message number order
	head     int
	slots    []slot
	scripted bool       // a Script delivers each copy itself, once
	pick     *rand.Rand // which free instance gets a delivery
	fx       []brokerEffect
}

// slot is one instance's prefetch slot, as the broker sees it.
type slot struct {
	up   bool   // the instance runs
	gen  uint32 // its incarnation
	busy bool   // it holds a delivery not yet acked, nacked or timed out
}

// brokerEffect is one thing a broker step asks the world to do.
type brokerEffect struct {
	kind   brokerEffectKind
	record run.Kind  // bkRecord: the kind of record, about msg
	cause  run.Cause // bkRecord: a requeue's cause
	msg    uint32    // bkRecord, bkDeliver, bkRetry
	inst   int32     // bkRecord, bkDeliver, bkAccepted
	gen    uint32    // bkDeliver
	tag    uint32    // bkRecord, bkDeliver
	event  uint32    // bkAccepted
	sent   int64     // bkAccepted: when the ack was sent
}

type brokerEffectKind uint8

const (
	bkRecord   brokerEffectKind = iota + 1 // record a record of kind record about msg
	bkDeliver                              // send msg to instance inst (incarnation gen) with tag; arm its ack deadline
	bkRetry                                // msg was nacked: make it ready again after the retry delay
	bkAccepted                             // the broker accepted inst's ack of event: history
)

// reset empties the broker for a run of instances, drawing its choices
// from pick. Message ids start at 1, so that 0 means "no message" in
// traces and in an instance that holds no delivery.
func (b *broker) reset(instances int, pick *rand.Rand) {
	b.msgs, b.ready, b.head = append(b.msgs[:0], message{inst: -1, state: msgDone}), b.ready[:0], 0
	b.slots = append(b.slots[:0], make([]slot, instances)...)

	b.scripted, b.pick, b.fx = false, pick, b.fx[:0]
}

func (b *broker) add(ev strategies.EventID) uint32 {
	b.msgs = append(b.msgs, message{event: ev, inst: -1})
	return uint32(len(b.msgs) - 1)
}

func (b *broker) record(kind run.Kind, inst int32, m uint32, tag uint32, cause run.Cause) {
	b.fx = append(b.fx, brokerEffect{kind: bkRecord, record: kind, inst: inst, msg: m, tag: tag, cause: cause})
}

// up opens instance i's slot: incarnation gen started.
func (b *broker) up(i int32, gen uint32) {
	b.slots[i] = slot{up: true, gen: gen}
	b.dispatch()
}

// down closes instance i's slot: it crashed.
func (b *broker) down(i int32) { b.slots[i].up = false }

func (b *broker) publish(m uint32) {
	b.msgs[m].state = msgReady
	b.record(run.Publish, -1, m, 0, 0)
	b.ready = append(b.ready, m)
	b.dispatch()
}

// dispatch sends ready messages, oldest first, to instances with a free
// prefetch slot, choosing among them at random.
func (b *broker) dispatch() {
	if b.scripted || b.head == len(b.ready) {
		return // nothing to send: the common case, kept cheap
	}
	var free [MaxInstances]int32
	for b.head < len(b.ready) {
		n := 0
		for i, s := range b.slots {
			if s.up && !s.busy {
				free[n] = int32(i)
				n++
			}
		}
		if n == 0 {
			break
		}
		m := b.ready[b.head]
		b.head++
		if b.head == len(b.ready) {
			b.ready, b.head = b.ready[:0], 0
		}
		// A late ack may have settled a message after its deadline put
		// it back in the queue: it is done, not to be delivered again.
		if b.msgs[m].state != msgReady {
			continue
		}
		b.deliver(m, free[b.pick.IntN(n)])
	}
}

// deliver sends m to instance i.
func (b *broker) deliver(m uint32, i int32) {
	msg := &b.msgs[m]
	msg.state = msgInflight
	msg.tag++
	msg.inst, msg.igen, msg.holds = i, b.slots[i].gen, true
	b.slots[i].busy = true
	b.fx = append(b.fx, brokerEffect{kind: bkDeliver, msg: m, inst: i, gen: msg.igen, tag: msg.tag})
}

// release frees the prefetch slot that m's latest delivery holds, if the
// instance is still the incarnation it was delivered to.
func (b *broker) release(m uint32) {
	msg := &b.msgs[m]
	if !msg.holds {
		return
	}
	msg.holds = false
	if s := &b.slots[msg.inst]; s.gen == msg.igen {
		s.busy = false
	}
}

func (b *broker) deadline(m, tag uint32) {
	msg := &b.msgs[m]
	if msg.tag != tag {
		return
	}
	b.release(m)
	if msg.state == msgInflight {
		msg.state = msgReady
		b.record(run.Requeue, msg.inst, m, 0, run.DeadlinePassed)
		b.putBack(m)
	}
	b.dispatch()
}

// putBack returns m to the ready queue at its original place: ahead of the
// first ready message with a higher number. The queue is a few messages
// long, so a linear search from the back is cheap. It may also hold
// messages that a late ack settled after they went back, which dispatch
// skips; they keep their order too. A message is never in the queue twice:
// only an inflight message (its deadline passed) or a waiting one (nacked)
// goes back, and it left the queue when it was delivered.
func (b *broker) putBack(m uint32) {
	i := len(b.ready)
	for i > b.head && b.ready[i-1] > m {
		i--
	}
	b.ready = slices.Insert(b.ready, i, m)
}

func (b *broker) ackArrive(m, tag uint32, inst int32, sent int64) {
	msg := &b.msgs[m]
	if msg.state != msgDone {
		msg.state = msgDone
		b.record(run.Acked, inst, m, tag, 0)
		b.fx = append(b.fx, brokerEffect{kind: bkAccepted, inst: inst, event: uint32(msg.event), sent: sent})
	}
	if msg.tag == tag {
		b.release(m)
		b.dispatch()
	}
}

func (b *broker) nackArrive(m, tag uint32) {
	msg := &b.msgs[m]
	if msg.tag != tag || msg.state != msgInflight {
		return
	}
	b.release(m)
	msg.state = msgWaiting
	b.fx = append(b.fx, brokerEffect{kind: bkRetry, msg: m})
	b.dispatch()
}

func (b *broker) requeue(m uint32) {
	msg := &b.msgs[m]
	if msg.state != msgWaiting {
		return
	}
	msg.state = msgReady
	b.record(run.Requeue, msg.inst, m, 0, run.AfterNack)
	b.putBack(m)
	b.dispatch()
}
