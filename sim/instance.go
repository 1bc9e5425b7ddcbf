package sim

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// Errors the simulated stores return to strategy code.
var (
	errCrashed    = errors.New("sim: instance crashed")
	errTimeout    = fmt.Errorf("sim: call timed out: %w", strategies.ErrUnknownOutcome)
	errRefused    = errors.New("sim: connection refused: Redis is down")
	errConnClosed = errors.New("sim: connection closed after a timeout")
	errTxAborted  = errors.New("sim: transaction aborted")
)

type actKind uint8

const (
	actReceive actKind = iota + 1 // wait for the next delivery
	actCall                       // make a store call and wait for its reply
	actAck                        // ack the current delivery, then wait for the next
	actNack                       // nack the current delivery, then wait for the next
	// The log's consumer, which commits offsets and never nacks:
	actNext  // go on to the next record of the batch, committing nothing yet
	actRetry // back off, then handle the same record again
	actRedo  // the back-off is over: a new attempt at the same record
	// The relay's (outbox.go):
	actRelayIdle    // wait until woken (performRelay)
	actRelayBackoff // wait relayRetry after a failure, then go on
)

// call is one store call, kept by the world so that a request still in the
// network is served even after its instance crashed.
type call struct {
	inst  int32
	gen   uint32
	msg   uint32
	op    run.Op
	ev    strategies.Event
	ttl   int64
	tx    int32
	start int64
	// kv is the index in world.kvs of the strings of a call that has
	// some (0 for other calls): a key-value call's, a ReadProcessed's or
	// an UpdateProcessed's. They live there, so that the calls every
	// store call copies and appends stay small and hold no pointers.
	kv uint32
}

// kvCall is what a call with strings carries beyond a call: its key and
// value (a key-value call's; the state an UpdateProcessed writes), and
// aux, which is, by operation, the value a compare-and-act call compares
// with (DEL IFEQ's and SET IFEQ's token, UpdateProcessed's old state), or
// the value a read found (a GET's value, a ReadProcessed's state), kept
// for its reply. No operation needs both.
type kvCall struct {
	key, value, aux string
}

// readsValue reports whether call op answers with a value (in kvCall.aux).
func readsValue(op run.Op) bool { return op == run.Get || op == run.Read || op == run.Charge }

// reply is what a store call returns to strategy code.
type reply struct {
	ok bool
	// replayed: the provider answered a charge from its key.
	replayed bool
	err      error
	value    string // a GET's value, a ReadProcessed's state
}

// delivery is a message in an instance's inbox. On the log it also
// carries where it was read and whether it ends its batch, after which
// the consumer commits.
type delivery struct {
	msg, tag uint32
	part     int32
	offset   int32
	last     bool
}

// transitRecord is a record of the log on its way to an instance: it
// arrives at at, for incarnation gen.
type transitRecord struct {
	at  int64
	gen uint32
	d   delivery
}

// instance is one consumer instance. Its code (the consumer loop and the
// strategy) runs as a coroutine: each store call, ack and receive yields to
// the world, which decides when and how the call is answered. Only one
// coroutine runs at a time, and only when the world resumes it, so the
// interleaving is the world's alone.
type instance struct {
	w   *world
	idx int32
	gen uint32 // incarnation: bumped at every crash, so stale events are ignored
	up  bool

	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	dead  bool // the current coroutine was stopped

	act actKind
	req call // the call asked for, when act == actCall
	rep reply
	// inbox holds the deliveries that arrived, from inboxHead on; it
	// empties to its start, so that its array is reused and receiving
	// allocates nothing.
	inbox     []delivery
	inboxHead int
	cur       delivery
	attempt   int // index in history of the current attempt
	waiting   bool
	stalled   bool
	// late: its first start comes later than the others' (the
	// rebalance fault's scale-out), and is recorded.
	late bool
	// paused: the whole instance is paused (zombie), which its broker
	// hears as silence (Disconnect) until it resumes.
	paused bool
	// leaving: the instance stops gracefully at its next receive, for
	// leaveFor (the rebalance fault); leaveFor is how long it stays
	// down.
	leaving  bool
	leaveFor int64
	// committing: the log's consumer waits for its commit's reply
	// before it polls again (commitSync).
	committing bool
	// replyLost: the reply to its commit in flight will be lost.
	replyLost bool
	// With --commit auto: by partition, the last record it received,
	// and the one its auto-commit last sent; autoDue: an auto-commit is
	// scheduled.
	polled   []delivery
	autoSent []delivery
	autoDue  bool
	// The log's records on their way to it, in order (sendRecord):
	// transit from transitHead on; lastArrival is when the last arrives,
	// and lastSendAt when it was sent.
	transit     []transitRecord
	transitHead int
	lastArrival int64
	lastSendAt  int64
	callID      uint32
	pending     bool // a call is in flight
	conn        int32
	stackProbe  byte // growStack's answer, kept so that its frame is not optimised away
	handler     strategies.Handler
	// seeker is the handler as a Seeker, on a broker whose consumers
	// seek on assignment, or nil; seekParts are the partitions of its
	// assignment of generation seekGen that it has yet to seek.
	seeker    strategies.Seeker
	seekParts uint64
	seekGen   uint32
	// mem and memOther are what the instance's own memory holds
	// (simMemory): a bitset of the run's event ids, and any other id.
	mem      []uint64
	memOther map[strategies.EventID]struct{}
	// source is the transaction whose effect a publish or an outbox row
	// of the instance announces (simPublisher): its current attempt's
	// last Apply's, or, for the relay, the outbox row's it last read.
	source int32
	// The relay's (outbox.go): its relay, and whether a wake came
	// while it was busy.
	relay    strategies.Relay
	notified bool
}

