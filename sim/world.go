package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// Timing of the simulated world. They are part of the determinism contract:
// changing one changes every trace.
const (
	callTimeout    = 1 * time.Second        // a store call with no reply by then has an unknown outcome
	latencyMin     = 200 * time.Microsecond // one-way network latency, uniform
	latencyMax     = 1 * time.Millisecond   //
	healMargin     = 2 * time.Second        // the safety phase ends this long after the last publish
	livenessBound  = 120 * time.Second      // after healing, every event must settle within this
	redisDownMin   = 100 * time.Millisecond // a Redis restart or failover refuses calls this long
	redisDownMax   = 1 * time.Second        //
	defaultMarkTTL = 24 * time.Hour         // Redis marks live this long unless ttl shortens them
	maxSteps       = 50_000_000             // bound on the events of one run; reaching it is a bug
)

// stallUnit is the time a slow handler's stall and a strategy's lease are
// measured against: the broker's (broker.Model.Stall), the queue's ack
// deadline or the log's max-poll interval.
func (w *world) stallUnit() time.Duration { return w.broker.Stall() }

// window is a partition: from start to end, instance cannot reach mask.
type window struct {
	start, end int64
	mask       run.Stores
}

// world is one simulated run: every component's state and the event queue.
type world struct {
	cfg    Config
	p      faults.Params
	now    int64
	q      eventQueue
	healed bool
	healAt int64

	// One random stream per component (run's stream numbers), and the
	// faults' injector, which holds one per fault.
	src                     []rand.PCG
	rBroker, rNet, rAckLoss *rand.Rand
	// rProvider is the payment provider's stream (run.StreamProvider):
	// its 5xx answers and processing delays.
	rProvider *rand.Rand
	inj       faults.Injector
	// wlDecisions are the workload's fault decisions (its extra copies),
	// which come first in the Result's.
	wlDecisions, made []faults.Decision
	// instSrc and instRand are each instance's random source for its
	// strategy (instanceRand), kept from run to run.
	instSrc  []*rand.PCG
	instRand []*rand.Rand

	// instPool holds the instances, kept from run to run with their
	// buffers (makeInstances); insts are this run's.
	instPool []*instance
	// txs are the run's transaction handles (simLedger.Begin).
	txs txSlab
	// wl is the run's workload, redrawn into the same arrays run after run.
	wl     run.Workload
	events []strategies.Event // by event id; index 0 unused
	// msgs is the event of each message, by message id; index 0 unused.
	// The world numbers the messages and tells the broker (broker.Add).
	msgs []strategies.EventID
	// broker is the run's broker model: it decides, the world carries
	// out (applyBroker). models keeps one of each kind, by name, from
	// run to run, so that a sweep reuses their buffers. pull says that
	// the model's consumers poll (broker.Description.Pull): an instance
	// that has handled all it was sent calls Fetch.
	broker broker.Model
	models map[string]broker.Model
	pull   bool
	// seeking is the broker model as one whose consumers may seek on
	// assignment (the log), or nil.
	seeking seekingModel
	// commitEach: the log's consumer commits after every record, not
	// only at the end of a batch (run.CommitRecord).
	commitEach bool
	// autoCommit: the log's consumer commits on an interval what it has
	// received, not after processing (run.CommitAuto).
	autoCommit bool
	insts      []*instance
	windows    [][]window // partition windows per instance
	calls      []call     // every store call, by call id; index 0 unused
	kvs        []kvCall   // the strings of key-value calls, by call.kv; index 0 unused
	redis      redis
	db         sqlDB
	prov       provider // the payment provider
	// charges: the run's strategy charges the provider
	// (strategies.NeedsProvider), whose charges are its effects.
	charges bool
	// publishes: the run's strategy sends events on
	// (strategies.NeedsPublisher): the run has a downstream topic and
	// consumer (down); relays: it has an outbox relay too, the instance
	// after the consumers (outbox.go).
	publishes, relays bool
	down              downstream
	markTTL           time.Duration
	rec               run.Recorder // the trace, the history and the injected faults

	deliveries int
	// err ends the run with no verdict: a strategy's New failed
	// (failStart).
	err error
}

// worlds keeps finished worlds so that a sweep of thousands of runs reuses
// their buffers instead of allocating them anew.
var worlds = sync.Pool{New: func() any { return new(world) }}

