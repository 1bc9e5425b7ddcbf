package run

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
)

// Recorder is what a backend writes one run through. It digests every
// record into the trace hash (and keeps the records when asked), keeps the
// history the checkers judge (one operation per handling attempt and per
// accepted ack, then a final read per event), and counts the faults
// injected; Finish judges the run and makes its Result. Both backends
// write through it, so a real run's trace, history and Result mean what a
// simulated run's do.
//
// A Recorder is not safe for concurrent use: a backend with goroutines
// guards it with a lock of its own. Its zero value is ready; Reset makes
// it ready again, reusing its buffers.
type Recorder struct {
	keepTrace bool
	noHash    bool
	hash      uint64
	trace     []Record
	history   []check.Op
	lostAcks  int
	injected  []int // per fault, indexed by faults.Fault
	// refused marks, per event, that a handler refused it to a
	// dead-letter queue (Rejected); nil until one does.
	refused []bool
}

// Reset empties r for the run of cfg: it keeps every record if
// cfg.KeepTrace is set, and digests them unless cfg.NoTraceHash is.
func (r *Recorder) Reset(cfg Config) {
	r.keepTrace, r.noHash = cfg.KeepTrace, cfg.NoTraceHash
	r.hash = 0
	r.trace = r.trace[:0]
	r.history = r.history[:0]
	r.lostAcks = 0
	r.injected = r.injected[:0]
	r.refused = r.refused[:0]
}

// Add records rec. The digest covers every field of every record in order,
// so two runs with the same hash took the same steps. The fields are folded
// into three words, with rotations so that none cancels another, which
// costs three multiplications a record: the simulator's hot path records
// about ten steps per delivery.
func (r *Recorder) Add(rec *Record) {
	// A sweep neither keeps nor digests its records: this test is all it
	// pays, inlined at every call site.
	if r.On() {
		r.add(rec)
	}
}

// On reports whether Add does anything: whether records are kept or
// digested. A backend's hottest steps test it to skip building a record
// that no one will read.
func (r *Recorder) On() bool { return r.keepTrace || !r.noHash }

func (r *Recorder) add(rec *Record) {
	if r.keepTrace {
		r.trace = append(r.trace, *rec)
	}
	if r.noHash {
		return
	}
	small := uint64(rec.Kind) | uint64(rec.Op)<<8 | uint64(rec.Answer)<<16 | uint64(rec.Outcome)<<24 |
		uint64(rec.Step)<<32 | uint64(rec.Stores)<<40 | uint64(rec.Cause)<<48 | uint64(b2u(rec.InFlight))<<56
	who := uint64(uint32(rec.Inst)) | uint64(rec.Msg)<<32 ^ bits.RotateLeft64(uint64(rec.Event)|uint64(rec.Tag)<<32, 16)
	ids := uint64(rec.Call) | uint64(rec.Tx)<<32 ^ bits.RotateLeft64(uint64(rec.Holder)|uint64(rec.Window)<<32, 16) ^
		bits.RotateLeft64(uint64(rec.Dur), 40) ^ uint64(uint32(rec.Count))<<24
	h := mix(r.hash, uint64(rec.At)^bits.RotateLeft64(small, 40))
	h = mix(h, who)
	r.hash = mix(h, ids)
	if rec.Part != 0 {
		// Only the log's records have one: the queue's digests stay.
		r.hash = mix(r.hash, uint64(rec.Part))
	}
	if rec.Key != "" || rec.Value != "" {
		r.hash = mix(mix(r.hash, strhash(rec.Key)), strhash(rec.Value))
	}
	if rec.Expect != "" {
		r.hash = mix(r.hash, strhash(rec.Expect))
	}
}

// strhash digests s (FNV-1a): only key-value records carry strings.
func strhash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func mix(h, x uint64) uint64 {
	h ^= x
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}

// Hash is the digest of every record so far.
func (r *Recorder) Hash() uint64 { return r.hash }