// start boots a new incarnation: empty memory (its own, simMemory, and
// whatever the strategy keeps in its handler), a fresh strategy handler.
func (w *world) start(in *instance) {
	if in.up {
		return
	}
	switch {
	case in.gen > 0:
		w.rec.Add(&run.Record{At: w.now, Kind: run.Restart, Inst: in.idx})
	case in.late:
		w.rec.Add(&run.Record{At: w.now, Kind: run.Start, Inst: in.idx})
	}
	in.gen++
	in.up, in.dead, in.waiting, in.stalled, in.pending = true, false, false, false, false
	in.paused, in.leaving, in.committing, in.replyLost = false, false, false, false
	in.polled, in.autoSent, in.autoDue = in.polled[:0], in.autoSent[:0], false
	in.inbox, in.inboxHead = in.inbox[:0], 0
	in.conn = 0
	// No delivery is in hand: a memory call New makes names no message.
	in.cur = delivery{}
	in.forget()
	if w.isRelay(in) {
		w.startRelay(in)
		return
	}
	h, err := strategies.New(w.cfg.Strategy, w.deps(in))
	if err != nil {
		w.failStart(in, err)
		return
	}
	in.handler = h
	in.seeker, in.seekParts = nil, 0
	if sk, ok := h.(strategies.Seeker); ok && w.seeking != nil {
		in.seeker = sk
		w.seeking.SeekOnAssign(in.idx)
	}
	in.next, in.stop = iter.Pull(iter.Seq[struct{}](in.consume))
	if w.pull {
		// A polling consumer joins its group before its first poll.
		w.applyBroker(w.broker.Up(in.idx, in.gen))
		w.drive(in)
		return
	}
	w.drive(in)
	w.applyBroker(w.broker.Up(in.idx, in.gen))
}

// deps is what in's current incarnation builds its handler from: its
// clients of the simulated stores, its own memory, the simulated clock,
// and its identity and random source. The source is seeded from the run's root seed, the
// instance and the incarnation (run.StreamInstance), a stream no other
// draws from: a strategy's draws move nothing else in the run, and a
// restarted instance draws anew, as a restarted process would.
func (w *world) deps(in *instance) strategies.Deps {
	d := strategies.Deps{
		Marks: simMarks{in}, KV: simKV{in}, Ledger: simLedger{in}, Memory: simMemory{in}, Clock: simClock{w},
		MarkTTL: w.markTTL, Lease: 2 * w.stallUnit(),
		Instance: int(in.idx),
		Rand:     w.instanceRand(int(in.idx), in.gen),
	}
	if int(in.idx) < len(instanceNames) {
		d.Name = instanceNames[in.idx]
	}
	if w.publishes {
		d.Publisher = simPublisher{in}
	}
	if w.charges {
		// Only a strategy that says it charges gets the provider, whose
		// charges are then its effects (and only then counted).
		d.Provider = simProvider{in}
	}
	return d
}

// instanceNames are the instances' names, made once.
var instanceNames = func() (names [MaxInstances]string) {
	for i := range names {
		names[i] = "instance-" + strconv.Itoa(i)
	}
	return names
}()

