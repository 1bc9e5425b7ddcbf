package broker

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
)

// show writes an effect as the tables below expect it.
func show(e Effect) string {
	switch e.Kind {
	case Record:
		s := fmt.Sprintf("%s m%d", e.Record, e.Msg)
		if e.Inst >= 0 {
			s += fmt.Sprintf(" i%d", e.Inst)
		}
		if e.Tag != 0 {
			s += fmt.Sprintf(" t%d", e.Tag)
		}
		switch e.Cause {
		case run.DeadlinePassed:
			s += " after deadline"
		case run.AfterNack:
			s += " after nack"
		case run.ChannelClosed:
			s += " after channel closed"
		}
		return s
	case Arm:
		name := map[Timer]string{Deadline: "deadline", Retry: "retry"}[e.Timer]
		return fmt.Sprintf("arm %s m%d t%d in %v", name, e.Msg, e.Tag, e.After)
	case Send:
		return fmt.Sprintf("send m%d i%d g%d t%d deadline %v", e.Msg, e.Inst, e.Gen, e.Tag, e.After)
	case Accepted:
		return fmt.Sprintf("accepted m%d i%d sent %d", e.Msg, e.Inst, e.Sent)
	}
	return fmt.Sprintf("effect kind %d", e.Kind)
}

// step is one input to the queue and the effects it must return.
type step struct {
	in   string
	do   func(q *Queue) []Effect
	want []string
}

func publish(m uint32, want ...string) step {
	return step{fmt.Sprintf("publish m%d", m), func(q *Queue) []Effect { return q.Publish(m) }, want}
}

func up(i int32, gen uint32, want ...string) step {
	return step{fmt.Sprintf("up i%d g%d", i, gen), func(q *Queue) []Effect { return q.Up(i, gen) }, want}
}

func down(i int32, want ...string) step {
	return step{fmt.Sprintf("down i%d", i), func(q *Queue) []Effect { return q.Down(i) }, want}
}

func ack(m, tag uint32, i int32, want ...string) step {
	return step{fmt.Sprintf("ack m%d t%d from i%d", m, tag, i), func(q *Queue) []Effect { return q.Ack(m, tag, i, 7) }, want}
}

func nack(m, tag uint32, want ...string) step {
	return step{fmt.Sprintf("nack m%d t%d", m, tag), func(q *Queue) []Effect { return q.Nack(m, tag) }, want}
}

func fire(t Timer, m, tag uint32, want ...string) step {
	return step{fmt.Sprintf("fire timer %d m%d t%d", t, m, tag), func(q *Queue) []Effect { return q.Fire(t, m, tag) }, want}
}

func disconnect(i int32, want ...string) step {
	return step{fmt.Sprintf("disconnect i%d", i), func(q *Queue) []Effect { return q.Disconnect(i) }, want}
}

func reconnect(i int32, want ...string) step {
	return step{fmt.Sprintf("reconnect i%d", i), func(q *Queue) []Effect { return q.Reconnect(i) }, want}
}

func deliver(m uint32, i int32, want ...string) step {
	return step{fmt.Sprintf("deliver m%d to i%d", m, i), func(q *Queue) []Effect { return q.Deliver(m, i) }, want}
}