// Trace returns the records kept so far (none unless Reset asked to keep
// them). The slice is the Recorder's until Finish hands it over.
func (r *Recorder) Trace() []Record { return r.trace }

// BeginAttempt starts the history operation of a handling attempt by inst
// of event at time at, and returns its index for EndAttempt. Until it ends,
// its outcome is unknown: it may take effect at any time after at.
func (r *Recorder) BeginAttempt(inst int32, event uint32, at int64) int {
	r.history = append(r.history, check.Op{Kind: check.Attempt, Client: int(inst), Event: uint64(event), Call: at, Return: check.Never, Result: check.Unknown})
	return len(r.history) - 1
}

// EndAttempt ends attempt i at time at with what its handler returned. An
// attempt that errored stays unknown: whether its effect landed is not
// known, so it may take effect at any time after its call. A dropped one
// did nothing, as a skipped one: if every attempt of an event did nothing
// and an ack landed, the checkers count the event lost.
func (r *Recorder) EndAttempt(i int, out Outcome, at int64) {
	if res := out.Result(); res != check.Unknown {
		op := &r.history[i]
		op.Result, op.Return = res, at
		if res == check.Refused {
			r.refuse(op.Event)
		}
	}
}

// refuse notes that a handler refused event to a dead-letter queue.
func (r *Recorder) refuse(event uint64) {
	for uint64(len(r.refused)) <= event {
		r.refused = append(r.refused, false)
	}
	r.refused[event] = true
}

// Ack records the broker accepting inst's ack of event, sent at sent and
// accepted at at.
func (r *Recorder) Ack(inst int32, event uint32, sent, at int64) {
	r.history = append(r.history, check.Op{Kind: check.Ack, Client: int(inst), Event: uint64(event), Call: sent, Return: at})
}

// LostAck counts an ack the network lost: the broker's ordinary
// at-least-once behaviour, raised by the redeliver fault.
func (r *Recorder) LostAck() { r.lostAcks++ }

// Injected counts n injections of fault f.
func (r *Recorder) Injected(f faults.Fault, n int) {
	for len(r.injected) <= int(f) {
		r.injected = append(r.injected, 0)
	}
	r.injected[f] += n
}

// Tally is what a backend counted at the end of a run, for Finish.
type Tally struct {
	Published  int
	Deliveries int
	// Applied counts, per event id, the effects the ledger holds, or,
	// for a strategy that charges the payment provider
	// (strategies.NeedsProvider), the provider's charges (index 0
	// unused).
	Applied []int
	// Done reports per event id whether the broker considers it processed
	// (a copy was acked); Settled whether every copy of it was.
	Done, Settled []bool
	// Dead reports per event id whether the broker dead-lettered a copy
	// of it; nil when none was.
	Dead []bool
	// End is when the run ended, in nanoseconds since its start.
	End int64
	// Decisions are the fault decisions that struck, in the order they
	// were made (the workload's first); Finish copies them.
	Decisions []faults.Decision
	// Down is, for a strategy that sends events on (NeedsPublisher),
	// the downstream consumer's history and ledger, which Finish judges
	// against Applied, the upstream's committed effects; nil for the
	// others.
	Down *DownTally
}

// DownTally is the downstream consumer's record of a run (see package
// check): its handlings, in order, and its ledger's rows.
type DownTally struct {
	History []check.DownOp
	Rows    []check.DownRow
}