// instanceRand returns instance i's random source, seeded for its
// incarnation gen. The world keeps one per instance across its runs and
// reseeds it at every start, so that starting an instance allocates
// nothing; the incarnation it served before is gone, and never draws
// again.
func (w *world) instanceRand(i int, gen uint32) *rand.Rand {
	for len(w.instRand) <= i {
		src := new(rand.PCG)
		w.instSrc = append(w.instSrc, src)
		w.instRand = append(w.instRand, rand.New(src))
	}
	w.instSrc[i].Seed(w.cfg.Seed, run.StreamInstance(i, gen))
	return w.instRand[i]
}

// failStart ends the run with err, the error of the strategy's New as in
// started (strategies.NewError): no runner can mend a strategy that does
// not build, so the run gives no verdict. The error is the strategy's
// own when the instance first starts, which fails alike on every seed;
// a New that fails only on a restart is told where, with the command
// that replays it. Emptying the queue ends the loop once the current
// event is handled; Run and RunScript then return w.err.
func (w *world) failStart(in *instance, err error) {
	in.up = false
	if in.gen > 1 {
		err = fmt.Errorf("%w (when instance %d restarted, at %v of simulated time)\nreproduce with: %s",
			err, in.idx, time.Duration(w.now), w.cfg.Reproduce())
	}
	w.err = err
	w.q.reset()
}

// consume is the consumer loop, run as the instance's coroutine: receive,
// handle, and then what its broker's consumer does after a record (next).
// On the queue: ack or nack, and receive the next delivery the broker
// pushed. On the log: after a success, commit at the end of a batch (or
// after each record) and go on; after a failure, retry the same record in
// place after a back-off; and poll for more once the batch is handled.
// Acking and waiting for the next delivery are one suspension, which saves
// a coroutine switch per delivery: the world does both in a row (perform),
// exactly as it would have with two.
func (in *instance) consume(yield func(struct{}) bool) {
	in.stackProbe = growStack(int(in.idx))
	in.yield = yield
	ctx := context.Background()
	act := actReceive
	for in.suspend(act) {
		if in.seekParts != 0 {
			in.seekAssigned(ctx)
			act = actReceive
			continue
		}
		e := in.w.events[in.w.msgs[in.cur.msg]]
		if in.cur.part != 0 {
			e.Partition, e.Offset = int(in.cur.part), int64(in.cur.offset)
		}
		out, err := in.handle(ctx, e)
		if in.dead {
			return
		}
		act = in.w.next(in, in.w.handled(in, out, err))
	}
}

// next is what the consumer does after handling the current delivery,
// with ack telling whether the outcome acks (run.Outcome.Acks).
func (w *world) next(in *instance, ack bool) actKind {
	switch {
	case !w.pull && ack:
		return actAck
	case !w.pull:
		return actNack
	case !ack:
		return actRetry
	case w.autoCommit:
		// It commits on its interval only.
		if in.cur.last || in.leaving {
			return actReceive
		}
		return actNext
	case in.cur.last || in.leaving || w.commitEach:
		// The log: commit the batch (so far), then poll; a consumer
		// about to leave commits what it handled first.
		return actAck
	}
	return actNext
}

// seekingModel is a broker model whose consumers may seek on assignment
// (broker.Log): a Seeker strategy's consumer reads where each partition
// it is assigned should start from its own store, as a Kafka consumer's
// rebalance listener does, before it fetches.
type seekingModel interface {
	SeekOnAssign(inst int32)
	Seek(inst, part, next int32, gen uint32) []broker.Effect
	Sought(inst int32, gen uint32) []broker.Effect
	Committed(part int32) int32
	RecordAt(part, off int32) (uint32, bool)
}

// assigned: the broker's assignment e reached its member. A consumer that
// seeks has the partitions to seek, and one idle in its poll is resumed to
// seek them (evSeek), the assignment held until it has (broker.Log).
func (w *world) assigned(e *broker.Effect) {
	in := w.insts[e.Inst]
	if in.seeker == nil || !in.up {
		return
	}
	in.seekParts, in.seekGen = e.Parts, e.Tag
	if in.waiting {
		w.at(0, event{kind: evSeek, inst: in.idx, gen: in.gen})
	}
}

