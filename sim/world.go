package sim

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim/check"
	"github.com/idemsim/idemsim/strategies"
)

// Timing of the simulated world. They are part of the determinism contract:
// changing one changes every trace.
const (
	publishGapMax  = 100 * time.Millisecond // gaps between events: uniform, 50 ms on average
	ackDeadline    = 5 * time.Second        // the broker redelivers an unacked delivery after this
	nackRetry      = 200 * time.Millisecond // a nacked message is ready again after this
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

// Random streams of the simulator's components, after the faults package's
// own (see faults.StreamOf). Part of the determinism contract.
const (
	streamProducer = 100 + iota
	streamBroker
	streamNetwork
	streamAckLoss
	streamFaultRuntime = 200 // + fault number: the fault's decisions during the run
)

// Partition targets, as a mask.
const (
	toBroker = 1 << iota
	toRedis
	toDB
)

type window struct {
	start, end int64
	mask       uint8
}

// world is one simulated run: every component's state and the event queue.
type world struct {
	cfg    Config
	p      faults.Params
	now    int64
	q      eventQueue
	healed bool
	healAt int64

	src                                [numRand]rand.PCG
	rng                                [numRand]*rand.Rand
	rProducer, rBroker, rNet, rAckLoss *rand.Rand

	events   []strategies.Event // by event id; index 0 unused
	broker   broker
	insts    []*instance
	windows  [][]window // partition windows per instance
	calls    []call     // every store call, by call id; index 0 unused
	redis    redis
	db       sqlDB
	markTTL  time.Duration
	history  []check.Op
	trace    tracer
	injected [numInjected]int

	deliveries int
	// scripted: the broker delivers only what a Script says (RunScript).
	scripted bool
}

// Fault counters, by what was injected.
const (
	injLostAck = iota
	injRedeliver
	injCrash
	injPartition
	injSlow
	injStoreLoss
	injTTL
	numInjected
)

var injectedNames = [numInjected]string{"lost-ack", "redeliver", "crash", "partition", "slow", "store-loss", "ttl"}

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
	w.broker.reset()
	w.insts, w.windows = nil, resize(w.windows, 0)
	w.calls = append(w.calls[:0], call{})
	w.redis.init(n)
	w.db.init(n)
	w.history = w.history[:0]
	w.trace = tracer{keep: cfg.KeepTrace, recs: w.trace.recs[:0]}
	w.injected = [numInjected]int{}
	w.deliveries = 0
	w.scripted = false
	return w
}

// release returns w to the pool. Nothing of it may be used afterwards.
func (w *world) release() {
	w.insts = nil
	worlds.Put(w)
}

