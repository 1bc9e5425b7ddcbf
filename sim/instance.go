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
func readsValue(op run.Op) bool { return op == run.Get || op == run.Read }

// reply is what a store call returns to strategy code.
type reply struct {
	ok    bool
	err   error
	value string // a GET's value, a ReadProcessed's state
}

// delivery is a message in an instance's inbox.
type delivery struct {
	msg, tag uint32
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

	act     actKind
	req     call // the call asked for, when act == actCall
	rep     reply
	inbox   []delivery
	cur     delivery
	attempt int // index in history of the current attempt
	waiting bool
	stalled bool
	callID  uint32
	pending bool // a call is in flight
	conn    int32
	handler strategies.Handler
	// mem and memOther are what the instance's own memory holds
	// (simMemory): a bitset of the run's event ids, and any other id.
	mem      []uint64
	memOther map[strategies.EventID]struct{}
}

// start boots a new incarnation: empty memory (its own, simMemory, and
// whatever the strategy keeps in its handler), a fresh strategy handler.
func (w *world) start(in *instance) {
	if in.up {
		return
	}
	if in.gen > 0 {
		w.rec.Add(&run.Record{At: w.now, Kind: run.Restart, Inst: in.idx})
	}
	in.gen++
	in.up, in.dead, in.waiting, in.stalled, in.pending = true, false, false, false, false
	in.inbox = in.inbox[:0]
	in.conn = 0
	// No delivery is in hand: a memory call New makes names no message.
	in.cur = delivery{}
	in.forget()
	h, err := strategies.New(w.cfg.Strategy, w.deps(in))
	if err != nil {
		w.failStart(in, err)
		return
	}
	in.handler = h
	in.next, in.stop = iter.Pull(iter.Seq[struct{}](in.consume))
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
	return strategies.Deps{
		Marks: simMarks{in}, KV: simKV{in}, Ledger: simLedger{in}, Memory: simMemory{in}, Clock: simClock{w},
		MarkTTL: w.markTTL, Lease: 2 * w.ackDeadline(),
		Instance: int(in.idx), Name: instanceNames[in.idx],
		Rand: w.instanceRand(int(in.idx), in.gen),
	}
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
// handle, ack or nack, forever, which is what the queue always answers when
// the consumer asks its broker model what to do next (package broker's
// doc). Acking and waiting for the next delivery
// are one suspension, which saves a coroutine switch per delivery: the world
// does both in a row (perform), exactly as it would have with two.
func (in *instance) consume(yield func(struct{}) bool) {
	in.yield = yield
	ctx := context.Background()
	act := actReceive
	for in.suspend(act) {
		e := in.w.events[in.w.msgs[in.cur.msg]]
		out, err := in.handle(ctx, e)
		if in.dead {
			return
		}
		act = actNack
		if in.w.handled(in, out, err) {
			act = actAck
		}
	}
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
	if in.act == actReceive {
		if len(in.inbox) == 0 {
			in.waiting = true
			return false
		}
		w.receive(in)
		return true
	}
	crashAfter := false
	if mayFault && !w.healed {
		if w.p.CrashPerStep > 0 {
			r := w.rnd(faults.Crash)
			if r.Float64() < w.p.CrashPerStep {
				if r.IntN(2) == 0 {
					w.crash(in, false)
					return false
				}
				crashAfter = true
			}
		}
		if w.p.SlowPerStep > 0 {
			r := w.rnd(faults.Slow)
			if r.Float64() < w.p.SlowPerStep {
				d := int64(float64(w.ackDeadline()) * w.p.SlowFactor)
				w.rec.Injected(faults.Slow, 1)
				w.rec.Add(&run.Record{At: w.now, Kind: run.Stall, Inst: in.idx, Msg: in.cur.msg, Event: uint32(w.curEvent(in)), Dur: d})
				in.stalled = true
				w.at(d, event{kind: evStallEnd, inst: in.idx, gen: in.gen})
				return false
			}
		}
	}
	var resumeNow bool
	switch in.act {
	case actCall:
		resumeNow = w.send(in)
		if !resumeNow && mayFault && !w.healed && w.p.PartitionPerStep > 0 {
			if r := w.rnd(faults.Partition); r.Float64() < w.p.PartitionPerStep {
				w.cutOff(in.idx, in.req.op.Store(), run.UniformDur(r, w.p.PartitionMin, w.p.PartitionMax))
			}
		}
	case actAck, actNack:
		w.sendAck(in, in.act == actAck)
		resumeNow = true
	}
	if crashAfter {
		w.crash(in, true)
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
	in.cur = in.inbox[0]
	in.inbox = in.inbox[1:]
	ev := w.curEvent(in)
	if w.rec.On() {
		w.rec.Add(&run.Record{At: w.now, Kind: run.Receive, Inst: in.idx, Msg: in.cur.msg, Event: uint32(ev), Tag: in.cur.tag})
	}
	in.attempt = w.rec.BeginAttempt(in.idx, uint32(ev), w.now)
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
	w.at(w.latency(), event{kind: evAckArr, inst: in.idx, a: uint32(msg), b: uint32(in.cur.tag), c: w.now})
}

// crash kills the current incarnation: its coroutine unwinds, its memory is
// gone, and it restarts later. Requests it already sent still arrive.
func (w *world) crash(in *instance, inFlight bool) {
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
	w.applyBroker(w.broker.Down(in.idx))
	in.dead = true
	in.stop()
	if in.conn != 0 {
		w.closeDB(in.idx, in.conn)
		in.conn = 0
	}
	r := w.rnd(faults.Crash)
	w.at(run.UniformDur(r, w.p.RestartMin, w.p.RestartMax), event{kind: evRestart, inst: in.idx})
}