// newWorld returns a world set up for cfg, reusing a pooled one. Everything a
// run reads is reset here, so a reused world runs exactly as a new one would
// (the determinism test runs seeds in interleaved orders to guard it).
func newWorld(cfg Config) *world {
	w := worlds.Get().(*world)
	seed := cfg.Seed
	n := cfg.Events
	w.cfg = cfg
	w.p = faults.Draw(cfg.Faults, seed)
	w.now, w.healed, w.healAt = 0, false, 0
	w.q.reset()
	w.seedStreams(seed)
	w.markTTL = defaultMarkTTL
	if w.p.MarkTTL > 0 {
		w.markTTL = w.p.MarkTTL
	}
	if cfg.MarkTTL > 0 {
		w.markTTL = cfg.MarkTTL
	}
	w.events = resize(w.events, n+1)
	w.useModel(cfg)
	w.broker.Reset(broker.Setup{Instances: cfg.Instances, Pick: w.rBroker})
	w.msgs = append(w.msgs[:0], 0)
	w.insts, w.windows = nil, resize(w.windows, 0)
	w.calls = append(w.calls[:0], call{})
	w.txs.n = 0
	clear(w.kvs)
	w.kvs = append(w.kvs[:0], kvCall{})
	w.redis.init(n)
	w.db.init(n)
	w.db.strs = &w.kvs
	st, _ := strategies.Lookup(cfg.Strategy)
	w.charges = st.Needs.Has(strategies.NeedsProvider)
	if w.charges {
		retention := strategies.DefaultKeyRetention
		if w.p.KeyRetention > 0 {
			retention = w.p.KeyRetention
		}
		w.prov.init(n, retention)
	}
	w.publishes = st.Needs.Has(strategies.NeedsPublisher)
	w.relays = st.Relay != nil && w.publishes
	if w.publishes {
		w.resetDownstream(cfg)
	}
	w.rec.Reset(cfg)
	w.deliveries = 0
	w.err = nil
	return w
}

// release returns w to the pool. Nothing of it may be used afterwards.
func (w *world) release() {
	w.insts = nil
	worlds.Put(w)
}

// seedStreams derives every component's random stream from the root seed,
// with run's stream numbers, and readies the injector, whose faults draw
// from run.StreamFaultRuntime.
func (w *world) seedStreams(seed uint64) {
	if len(w.src) != 4 {
		w.src = make([]rand.PCG, 4)
		w.rBroker, w.rNet, w.rAckLoss = rand.New(&w.src[0]), rand.New(&w.src[1]), rand.New(&w.src[2])
		w.rProvider = rand.New(&w.src[3])
	}
	w.src[0].Seed(seed, run.StreamBroker)
	w.src[1].Seed(seed, run.StreamNetwork)
	w.src[2].Seed(seed, run.StreamAckLoss)
	w.src[3].Seed(seed, run.StreamProvider)
	w.inj.Reset(seed, run.StreamFaultRuntime, w.cfg.Drop)
}

// resize returns s with length n and every element zero, reusing its array
// when it is large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// useModel makes the model cfg names the run's broker, configured with
// cfg's parameters, reusing the one this world kept of it.
func (w *world) useModel(cfg Config) {
	d, ok := broker.Lookup(cfg.BrokerModel)
	if !ok {
		panic("sim: invariant broken: a validated config names an unknown broker: " + cfg.BrokerModel)
	}
	m := w.models[d.Name]
	if m == nil {
		if w.models == nil {
			w.models = make(map[string]broker.Model)
		}
		m = d.New()
		w.models[d.Name] = m
	}
	if err := m.Configure(cfg.Broker); err != nil {
		panic("sim: invariant broken: a validated config's broker parameters are invalid: " + err.Error())
	}
	w.broker, w.pull = m, d.Pull
	w.seeking, _ = m.(seekingModel)
	w.commitEach = cfg.Broker.Commit == run.CommitRecord
	w.autoCommit = d.Pull && cfg.Broker.Commit == run.CommitAuto
}

// addMessage adds a message carrying a copy of ev and returns its id, the
// broker's number for it.
func (w *world) addMessage(ev strategies.EventID) uint32 {
	m := w.broker.Add(uint32(w.events[ev].Account))
	w.msgs = append(w.msgs, ev)
	if int(m) != len(w.msgs)-1 {
		panic("sim: invariant broken: the broker numbers messages apart from the world")
	}
	return m
}