// seekDue: instance e.inst, idle in its poll, was assigned partitions to
// seek: it is resumed to seek them.
func (w *world) seekDue(e event) {
	in := w.insts[e.inst]
	if !in.up || in.gen != e.gen || !in.waiting || in.seekParts == 0 || in.stalled || in.paused {
		return
	}
	in.waiting = false
	w.drive(in)
}

// seekAssigned seeks each partition of the instance's assignment to the
// offset its strategy stored (strategies.Seeker), then tells the broker
// it is done. A partition whose stored offset cannot be read (the store
// failed or timed out) starts where the group committed, as if none was
// stored. It runs in the coroutine, between deliveries: no delivery is in
// hand, and its store calls name none.
func (in *instance) seekAssigned(ctx context.Context) {
	w := in.w
	parts, gen := in.seekParts, in.seekGen
	in.seekParts = 0
	in.cur = delivery{}
	for p := int32(0); parts != 0; p++ {
		if parts&(1<<p) == 0 {
			continue
		}
		parts &^= 1 << p
		next, ok, err := in.seeker.Seek(ctx, int(p+1))
		if in.dead {
			return
		}
		if err == nil && ok {
			fx := w.seeking.Seek(in.idx, p+1, int32(next), gen)
			sought := len(fx) > 0
			w.applyBroker(fx)
			if sought {
				w.commitSought(in, p+1, int32(next), gen)
			}
		}
		if in.seekParts != 0 {
			return // assigned anew meanwhile: seek that instead
		}
	}
	w.applyBroker(w.seeking.Sought(in.idx, gen))
}

// commitSought commits the position in partition part that the consumer
// sought to, next, if it is past the group's committed offset (which the
// client fetched with its assignment), without waiting for the reply
// (commitAsync): so the group's offset agrees with the store's. Without
// it, a partition with nothing more to read would stay behind for good,
// its records applied but never done by the group's count. Cut off from
// the broker, the commit is lost. Its evAckArr carries gen 0, no
// incarnation's: its reply is no reply the consumer waits for.
func (w *world) commitSought(in *instance, part, next int32, gen uint32) {
	if next <= w.seeking.Committed(part) {
		return
	}
	m, ok := w.seeking.RecordAt(part, next-1)
	if !ok {
		return
	}
	rec := run.Record{At: w.now, Kind: run.AckSend, Inst: in.idx, Msg: m, Event: uint32(w.msgs[m]), Tag: gen}
	w.rec.Add(&rec)
	if w.cut(in.idx, run.Broker) {
		rec.Kind = run.AckLost
		w.rec.Add(&rec)
		return
	}
	w.at(w.latency(), event{kind: evAckArr, inst: in.idx, a: m, b: gen, c: w.now})
}

// coroutineStack is the stack a coroutine grows to at once, when it
// starts (growStack), rather than later, from the runtime's 2 KB, in the
// middle of a store call: a stack grown then is copied with every frame
// of the handler on it walked and adjusted, which cost a run of the log 4%
// of its instructions (one growth per incarnation). Grown while nearly
// empty, it costs half as much. 8 KB is enough for the built-in
// strategies; a deeper one grows again, as any goroutine would.
const coroutineStack = 8 << 10

// growStack makes the calling goroutine's stack coroutineStack bytes at
// once: its frame, three quarters of that, does not fit in the runtime's
// first stack, which doubles until it does.
//
//go:noinline
func growStack(i int) byte {
	var frame [coroutineStack * 3 / 4]byte
	// Which byte is written and read depends on i, which the compiler
	// cannot know, so the frame is kept; what it returns goes to the
	// instance (stackProbe), not to a variable that runs share.
	frame[i%len(frame)] = 1
	return frame[len(frame)-1-i%len(frame)]
}

// strategyPanic is a panic of a strategy's code, carried out of the
// instance's coroutine to Run, which reports it as an error: a user's
// strategy that panics is a bug to show, not a crash of the tool.
type strategyPanic struct {
	value any
	stack []byte
	inst  int32
	event strategies.EventID
}

// handle runs the strategy on e, turning a panic into a strategyPanic.
func (in *instance) handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	defer func() {
		if r := recover(); r != nil {
			panic(strategyPanic{value: r, stack: debug.Stack(), inst: in.idx, event: e.ID})
		}
	}()
	return in.handler.Handle(ctx, e)
}