// Finish ends the run of cfg: it records the End, adds a final read per
// event to the history, judges the history with porcupine and the ledger
// with the audit, and returns the Result. The trace and the history go to
// the Result when cfg keeps them; the Recorder then no longer holds them.
func (r *Recorder) Finish(cfg Config, t Tally) *Result {
	cfg = cfg.WithDefaults()
	n := cfg.Events
	stuck := 0
	for id := 1; id <= n; id++ {
		if !t.Settled[id] {
			stuck++
		}
	}
	r.Add(&Record{At: t.End, Kind: End, Inst: -1, Count: int32(stuck)})
	// The final reads come strictly after everything the run did: a run
	// can end at the very instant its last ack is accepted (a queue with
	// no ack deadline ends as soon as every message settled), and a read
	// at that instant would be concurrent with the ack, free to be
	// ordered before it.
	readAt := t.End + 1
	for id := 1; id <= n; id++ {
		r.history = append(r.history, check.Op{Kind: check.Read, Client: cfg.Instances, Event: uint64(id), Call: readAt, Return: readAt, Count: t.Applied[id]})
	}
	var refused []bool
	if len(r.refused) > 0 {
		refused = make([]bool, len(t.Applied))
		copy(refused, r.refused)
	}
	audit := check.AuditRefused(t.Applied, t.Done, t.Dead, refused)
	linearizable := check.Verdict(r.history, check.Timeout)
	var down check.DownAudit
	var downHistory []check.DownOp
	if t.Down != nil {
		linearizable, down, downHistory = judgeDown(linearizable, t, readAt)
	}
	res := &Result{
		Strategy:             cfg.Strategy,
		Faults:               cfg.Faults.Names(),
		Seed:                 cfg.Seed,
		Instances:            cfg.Instances,
		Events:               n,
		BrokerNaming:         NameBroker(cfg.BrokerModel, cfg.Broker),
		Published:            t.Published,
		Deliveries:           t.Deliveries,
		Duplicates:           audit.Duplicates,
		Lost:                 audit.Lost,
		Stuck:                stuck,
		Dead:                 audit.Dead,
		Ghosts:               down.Ghosts,
		DownstreamLost:       down.Lost,
		DownstreamDuplicates: down.Duplicates,
		Linearizable:         linearizable,
		AuditOK:              audit.OK() && down.OK(),
		TraceHash:            r.traceHash(),
		SimTimeMS:            float64(t.End) / float64(time.Millisecond),
		FaultsInjected:       r.injectedMap(cfg.Faults),
		Decisions:            slices.Clone(t.Decisions),
		Reproduce:            cfg.Reproduce(),
	}
	// Slices handed to the caller leave the Recorder, so a reused one
	// never writes into them again.
	if cfg.KeepTrace {
		res.Trace, r.trace = r.trace, nil
	}
	if cfg.KeepHistory {
		res.History, r.history = r.history, nil
		res.DownHistory = slices.Clone(downHistory)
	}
	return res
}

// judgeDown judges the downstream of t with both checkers: porcupine's
// verdict on its history with a final read of each event's upstream
// effects at readAt, joined to up, the upstream's verdict (an Unknown
// either way is Unknown), and the audit of its ledger.
func judgeDown(up *bool, t Tally, readAt int64) (*bool, check.DownAudit, []check.DownOp) {
	h := t.Down.History
	for id := 1; id < len(t.Applied); id++ {
		h = append(h, check.DownOp{Kind: check.DownRead, Event: uint64(id), Call: readAt, Return: readAt, Count: t.Applied[id]})
	}
	v := check.DownVerdict(h, check.Timeout)
	a := check.AuditDownstream(t.Applied, t.Down.Rows)
	if up == nil || v == nil {
		return nil, a, h
	}
	both := *up && *v
	return &both, a, h
}

// traceHash is the digest as Result shows it, or "" if it was not made.
func (r *Recorder) traceHash() string {
	if r.noHash {
		return ""
	}
	return fmt.Sprintf("%016x", r.hash)
}

// injectedMap counts the faults injected by name. A fault of the scenario
// that never struck shows 0; one outside it is left out; the ordinary lost
// acks always show, as "lost-ack".
func (r *Recorder) injectedMap(scenario faults.Set) map[string]int {
	m := map[string]int{"lost-ack": r.lostAcks}
	for f, n := range r.injected {
		if n > 0 {
			m[faults.Fault(f).String()] = n
		}
	}
	for _, f := range scenario.Faults() {
		m[f.String()] += 0
	}
	return m
}