// number is the number of the event e is a copy of
// (run.Workload.Number): its id, unless the run reuses ids.
func (w *world) number(e strategies.Event) strategies.EventID {
	if w.db.reused == nil {
		return e.ID
	}
	return w.db.reused.Number(e)
}

// reusedID makes rec, the Publish record of a copy of e, say e's id if it
// is not e's number: id-reuse gave e an earlier event's id.
func reusedID(rec *run.Record, e strategies.Event) {
	if uint32(e.ID) != rec.Event {
		rec.Value = strconv.FormatUint(uint64(e.ID), 10)
	}
}

// applyBroker carries out the broker's effects, in the order it decided
// them: records, timers, deliveries over the network, and accepted acks
// for the history. A timer goes into its FIFO lane: a model's timers of
// one kind all have the same delay (broker.Timer).
func (w *world) applyBroker(fx []broker.Effect) {
	for i := range fx {
		e := &fx[i]
		switch e.Kind {
		case broker.Record:
			if w.rec.On() {
				rec := run.Record{At: w.now, Kind: e.Record, Inst: e.Inst, Msg: e.Msg, Event: uint32(w.msgs[e.Msg]), Tag: e.Tag, Cause: e.Cause, Part: e.Part, Count: e.Offset}
				if e.Record == run.Assign {
					rec.Key = partList(e.Parts)
				}
				if w.db.reused != nil && e.Record == run.Publish {
					reusedID(&rec, w.events[w.msgs[e.Msg]])
				}
				w.rec.Add(&rec)
			}
			if e.Record == run.Assign {
				w.assigned(e)
			}
		case broker.Arm:
			ev := event{at: w.now + int64(e.After), kind: evTimer, a: e.Msg, b: e.Tag, c: int64(e.Timer)}
			if l := laneOf(e.Timer); l >= 0 {
				w.q.pushLane(l, ev)
			} else {
				w.q.push(ev)
			}
		case broker.Send:
			if e.After > 0 {
				w.q.pushLane(laneDeadline, event{at: w.now + int64(e.After), kind: evTimer, a: e.Msg, b: e.Tag, c: int64(broker.Deadline)})
			}
			rec := run.Record{At: w.now, Kind: run.Deliver, Inst: e.Inst, Msg: e.Msg, Event: uint32(w.msgs[e.Msg]), Tag: e.Tag, Part: e.Part, Count: e.Offset}
			w.rec.Add(&rec)
			if w.cut(e.Inst, run.Broker) {
				rec.Kind = run.DeliverDrop
				w.rec.Add(&rec)
				continue
			}
			if w.pull {
				w.sendRecord(e)
				continue
			}
			w.at(w.latency(), event{kind: evDeliverArr, inst: e.Inst, gen: e.Gen, a: e.Msg, b: e.Tag})
		case broker.Accepted:
			w.rec.Ack(e.Inst, uint32(w.msgs[e.Msg]), e.Sent, w.now)
		default:
			panic(fmt.Sprintf("sim: invariant broken: unknown broker effect %d", e.Kind))
		}
	}
}

// sendRecord sends a record of the log to its instance. A fetch's records
// travel as one response: those the broker sends at one instant share one
// latency, and none arrives before the one sent ahead of it. They wait in
// the instance's transit queue, in order, and one scheduled event
// (evRecordsArr) at a time hands those that arrived to the inbox, which
// saves the event queue a push and a pop per record.
func (w *world) sendRecord(e *broker.Effect) {
	in := w.insts[e.Inst]
	if in.lastSendAt != w.now || in.transitHead == len(in.transit) {
		in.lastArrival = max(w.now+w.latency(), in.lastArrival)
		in.lastSendAt = w.now
	}
	if in.transitHead == len(in.transit) {
		w.q.push(event{at: in.lastArrival, kind: evRecordsArr, inst: e.Inst})
	}
	in.transit = append(in.transit, transitRecord{at: in.lastArrival, gen: e.Gen,
		d: delivery{msg: e.Msg, tag: e.Tag, part: e.Part, offset: e.Offset, last: e.Last}})
}

