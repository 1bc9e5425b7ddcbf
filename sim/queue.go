package sim

import (
	"fmt"

	"github.com/idemsim/idemsim/broker"
)

// evKind says what a scheduled event does when its time comes.
type evKind uint8

const (
	evPublish      evKind = iota + 1 // a: message id
	evDeliverArr                     // a delivery reaches an instance: a msg, b tag, inst
	evTimer                          // a broker timer is due: c its broker.Timer, a msg, b tag
	evAckArr                         // an ack reaches the broker: a msg, b tag, c send time
	evNackArr                        // a nack reaches the broker: a msg, b tag
	evReqArr                         // a store request arrives: inst, gen, a call id
	evReplyArr                       // a reply reaches an instance: inst, gen, a call id
	evCallTimeout                    // a call's timeout: inst, gen, a call id
	evStallEnd                       // a stalled instance goes on: inst, gen; a 1 for a pause
	evRestart                        // a crashed instance restarts: inst
	evPartitionOn                    // inst is cut off: a window index
	evPartitionOff                   // inst's window ends: a window index
	evStoreLoss                      // Redis loses data: a loss index
	evStoreUp                        // Redis is back
	evConnDead                       // the database learns a connection died: a conn id
	evHeal                           // the safety phase ends
	evScripted                       // a scripted delivery: a msg to inst
	evLeave                          // inst stops gracefully (rebalance): c how long it stays down
	evLeaveArr                       // inst's leave reaches the broker
	evRecordsArr                     // the log: records in transit to inst arrive
	evAutoCommit                     // the log: inst's auto-commit is due: inst, gen
	evFetch                          // the log: inst's commit was answered, and it polls (a 1: it timed out, and it commits again): inst, gen
	evSeek                           // the log: inst, idle in its poll, was assigned partitions to seek: inst, gen
	evChargeDone                     // the provider finishes charge call a
	// Events sent on (outbox.go):
	evRelayWake // the relay is woken: a 0, a notification; a 1, its back-off ended (gen)
	evDownTimer // a downstream broker timer is due: c its broker.Timer, a msg, b tag
	evDownArr   // a downstream message reaches its consumer: a msg, b tag, gen 1 if it ends its batch
	evDownAck   // the downstream consumer's ack reaches its broker: a msg, b tag, c send time, gen 1 if it ends its batch
)

// event is one scheduled happening. Events run in order of (at, seq): seq
// is the order of scheduling, which breaks ties the same way on every run.
type event struct {
	at   int64
	c    int64
	seq  uint32
	a, b uint32
	inst int32
	gen  uint32
	kind evKind
}

// Lanes of the event queue: FIFO queues for timers whose times never
// decrease in the order they are set, so they need no heap.
const (
	lanePublish  = iota // the producer's schedule, laid out in time order
	laneDeadline        // ack deadlines (broker.Deadline): a fixed delay after a delivery
	laneRequeue         // nack retries (broker.Retry): a fixed delay after a nack
	numLanes
)

// laneOf is the lane of a broker timer, or -1 for the heap. Every timer of
// one kind has the same delay in a run (broker.Timer), so each kind can
// keep a lane in time order. A run has one model, so two kinds of two
// models share a lane: the queue's ack deadlines and the log's session
// timeouts, the queue's nack retries and the log's max-poll intervals
// (one per fetch). The log's rare rebalance timeouts go to the heap: each
// lane is a check at every step.
func laneOf(t broker.Timer) int {
	switch t {
	case broker.Deadline, broker.Session:
		return laneDeadline
	case broker.Retry, broker.MaxPoll:
		return laneRequeue
	case broker.RebalanceTimeout:
		return -1
	}
	panic(fmt.Sprintf("sim: invariant broken: no lane for broker timer %d", t))
}

type lane struct {
	evs  []event
	head int
}

// eventQueue orders events by (at, seq). Most events sit in a binary
// min-heap, kept by value so that scheduling allocates nothing once it has
// grown; fixed-delay timers sit in FIFO lanes, which keeps the heap small.
type eventQueue struct {
	h     []event
	lanes [numLanes]lane
	seq   uint32
}

func (q *eventQueue) reset() {
	q.h, q.seq = q.h[:0], 0
	for l := range q.lanes {
		q.lanes[l].evs, q.lanes[l].head = q.lanes[l].evs[:0], 0
	}
}

// pushLane appends e to lane l. Times in a lane must not decrease.
func (q *eventQueue) pushLane(l int, e event) {
	ln := &q.lanes[l]
	if n := len(ln.evs); n > ln.head && ln.evs[n-1].at > e.at {
		panic("sim: invariant broken: a queue lane went back in time")
	}
	q.seq++
	e.seq = q.seq
	ln.evs = append(ln.evs, e)
}

// popUntil removes and returns the earliest event, if there is one due
// at or before end: next and take in one, for the world's loop.
func (q *eventQueue) popUntil(end int64) (event, bool) {
	where := -2
	var best *event
	if len(q.h) > 0 {
		best, where = &q.h[0], -1
	}
	for l := range q.lanes {
		ln := &q.lanes[l]
		if ln.head < len(ln.evs) {
			if e := &ln.evs[ln.head]; best == nil || before(e, best) {
				best, where = e, l
			}
		}
	}
	if best == nil || best.at > end {
		return event{}, false
	}
	if where < 0 {
		return q.pop(), true
	}
	ln := &q.lanes[where]
	e := *best
	ln.head++
	if ln.head == len(ln.evs) {
		ln.evs, ln.head = ln.evs[:0], 0
	}
	return e, true
}

func before(a, b *event) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// push adds e to the heap, moving the hole up rather than swapping.
func (q *eventQueue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !before(&e, &q.h[p]) {
			break
		}
		q.h[i] = q.h[p]
		i = p
	}
	q.h[i] = e
}

// pop removes the heap's earliest event, moving the hole down.
func (q *eventQueue) pop() event {
	top := q.h[0]
	n := len(q.h) - 1
	last := q.h[n]
	q.h = q.h[:n]
	if n == 0 {
		return top
	}
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && before(&q.h[r], &q.h[l]) {
			m = r
		}
		if !before(&q.h[m], &last) {
			break
		}
		q.h[i] = q.h[m]
		i = m
	}
	q.h[i] = last
	return top
}
