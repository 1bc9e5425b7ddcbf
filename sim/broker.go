package sim

import (
	"slices"

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
type broker struct {
	msgs  []message
	ready []uint32 // ready[head:] is the queue, in message number order
	head  int
}

// reset empties the broker. Message ids start at 1, so that 0 means "no
// message" in traces and in an instance that holds no delivery.
func (b *broker) reset() {
	b.msgs, b.ready, b.head = append(b.msgs[:0], message{inst: -1, state: msgDone}), b.ready[:0], 0
}

func (b *broker) add(ev strategies.EventID) uint32 {
	b.msgs = append(b.msgs, message{event: ev, inst: -1})
	return uint32(len(b.msgs) - 1)
}

func (b *broker) publish(w *world, m uint32) {
	b.msgs[m].state = msgReady
	w.record(RecPublish, -1, m, b.msgs[m].event, 0)
	b.ready = append(b.ready, m)
	b.dispatch(w)
}

// dispatch sends ready messages, oldest first, to instances with a free
// prefetch slot, choosing among them at random.
func (b *broker) dispatch(w *world) {
	if w.scripted {
		return // a Script delivers each copy itself, once
	}
	var free [MaxInstances]int32
	for b.head < len(b.ready) {
		n := 0
		for _, in := range w.insts {
			if in.up && !in.slotBusy {
				free[n] = in.idx
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
		in := w.insts[free[w.rBroker.IntN(n)]]
		b.deliver(w, m, in)
	}
}

func (b *broker) deliver(w *world, m uint32, in *instance) {
	msg := &b.msgs[m]
	msg.state = msgInflight
	msg.tag++
	msg.inst, msg.igen, msg.holds = in.idx, in.gen, true
	in.slotBusy = true
	w.record(RecDeliver, in.idx, m, msg.event, int64(msg.tag))
	w.q.pushLane(laneDeadline, event{at: w.now + int64(ackDeadline), kind: evDeadline, a: uint32(m), b: uint32(msg.tag)})
	if w.cut(in.idx, toBroker) {
		w.record(RecDeliverDrop, in.idx, m, msg.event, int64(msg.tag))
		return
	}
	w.at(w.latency(), event{kind: evDeliverArr, inst: in.idx, gen: in.gen, a: uint32(m), b: uint32(msg.tag)})
}

// release frees the prefetch slot that m's latest delivery holds, if the
// instance is still the incarnation it was delivered to.
func (b *broker) release(w *world, m uint32) {
	msg := &b.msgs[m]
	if !msg.holds {
		return
	}
	msg.holds = false
	if in := w.insts[msg.inst]; in.gen == msg.igen {
		in.slotBusy = false
	}
}

func (b *broker) deadline(w *world, m, tag uint32) {
	msg := &b.msgs[m]
	if msg.tag != tag {
		return
	}
	b.release(w, m)
	if msg.state == msgInflight {
		msg.state = msgReady
		w.record(RecRequeue, msg.inst, m, msg.event, 1)
		b.putBack(m)
	}
	b.dispatch(w)
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

func (b *broker) ackArrive(w *world, m, tag uint32, inst int32, sent int64) {
	msg := &b.msgs[m]
	if msg.state != msgDone {
		msg.state = msgDone
		w.record(RecAcked, inst, m, msg.event, int64(tag))
		w.history = append(w.history, checkAck(inst, msg.event, sent, w.now))
	}
	if msg.tag == tag {
		b.release(w, m)
		b.dispatch(w)
	}
}

func (b *broker) nackArrive(w *world, m, tag uint32) {
	msg := &b.msgs[m]
	if msg.tag != tag || msg.state != msgInflight {
		return
	}
	b.release(w, m)
	msg.state = msgWaiting
	w.q.pushLane(laneRequeue, event{at: w.now + int64(nackRetry), kind: evRequeue, a: uint32(m)})
	b.dispatch(w)
}

func (b *broker) requeue(w *world, m uint32) {
	msg := &b.msgs[m]
	if msg.state != msgWaiting {
		return
	}
	msg.state = msgReady
	w.record(RecRequeue, msg.inst, m, msg.event, 2)
	b.putBack(m)
	b.dispatch(w)
}