// recordsArrive hands the records in transit to in that have arrived to
// its inbox (those sent to an incarnation that has ended are lost with
// it), schedules the next arrival, and lets a waiting consumer go on.
func (w *world) recordsArrive(in *instance) {
	for in.transitHead < len(in.transit) && in.transit[in.transitHead].at <= w.now {
		t := in.transit[in.transitHead]
		in.transitHead++
		if !in.up || in.gen != t.gen {
			w.rec.Add(&run.Record{At: w.now, Kind: run.DeliverDrop, Inst: in.idx, Msg: t.d.msg, Event: uint32(w.msgs[t.d.msg]), Tag: t.d.tag, Part: t.d.part, Count: t.d.offset})
			continue
		}
		w.deliveries++
		in.inbox = append(in.inbox, t.d)
		if w.autoCommit {
			w.received(in, t.d)
		}
	}
	if in.transitHead == len(in.transit) {
		in.transit, in.transitHead = in.transit[:0], 0
	} else {
		w.q.push(event{at: in.transit[in.transitHead].at, kind: evRecordsArr, inst: in.idx})
	}
	if in.waiting && in.up && in.inboxHead < len(in.inbox) {
		if in.seekParts != 0 {
			// It seeks first, then receives (perform).
			in.waiting = false
		} else {
			w.receive(in)
		}
		w.drive(in)
	}
}

// partList renders a partition bitset as "1,2": an Assign record's Key.
func partList(parts uint64) string {
	var b []byte
	for p := 1; parts != 0; p, parts = p+1, parts>>1 {
		if parts&1 != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(p), 10)
		}
	}
	return string(b)
}

// decisions lists the run's fault decisions that struck, the workload's
// first, in a buffer of the world's (Finish copies it).
func (w *world) decisions() []faults.Decision {
	if w.made == nil {
		// Never nil, even for a fresh world that made none: a run's
		// decisions are always known, and whoever reads them (explain's
		// story says which faults never struck) must see the same on a
		// reused world as on a new one.
		w.made = make([]faults.Decision, 0, 8)
	}
	w.made = append(append(w.made[:0], w.wlDecisions...), w.inj.Made()...)
	return w.made
}

// rnd is fault f's stream: what a strike's mechanism draws.
func (w *world) rnd(f faults.Fault) *rand.Rand { return w.inj.Stream(f) }

func (w *world) latency() int64 { return run.UniformDur(w.rNet, latencyMin, latencyMax) }

func (w *world) at(d int64, e event) {
	e.at = w.now + d
	w.q.push(e)
}

