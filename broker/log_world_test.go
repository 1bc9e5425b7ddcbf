package broker

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
)

// logWorld is a small world around the log for tests that play whole
// runs: it carries out the log's effects (sends go to an instance's
// inbox, timers to first-in first-out queues of their kind), and checks
// the log's promises as it goes. It reuses its memory from run to run, so
// that a warm run allocates nothing of its own.
type logWorld struct {
	l      *Log
	pick   *rand.Rand
	src    *rand.PCG
	p      int
	inbox  [][]Effect // the records each instance holds, in order
	timers [RebalanceTimeout + 1][]Effect
	up     []bool
	cut    []bool
	inc    []uint32 // each instance's incarnation

	owner   []int32 // each partition's owner by the last assignment, -1 none
	next    []int32 // each partition's next offset the owner is to be sent
	assigns uint64  // the partitions the assignments of this batch gave
	ngive   int     // how many assignments this batch made
	err     error   // the first broken promise
	trace   func(string)
	sends   int // records sent, over every run
}

func newLogWorld(p LogParams, instances int) *logWorld {
	l, err := NewLog(p)
	if err != nil {
		panic(err)
	}
	w := &logWorld{l: l, p: p.Partitions}
	w.inbox = make([][]Effect, instances)
	w.up, w.cut, w.inc = make([]bool, instances), make([]bool, instances), make([]uint32, instances)
	w.owner, w.next = make([]int32, p.Partitions), make([]int32, p.Partitions)
	return w
}

func (w *logWorld) reset(seed uint64) {
	w.l.Reset(Setup{Instances: len(w.up)})
	if w.pick == nil {
		w.src = rand.NewPCG(0, 0)
		w.pick = rand.New(w.src)
	}
	w.src.Seed(seed, 1)
	for i := range w.up {
		w.inbox[i], w.up[i], w.cut[i], w.inc[i] = w.inbox[i][:0], false, false, 0
	}
	for k := range w.timers {
		w.timers[k] = w.timers[k][:0]
	}
	for p := range w.owner {
		w.owner[p], w.next[p] = -1, 0
	}
	w.err = nil
}

func (w *logWorld) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf(format, args...)
	}
}

// apply carries out one input's effects and checks them.
func (w *logWorld) apply(fx []Effect) {
	w.assigns, w.ngive = 0, 0
	for _, e := range fx {
		if w.trace != nil {
			w.trace("  " + showLog(e))
		}
		switch e.Kind {
		case Send:
			i, p := e.Inst, e.Part-1
			switch {
			case !w.up[i] || w.cut[i]:
				w.fail("sent m%d to i%d, down or cut off", e.Msg, i)
			case e.Tag != w.l.Generation():
				w.fail("sent m%d in generation %d, not the group's %d", e.Msg, e.Tag, w.l.Generation())
			case w.owner[p] != i:
				w.fail("sent m%d of partition %d to i%d, not its owner i%d", e.Msg, e.Part, i, w.owner[p])
			case e.Offset != w.next[p]:
				w.fail("sent m%d at p%d@%d, want offset %d", e.Msg, e.Part, e.Offset, w.next[p])
			case e.Gen != w.inc[i]:
				w.fail("sent m%d to incarnation %d of i%d, not %d", e.Msg, e.Gen, i, w.inc[i])
			}
			w.next[p]++
			w.sends++
			w.inbox[i] = append(w.inbox[i], e)
		case Arm:
			w.timers[e.Timer] = append(w.timers[e.Timer], e)
		case Record:
			if e.Record != run.Assign {
				continue
			}
			if w.ngive == 0 {
				for p := range w.owner {
					w.owner[p] = -1
				}
			}
			w.ngive++
			if w.assigns&e.Parts != 0 {
				w.fail("generation %d gives partitions %b twice", e.Tag, w.assigns&e.Parts)
			}
			w.assigns |= e.Parts
			for ps := e.Parts; ps != 0; ps &= ps - 1 {
				p := bits.TrailingZeros64(ps)
				w.owner[p], w.next[p] = e.Inst, w.l.Committed(int32(p+1))
			}
		}
	}
	if w.ngive > 0 && bits.OnesCount64(w.assigns) != w.p {
		w.fail("an assignment left partitions out: %b", w.assigns)
	}
}

// handle: instance i handles the batch at the head of its inbox, commits
// after its Last record, and polls when it holds nothing more. (The caller
// lets no instance cut off handle: its commitSync waits for the broker.)
func (w *logWorld) handle(i int32) {
	box := w.inbox[i]
	n := 0
	for n < len(box) && !box[n].Last {
		n++
	}
	if n == len(box) {
		w.fail("i%d holds a batch with no Last record", i)
		return
	}
	last := box[n]
	w.inbox[i] = append(box[:0], box[n+1:]...)
	w.apply(w.l.Ack(last.Msg, last.Tag, i, 0))
	if len(w.inbox[i]) == 0 {
		w.apply(w.l.Fetch(i))
	}
}

// fire fires the oldest timer of kind k, if any.
func (w *logWorld) fire(k Timer) bool {
	if len(w.timers[k]) == 0 {
		return false
	}
	e := w.timers[k][0]
	w.timers[k] = append(w.timers[k][:0], w.timers[k][1:]...)
	w.apply(w.l.Fire(k, e.Msg, e.Tag))
	return true
}