// suspend hands act to the world and waits to be resumed. It reports false
// once the instance has crashed: the coroutine must then unwind.
func (in *instance) suspend(act actKind) bool {
	if in.dead {
		return false
	}
	in.act = act
	if !in.yield(struct{}{}) {
		in.dead = true
	}
	return !in.dead
}

// do makes a store call from strategy code.
func (in *instance) do(c call) reply {
	c.inst, c.gen, c.msg = in.idx, in.gen, in.cur.msg
	in.req = c
	if !in.suspend(actCall) {
		return reply{err: errCrashed}
	}
	return in.rep
}

// drive resumes in and carries out what it asks for, until it waits.
func (w *world) drive(in *instance) {
	for {
		in.next()
		if in.dead || !w.perform(in, true) {
			return
		}
	}
}

// perform carries out the action in.act. It reports whether the coroutine
// can be resumed at once (in.rep holds its answer). Faults strike here, at
// every step of handling: before it (crash, stall) or just after it was sent
// (crash with the call in flight).
func (w *world) perform(in *instance, mayFault bool) bool {
	switch in.act {
	case actReceive, actNext:
		if in.leaving {
			w.leave(in)
			return false
		}
		if in.seekParts != 0 {
			// Assigned, it seeks before it fetches: resume it.
			in.waiting = false
			return true
		}
		if in.inboxHead == len(in.inbox) {
			in.waiting = true
			if w.pull && in.act == actReceive && !in.committing {
				w.applyBroker(w.broker.Fetch(in.idx))
			}
			return false
		}
		w.receive(in)
		return true
	case actRetry:
		// The log's consumer backs off, then handles the record
		// again: like receiving, no fault point. One about to leave
		// leaves it uncommitted.
		if in.leaving {
			w.leave(in)
			return false
		}
		in.act = actRedo
		in.stalled = true
		w.at(int64(broker.DefaultNackRetry), event{kind: evStallEnd, inst: in.idx, gen: in.gen})
		return false
	case actRedo:
		w.redo(in)
		return true
	case actRelayIdle, actRelayBackoff:
		return w.performRelay(in)
	}
	// The injector decides each fault at this step, from the fault's own
	// stream; a decision of the run's drop set (Config.Drop) makes the
	// draws of its strike and carries out nothing.
	crashAfter := faults.Spare
	if mayFault && !w.healed {
		if w.p.CrashPerStep > 0 {
			if v := w.inj.Randomly(faults.Crash, w.p.CrashPerStep); v.Hit() {
				if w.rnd(faults.Crash).IntN(2) != 0 {
					crashAfter = v
				} else if w.crash(in, false, v == faults.Dropped) {
					return false
				}
			}
		}
		if w.p.SlowPerStep > 0 {
			if v := w.inj.Randomly(faults.Slow, w.p.SlowPerStep); v == faults.Strike {
				d := int64(float64(w.stallUnit()) * w.p.SlowFactor)
				w.rec.Injected(faults.Slow, 1)
				w.rec.Add(&run.Record{At: w.now, Kind: run.Stall, Inst: in.idx, Msg: in.cur.msg, Event: uint32(w.curEvent(in)), Dur: d})
				in.stalled = true
				w.at(d, event{kind: evStallEnd, inst: in.idx, gen: in.gen})
				return false
			}
		}
		if w.p.PausePerStep > 0 {
			if v := w.inj.Randomly(faults.Zombie, w.p.PausePerStep); v == faults.Strike {
				w.pause(in, int64(float64(w.broker.Liveness())*w.p.PauseFactor))
				return false
			}
		}
	}
	var resumeNow bool
	switch in.act {
	case actCall:
		resumeNow = w.send(in)
		if !resumeNow && mayFault && !w.healed && w.p.PartitionPerStep > 0 {
			if v := w.inj.Randomly(faults.Partition, w.p.PartitionPerStep); v.Hit() {
				r := w.rnd(faults.Partition)
				d := run.UniformDur(r, w.p.PartitionMin, w.p.PartitionMax)
				if v == faults.Strike {
					w.cutOff(in.idx, in.req.op.Store(), d)
				}
			}
		}
	case actAck, actNack:
		w.sendAck(in, in.act == actAck)
		resumeNow = true
	}
	if crashAfter.Hit() && w.crash(in, true, crashAfter == faults.Dropped) {
		return false
	}
	if in.act != actCall {
		// acked or nacked: wait for the next delivery, with no fault
		// point in between, as receiving has none.
		in.act = actReceive
		return w.perform(in, mayFault)
	}
	return resumeNow
}

