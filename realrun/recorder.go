package realrun

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// recorder is a real run's run.Recorder, shared by its goroutines: times
// are wall-clock nanoseconds since the run started, taken under the lock so
// that the trace is in time order. It numbers store calls and transactions
// as the simulator does, so that a record names the call it answers.
type recorder struct {
	start time.Time
	calls atomic.Uint32 // the last call id handed out
	txs   atomic.Uint32 // the last transaction id handed out

	mu  sync.Mutex
	rec run.Recorder
}

func (r *recorder) now() time.Duration { return time.Since(r.start) }

// add stamps rec with the time and records it.
func (r *recorder) add(rec run.Record) {
	r.mu.Lock()
	rec.At = int64(r.now())
	r.rec.Add(&rec)
	r.mu.Unlock()
}

// msgRecord is the record of kind about message m (numbered from 0 here,
// from 1 in traces, as in the simulator's) of event ev, by inst.
func msgRecord(kind run.Kind, inst, m int, ev strategies.EventID) run.Record {
	return run.Record{Kind: kind, Inst: int32(inst), Msg: uint32(m + 1), Event: uint32(ev)}
}

func (r *recorder) beginAttempt(inst int, ev strategies.EventID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.BeginAttempt(int32(inst), uint32(ev), int64(r.now()))
}

func (r *recorder) endAttempt(i int, out run.Outcome) {
	r.mu.Lock()
	r.rec.EndAttempt(i, out, int64(r.now()))
	r.mu.Unlock()
}

func (r *recorder) ack(inst int, ev strategies.EventID, sent time.Duration) {
	r.mu.Lock()
	r.rec.Ack(int32(inst), uint32(ev), int64(sent), int64(r.now()))
	r.mu.Unlock()
}

func (r *recorder) lostAck() {
	r.mu.Lock()
	r.rec.LostAck()
	r.mu.Unlock()
}

func (r *recorder) injected(f faults.Fault, n int) {
	r.mu.Lock()
	r.rec.Injected(f, n)
	r.mu.Unlock()
}

// finish judges the run; timers of the broker may still fire, so it holds
// the lock while it does.
func (r *recorder) finish(cfg run.Config, t run.Tally) *run.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.End = int64(r.now())
	return r.rec.Finish(cfg, t)
}

// memory is an incarnation's own memory (strategies.Memory): a set in the
// process, which goes with the incarnation, so a restart starts empty.
// Each call is recorded through the run's recorder, so that a real run's
// trace shows what the memory held, as a simulated run's does. Once the
// incarnation has crashed it holds nothing and records nothing: the
// process it plays is dead, though its handler may still be unwinding.
type memory struct {
	inc *incarnation
	// mu orders the calls and their records, should a strategy call
	// its memory from goroutines of its own.
	mu   sync.Mutex
	held map[strategies.EventID]struct{}
}

func newMemory(inc *incarnation) *memory {
	return &memory{inc: inc, held: map[strategies.EventID]struct{}{}}
}

// Contains reports whether the memory holds id.
func (m *memory) Contains(id strategies.EventID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inc.crashed.Load() {
		return false
	}
	_, ok := m.held[id]
	m.record(run.MemHas, id, ok)
	return ok
}

// Add puts id into the memory.
func (m *memory) Add(id strategies.EventID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inc.crashed.Load() {
		return
	}
	_, ok := m.held[id]
	m.held[id] = struct{}{}
	m.record(run.MemAdd, id, !ok)
}

// Remove takes id out of the memory.
func (m *memory) Remove(id strategies.EventID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inc.crashed.Load() {
		return
	}
	_, ok := m.held[id]
	delete(m.held, id)
	m.record(run.MemDel, id, ok)
}

// record records a call, naming the message the incarnation is handling
// (none while its strategy's New runs).
func (m *memory) record(op run.Op, id strategies.EventID, answer bool) {
	c := m.inc.c
	c.r.rec.add(run.MemoryRecord(0, int32(c.idx), m.inc.handling.Load(), op, id, answer))
}
