package sim

// evKind says what a scheduled event does when its time comes.
type evKind uint8

const (
	evPublish      evKind = iota + 1 // a: message id
	evDeliverArr                     // a delivery reaches an instance: a msg, b tag, inst
	evDeadline                       // ack deadline of a delivery: a msg, b tag
	evAckArr                         // an ack reaches the broker: a msg, b tag, c send time
	evNackArr                        // a nack reaches the broker: a msg, b tag
	evRequeue                        // a nacked message is ready again: a msg
	evReqArr                         // a store request arrives: inst, gen, a call id
	evReplyArr                       // a reply reaches an instance: inst, gen, a call id
	evCallTimeout                    // a call's timeout: inst, gen, a call id
	evStallEnd                       // a stalled instance goes on: inst, gen
	evRestart                        // a crashed instance restarts: inst
	evPartitionOn                    // inst is cut off: a window index
	evPartitionOff                   // inst's window ends: a window index
	evStoreLoss                      // Redis loses data: a loss index
	evStoreUp                        // Redis is back
	evConnDead                       // the database learns a connection died: a conn id
	evHeal                           // the safety phase ends
)

// event is one scheduled happening. Events run in order of (at, seq): seq
// is the order of scheduling, which breaks ties the same way on every run.
type event struct {
	at   int64
	seq  uint64
	kind evKind
	inst int32
	gen  uint32
	a, b uint64
	c    int64
}

// eventQueue is a binary min-heap of events by (at, seq), kept by value so
// that scheduling allocates nothing once the heap has grown.
type eventQueue struct {
	h   []event
	seq uint64
}

func (q *eventQueue) less(i, j int) bool {
	if q.h[i].at != q.h[j].at {
		return q.h[i].at < q.h[j].at
	}
	return q.h[i].seq < q.h[j].seq
}

func (q *eventQueue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *eventQueue) pop() event {
	top := q.h[0]
	n := len(q.h) - 1
	q.h[0] = q.h[n]
	q.h = q.h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return top
}

func (q *eventQueue) empty() bool { return len(q.h) == 0 }