func (w *world) curEvent(in *instance) strategies.EventID {
	return w.msgs[in.cur.msg]
}

// receive hands the oldest delivery of the inbox to the coroutine: an
// attempt starts.
func (w *world) receive(in *instance) {
	in.waiting = false
	in.cur = in.inbox[in.inboxHead]
	if in.inboxHead++; in.inboxHead == len(in.inbox) {
		in.inbox, in.inboxHead = in.inbox[:0], 0
	}
	ev := w.curEvent(in)
	if w.rec.On() {
		w.rec.Add(&run.Record{At: w.now, Kind: run.Receive, Inst: in.idx, Msg: in.cur.msg, Event: uint32(ev), Tag: in.cur.tag, Part: in.cur.part, Count: in.cur.offset})
	}
	in.attempt = w.rec.BeginAttempt(in.idx, uint32(ev), w.now)
	in.source = 0
}

// redo starts a new attempt at the delivery in hand: the log's consumer
// retries a record that failed, in place.
func (w *world) redo(in *instance) {
	ev := w.curEvent(in)
	if w.rec.On() {
		w.rec.Add(&run.Record{At: w.now, Kind: run.Receive, Inst: in.idx, Msg: in.cur.msg, Event: uint32(ev), Tag: in.cur.tag, Part: in.cur.part, Count: in.cur.offset})
	}
	in.attempt = w.rec.BeginAttempt(in.idx, uint32(ev), w.now)
	in.source = 0
}

// handled records the end of an attempt.
// It reports whether the instance acks the delivery: after Applied,
// Skipped or Dropped (nothing done, acked all the same); after an error or
// RetryLater it nacks. An outcome that is none of these, with no error, is
// the strategy's bug: it counts as an error, the effect's outcome unknown
// (run.OutcomeOf).
func (w *world) handled(in *instance, out strategies.Outcome, err error) (ack bool) {
	o := run.OutcomeOf(out, err)
	w.rec.EndAttempt(in.attempt, o, w.now)
	if w.rec.On() {
		w.rec.Add(&run.Record{At: w.now, Kind: run.Handled, Inst: in.idx, Msg: in.cur.msg, Event: uint32(w.curEvent(in)), Outcome: o})
	}
	return o.Acks()
}

func (w *world) deliverArrive(e event) {
	in := w.insts[e.inst]
	m := uint32(e.a)
	if !in.up || in.gen != e.gen {
		w.rec.Add(&run.Record{At: w.now, Kind: run.DeliverDrop, Inst: e.inst, Msg: m, Event: uint32(w.msgs[m]), Tag: e.b})
		return
	}
	w.deliveries++
	in.inbox = append(in.inbox, delivery{msg: m, tag: uint32(e.b)})
	if in.waiting {
		w.receive(in)
		w.drive(in)
	}
}

func (w *world) sendAck(in *instance, ack bool) {
	msg := in.cur.msg
	ev := w.curEvent(in)
	if !ack {
		w.rec.Add(&run.Record{At: w.now, Kind: run.Nack, Inst: in.idx, Msg: msg, Event: uint32(ev), Tag: in.cur.tag})
		if !w.cut(in.idx, run.Broker) {
			w.at(w.latency(), event{kind: evNackArr, a: uint32(msg), b: uint32(in.cur.tag)})
		}
		return
	}
	if w.rec.On() {
		w.rec.Add(&run.Record{At: w.now, Kind: run.AckSend, Inst: in.idx, Msg: msg, Event: uint32(ev), Tag: in.cur.tag})
	}
	if w.pull {
		w.sendCommit(in, msg, ev)
		return
	}
	lost := w.cut(in.idx, run.Broker)
	if !lost && !w.healed && w.rAckLoss.Float64() < w.p.AckLoss {
		lost = true
		w.rec.LostAck()
	}
	if lost {
		w.rec.Add(&run.Record{At: w.now, Kind: run.AckLost, Inst: in.idx, Msg: msg, Event: uint32(ev), Tag: in.cur.tag})
		if !w.cut(in.idx, run.Broker) {
			// The network lost an ack on a link that is up: to a
			// broker that acks over a connection (RabbitMQ), that is
			// the connection breaking and the client reconnecting. A
			// cut told the broker already (Disconnect); a queue with
			// an ack deadline hears of neither.
			w.applyBroker(w.broker.Disconnect(in.idx))
			w.applyBroker(w.broker.Reconnect(in.idx))
		}
		return
	}
	w.at(w.latency(), event{kind: evAckArr, inst: in.idx, gen: in.gen, a: uint32(msg), b: uint32(in.cur.tag), c: w.now})
}