// setup publishes the workload and lays out the faults that are planned
// ahead: partition windows and Redis losses.
func (w *world) setup() {
	wl := &w.wl
	wl.Redraw(w.cfg)
	copy(w.events, wl.Events)
	w.db.reused = nil
	if len(wl.Reused) > 0 {
		w.db.reused = wl
	}
	for f, n := range wl.Extra {
		w.rec.Injected(faults.Fault(f), n)
	}
	w.wlDecisions = wl.Decisions
	span, last := int64(wl.Span), int64(0)
	for _, p := range wl.Publishes {
		last = max(last, int64(p.At))
		id := w.addMessage(p.Event)
		w.q.pushLane(lanePublish, event{at: int64(p.At), kind: evPublish, a: id})
	}
	w.healAt = last + int64(healMargin)
	w.q.push(event{at: w.healAt, kind: evHeal})

	w.makeInstances()
	if w.p.Partitions > 0 {
		r := w.rnd(faults.Partition)
		masks := [...]run.Stores{run.Broker, run.Redis, run.Database, run.Broker | run.Redis | run.Database}
		if w.charges {
			// A strategy that charges uses no Redis: the provider
			// takes its place, and the same draws.
			masks = [...]run.Stores{run.Broker, run.Provider, run.Database, run.Broker | run.Redis | run.Database | run.Provider}
		}
		for i := range w.insts {
			for k := 0; k < w.p.Partitions; k++ {
				v := w.inj.Planned(faults.Partition)
				start := r.Int64N(span + 1)
				end := min(start+run.UniformDur(r, w.p.PartitionMin, w.p.PartitionMax), w.healAt)
				mask := masks[r.IntN(len(masks))]
				if v == faults.Dropped {
					continue
				}
				w.windows[i] = append(w.windows[i], window{start, end, mask})
				idx := uint32(len(w.windows[i]) - 1)
				w.q.push(event{at: start, kind: evPartitionOn, inst: int32(i), a: idx})
				w.q.push(event{at: end, kind: evPartitionOff, inst: int32(i), a: idx})
			}
		}
	}
	if w.p.StoreLosses > 0 {
		r := w.rnd(faults.StoreLoss)
		for k := 0; k < w.p.StoreLosses; k++ {
			// A dropped loss still comes, to draw its kind and its
			// downtime (storeLoss), and does nothing.
			var dropped uint32
			if w.inj.Planned(faults.StoreLoss) == faults.Dropped {
				dropped = 1
			}
			w.q.push(event{at: r.Int64N(span + 1), kind: evStoreLoss, a: dropped})
		}
	}
	late := -1
	if w.p.Leaves > 0 {
		// Graceful leaves and joins: each of Leaves times, an instance
		// stops and comes back later; with ScaleOut, the last instance
		// joins only at LateStart.
		r := w.rnd(faults.Rebalance)
		for k := 0; k < w.p.Leaves; k++ {
			v := w.inj.Planned(faults.Rebalance)
			inst, at := int32(r.IntN(w.cfg.Instances)), r.Int64N(span+1)
			down := run.UniformDur(r, w.p.LeaveDownMin, w.p.LeaveDownMax)
			if v == faults.Strike {
				w.q.push(event{at: at, kind: evLeave, inst: inst, c: down})
			}
		}
		if w.p.ScaleOut && w.cfg.Instances > 1 && w.inj.Planned(faults.Rebalance) == faults.Strike {
			late = w.cfg.Instances - 1
			w.insts[late].late = true
			w.rec.Injected(faults.Rebalance, 1)
			w.q.push(event{at: int64(w.p.LateStart), kind: evRestart, inst: int32(late)})
		}
	}
	w.startInstances(late)
}

func (w *world) makeInstances() {
	n := w.cfg.Instances
	if w.relays {
		n++ // the relay
	}
	for len(w.instPool) < n {
		w.instPool = append(w.instPool, new(instance))
	}
	w.insts = w.instPool[:n]
	if cap(w.windows) < n {
		w.windows = make([][]window, n)
	}
	w.windows = w.windows[:n]
	for i, in := range w.insts {
		w.windows[i] = w.windows[i][:0]
		// A new instance in all but its buffers, which it keeps
		// from the run before, emptied.
		mem := in.mem
		if len(mem) != w.cfg.Events/64+1 {
			mem = nil
		}
		*in = instance{w: w, idx: int32(i), inbox: in.inbox[:0], transit: in.transit[:0],
			polled: in.polled[:0], autoSent: in.autoSent[:0], mem: mem, memOther: in.memOther}
		in.forget()
	}
}

// startInstances starts every instance but late (-1: none), which
// starts later, or stops at the first whose strategy fails to build
// (w.err).
func (w *world) startInstances(late int) {
	for i, in := range w.insts {
		if i == late {
			continue
		}
		if w.start(in); w.err != nil {
			return
		}
	}
	if w.publishes {
		w.startDown()
	}
}

// cutOff cuts instance i off from target now, for d (at most until the
// heal).
func (w *world) cutOff(i int32, target run.Stores, d int64) {
	end := min(w.now+d, w.healAt)
	w.windows[i] = append(w.windows[i], window{w.now, end, target})
	idx := uint32(len(w.windows[i]) - 1)
	w.rec.Injected(faults.Partition, 1)
	w.rec.Add(&run.Record{At: w.now, Kind: run.Partition, Inst: i, Stores: target, Window: idx + 1})
	w.q.push(event{at: end, kind: evPartitionOff, inst: i, a: idx})
	if target&run.Broker != 0 && !w.insts[i].paused && !w.isRelay(w.insts[i]) {
		w.applyBroker(w.broker.Disconnect(i))
	}
}

// cut reports whether instance i cannot reach target at the current time.
func (w *world) cut(i int32, target run.Stores) bool {
	if w.healed {
		return false
	}
	for _, win := range w.windows[i] {
		if win.mask&target != 0 && win.start <= w.now && w.now < win.end {
			return true
		}
	}
	return false
}