// TestQueue drives the queue alone, input by input, and checks every
// effect it returns, then which messages it considers done.
func TestQueue(t *testing.T) {
	cases := []struct {
		name      string
		instances int
		msgs      int
		scripted  bool
		params    *QueueParams // nil: DefaultQueue
		steps     []step
		done      []uint32 // the messages done at the end; the others are not
		dead      []uint32 // the messages dead-lettered at the end; the others are not
	}{{
		name: "a publish waits for an instance, and goes to it when it is up", instances: 1, msgs: 1,
		steps: []step{
			publish(1, "publish m1"),
			up(0, 1, "send m1 i0 g1 t1 deadline 5s"),
		},
	}, {
		name: "a delivery goes to the free instance", instances: 2, msgs: 2,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			up(1, 1),
			publish(2, "publish m2", "send m2 i1 g1 t1 deadline 5s"),
		},
	}, {
		name: "an ack settles the message, frees the slot, and the next goes out", instances: 1, msgs: 2,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			publish(2, "publish m2"),
			ack(1, 1, 0, "acked m1 i0 t1", "accepted m1 i0 sent 7", "send m2 i0 g1 t1 deadline 5s"),
			ack(1, 1, 0), // a second ack of a settled message: nothing
		},
		done: []uint32{1},
	}, {
		name: "a deadline requeues the message at its original place, ahead of later ones", instances: 1, msgs: 3,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			publish(2, "publish m2"),
			publish(3, "publish m3"),
			fire(Deadline, 1, 1, "requeue m1 i0 after deadline", "send m1 i0 g1 t2 deadline 5s"),
			fire(Deadline, 1, 1), // a stale deadline: nothing
			ack(1, 2, 0, "acked m1 i0 t2", "accepted m1 i0 sent 7", "send m2 i0 g1 t1 deadline 5s"),
		},
		done: []uint32{1},
	}, {
		name: "a late ack of the first delivery settles the message while the second is out", instances: 2, msgs: 2,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			fire(Deadline, 1, 1, "requeue m1 i0 after deadline", "send m1 i0 g1 t2 deadline 5s"),
			publish(2, "publish m2"),
			// The ack settles m1 but frees no slot: the second
			// delivery holds it until its own ack or deadline.
			ack(1, 1, 0, "acked m1 i0 t1", "accepted m1 i0 sent 7"),
			fire(Deadline, 1, 2, "send m2 i0 g1 t1 deadline 5s"),
		},
		done: []uint32{1},
	}, {
		name: "a nack waits for the retry delay, then goes back at its original place", instances: 1, msgs: 3,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			publish(2, "publish m2"),
			publish(3, "publish m3"),
			nack(1, 1, "arm retry m1 t0 in 200ms", "send m2 i0 g1 t1 deadline 5s"),
			nack(1, 1), // a second nack of the same delivery: nothing
			fire(Retry, 1, 0, "requeue m1 i0 after nack"),
			ack(2, 1, 0, "acked m2 i0 t1", "accepted m2 i0 sent 7", "send m1 i0 g1 t2 deadline 5s"),
		},
		done: []uint32{2},
	}, {
		name: "an instance down frees its slot for its next incarnation", instances: 1, msgs: 2,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			down(0),
			publish(2, "publish m2"),
			up(0, 2, "send m2 i0 g2 t1 deadline 5s"),
			// m1's deadline frees nothing of incarnation 2, which
			// holds m2: m1 waits.
			fire(Deadline, 1, 1, "requeue m1 i0 after deadline"),
			ack(2, 1, 0, "acked m2 i0 t1", "accepted m2 i0 sent 7", "send m1 i0 g2 t2 deadline 5s"),
		},
		done: []uint32{2},
	}, {
		name: "a message settled while it waits in the queue is skipped", instances: 2, msgs: 3,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			up(1, 1),
			publish(2, "publish m2", "send m2 i1 g1 t1 deadline 5s"),
			publish(3, "publish m3"),
			down(0),
			down(1),
			nack(2, 1, "arm retry m2 t0 in 200ms"),
			fire(Deadline, 1, 1, "requeue m1 i0 after deadline"),
			fire(Retry, 2, 0, "requeue m2 i1 after nack"),
			ack(1, 1, 0, "acked m1 i0 t1", "accepted m1 i0 sent 7"),
			// The queue is m1 (done), m2, m3: m1 is skipped, and m2,
			// requeued after its nack, goes ahead of m3.
			up(1, 2, "send m2 i1 g2 t2 deadline 5s"),
		},
		done: []uint32{1},
	}, {
		name: "scripted: nothing goes out but what the world requests", instances: 2, msgs: 2, scripted: true,
		steps: []step{
			up(0, 1),
			up(1, 1),
			publish(1, "publish m1"),
			deliver(2, 1, "send m2 i1 g1 t1 deadline 5s"),
			fire(Deadline, 2, 1, "requeue m2 i1 after deadline"),
		},
	}, {
		name: "with a deadline, a disconnect changes nothing: the broker goes on as if the instance were there", instances: 1, msgs: 2,
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			disconnect(0),
			publish(2, "publish m2"),
			reconnect(0),
			fire(Deadline, 1, 1, "requeue m1 i0 after deadline", "send m1 i0 g1 t2 deadline 5s"),
		},
	}, {
		name: "no deadline: a delivery is sent with no timer and stays out however long it takes", instances: 2, msgs: 1,
		params: &QueueParams{NackRetry: DefaultNackRetry, Prefetch: 1},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 0s"),
			up(1, 1),
			ack(1, 1, 0, "acked m1 i0 t1", "accepted m1 i0 sent 7"),
		},
		done: []uint32{1},
	}, {
		name: "no deadline: a crash closes the channel, and its delivery goes to the head, ahead of an older message", instances: 1, msgs: 3,
		params: &QueueParams{NackRetry: DefaultNackRetry, Prefetch: 1},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 0s"),
			nack(1, 1, "arm retry m1 t0 in 200ms"),
			publish(2, "publish m2", "send m2 i0 g1 t1 deadline 0s"),
			fire(Retry, 1, 0, "requeue m1 i0 after nack"),
			publish(3, "publish m3"),
			// The queue is m1, m3; m2 goes back ahead of both (a
			// deadline's requeue would put it behind m1).
			down(0, "requeue m2 i0 after channel closed"),
			up(0, 2, "send m2 i0 g2 t2 deadline 0s"),
		},
	}, {
		name: "no deadline: a nacked message goes to the head after its delay", instances: 1, msgs: 3,
		params: &QueueParams{NackRetry: DefaultNackRetry, Prefetch: 1},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 0s"),
			publish(2, "publish m2"),
			publish(3, "publish m3"),
			nack(1, 1, "arm retry m1 t0 in 200ms", "send m2 i0 g1 t1 deadline 0s"),
			fire(Retry, 1, 0, "requeue m1 i0 after nack"),
			ack(2, 1, 0, "acked m2 i0 t1", "accepted m2 i0 sent 7", "send m1 i0 g1 t2 deadline 0s"),
		},
		done: []uint32{2},
	}, {
		name: "no deadline: a cut closes the channel; the old delivery's late ack counts for nothing", instances: 1, msgs: 1,
		params: &QueueParams{NackRetry: DefaultNackRetry, Prefetch: 1},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 0s"),
			disconnect(0, "requeue m1 i0 after channel closed"),
			disconnect(0), // a second cut while cut: nothing
			ack(1, 1, 0),
			reconnect(0, "send m1 i0 g1 t2 deadline 0s"),
			reconnect(0),
			ack(1, 1, 0), // still the old delivery's
			ack(1, 2, 0, "acked m1 i0 t2", "accepted m1 i0 sent 7"),
		},
		done: []uint32{1},
	}, {
		name: "no deadline, prefetch 3: a crash returns all three to the head, in order", instances: 2, msgs: 4,
		params: &QueueParams{NackRetry: DefaultNackRetry, Prefetch: 3},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 0s"),
			publish(2, "publish m2", "send m2 i0 g1 t1 deadline 0s"),
			publish(3, "publish m3", "send m3 i0 g1 t1 deadline 0s"),
			publish(4, "publish m4"),
			ack(2, 1, 0, "acked m2 i0 t1", "accepted m2 i0 sent 7", "send m4 i0 g1 t1 deadline 0s"),
			down(0, "requeue m1 i0 after channel closed", "requeue m3 i0 after channel closed", "requeue m4 i0 after channel closed"),
			up(1, 1, "send m1 i1 g1 t2 deadline 0s", "send m3 i1 g1 t2 deadline 0s", "send m4 i1 g1 t2 deadline 0s"),
		},
		done: []uint32{2},
	}, {
		name: "prefetch 3: an instance holds up to three, and the fourth goes out when one is acked", instances: 1, msgs: 4,
		params: &QueueParams{AckDeadline: DefaultAckDeadline, NackRetry: DefaultNackRetry, Prefetch: 3},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			publish(2, "publish m2", "send m2 i0 g1 t1 deadline 5s"),
			publish(3, "publish m3", "send m3 i0 g1 t1 deadline 5s"),
			publish(4, "publish m4"),
			fire(Deadline, 2, 1, "requeue m2 i0 after deadline", "send m2 i0 g1 t2 deadline 5s"),
			ack(1, 1, 0, "acked m1 i0 t1", "accepted m1 i0 sent 7", "send m4 i0 g1 t1 deadline 5s"),
			// Down frees all three slots of incarnation 1.
			down(0),
			up(0, 2),
		},
		done: []uint32{1},
	}, {
		name: "max deliveries 2: the second deadline dead-letters the message; a late ack still settles it (JetStream)", instances: 1, msgs: 2,
		params: &QueueParams{AckDeadline: DefaultAckDeadline, NackRetry: DefaultNackRetry, Prefetch: 1, MaxDeliveries: 2},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 5s"),
			publish(2, "publish m2"),
			fire(Deadline, 1, 1, "requeue m1 i0 after deadline", "send m1 i0 g1 t2 deadline 5s"),
			fire(Deadline, 1, 2, "dead-letter m1 t2", "send m2 i0 g1 t1 deadline 5s"),
			ack(1, 1, 0, "acked m1 i0 t1", "accepted m1 i0 sent 7"),
			nack(2, 1, "arm retry m2 t0 in 200ms"),
			fire(Retry, 2, 0, "requeue m2 i0 after nack", "send m2 i0 g1 t2 deadline 5s"),
			nack(2, 2, "arm retry m2 t0 in 200ms"),
			fire(Retry, 2, 0, "dead-letter m2 t2"),
		},
		done: []uint32{1},
		dead: []uint32{2},
	}, {
		name: "no deadline, max deliveries 1: a nack dead-letters, a closed channel too, and a late ack counts for nothing (RabbitMQ)", instances: 1, msgs: 2,
		params: &QueueParams{NackRetry: DefaultNackRetry, Prefetch: 1, MaxDeliveries: 1},
		steps: []step{
			up(0, 1),
			publish(1, "publish m1", "send m1 i0 g1 t1 deadline 0s"),
			nack(1, 1, "arm retry m1 t0 in 200ms"),
			fire(Retry, 1, 0, "dead-letter m1 t1"),
			ack(1, 1, 0),
			publish(2, "publish m2", "send m2 i0 g1 t1 deadline 0s"),
			down(0, "dead-letter m2 t1"),
			up(0, 2),
		},
		dead: []uint32{1, 2},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultQueue
			if c.params != nil {
				p = *c.params
			}
			q, err := NewQueue(p)
			require.NoError(t, err)
			q.Reset(Setup{Instances: c.instances, Pick: rand.New(rand.NewPCG(1, 2)), Scripted: c.scripted})
			for m := 1; m <= c.msgs; m++ {
				require.Equal(t, uint32(m), q.Add(0))
			}
			for i, s := range c.steps {
				var got []string
				for _, e := range s.do(q) {
					got = append(got, show(e))
				}
				require.Equal(t, s.want, got, "step %d, %s", i+1, s.in)
			}
			for m := uint32(1); m <= uint32(c.msgs); m++ {
				want := false
				for _, d := range c.done {
					want = want || d == m
				}
				assert.Equal(t, want, q.Done(m), "message %d done", m)
				want = false
				for _, d := range c.dead {
					want = want || d == m
				}
				assert.Equal(t, want, q.Dead(m), "message %d dead", m)
			}
		})
	}
}