// seedStreams derives every component's random stream from the root seed.
func (w *world) seedStreams(seed uint64) {
	streams := [numRand]uint64{streamProducer, streamBroker, streamNetwork, streamAckLoss}
	for _, f := range faults.All() {
		streams[randFault+int(f)] = streamFaultRuntime + uint64(f)
	}
	for i, stream := range streams {
		w.src[i].Seed(seed, stream)
		if w.rng[i] == nil {
			w.rng[i] = rand.New(&w.src[i])
		}
	}
	w.rProducer, w.rBroker, w.rNet, w.rAckLoss = w.rng[0], w.rng[1], w.rng[2], w.rng[3]
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

// Indexes of the random generators: four components, then one per fault.
const (
	randFault = 4
	numRand   = randFault + 6
)

func (w *world) rnd(f faults.Fault) *rand.Rand { return w.rng[randFault+int(f)] }

// uniformDur draws a duration in [lo, hi].
func uniformDur(r *rand.Rand, lo, hi time.Duration) int64 {
	if hi <= lo {
		return int64(lo)
	}
	return int64(lo) + r.Int64N(int64(hi-lo)+1)
}

func (w *world) latency() int64 { return uniformDur(w.rNet, latencyMin, latencyMax) }

func (w *world) at(d int64, e event) {
	e.at = w.now + d
	w.q.push(e)
}

func (w *world) record(kind RecordKind, inst int32, msg uint32, ev strategies.EventID, arg int64) {
	w.trace.add(Record{At: w.now, Kind: kind, Inst: inst, Msg: msg, Event: uint32(ev), Arg: arg})
}

// setup publishes the workload and lays out the faults that are planned
// ahead: partition windows and Redis losses.
func (w *world) setup() {
	wl := NewWorkload(w.cfg)
	copy(w.events, wl.Events)
	w.injected[injRedeliver] += wl.Dups
	w.injected[injTTL] += wl.Lates
	span, last := int64(wl.Span), int64(0)
	for _, p := range wl.Publishes {
		last = max(last, int64(p.At))
		id := w.broker.add(p.Event)
		w.q.pushLane(lanePublish, event{at: int64(p.At), kind: evPublish, a: id})
	}
	w.healAt = last + int64(healMargin)
	w.q.push(event{at: w.healAt, kind: evHeal})

	w.makeInstances()
	if w.p.Partitions > 0 {
		r := w.rnd(faults.Partition)
		masks := [...]uint8{toBroker, toRedis, toDB, toBroker | toRedis | toDB}
		for i := range w.insts {
			for k := 0; k < w.p.Partitions; k++ {
				start := r.Int64N(span + 1)
				end := min(start+uniformDur(r, w.p.PartitionMin, w.p.PartitionMax), w.healAt)
				w.windows[i] = append(w.windows[i], window{start, end, masks[r.IntN(len(masks))]})
				idx := uint32(len(w.windows[i]) - 1)
				w.q.push(event{at: start, kind: evPartitionOn, inst: int32(i), a: idx})
				w.q.push(event{at: end, kind: evPartitionOff, inst: int32(i), a: idx})
			}
		}
	}
	if w.p.StoreLosses > 0 {
		r := w.rnd(faults.StoreLoss)
		for k := 0; k < w.p.StoreLosses; k++ {
			w.q.push(event{at: r.Int64N(span + 1), kind: evStoreLoss})
		}
	}
	w.startInstances()
}

func (w *world) makeInstances() {
	w.insts = make([]*instance, w.cfg.Instances)
	w.windows = make([][]window, w.cfg.Instances)
	for i := range w.insts {
		w.insts[i] = &instance{w: w, idx: int32(i)}
	}
}

func (w *world) startInstances() {
	for _, in := range w.insts {
		w.start(in)
	}
}

// cutOff cuts instance i off from target now, for d (at most until the
// heal).
func (w *world) cutOff(i int32, target uint8, d int64) {
	end := min(w.now+d, w.healAt)
	w.windows[i] = append(w.windows[i], window{w.now, end, target})
	w.injected[injPartition]++
	w.record(RecPartition, i, 0, 0, int64(target))
	w.q.push(event{at: end, kind: evPartitionOff, inst: i})
}

// cut reports whether instance i cannot reach target at the current time.
func (w *world) cut(i int32, target uint8) bool {
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
func (w *world) reopens(i int32, target uint8) int64 {
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
		where, at, ok := w.q.next()
		if !ok || at > end {
			break
		}
		e := w.q.take(where)
		w.now = e.at
		w.handle(e)
	}
}

func (w *world) handle(e event) {
	switch e.kind {
	case evPublish:
		w.broker.publish(w, uint32(e.a))
	case evDeliverArr:
		w.deliverArrive(e)
	case evDeadline:
		w.broker.deadline(w, uint32(e.a), uint32(e.b))
	case evAckArr:
		w.broker.ackArrive(w, uint32(e.a), uint32(e.b), e.inst, e.c)
	case evNackArr:
		w.broker.nackArrive(w, uint32(e.a), uint32(e.b))
	case evRequeue:
		w.broker.requeue(w, uint32(e.a))
	case evReqArr:
		w.serve(uint32(e.a))
	case evReplyArr:
		w.replyArrive(e.a, uint64(e.b))
	case evCallTimeout:
		w.callTimeout(uint32(e.a))
	case evStallEnd:
		in := w.insts[e.inst]
		if in.up && in.gen == e.gen {
			in.stalled = false
			if w.perform(in, false) {
				w.drive(in)
			}
		}
	case evRestart:
		w.start(w.insts[e.inst])
	case evPartitionOn:
		if !w.healed {
			win := w.windows[e.inst][e.a]
			w.injected[injPartition]++
			w.record(RecPartition, e.inst, 0, 0, int64(win.mask))
		}
	case evPartitionOff:
		if !w.healed {
			w.record(RecPartition, e.inst, 0, 0, 0)
		}
	case evStoreLoss:
		if !w.healed {
			w.storeLoss()
		}
	case evStoreUp:
		w.record(RecStoreUp, -1, 0, 0, 0)
	case evConnDead:
		w.db.connDeadNow(w, int32(e.a))
	case evScripted:
		w.broker.deliver(w, e.a, w.insts[e.inst])
	case evHeal:
		w.healed = true
		w.redis.downUntil = min(w.redis.downUntil, w.now)
		w.record(RecHeal, -1, 0, 0, 0)
	default:
		panic(fmt.Sprintf("sim: invariant broken: unknown event kind %d", e.kind))
	}
}

func (w *world) storeLoss() {
	r := w.rnd(faults.StoreLoss)
	w.injected[injStoreLoss]++
	var lost int
	var how int64
	if r.IntN(2) == 0 {
		how, lost = 1, w.redis.flush(0)
	} else {
		lag := uniformDur(r, 0, w.p.ReplicaLagMax)
		how, lost = 2, w.redis.flush(w.now-lag)
	}
	down := uniformDur(r, redisDownMin, redisDownMax)
	w.redis.downUntil = w.now + down
	w.record(RecStoreLoss, -1, 0, strategies.EventID(lost), how)
	w.at(down, event{kind: evStoreUp})
}

// Run simulates one run and judges it with both checkers.
func Run(cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w := newWorld(cfg)
	finished := false
	defer func() {
		// A broken invariant panicked: end the coroutines anyway, and
		// do not pool a world in an unknown state.
		if !finished {
			w.stopAll()
		}
	}()
	w.setup()
	w.loop()
	res := w.result()
	w.stopAll()
	finished = true
	w.release() // after this, w belongs to the pool
	return res, nil
}

// injectedMap counts the faults injected by name; a fault that never struck
// shows 0 if it is part of the scenario, and is left out otherwise.
func (w *world) injectedMap() map[string]int {
	m := make(map[string]int)
	for i, n := range w.injected {
		if n > 0 || i == injLostAck {
			m[injectedNames[i]] = n
		}
	}
	for _, f := range w.cfg.Faults.Faults() {
		m[f.String()] += 0
	}
	return m
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
	for i := 1; i <= n; i++ {
		settled[i] = true
	}
	for i := 1; i < len(w.broker.msgs); i++ {
		m := &w.broker.msgs[i]
		if m.state == msgDone {
			done[m.event] = true
		} else {
			settled[m.event] = false
		}
	}
	stuck := 0
	for i := 1; i <= n; i++ {
		if !settled[i] {
			stuck++
		}
	}
	w.record(RecEnd, -1, 0, 0, int64(stuck))
	for id := 1; id <= n; id++ {
		w.history = append(w.history, check.Op{Kind: check.Read, Client: w.cfg.Instances, Event: uint64(id), Call: w.now, Return: w.now, Count: w.db.ledger[id]})
	}
	audit := check.Audit(w.db.ledger, done)
	res := &Result{
		Strategy:       w.cfg.Strategy,
		Faults:         w.cfg.Faults.Names(),
		Seed:           w.cfg.Seed,
		Instances:      w.cfg.Instances,
		Events:         n,
		Published:      len(w.broker.msgs) - 1,
		Deliveries:     w.deliveries,
		Duplicates:     audit.Duplicates,
		Lost:           audit.Lost,
		Stuck:          stuck,
		Linearizable:   check.Verdict(w.history, check.Timeout),
		AuditOK:        audit.OK(),
		TraceHash:      fmt.Sprintf("%016x", w.trace.h),
		SimTimeMS:      float64(w.now) / float64(time.Millisecond),
		FaultsInjected: w.injectedMap(),
		Reproduce:      w.cfg.Reproduce(),
	}
	// Slices handed to the caller leave the world, so a pooled world
	// never writes into them again.
	if w.cfg.KeepTrace {
		res.Trace, w.trace.recs = w.trace.recs, nil
	}
	if w.cfg.KeepHistory {
		res.History, w.history = w.history, nil
	}
	return res
}