// reopens is when instance i can reach target again: now, or the end of the
// window that cuts it off (windows may overlap, so it iterates).
func (w *world) reopens(i int32, target run.Stores) int64 {
	t := w.now
	for changed := true; changed && !w.healed; {
		changed = false
		for _, win := range w.windows[i] {
			if win.mask&target != 0 && win.start <= t && t < win.end {
				t, changed = win.end, true
			}
		}
	}
	return min(t, max(w.healAt, w.now))
}

// loop runs events until none is left or the liveness bound has passed.
func (w *world) loop() {
	end := w.healAt + int64(livenessBound)
	for steps := 0; ; steps++ {
		if steps >= maxSteps {
			panic(fmt.Sprintf("sim: invariant broken: run exceeded %d steps (%s)", maxSteps, w.cfg.Reproduce()))
		}
		e, ok := w.q.popUntil(end)
		if !ok {
			break
		}
		w.now = e.at
		w.handle(e)
	}
}

func (w *world) handle(e event) {
	switch e.kind {
	case evPublish:
		w.applyBroker(w.broker.Publish(e.a))
	case evRecordsArr:
		w.recordsArrive(w.insts[e.inst])
	case evSeek:
		w.seekDue(e)
	case evDeliverArr:
		w.deliverArrive(e)
	case evTimer:
		w.applyBroker(w.broker.Fire(broker.Timer(e.c), e.a, e.b))
	case evAckArr:
		w.applyBroker(w.broker.Ack(e.a, e.b, e.inst, e.c))
		if in := w.insts[e.inst]; w.pull && !w.autoCommit && !(in.replyLost && in.gen == e.gen) {
			w.at(w.latency(), event{kind: evFetch, inst: e.inst, gen: e.gen})
		}
	case evFetch:
		w.commitReplied(e)
	case evAutoCommit:
		w.autoCommitTick(e)
	case evNackArr:
		w.applyBroker(w.broker.Nack(e.a, e.b))
	case evReqArr:
		w.serve(uint32(e.a))
	case evReplyArr:
		w.replyArrive(e.a, run.Answer(e.b))
	case evCallTimeout:
		w.callTimeout(uint32(e.a))
	case evStallEnd:
		w.stallEnd(e)
	case evLeave:
		if !w.healed {
			w.leaveAt(w.insts[e.inst], e.c)
		}
	case evLeaveArr:
		// Whatever the leaver sent last has arrived: a polling
		// broker hears it leave, a pushing one its connection close.
		if w.pull {
			w.applyBroker(w.broker.Leave(e.inst))
		} else if !w.insts[e.inst].up {
			w.applyBroker(w.broker.Down(e.inst))
		}
	case evRestart:
		w.start(w.insts[e.inst])
	case evPartitionOn:
		if !w.healed {
			win := w.windows[e.inst][e.a]
			w.rec.Injected(faults.Partition, 1)
			w.rec.Add(&run.Record{At: w.now, Kind: run.Partition, Inst: e.inst, Stores: win.mask, Window: e.a + 1})
			if win.mask&run.Broker != 0 && !w.insts[e.inst].paused && !w.isRelay(w.insts[e.inst]) {
				w.applyBroker(w.broker.Disconnect(e.inst))
			}
		}
	case evPartitionOff:
		if !w.healed {
			w.rec.Add(&run.Record{At: w.now, Kind: run.Partition, Inst: e.inst, Window: e.a + 1})
		}
		// The broker hears of the instance again once no window cuts
		// it off any more (windows may overlap).
		if w.windows[e.inst][e.a].mask&run.Broker != 0 && !w.cut(e.inst, run.Broker) && !w.insts[e.inst].paused && !w.isRelay(w.insts[e.inst]) {
			w.applyBroker(w.broker.Reconnect(e.inst))
		}
	case evStoreLoss:
		if !w.healed {
			w.storeLoss(e.a == 1)
		}
	case evStoreUp:
		w.rec.Add(&run.Record{At: w.now, Kind: run.StoreUp, Inst: -1})
	case evConnDead:
		w.db.connDeadNow(int32(e.a))
		w.applyDB()
	case evChargeDone:
		w.chargeDone(e.a)
	case evRelayWake:
		w.relayWake(e)
	case evDownTimer:
		w.applyDown(w.down.model.Fire(broker.Timer(e.c), e.a, e.b))
	case evDownArr:
		w.downArrive(e)
	case evDownAck:
		w.downAck(e)
	case evScripted:
		w.applyBroker(w.broker.Deliver(e.a, e.inst))
	case evHeal:
		w.healed = true
		w.redis.downUntil = min(w.redis.downUntil, w.now)
		w.rec.Add(&run.Record{At: w.now, Kind: run.Heal, Inst: -1})
	default:
		panic(fmt.Sprintf("sim: invariant broken: unknown event kind %d", e.kind))
	}
}