// TestQueueSpreadsOverFreeInstances: with several instances free, the
// queue's choice comes from the stream it is handed, so the same stream
// gives the same choices, and every free instance gets some.
func TestQueueSpreadsOverFreeInstances(t *testing.T) {
	play := func() []int32 {
		q, err := NewQueue(DefaultQueue)
		require.NoError(t, err)
		q.Reset(Setup{Instances: 3, Pick: rand.New(rand.NewPCG(7, 8))})
		for i := int32(0); i < 3; i++ {
			q.Up(i, 1)
		}
		var to []int32
		for k := 0; k < 60; k++ {
			m := q.Add(0)
			fx := q.Publish(m)
			require.Len(t, fx, 2)
			require.Equal(t, Send, fx[1].Kind)
			to = append(to, fx[1].Inst)
			q.Ack(m, fx[1].Tag, fx[1].Inst, 0)
		}
		return to
	}
	first := play()
	assert.Equal(t, first, play(), "the same stream, the same choices")
	for i := int32(0); i < 3; i++ {
		assert.Contains(t, first, i)
	}
}

func TestQueueParams(t *testing.T) {
	require.NoError(t, DefaultQueue.Validate())
	for _, p := range []QueueParams{
		{AckDeadline: -1, NackRetry: time.Second, Prefetch: 1},
		{AckDeadline: time.Second, NackRetry: -1, Prefetch: 1},
		{AckDeadline: time.Second, NackRetry: 0, Prefetch: 1},
		{AckDeadline: time.Second, NackRetry: time.Second, Prefetch: 0},
		{AckDeadline: time.Second, NackRetry: time.Second, Prefetch: run.MaxPrefetch + 1},
		{AckDeadline: time.Second, NackRetry: time.Second, Prefetch: 1, MaxDeliveries: -1},
	} {
		_, err := NewQueue(p)
		assert.Error(t, err, "%+v", p)
		q, err := NewQueue(DefaultQueue)
		require.NoError(t, err)
		assert.Error(t, q.SetParams(p), "%+v", p)
		assert.Equal(t, DefaultQueue, q.Params(), "a bad SetParams leaves the parameters as they were")
	}
	q, err := NewQueue(DefaultQueue)
	require.NoError(t, err)
	assert.Equal(t, DefaultQueue, q.Params())
	none := QueueParams{NackRetry: DefaultNackRetry, Prefetch: 1, MaxDeliveries: 3}
	require.NoError(t, q.SetParams(none), "no deadline is valid")
	assert.Equal(t, none, q.Params())
}