// sendCommit sends the log consumer's commit of the record in hand. It
// commits synchronously (commitSync): it polls again once the reply is
// back (evAckArr, then evFetch). Over a connection that is up a request
// is not lost (TCP resends it), but its reply may be: the commit takes
// effect, the consumer gives up waiting after the call timeout and polls
// (the broker's ordinary loss, raised by redeliver: "lost commit
// replies"). With no connection (cut off from the broker) the request
// never leaves: it times out and is sent again, until it gets through.
func (w *world) sendCommit(in *instance, msg uint32, ev strategies.EventID) {
	in.committing = true
	rec := run.Record{At: w.now, Kind: run.AckLost, Inst: in.idx, Msg: msg, Event: uint32(ev), Tag: in.cur.tag}
	if w.cut(in.idx, run.Broker) {
		w.rec.Add(&rec)
		w.at(int64(callTimeout), event{kind: evFetch, inst: in.idx, gen: in.gen, a: 1})
		return
	}
	in.replyLost = !w.healed && w.rAckLoss.Float64() < w.p.AckLoss
	if in.replyLost {
		w.rec.LostAck()
		rec.Cause = run.ReplyLost
		w.rec.Add(&rec)
		w.at(int64(callTimeout), event{kind: evFetch, inst: in.idx, gen: in.gen})
	}
	w.at(w.latency(), event{kind: evAckArr, inst: in.idx, gen: in.gen, a: uint32(msg), b: uint32(in.cur.tag), c: w.now})
}

// commitReplied: the reply to in's commit is back, and a consumer waiting
// for it polls; or (e.a set) the commit timed out, and it commits again.
func (w *world) commitReplied(e event) {
	in := w.insts[e.inst]
	if !in.up || in.gen != e.gen || !in.committing {
		return
	}
	if e.a == 1 {
		w.sendAck(in, true) // the commit timed out: again
		return
	}
	in.committing, in.replyLost = false, false
	if in.waiting && in.inboxHead == len(in.inbox) && !in.leaving {
		w.applyBroker(w.broker.Fetch(in.idx))
	}
}

// received notes that in received record d (--commit auto), and makes
// sure an auto-commit is due within the interval.
func (w *world) received(in *instance, d delivery) {
	for int(d.part) >= len(in.polled) {
		in.polled = append(in.polled, delivery{})
		in.autoSent = append(in.autoSent, delivery{})
	}
	in.polled[d.part] = d
	if !in.autoDue {
		in.autoDue = true
		w.at(int64(broker.AutoCommitInterval), event{kind: evAutoCommit, inst: in.idx, gen: in.gen})
	}
}

// autoCommitTick is an auto-commit falling due: the consumer commits what
// it received since the last (unless the whole process is paused, or
// what it sent could not leave: then at the next tick).
func (w *world) autoCommitTick(e event) {
	in := w.insts[e.inst]
	if !in.up || in.gen != e.gen {
		return
	}
	in.autoDue = false
	if in.paused || !w.autoCommitNow(in) {
		in.autoDue = true
		w.at(int64(broker.AutoCommitInterval), event{kind: evAutoCommit, inst: in.idx, gen: in.gen})
	}
}

// autoCommitNow sends, for each partition in has received records of
// since its last auto-commit, a commit of the last of them, handled or
// not. It reports false if a commit could not leave (in is cut off from
// the broker).
func (w *world) autoCommitNow(in *instance) bool {
	for p := range in.polled {
		d := in.polled[p]
		if d.msg == 0 || in.autoSent[p] == d {
			continue // nothing received since, in this generation
		}
		ev := w.msgs[d.msg]
		rec := run.Record{At: w.now, Kind: run.AckSend, Inst: in.idx, Msg: d.msg, Event: uint32(ev), Tag: d.tag}
		w.rec.Add(&rec)
		if w.cut(in.idx, run.Broker) {
			rec.Kind = run.AckLost
			w.rec.Add(&rec)
			return false
		}
		in.autoSent[p] = d
		w.at(w.latency(), event{kind: evAckArr, inst: in.idx, gen: in.gen, a: d.msg, b: d.tag, c: w.now})
	}
	return true
}