// storeLoss makes Redis lose data: restart empty or fail over to a
// lagging replica. A dropped loss (e.a set) draws what a loss draws and
// does nothing, so the losses after it draw as they would.
func (w *world) storeLoss(dropped bool) {
	r := w.rnd(faults.StoreLoss)
	restart := r.IntN(2) == 0
	var lag int64
	if !restart {
		lag = run.UniformDur(r, 0, w.p.ReplicaLagMax)
	}
	down := run.UniformDur(r, redisDownMin, redisDownMax)
	if dropped {
		return
	}
	w.rec.Injected(faults.StoreLoss, 1)
	var lost int
	var how run.Cause
	if restart {
		how, lost = run.RestartEmpty, w.redis.flush(0, w.now)
	} else {
		how, lost = run.Failover, w.redis.flush(w.now-lag, w.now)
	}
	w.redis.downUntil = w.now + down
	w.rec.Add(&run.Record{At: w.now, Kind: run.StoreLoss, Inst: -1, Cause: how, Count: int32(lost)})
	w.at(down, event{kind: evStoreUp})
}

// Run simulates one run and judges it with both checkers.
//
// A strategy whose code panics fails the run with an error that says so,
// with the event, the instance, the command that replays it and the stack.
// A strategy whose New fails ends the run there with that error (a
// *strategies.NewError, wrapped with where and how to replay it when it
// failed on a restart), and no verdict.
func Run(cfg Config) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	w := newWorld(cfg)
	finished := false
	defer func() {
		// A panic: end the coroutines anyway, and do not pool a world in
		// an unknown state.
		if !finished {
			w.stopAll()
		}
		if r := recover(); r != nil {
			sp, ok := r.(strategyPanic)
			if !ok {
				panic(r) // a broken invariant of the simulator's own
			}
			res, err = nil, fmt.Errorf("strategy %s panicked handling event %d on instance %d: %v\nreproduce with: %s\n%s",
				cfg.Strategy, sp.event, sp.inst, sp.value, cfg.Reproduce(), sp.stack)
		}
	}()
	w.setup()
	w.loop()
	if w.err == nil {
		res = w.result()
	}
	err = w.err
	w.stopAll()
	finished = true
	w.release() // after this, w belongs to the pool
	return res, err
}

// stopAll ends every instance's coroutine, so that none outlives the run.
func (w *world) stopAll() {
	for _, in := range w.insts {
		if in != nil && in.stop != nil {
			in.dead = true
			in.stop()
			in.stop = nil
		}
	}
}

func (w *world) result() *Result {
	n := w.cfg.Events
	done := make([]bool, n+1)
	settled := make([]bool, n+1)
	var dead []bool // made only when a message was dead-lettered
	for i := 1; i <= n; i++ {
		settled[i] = true
	}
	for m := 1; m < len(w.msgs); m++ {
		switch {
		case w.broker.Done(uint32(m)):
			done[w.msgs[m]] = true
		case w.broker.Dead(uint32(m)):
			// Settled: the broker is finished with it.
			if dead == nil {
				dead = make([]bool, n+1)
			}
			dead[w.msgs[m]] = true
		default:
			settled[w.msgs[m]] = false
		}
	}
	applied := w.db.ledger
	if w.charges {
		// The effect of a strategy that charges is the charge.
		applied = w.prov.charges
	}
	var down *run.DownTally
	if w.publishes {
		down = w.downTally()
	}
	return w.rec.Finish(w.cfg, run.Tally{
		Down:       down,
		Published:  len(w.msgs) - 1,
		Deliveries: w.deliveries,
		Applied:    applied,
		Done:       done,
		Settled:    settled,
		Dead:       dead,
		End:        w.now,
		Decisions:  w.decisions(),
	})
}