// TestQueueParamsOf: a run's zero values are the defaults, and each
// parameter it sets comes through.
func TestQueueParamsOf(t *testing.T) {
	cases := []struct {
		in   run.BrokerParams
		want QueueParams
	}{
		{run.BrokerParams{}, DefaultQueue},
		{run.BrokerParams{AckDeadline: run.NoAckDeadline}, QueueParams{NackRetry: DefaultNackRetry, Prefetch: 1}},
		{run.BrokerParams{AckDeadline: time.Second, NackRetry: time.Millisecond, Prefetch: 3, MaxDeliveries: 5},
			QueueParams{AckDeadline: time.Second, NackRetry: time.Millisecond, Prefetch: 3, MaxDeliveries: 5}},
	}
	for _, c := range cases {
		got := QueueParamsOf(c.in)
		assert.Equal(t, c.want, got, "%+v", c.in)
		assert.NoError(t, got.Validate())
	}
}

// TestDescriptions: the queue is described once, with its parameters and
// their defaults, and its description makes a working queue.
func TestDescriptions(t *testing.T) {
	d, ok := Lookup("queue")
	require.True(t, ok)
	assert.NotEmpty(t, d.Summary)
	defaults := map[string]string{}
	for _, p := range d.Params {
		assert.NotEmpty(t, p.Summary, p.Name)
		defaults[p.Name] = p.Default
	}
	assert.Equal(t, map[string]string{"ack-deadline": "5s", "nack-retry": "200ms", "prefetch": "1", "max-deliveries": "unlimited"}, defaults)
	m := d.New()
	m.Reset(Setup{Instances: 1, Pick: rand.New(rand.NewPCG(1, 1))})
	m.Up(0, 1)
	fx := m.Publish(m.Add(0))
	require.Len(t, fx, 2)
	assert.Equal(t, Send, fx[1].Kind)

	var names []string
	for _, d := range Models() {
		names = append(names, d.Name)
	}
	assert.Equal(t, "queue,log", strings.Join(names, ","))
}