// pause stops the whole instance for d (the zombie fault): no progress,
// and no heartbeat, which its broker hears as a disconnection unless a
// partition already cut it off. It resumes where it was (evStallEnd, with
// a set).
func (w *world) pause(in *instance, d int64) {
	w.rec.Injected(faults.Zombie, 1)
	w.rec.Add(&run.Record{At: w.now, Kind: run.Stall, Inst: in.idx, Msg: in.cur.msg, Event: uint32(w.curEvent(in)), Dur: d, Cause: run.Paused})
	in.stalled, in.paused = true, true
	if !w.cut(in.idx, run.Broker) && !w.isRelay(in) {
		w.applyBroker(w.broker.Disconnect(in.idx))
	}
	w.at(d, event{kind: evStallEnd, inst: in.idx, gen: in.gen, a: 1})
}

// stallEnd ends a stall or a pause of in (e.a set: a pause): it goes on
// with the step it stopped before.
func (w *world) stallEnd(e event) {
	in := w.insts[e.inst]
	if !in.up || in.gen != e.gen {
		return
	}
	in.stalled = false
	if e.a == 1 {
		in.paused = false
		if !w.cut(in.idx, run.Broker) && !w.isRelay(in) {
			w.applyBroker(w.broker.Reconnect(in.idx))
		}
	}
	if w.perform(in, false) {
		w.drive(in)
	}
}

// leaveAt makes in stop gracefully now, or if it is busy, once it has
// handled, and acked or committed, what it holds (the rebalance fault),
// for down.
func (w *world) leaveAt(in *instance, down int64) {
	if !in.up || in.leaving {
		return
	}
	w.rec.Injected(faults.Rebalance, 1)
	in.leaving, in.leaveFor = true, down
	if in.waiting && !in.stalled {
		w.leave(in)
	}
}

// leave stops in gracefully: its coroutine ends, unlike a crash with
// nothing half done, and what it holds but has not started goes back to
// its broker (broker.Model.Leave says when the broker hears of it), and it
// starts again, a new process with empty memory, after in.leaveFor.
func (w *world) leave(in *instance) {
	if !w.pull {
		// The log records the leave itself, as its group sees it.
		w.rec.Add(&run.Record{At: w.now, Kind: run.Leave, Inst: in.idx, Cause: run.Graceful})
	}
	in.up, in.leaving, in.waiting = false, false, false
	in.dead = true
	in.stop()
	if in.conn != 0 {
		w.closeDB(in.idx, in.conn)
		in.conn = 0
	}
	if !w.pull {
		// A pushing broker stops sending at once (the consumer's
		// cancel); its connection closes once its last ack is in.
		w.applyBroker(w.broker.Leave(in.idx))
	}
	w.at(int64(latencyMax)+1, event{kind: evLeaveArr, inst: in.idx})
	w.at(in.leaveFor, event{kind: evRestart, inst: in.idx})
}

// crash kills the current incarnation: its coroutine unwinds, its memory is
// gone, and it restarts later. Requests it already sent still arrive. A
// dropped crash draws its restart's delay and does nothing. It reports
// whether the instance crashed.
func (w *world) crash(in *instance, inFlight, dropped bool) bool {
	if dropped {
		run.UniformDur(w.rnd(faults.Crash), w.p.RestartMin, w.p.RestartMax)
		return false
	}
	w.rec.Injected(faults.Crash, 1)
	rec := run.Record{At: w.now, Kind: run.Crash, Inst: in.idx, Msg: in.cur.msg, Event: uint32(w.curEvent(in)), InFlight: inFlight}
	switch in.act {
	case actCall:
		rec.Step, rec.Op = run.AtCall, in.req.op
		if inFlight && in.pending {
			rec.Call = in.callID
		}
	case actAck:
		rec.Step = run.AtAck
	case actNack:
		rec.Step = run.AtNack
	}
	w.rec.Add(&rec)
	in.up = false
	if !w.isRelay(in) {
		w.applyBroker(w.broker.Down(in.idx))
	}
	in.dead = true
	in.stop()
	if in.conn != 0 {
		w.closeDB(in.idx, in.conn)
		in.conn = 0
	}
	r := w.rnd(faults.Crash)
	w.at(run.UniformDur(r, w.p.RestartMin, w.p.RestartMax), event{kind: evRestart, inst: in.idx})
	return true
}