// play runs events messages of accounts keys through the log under a
// random schedule of faults (when faults), then heals everything and
// drives the log until nothing is left to do.
func (w *logWorld) play(events, keys int, faults bool) {
	n := int32(len(w.up))
	for i := int32(0); i < n; i++ {
		w.inc[i] = 1
		w.up[i] = true
		w.apply(w.l.Up(i, 1))
	}
	published := 0
	for steps := 0; published < events || steps < 4*events; steps++ {
		i := w.pick.Int32N(n)
		switch r := w.pick.IntN(100); {
		case r < 30 && published < events:
			published++
			w.apply(w.l.Publish(w.l.Add(uint32(w.pick.IntN(keys)))))
		case r < 70:
			if w.up[i] && !w.cut[i] && len(w.inbox[i]) > 0 {
				w.handle(i)
			}
		case !faults:
		case r < 80:
			w.fire(Timer(Session + Timer(w.pick.IntN(3))))
		case r < 84:
			if w.up[i] {
				w.up[i], w.inbox[i] = false, w.inbox[i][:0]
				if w.pick.IntN(2) == 0 {
					w.apply(w.l.Down(i))
				} else {
					w.apply(w.l.Leave(i))
				}
			} else {
				w.up[i] = true
				w.inc[i]++
				w.apply(w.l.Up(i, w.inc[i]))
			}
		case r < 88:
			if w.cut[i] {
				w.cut[i] = false
				w.apply(w.l.Reconnect(i))
			} else {
				w.cut[i] = true
				w.apply(w.l.Disconnect(i))
			}
		}
		if w.err != nil {
			return
		}
	}
	// Heal: every instance up and connected, then handle, poll and
	// fire until nothing is left.
	for i := int32(0); i < n; i++ {
		if w.cut[i] {
			w.cut[i] = false
			w.apply(w.l.Reconnect(i))
		}
		if !w.up[i] {
			w.up[i] = true
			w.inc[i]++
			w.apply(w.l.Up(i, w.inc[i]))
		}
	}
	for rounds := 0; w.err == nil; rounds++ {
		if rounds > 100000 {
			w.fail("no quiescence")
			return
		}
		busy := false
		for i := int32(0); i < n; i++ {
			if len(w.inbox[i]) > 0 {
				w.handle(i)
				busy = true
			}
		}
		if busy {
			continue
		}
		if !w.fire(Session) && !w.fire(MaxPoll) && !w.fire(RebalanceTimeout) {
			return
		}
	}
}

// TestLogPlaysRuns plays random runs with faults and checks, for each,
// the log's promises on every effect (sends go to a partition's owner,
// up and connected, in the group's generation, in offset order from the
// committed offset; each assignment gives every partition once), and that
// once everything heals, every message is done.
func TestLogPlaysRuns(t *testing.T) {
	for _, p := range []LogParams{DefaultLog,
		{Partitions: 3, Batch: 1, Commit: run.CommitRecord, SessionTimeout: DefaultSessionTimeout, MaxPollInterval: DefaultMaxPollInterval},
		{Partitions: 64, Batch: 7, Commit: run.CommitBatch, SessionTimeout: DefaultSessionTimeout, MaxPollInterval: DefaultMaxPollInterval},
	} {
		for _, n := range []int{1, 3, 5} {
			w := newLogWorld(p, n)
			for seed := uint64(1); seed <= 200; seed++ {
				w.reset(seed)
				w.play(100, 20, true)
				require.NoError(t, w.err, "partitions %d, batch %d, %d instances, seed %d", p.Partitions, p.Batch, n, seed)
				for m := uint32(1); m <= 100; m++ {
					require.True(t, w.l.Done(m), "message %d not done: partitions %d, %d instances, seed %d", m, p.Partitions, n, seed)
				}
			}
		}
	}
}

// TestLogAllocatesNothingWarm: once a run has warmed the log up, a run
// like it allocates nothing: its state is slices it reuses.
func TestLogAllocatesNothingWarm(t *testing.T) {
	w := newLogWorld(DefaultLog, 3)
	w.reset(1)
	w.play(200, 200, true)
	require.NoError(t, w.err)
	allocs := testing.AllocsPerRun(5, func() {
		w.reset(1)
		w.play(200, 200, true)
	})
	require.Zero(t, allocs)
}

// BenchmarkLog plays a run of 200 events on 3 instances with faults, the
// test world's checks included, and reports the records sent per second.
func BenchmarkLog(b *testing.B) {
	w := newLogWorld(DefaultLog, 3)
	for b.Loop() {
		w.reset(1)
		w.play(200, 200, true)
	}
	b.ReportMetric(float64(w.sends)/b.Elapsed().Seconds(), "sends/s")
}

// TestLogIsDeterministic: the same schedule gives the same effects, run
// after run of one log (Reset forgets everything), and another schedule
// other effects.
func TestLogIsDeterministic(t *testing.T) {
	w := newLogWorld(DefaultLog, 3)
	play := func(seed uint64) []string {
		var got []string
		w.trace = func(s string) { got = append(got, s) }
		w.reset(seed)
		w.play(100, 30, true)
		require.NoError(t, w.err)
		return got
	}
	first := play(5)
	require.NotEmpty(t, first)
	require.Equal(t, first, play(5))
	require.NotEqual(t, first, play(6))
	require.Equal(t, first, play(5))
}

func TestLogPlacement(t *testing.T) {
	l, err := NewLog(LogParams{Partitions: 4, Batch: 1, Commit: run.CommitBatch, SessionTimeout: 1, MaxPollInterval: 1})
	require.NoError(t, err)
	l.Reset(Setup{Instances: 1})
	m := l.Add(6)
	p, off := l.Placement(m)
	require.Equal(t, [2]int32{3, -1}, [2]int32{p, off}, "unpublished")
	require.False(t, l.Done(m))
	l.Publish(l.Add(2))
	l.Publish(m)
	p, off = l.Placement(m)
	require.Equal(t, [2]int32{3, 1}, [2]int32{p, off})
}
