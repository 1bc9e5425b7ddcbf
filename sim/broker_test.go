package sim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// TestRequeueKeepsTheOriginalPosition: a message that goes back to the
// queue, after its ack deadline or after a nack, takes its place by
// message number, ahead of every ready message published after it, and so
// is the next to go out; a new publish goes to the back.
func TestRequeueKeepsTheOriginalPosition(t *testing.T) {
	w := newWorld(Config{Strategy: "none", Seed: 1, Instances: 1, Events: 6, KeepTrace: true}.WithDefaults())
	w.makeInstances()
	defer w.release()
	b := &w.broker
	for ev := 1; ev <= 6; ev++ {
		b.add(strategies.EventID(ev))
	}
	b.slots[0] = slot{up: true, gen: 1}

	// m1 and m2 go out, one at a time, to the only instance; it never
	// acks them, so its slot is freed by hand.
	b.publish(1)
	require.Equal(t, msgInflight, b.msgs[1].state)
	b.slots[0].busy = false
	b.publish(2)
	require.Equal(t, msgInflight, b.msgs[2].state)
	for m := uint32(3); m <= 6; m++ {
		b.publish(m) // the slot is taken: m3..m6 wait, in order
	}
	require.Equal(t, []uint32{3, 4, 5, 6}, b.ready[b.head:])

	// The instance goes down, so nothing is dispatched while the queue is
	// looked at. m2's delivery is nacked, and m1's ack deadline passes.
	b.down(0)
	b.nackArrive(2, b.msgs[2].tag)
	require.Equal(t, msgWaiting, b.msgs[2].state)
	b.deadline(1, b.msgs[1].tag)
	assert.Equal(t, []uint32{1, 3, 4, 5, 6}, b.ready[b.head:], "after its deadline m1 goes back to the front, not behind m6")
	b.requeue(2)
	assert.Equal(t, []uint32{1, 2, 3, 4, 5, 6}, b.ready[b.head:], "after its nack m2 goes back ahead of m3")

	// A late ack settles m1 while it waits; it keeps its place and is
	// skipped when its turn comes.
	b.ackArrive(1, b.msgs[1].tag, 0, w.now)
	w.applyBroker()
	b.slots[0].up = true
	from := len(w.rec.Trace())
	b.dispatch()
	w.applyBroker()
	var delivered []uint32
	for _, r := range w.rec.Trace()[from:] {
		if r.Kind == run.Deliver {
			delivered = append(delivered, r.Msg)
		}
	}
	assert.Equal(t, []uint32{2}, delivered, "the redelivery goes out before every later message")
	assert.Equal(t, []uint32{3, 4, 5, 6}, b.ready[b.head:])
}
