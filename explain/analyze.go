package explain

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// What trace records carry in Arg, as package sim encodes it. A test checks
// these against Record.String, so a change in sim cannot go unnoticed.
const (
	opSetNX = iota + 1
	opExists
	opSet
	opInsert
	opApply
	opCommit
	opRollback
)

const (
	codeFalse = iota
	codeTrue
	codeRefused
	codeTxAborted
)

const (
	actCall = iota + 2 // the step a crash happened at: a store call,
	actAck             // the ack,
	actNack            // or the nack
)

const (
	toBroker = 1 << iota // partition targets, as a mask
	toRedis
	toDB
)

// The network's one-way latency (sim's latencyMin and latencyMax).
const (
	latencyMin = 200 * time.Microsecond
	latencyMax = time.Millisecond
)

// defaultMarkTTL is how long Redis marks live unless ttl or Config.MarkTTL
// shortens them (sim's default).
const defaultMarkTTL = 24 * time.Hour

// opWords names a store call in plain words.
var opWords = [...]string{
	opSetNX: "SET NX (the claim)", opExists: "key check", opSet: "SET (the mark)",
	opInsert: "insert of the id", opApply: "Apply (the effect)", opCommit: "Commit", opRollback: "Rollback",
}

func opWord(op int64) string {
	if op > 0 && int(op) < len(opWords) {
		return opWords[op]
	}
	return "call"
}

func isDB(op int) bool { return op >= opInsert }

// instAt is something an instance did at a time.
type instAt struct {
	inst int32
	at   int64
}

// stored is a write that reached a store: by whom, when it was sent, and
// when the store executed it.
type stored struct {
	inst     int32
	sent, at int64
}

// attempt is one handling of one delivery, from receive to handled.
type attempt struct {
	inst     int32
	msg, tag uint32
	start    int64
	end      int64  // -1 while open or if it never returned
	result   string // applied, skipped, error, crashed
}

// failure is something that stopped an instance's handling: a crash, a
// timeout, a refused call, an error.
type failure struct {
	inst int32
	at   int64
	what string // in words, as "crashed before its Apply (the effect)"
	// lock, for an Apply given up on while it waited for a row lock, says
	// who held the lock and why it was not released, as "its Apply had to
	// wait for account 4's row lock, which instance 1's transaction held:
	// it had updated account 4 first (event 4's effect), and instance 1
	// had stalled before committing it"; "" otherwise.
	lock string
}

// facts are what happened to one event, gathered in the first pass.
type facts struct {
	publishes   []instAt // inst -1; the message id is in msgs
	msgs        []uint32
	first       int64 // its first publish
	last        int64 // its last record
	involved    []bool
	attempts    []attempt
	applied     []instAt // commits that applied its effect
	keySets     []stored // Redis writes of its key that succeeded
	idCommits   []stored // commits of its id into the processed-ids table
	checks      []instAt // Exists answered false: a check that found no key
	skips       []instAt
	failures    []failure
	crashes     []int64
	timeouts    []int64
	held        []int64 // a partition held a request or reply about it
	drops       []int64 // a delivery of it never arrived
	stalls      []int64
	lockStalls  []int64 // an Apply of it waited for a row lock a stalled instance held
	lockCuts    []int64 // an Apply of it waited for a row lock held from behind a partition
	lockCrashes []int64 // an Apply of it waited for a row lock a crashed instance held
	refused     []int64 // Redis refused a call about it
	ackLost     []instAt
	ackLostCut  []int64 // an ack of it was lost to a partition
	requeues    []instAt
	acked       []instAt
	keyLost     []instAt // the store lost its key: inst 1 restart, 2 failover
	expired     []int64
	wiped       []instAt // a crash emptied a local cache that held it
	dupPublish  bool     // a second copy within a few ms (redeliver)
	latePublish bool     // a copy long after the first (ttl)
}

// txn is one database transaction as its client sees it.
type txn struct {
	inst   int32
	gen    int // the incarnation of inst that began it
	stmts  []stmt
	status int // 0 open, 1 committed, 2 aborted
	// dropped says why its client let go of it while it may still be
	// open: "crashed" or "gave up" (a timeout); "" while it holds on.
	dropped string
}

type stmt struct {
	op int
	ev uint32
	ok bool
	at int64 // when the database accepted it
}

// pending is a store call sent and not yet served.
type pending struct {
	op       int
	msg, ev  uint32
	at       int64 // when it was sent
	gen      int
	tx       *txn
	timedOut bool
	parked   bool
	held     bool // a partition holds its request
	// parkedAt is when it parked (last), and parkAborts how many tx-abort
	// records the trace had shown by then.
	parkedAt   int64
	parkAborts int
	// holder is, for an Apply parked behind a row lock, the transaction
	// that holds the lock.
	holder *txn
}

// target is the store the call goes to, as a partition mask.
func (c *pending) target() uint8 {
	if isDB(c.op) {
		return toDB
	}
	return toRedis
}

// instState is one instance as the trace shows it.
type instState struct {
	up      bool
	gen     int
	cache   map[uint32]bool // local-cache: ids handled as applied since the last start
	cur     *txn            // the transaction its next statement joins
	calls   []*pending
	cut     uint8 // the targets it is cut off from (the union, while windows overlap)
	cutN    int   // partition windows open on it
	att     int   // index in facts.attempts of the open attempt, -1 none
	attEv   uint32
	crashEv uint32 // the event it was handling at its last crash
	crashOK bool   // whether that crash belongs in the story
	stallTo int64  // when its last stall ends
}

// mark is a Redis key: when it was written and when it expires.
type mark struct {
	written, exp int64
	announced    bool // its expiry has been told
}

// item is one step of the story before numbering.
type item struct {
	at        int64
	inst      int32 // the instance that acted, -1 for none
	actor     string
	text      string
	state     string
	showState bool // the step reads the state, so show it even unchanged
	rec       int  // index of the record, -1 for a derived step (an expiry)
	merge     int  // the record of an earlier step this one replaces, or -1
}

// analysis is a run replayed from its trace: the facts per event, the event
// whose violation the story tells, and whether every fault of the run's set
// plays a part in it.
type analysis struct {
	cfg         sim.Config
	recs        []legacyRecord
	accounts    []int // the account of each event, by id
	kind        Kind
	ttl         int64
	focus       uint32
	focusKind   Kind
	cut         int64 // when the focus event's violation is sealed: the story ends there
	facts       map[uint32]*facts
	allInvolved bool
	involved    []faults.Fault // faults of the set that play a part
	ledger      map[uint32]int
	done        map[uint32]bool // messages acked
	told        *Story
}

// analyze replays recs, the trace of cfg, and picks the event to tell: one
// that shows a violation of kind (any kind if none does), preferring one in
// which the most faults of cfg.Faults play a part.
func analyze(cfg sim.Config, trace []run.Record, kind Kind) *analysis {
	recs := legacy(trace)
	a := &analysis{cfg: cfg, recs: recs, kind: kind, ttl: int64(markTTL(cfg))}
	for _, e := range run.NewWorkload(cfg).Events {
		a.accounts = append(a.accounts, e.Account)
	}
	r := a.replay(0, nil)
	a.facts, a.ledger, a.done = r.facts, r.ledger, r.done

	ids := a.ids()
	var candidates []uint32
	for _, id := range ids {
		if a.kindOf(id) == kind {
			candidates = append(candidates, id)
		}
	}
	if len(candidates) == 0 {
		for _, id := range ids {
			if a.kindOf(id) != NoViolation {
				candidates = append(candidates, id)
			}
		}
	}
	if len(candidates) == 0 && len(ids) > 0 {
		candidates = ids[:1]
	}
	for i, id := range candidates {
		inv, all := a.involvement(id)
		if i == 0 || len(inv) > len(a.involved) {
			a.focus, a.involved, a.allInvolved = id, inv, all
		}
		if all {
			break
		}
	}
	a.focusKind = a.kindOf(a.focus)
	a.cut = math.MaxInt64
	if a.focus != 0 {
		a.cut = a.cutoff(a.focus)
	}
	return a
}

// ids lists the events of the run, in order.
func (a *analysis) ids() []uint32 {
	ids := make([]uint32, 0, len(a.facts))
	for id := range a.facts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// markTTL is how long Redis marks live in the run of cfg.
func markTTL(cfg sim.Config) time.Duration {
	if cfg.MarkTTL > 0 {
		return cfg.MarkTTL
	}
	if p := faults.Draw(cfg.Faults, cfg.Seed); p.MarkTTL > 0 {
		return p.MarkTTL
	}
	return defaultMarkTTL
}

// kindOf is the violation event id shows, by the replayed ledger.
func (a *analysis) kindOf(id uint32) Kind {
	f := a.facts[id]
	if f == nil {
		return NoViolation
	}
	n := a.ledger[id]
	acked, settled := false, true
	for _, m := range f.msgs {
		if a.done[m] {
			acked = true
		} else {
			settled = false
		}
	}
	switch {
	case n > 1:
		return Duplicate
	case n == 0 && acked:
		return Lost
	case !settled:
		return Stuck
	}
	return NoViolation
}

// cutoff is when event id's violation is sealed: for a duplicate, when the
// attempt that applied it a second time is over (its ack in, or lost); for
// a lost event, when the broker took the ack that made it done. The story
// ends there: what follows cannot undo it. A stuck event has no cutoff.
func (a *analysis) cutoff(id uint32) int64 {
	f := a.facts[id]
	switch a.kindOf(id) {
	case Duplicate:
		q := f.applied[1]
		end := q.at
		att := f.attemptAt(q.inst, q.at)
		if att != nil && att.end > end {
			end = att.end
		}
		for _, k := range f.acked {
			if k.inst == q.inst && k.at >= end && k.at-end <= int64(5*time.Millisecond) {
				return k.at
			}
		}
		return end
	case Lost:
		return f.acked[0].at
	}
	return math.MaxInt64
}

// involvement lists the faults of the run's set that play a part in event
// id's story before its violation is sealed, and reports whether all of
// them do.
func (a *analysis) involvement(id uint32) ([]faults.Fault, bool) {
	f := a.facts[id]
	cut := a.cutoff(id)
	before := func(ts []int64) bool { return len(ts) > 0 && ts[0] <= cut }
	// The copies whose handling applied the event: a duplicate that a
	// second or late copy caused.
	copies := map[uint32]bool{}
	for _, ap := range f.applied {
		if att := f.attemptAt(ap.inst, ap.at); att != nil && ap.at <= cut {
			copies[att.msg] = true
		}
	}
	var dupCopy, lateCopy bool
	for i, m := range f.msgs {
		if i == 0 || !copies[m] {
			continue
		}
		if f.publishes[i].at-f.publishes[0].at < int64(time.Second) {
			dupCopy = true
		} else {
			lateCopy = true
		}
	}
	var expired []int64
	for _, e := range f.expired {
		if len(f.applied) > 1 && e < f.applied[1].at {
			expired = append(expired, e)
		}
	}
	var wiped, keyLost []int64
	for _, w := range f.wiped {
		wiped = append(wiped, w.at)
	}
	for _, l := range f.keyLost {
		keyLost = append(keyLost, l.at)
	}
	var inv []faults.Fault
	all := true
	for _, flt := range a.cfg.Faults.Faults() {
		var ok bool
		switch flt {
		case faults.Redeliver:
			ok = dupCopy
		case faults.Crash:
			ok = before(f.crashes) || before(wiped) || before(f.lockCrashes)
		case faults.Partition:
			ok = before(f.held) || before(f.drops) || before(f.ackLostCut) || before(f.lockCuts)
		case faults.Slow:
			ok = before(f.stalls) || before(f.lockStalls)
		case faults.StoreLoss:
			ok = before(keyLost) || before(f.refused)
		case faults.TTL:
			ok = len(expired) > 0 || lateCopy
		}
		if ok {
			inv = append(inv, flt)
		} else {
			all = false
		}
	}
	return inv, all
}

// replayer is the state of one pass over the trace.
type replayer struct {
	a         *analysis
	focus     uint32
	emit      func(item)
	insts     []*instState
	redis     map[uint32]*mark
	processed map[uint32]bool
	ledger    map[uint32]int
	done      map[uint32]bool
	msgEvent  map[uint32]uint32
	facts     map[uint32]*facts
	abandoned []*txn            // open transactions whose connection was dropped, oldest first
	rowLock   map[int]*txn      // per account, the transaction that took its row lock last
	delivered map[[2]uint32]int // (msg, tag) -> index of its deliver item, for merging
	lossTold  bool              // the last store loss is in the story
	clock     int64             // the time of the record being replayed
	aborts    int               // tx-abort records so far
	initial   string            // the state before the first record
}

// replay runs one pass over the trace. With focus set, it calls emit with
// the story's steps about that event.
func (a *analysis) replay(focus uint32, emit func(item)) *replayer {
	r := &replayer{
		a: a, focus: focus, emit: emit,
		redis: map[uint32]*mark{}, processed: map[uint32]bool{}, ledger: map[uint32]int{},
		done: map[uint32]bool{}, msgEvent: map[uint32]uint32{}, facts: map[uint32]*facts{},
		delivered: map[[2]uint32]int{}, rowLock: map[int]*txn{},
	}
	for i := 0; i < a.cfg.Instances; i++ {
		r.insts = append(r.insts, &instState{up: true, cache: map[uint32]bool{}, att: -1})
	}
	r.initial = r.state()
	for i, rec := range a.recs {
		r.expire(rec.At)
		r.clock = rec.At
		r.record(i, rec)
	}
	return r
}

// fact returns the facts of event id, creating them.
func (r *replayer) fact(id uint32) *facts {
	f := r.facts[id]
	if f == nil {
		f = &facts{involved: make([]bool, len(r.insts))}
		r.facts[id] = f
	}
	return f
}

// told reports whether the story is being told, and of event id.
func (r *replayer) telling(id uint32) bool { return r.emit != nil && id == r.focus }

// say emits a step of the story.
func (r *replayer) say(rec int, at int64, inst int32, text string, showState bool) {
	actor := "-"
	if inst >= 0 {
		actor = fmt.Sprintf("instance %d", inst)
	}
	r.sayAs(rec, at, inst, actor, text, showState)
}

func (r *replayer) sayAs(rec int, at int64, inst int32, actor, text string, showState bool) {
	r.emit(item{at: at, inst: inst, actor: actor, text: text, state: r.state(), showState: showState, rec: rec, merge: -1})
}

// expire tells the expiry of the focus event's key once its time has come.
func (r *replayer) expire(now int64) {
	var ids []uint32
	for id, m := range r.redis {
		if !m.announced && m.exp <= now {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := r.redis[id]
		m.announced = true
		r.clock = m.exp
		f := r.fact(id)
		f.expired = append(f.expired, m.exp)
		if r.telling(id) && r.inSpan(m.exp) {
			r.sayAs(-1, m.exp, -1, "redis", fmt.Sprintf("event %d's key expires: it lived its TTL of %v, and Redis drops it", id, ttlWords(r.a.ttl)), true)
		}
	}
}

// live reports whether event id's key exists at time now.
func (r *replayer) live(id uint32, now int64) bool {
	m := r.redis[id]
	return m != nil && m.exp > now
}

// takeCall finds the pending call of inst that a store record about msg and
// ev at time now answers with code (parkCode for a park). Trace records do
// not name the call, so it judges by what could have got that answer (see
// answers) and could have arrived: a request that travelled freely arrives
// after the network's latency (0.2 to 1 ms); a parked insert or Apply when
// the lock frees; a held request only once its link is open again.
//
// A parked call whose transaction the database rolled back is never
// answered. Nor is one answered at the moment it parked, unless a
// transaction was rolled back since: a lock frees when its holder commits,
// rolls back or is rolled back, and only the last shows in the trace before
// the waiters it wakes (a commit's own record follows theirs).
//
// Among the likeliest it takes the oldest, with one exception: of two
// database calls of the same kind about the same delivery, one its client
// gave up on (a timed-out attempt) and one it still waits for (the next
// attempt), it takes the latter. Held requests of two connections may
// arrive in either order, and so may the waits of two parked calls end;
// the one given up on belongs to a transaction the database rolls back
// once it notices the connection is gone, so only the other can commit,
// and crediting it keeps the ledger right whichever came first.
func (r *replayer) takeCall(inst int32, msg, ev uint32, now int64, code int, remove bool) *pending {
	in := r.insts[inst]
	best, bestRank := -1, 4
	for i, c := range in.calls {
		if c.msg != msg || c.ev != ev || !answers(c.op, code) {
			continue
		}
		if c.parked && (c.tx != nil && c.tx.status == 2 || code != parkCode && c.parkedAt == now && c.parkAborts == r.aborts) {
			continue
		}
		rank := 3
		switch {
		case !c.held && !c.parked && now-c.at >= int64(latencyMin) && now-c.at <= int64(latencyMax):
			rank = 0
		case c.parked:
			rank = 1
		case c.held && in.cut&c.target() == 0:
			rank = 2
		}
		if rank < bestRank || rank == bestRank && c.op == in.calls[best].op && isDB(c.op) && in.calls[best].timedOut && !c.timedOut {
			best, bestRank = i, rank
		}
	}
	if best < 0 {
		return nil
	}
	c := in.calls[best]
	if remove {
		in.calls = slices.Delete(in.calls, best, best+1)
	}
	return c
}

// parkCode stands for a park record in takeCall: the call waits, and no
// code came back yet.
const parkCode = -1

// answers reports whether a call of op can get code as its answer (or be
// parked, for parkCode): Redis never answers "tx aborted" and the database
// never "refused"; only an insert of the id can answer false (an Apply,
// Commit or Rollback succeeds or finds its transaction aborted, and a SET
// always sets); only an insert or an Apply waits for a lock.
func answers(op, code int) bool {
	switch code {
	case parkCode:
		return op == opInsert || op == opApply
	case codeFalse:
		return op == opInsert || op == opSetNX || op == opExists
	case codeRefused:
		return !isDB(op)
	case codeTxAborted:
		return isDB(op)
	}
	return true
}

// abandon drops inst's current transaction: the connection is gone, and
// the database will roll back whatever is still open. why says how the
// client let go of it: "crashed" or "gave up".
func (r *replayer) abandon(in *instState, why string) {
	if in.cur != nil && in.cur.status == 0 {
		if in.cur.dropped == "" {
			in.cur.dropped = why
		}
		r.abandoned = append(r.abandoned, in.cur)
	}
	in.cur = nil
}

// parkApply applies a park record of an Apply: the database made it wait
// for the row lock of its event's account. An Apply updates the account's
// row, so the transaction that took that lock last holds it until it ends.
func (r *replayer) parkApply(i int, rec legacyRecord, f *facts, c *pending, tell bool) {
	inst, ev := rec.Inst, rec.Event
	acct := r.a.account(ev)
	again := c.parked
	c.parked, c.parkedAt, c.parkAborts = true, rec.At, r.aborts
	h := r.rowLock[acct]
	if h == c.tx {
		h = nil
	}
	c.holder = h
	if h != nil {
		r.noteLockFaults(f, h)
	}
	if !tell {
		return
	}
	who, of := "another open transaction", ""
	if h != nil {
		who = r.txnWords(h, inst)
		if e := h.appliedTo(r.a, acct); e != 0 && e != ev {
			of = fmt.Sprintf(" (event %d's effect)", e)
		}
	}
	text := fmt.Sprintf("applies event %d's effect to account %d, but %s updated account %d first%s and holds its row lock: the database makes this Apply wait for that transaction to end", ev, acct, who, acct, of)
	if again {
		text = fmt.Sprintf("still waits: account %d's row lock went to %s, which had waited longer, so this Apply waits for that transaction to end", acct, who)
	}
	if h != nil {
		if s := r.holderState(h, false); s != "" {
			text += "; " + s
		}
	}
	r.say(i, rec.At, inst, text, true)
}

// txnWords names transaction t as seen from instance inst: "instance 1's
// open transaction", or "its own earlier transaction" when inst let go of
// it (its connection dropped) and the database has not rolled it back yet.
func (r *replayer) txnWords(t *txn, inst int32) string {
	if t.inst == inst {
		return "its own earlier transaction, still open in the database,"
	}
	return fmt.Sprintf("instance %d's open transaction", t.inst)
}

// holderState says why the holder t of a row lock does not end: its
// instance stalled, is cut off from the database, crashed, or gave up on it
// and the database has not noticed yet; in the past tense if past is set.
// "" when none of these holds.
func (r *replayer) holderState(t *txn, past bool) string {
	in := r.insts[t.inst]
	has, is := "has", "is"
	if past {
		has, is = "had", "was"
	}
	switch {
	case t.dropped == "crashed":
		return fmt.Sprintf("instance %d crashed before committing it, and the database %s not yet noticed that its connection was gone", t.inst, has)
	case t.dropped != "":
		return fmt.Sprintf("instance %d gave up on it, and the database %s not yet noticed that its connection was gone", t.inst, has)
	case in.gen == t.gen && in.up && r.clock < in.stallTo:
		return fmt.Sprintf("instance %d %s stalled before committing it", t.inst, has)
	case in.gen == t.gen && in.cut&toDB != 0:
		return fmt.Sprintf("instance %d %s cut off from the database before its commit got through", t.inst, is)
	}
	return ""
}

// endWords says how the holder h of a row lock ended, freeing it: the
// database wakes the waiters of a commit or rollback before it answers it,
// so the record of h's end may come after that of the Apply it let through.
func (r *replayer) endWords(h *txn) string {
	switch h.status {
	case 1:
		return "has committed"
	case 2:
		return "was rolled back"
	}
	for _, c := range r.insts[h.inst].calls {
		if c.tx == h {
			switch c.op {
			case opCommit:
				return "commits"
			case opRollback:
				return "rolls back"
			}
		}
	}
	return "has ended"
}

// noteLockFaults records in f, the facts of an event whose Apply waits
// behind holder, the faults that keep holder from ending.
func (r *replayer) noteLockFaults(f *facts, holder *txn) {
	in := r.insts[holder.inst]
	switch {
	case holder.dropped == "crashed":
		f.lockCrashes = append(f.lockCrashes, r.clock)
	case holder.dropped != "":
	case in.gen == holder.gen && in.up && r.clock < in.stallTo:
		f.lockStalls = append(f.lockStalls, r.clock)
	case in.gen == holder.gen && in.cut&toDB != 0:
		f.lockCuts = append(f.lockCuts, r.clock)
	}
}

// lockWords says, for an instance whose Apply on account acct waited behind
// holder, who held the lock and why it was not released.
func (r *replayer) lockWords(holder *txn, inst int32, acct int) string {
	who := fmt.Sprintf("instance %d's transaction", holder.inst)
	if holder.inst == inst {
		who = "its own earlier transaction"
	}
	s := fmt.Sprintf("its Apply had to wait for account %d's row lock, which %s held: it had updated account %d first", acct, who, acct)
	if e := holder.appliedTo(r.a, acct); e != 0 {
		s += fmt.Sprintf(" (event %d's effect)", e)
	}
	if st := r.holderState(holder, true); st != "" {
		s += ", and " + st
	}
	return s
}

// appliedTo returns the event whose effect t applied to account acct, 0 if
// none.
func (t *txn) appliedTo(a *analysis, acct int) uint32 {
	for _, s := range t.stmts {
		if s.op == opApply && s.ok && a.account(s.ev) == acct {
			return s.ev
		}
	}
	return 0
}

// account is the account event id's effect goes to, 0 if unknown.
func (a *analysis) account(id uint32) int {
	if int(id) < len(a.accounts) {
		return a.accounts[id]
	}
	return 0
}

func (r *replayer) record(i int, rec legacyRecord) {
	ev := rec.Event
	var f *facts
	if rec.Event > 0 && rec.Kind != recStoreLoss {
		f = r.fact(ev)
		if f.msgs == nil {
			f.first = rec.At
		}
		f.last = rec.At
		if rec.Inst >= 0 && int(rec.Inst) < len(f.involved) {
			f.involved[rec.Inst] = true
		}
	}
	var in *instState
	if rec.Inst >= 0 && int(rec.Inst) < len(r.insts) {
		in = r.insts[rec.Inst]
	}
	tell := r.telling(ev) && rec.Kind != recStoreLoss
	inst := rec.Inst
	switch rec.Kind {
	case recPublish:
		r.msgEvent[rec.Msg] = ev
		copyNo := len(f.msgs)
		var text string
		switch {
		case copyNo == 0:
			text = fmt.Sprintf("publishes event %d as message m%d", ev, rec.Msg)
		case rec.At-f.publishes[0].at < int64(time.Second):
			f.dupPublish = true
			text = fmt.Sprintf("publishes event %d again, as message m%d, %.3f ms after the first copy (the producer sent it twice)", ev, rec.Msg, ms(rec.At-f.publishes[0].at))
		default:
			f.latePublish = true
			text = fmt.Sprintf("publishes a late copy of event %d, as message m%d, %.3f s after the first (a producer retry or a replay)", ev, rec.Msg, float64(rec.At-f.publishes[0].at)/1e9)
		}
		f.msgs = append(f.msgs, rec.Msg)
		f.publishes = append(f.publishes, instAt{-1, rec.At})
		if tell {
			r.sayAs(i, rec.At, -1, "producer", text, false)
		}

	case recDeliver:
		if tell {
			text := fmt.Sprintf("sends m%d to instance %d", rec.Msg, inst)
			if rec.Arg > 1 {
				text = fmt.Sprintf("sends m%d again (delivery %d) to instance %d", rec.Msg, rec.Arg, inst)
			}
			r.delivered[[2]uint32{rec.Msg, uint32(rec.Arg)}] = i
			r.sayAs(i, rec.At, -1, "broker", text, false)
		}

	case recDeliverDrop:
		f.drops = append(f.drops, rec.At)
		if tell {
			why := "it is down"
			if in != nil && in.up {
				why = "it is cut off from the broker"
			}
			r.sayAs(i, rec.At, -1, "broker", fmt.Sprintf("the delivery of m%d to instance %d never arrives: %s", rec.Msg, inst, why), false)
		}

	case recReceive:
		f.attempts = append(f.attempts, attempt{inst: inst, msg: rec.Msg, tag: uint32(rec.Arg), start: rec.At, end: -1})
		in.att, in.attEv = len(f.attempts)-1, ev
		if tell {
			text := fmt.Sprintf("receives m%d (event %d)", rec.Msg, ev)
			if rec.Arg > 1 {
				text = fmt.Sprintf("receives m%d (event %d) again, delivery %d", rec.Msg, ev, rec.Arg)
			}
			show := false
			if r.a.cfg.Strategy == "local-cache" {
				show = true
				if in.cache[ev] {
					text += fmt.Sprintf("; its cache holds event %d, so it will skip it", ev)
				} else {
					text += fmt.Sprintf("; its cache does not hold event %d, so it processes it", ev)
				}
			}
			merge := -1
			if d, ok := r.delivered[[2]uint32{rec.Msg, uint32(rec.Arg)}]; ok {
				merge = d
			}
			r.emit(item{at: rec.At, inst: inst, actor: fmt.Sprintf("instance %d", inst), text: text, state: r.state(), showState: show, rec: i, merge: merge})
		}

	case recCall:
		op := int(rec.Arg)
		c := &pending{op: op, msg: rec.Msg, ev: ev, at: rec.At, gen: in.gen}
		switch op {
		case opInsert, opApply:
			if in.cur == nil {
				in.cur = &txn{inst: inst, gen: in.gen}
			}
			in.cur.stmts = append(in.cur.stmts, stmt{op: op, ev: ev})
			c.tx = in.cur
		case opCommit, opRollback:
			if in.cur == nil {
				in.cur = &txn{inst: inst, gen: in.gen}
			}
			c.tx = in.cur
			in.cur = nil
		}
		in.calls = append(in.calls, c)

	case recServe:
		c := r.takeCall(inst, rec.Msg, ev, rec.At, int(rec.Arg), true)
		if c == nil {
			return
		}
		r.serve(i, rec, f, c, tell)

	case recPark:
		c := r.takeCall(inst, rec.Msg, ev, rec.At, parkCode, false)
		if c != nil && c.op == opApply {
			r.parkApply(i, rec, f, c, tell)
			break
		}
		if c != nil {
			c.parked, c.parkedAt, c.parkAborts = true, rec.At, r.aborts
		}
		if tell {
			owner := "another instance's"
			for j, o := range r.insts {
				if o.cur != nil && o.cur.status == 0 && int32(j) != inst && o.cur.holds(opInsert, ev) {
					owner = fmt.Sprintf("instance %d's", j)
				}
			}
			r.say(i, rec.At, inst, fmt.Sprintf("inserts event %d into the processed-ids table, but %s open transaction inserted it first: the database makes this insert wait for that transaction to end", ev, owner), true)
		}

	case recCallHeld:
		f.held = append(f.held, rec.At)
		// A request is held when it is sent, so it is the call just made;
		// otherwise the reply is held, and its call was served already.
		what := "reply"
		if k := len(in.calls) - 1; k >= 0 && in.calls[k].at == rec.At && in.calls[k].op == int(rec.Arg) && in.calls[k].msg == rec.Msg {
			in.calls[k].held = true
			what = "request"
		}
		if tell {
			target := "Redis"
			if isDB(int(rec.Arg)) {
				target = "the database"
			}
			r.say(i, rec.At, inst, fmt.Sprintf("is cut off from %s: the network holds the %s of its %s until the partition heals", target, what, opWord(rec.Arg)), false)
		}

	case recTimeout:
		f.timeouts = append(f.timeouts, rec.At)
		var tc *pending
		for _, c := range in.calls {
			if c.msg == rec.Msg && c.ev == ev && c.op == int(rec.Arg) && !c.timedOut {
				c.timedOut = true
				tc = c
				break
			}
		}
		fl := failure{inst: inst, at: rec.At, what: fmt.Sprintf("gave up on its %s after 1 s without a reply", opWord(rec.Arg))}
		waiting := tc != nil && tc.parked && tc.holder != nil
		if waiting {
			r.noteLockFaults(f, tc.holder)
			acct := r.a.account(ev)
			fl.what = fmt.Sprintf("gave up on its %s after 1 s, while it still waited for account %d's row lock", opWord(rec.Arg), acct)
			fl.lock = r.lockWords(tc.holder, inst, acct)
		}
		f.failures = append(f.failures, fl)
		if isDB(int(rec.Arg)) {
			if tc != nil && tc.tx != nil && tc.tx.dropped == "" {
				tc.tx.dropped = "gave up"
			}
			r.abandon(in, "gave up")
		}
		if tell {
			text := fmt.Sprintf("gives up waiting for the reply to its %s after 1 s: it cannot know whether the call took effect, and its handler fails", opWord(rec.Arg))
			if waiting {
				text = fmt.Sprintf("gives up waiting for the reply to its %s after 1 s, while the database still makes it wait for account %d's row lock: to the instance the outcome is unknown, and its handler fails", opWord(rec.Arg), r.a.account(ev))
			}
			if isDB(int(rec.Arg)) {
				text += "; it drops its database connection, so the database will roll back whatever it left open"
			}
			r.say(i, rec.At, inst, text, false)
		}

	case recHandled:
		res := "error"
		switch strategies.Outcome(rec.Arg) {
		case strategies.Applied:
			res = "applied"
			if r.a.cfg.Strategy == "local-cache" {
				in.cache[ev] = true
			}
		case strategies.Skipped:
			res = "skipped"
			f.skips = append(f.skips, instAt{inst, rec.At})
		default:
			f.failures = append(f.failures, failure{inst: inst, at: rec.At, what: "had its handler fail"})
		}
		if in.att >= 0 && in.attEv == ev {
			f.attempts[in.att].end, f.attempts[in.att].result = rec.At, res
		}
		in.att = -1
		if tell {
			var text string
			show := false
			switch res {
			case "applied":
				text = "its handler returns applied"
				if r.a.cfg.Strategy == "local-cache" {
					text += fmt.Sprintf(", and it remembers event %d in its cache", ev)
					show = true
				}
			case "skipped":
				text = "its handler returns skipped: it judged the delivery a duplicate and did nothing"
			default:
				text = fmt.Sprintf("its handler fails: it nacks m%d, and the broker will deliver it again", rec.Msg)
			}
			r.say(i, rec.At, inst, text, show)
		}

	case recAckLost:
		cut := in != nil && in.cut&toBroker != 0
		f.ackLost = append(f.ackLost, instAt{inst, rec.At})
		if cut {
			f.ackLostCut = append(f.ackLostCut, rec.At)
		}
		if tell {
			why := "the ack is lost on the way (the broker's ordinary at-least-once behaviour)"
			if cut {
				why = "it is cut off from the broker, so the ack is lost"
			}
			r.say(i, rec.At, inst, fmt.Sprintf("acks m%d, but %s: the broker still thinks m%d is being handled", rec.Msg, why, rec.Msg), false)
		}

	case recAcked:
		r.done[rec.Msg] = true
		f.acked = append(f.acked, instAt{inst, rec.At})
		if tell {
			r.sayAs(i, rec.At, -1, "broker", fmt.Sprintf("gets instance %d's ack of m%d: m%d is done", inst, rec.Msg, rec.Msg), false)
		}

	case recRequeue:
		f.requeues = append(f.requeues, instAt{inst, rec.At})
		if tell {
			text := fmt.Sprintf("puts m%d back in the queue after instance %d's nack", rec.Msg, inst)
			if rec.Arg == 1 {
				text = fmt.Sprintf("has had no ack of m%d within its 5 s ack deadline: it puts m%d back in the queue, for any instance", rec.Msg, rec.Msg)
			}
			r.sayAs(i, rec.At, -1, "broker", text, false)
		}

	case recCrash:
		r.crash(i, rec, in, f, tell)

	case recRestart:
		in.up = true
		in.cache = map[uint32]bool{}
		if r.emit != nil && in.crashOK {
			text := "restarts with empty memory"
			if r.a.cfg.Strategy == "local-cache" {
				text += ": its cache is empty"
			}
			r.say(i, rec.At, inst, text, r.a.cfg.Strategy == "local-cache")
		}

	case recStall:
		f.stalls = append(f.stalls, rec.At)
		in.stallTo = rec.At + rec.Arg
		if tell {
			r.say(i, rec.At, inst, fmt.Sprintf("stalls for %v (slow), longer than m%d's 5 s ack deadline", time.Duration(rec.Arg).Round(time.Millisecond), rec.Msg), false)
		}

	case recPartition:
		// Windows may overlap: the instance is reachable again only when
		// the last one closes.
		var text string
		if rec.Arg != 0 {
			added := uint8(rec.Arg) &^ in.cut
			in.cutN++
			in.cut |= uint8(rec.Arg)
			if in.cutN == 1 {
				text = "is cut off from " + targetWords(added) + " (a partition)"
			} else if added != 0 {
				text = "is now cut off from " + targetWords(added) + " too"
			}
		} else if in.cutN > 0 {
			in.cutN--
			if in.cutN == 0 {
				in.cut = 0
				text = "is reachable again: its partition heals"
			}
		}
		if text != "" && r.emit != nil && r.inSpan(rec.At) && r.a.facts[r.focus].involved[inst] {
			r.say(i, rec.At, inst, text, false)
		}

	case recStoreLoss:
		r.storeLoss(i, rec)

	case recStoreUp:
		if r.emit != nil && r.lossTold {
			r.sayAs(i, rec.At, -1, "redis", "is back and answers calls again", false)
			r.lossTold = false
		}

	case recTxAbort:
		r.aborts++
		for len(r.abandoned) > 0 {
			t := r.abandoned[0]
			r.abandoned = r.abandoned[1:]
			if t.status != 0 {
				continue
			}
			t.status = 2
			if r.emit != nil && t.about(r.focus) {
				r.sayAs(i, rec.At, -1, "database", fmt.Sprintf("notices that instance %d's connection is gone and rolls back its open transaction: %s", t.inst, t.lost(r.focus)), true)
			}
			break
		}

	case recHeal:
		for _, in := range r.insts {
			in.cut, in.cutN = 0, 0
		}
		// The heal matters to the story only where it ends something:
		// a partition or Redis being down.
		if r.emit != nil && r.inSpan(rec.At) && r.a.cfg.Faults&faults.Of(faults.Partition, faults.StoreLoss) != 0 {
			r.sayAs(i, rec.At, -1, "-", "the faults heal: partitions end, Redis is up, and every event must now settle", false)
		}
	}
}

// serve applies a store call's answer to the state.
func (r *replayer) serve(i int, rec legacyRecord, f *facts, c *pending, tell bool) {
	inst, ev := rec.Inst, rec.Event
	in := r.insts[inst]
	code := int(rec.Arg)
	store := "Redis"
	if isDB(c.op) {
		store = "the database"
	}
	// what is the step as the instance does it; result is what the store
	// did. A call whose sender crashed or gave up on it is told as arriving
	// late, with its result alone.
	var what, result string
	late := ""
	switch {
	case c.timedOut:
		late = fmt.Sprintf("its %s, which it had given up on, reaches %s after all: ", opWord(int64(c.op)), store)
	case c.gen != in.gen || !in.up:
		late = fmt.Sprintf("its %s, sent just before it crashed, still reaches %s: ", opWord(int64(c.op)), store)
	}
	if code == codeRefused {
		f.refused = append(f.refused, rec.At)
		f.failures = append(f.failures, failure{inst: inst, at: rec.At, what: fmt.Sprintf("found Redis down (its %s was refused)", opWord(int64(c.op)))})
		if tell {
			r.say(i, rec.At, inst, late+fmt.Sprintf("Redis is down and refuses its %s: the handler fails", opWord(int64(c.op))), false)
		}
		return
	}
	switch c.op {
	case opSetNX:
		what = fmt.Sprintf("claims event %d in Redis with SET NX", ev)
		if code == codeTrue {
			r.redis[ev] = &mark{written: rec.At, exp: rec.At + r.a.ttl}
			f.keySets = append(f.keySets, stored{inst, c.at, rec.At})
			result = "no key existed, so the key is set and the claim is taken"
		} else {
			what = fmt.Sprintf("tries to claim event %d in Redis with SET NX", ev)
			result = "the key is already there, so the handler will skip"
		}
	case opExists:
		what = fmt.Sprintf("checks Redis for event %d's key", ev)
		if code == codeTrue {
			result = "it is there, so the handler will skip"
		} else {
			f.checks = append(f.checks, instAt{inst, rec.At})
			result = "it is not there, so the handler goes on to apply the effect"
		}
	case opSet:
		r.redis[ev] = &mark{written: rec.At, exp: rec.At + r.a.ttl}
		f.keySets = append(f.keySets, stored{inst, c.at, rec.At})
		what = fmt.Sprintf("sets event %d's key in Redis, now that the effect is committed", ev)
		result = "the key is set"
	case opInsert, opApply:
		if code == codeTxAborted {
			what = fmt.Sprintf("sends its %s", opWord(int64(c.op)))
			result = "the database had already rolled its transaction back"
			break
		}
		for k := range c.tx.stmts {
			if s := &c.tx.stmts[k]; s.op == c.op && s.ev == ev && !s.ok {
				s.ok, s.at = code == codeTrue, rec.At
				break
			}
		}
		if c.op == opApply && code == codeTrue {
			acct := r.a.account(ev)
			r.rowLock[acct] = c.tx
			if c.parked {
				what = fmt.Sprintf("gets account %d's row lock", acct)
				ended := "the transaction that held it has ended"
				if h := c.holder; h != nil {
					ended = fmt.Sprintf("instance %d's transaction %s", h.inst, r.endWords(h))
					if h.inst == inst {
						ended = "its own earlier transaction " + r.endWords(h)
					}
				}
				result = fmt.Sprintf("%s, so the database lets the waiting Apply through; event %d's effect is applied, not committed yet", ended, ev)
				if c.timedOut {
					// Its client gave up on it and dropped the connection:
					// nothing of it will commit.
					late = ""
					what = fmt.Sprintf("the Apply it gave up on gets account %d's row lock after all", acct)
					result = "the transaction that held it has ended; but the instance has dropped its connection, so the database will roll this transaction back"
				}
				break
			}
		}
		if c.op == opInsert && code == codeFalse {
			what = fmt.Sprintf("inserts event %d into the processed-ids table", ev)
			result = "it is already there (the unique constraint), so the handler will skip"
			break
		}
		return // told with the commit, or with the rollback that undoes it
	case opCommit:
		what = "commits its transaction"
		if code == codeTxAborted {
			c.tx.status = 2
			result = "the database had already rolled the transaction back: nothing of it is kept"
			break
		}
		c.tx.status = 1
		var parts []string
		for _, s := range c.tx.stmts {
			if !s.ok {
				continue
			}
			switch s.op {
			case opInsert:
				r.processed[s.ev] = true
				r.fact(s.ev).idCommits = append(r.fact(s.ev).idCommits, stored{inst, c.at, rec.At})
				parts = append(parts, fmt.Sprintf("event %d's id is in the processed-ids table", s.ev))
			case opApply:
				r.ledger[s.ev]++
				r.fact(s.ev).applied = append(r.fact(s.ev).applied, instAt{inst, rec.At})
				parts = append(parts, fmt.Sprintf("event %d's effect is in the ledger (%s)", s.ev, times(r.ledger[s.ev])))
			}
		}
		if len(parts) == 0 {
			return
		}
		result = strings.Join(parts, ", and ")
		if c.tx.holds(opInsert, ev) && !c.tx.holds(opApply, ev) {
			result += "; the effect is not applied yet"
		}
	case opRollback:
		c.tx.status = 2
		if !c.tx.holds(opApply, ev) {
			return
		}
		what = "rolls back its transaction"
		result = fmt.Sprintf("event %d's effect is discarded", ev)
	default:
		return
	}
	if tell {
		text := what + ": " + result
		if late != "" {
			text = late + result
		}
		r.say(i, rec.At, inst, text, true)
	}
}

// crash applies a crash record: the instance's memory and connection are
// gone; what it already sent still arrives.
func (r *replayer) crash(i int, rec legacyRecord, in *instState, f *facts, tell bool) {
	inst, ev := rec.Inst, rec.Event
	held := r.a.cfg.Strategy == "local-cache" && r.focus != 0 && in.cache[r.focus]
	if r.a.cfg.Strategy == "local-cache" {
		for id := range in.cache {
			r.fact(id).wiped = append(r.fact(id).wiped, instAt{inst, rec.At})
		}
	}
	step := "the ack"
	switch rec.Arg >> 8 & 0xff {
	case actCall:
		step = "its " + opWord(rec.Arg&0xff)
	case actNack:
		step = "the nack"
	}
	what, past := "crashes before "+step, "crashed before "+step
	if rec.Arg>>16 == 1 {
		what = "crashes with " + step + " in flight (sent, not yet answered)"
		past = "crashed with " + step + " in flight"
	}
	if f != nil {
		f.crashes = append(f.crashes, rec.At)
		f.failures = append(f.failures, failure{inst: inst, at: rec.At, what: past})
		if in.att >= 0 && in.attEv == ev {
			f.attempts[in.att].result = "crashed"
		}
	}
	in.att = -1
	in.up = false
	in.gen++
	in.cache = map[uint32]bool{}
	for _, c := range in.calls {
		if c.tx != nil && c.tx.status == 0 && c.tx.dropped == "" {
			c.tx.dropped = "crashed"
		}
	}
	r.abandon(in, "crashed")
	in.crashEv = ev
	in.crashOK = tell || held
	if in.crashOK && r.emit != nil {
		text := what
		if r.a.cfg.Strategy == "local-cache" {
			text += ": its cache is gone with its memory"
		}
		r.say(i, rec.At, inst, text+"; it will restart later", r.a.cfg.Strategy == "local-cache")
	}
}

// storeLoss applies a Redis data loss: a restart drops every key, a
// failover the keys written last (the record says how many).
func (r *replayer) storeLoss(i int, rec legacyRecord) {
	var ids []uint32
	for id := range r.redis {
		ids = append(ids, id)
	}
	// Newest first; among equal times, larger ids first (any fixed order
	// will do: equal times are lost together).
	sort.Slice(ids, func(x, y int) bool {
		mx, my := r.redis[ids[x]], r.redis[ids[y]]
		if mx.written != my.written {
			return mx.written > my.written
		}
		return ids[x] > ids[y]
	})
	n := len(ids)
	if rec.Arg == 2 {
		n = min(n, int(rec.Event))
	}
	focusLost := false
	for _, id := range ids[:n] {
		if r.live(id, rec.At) {
			r.fact(id).keyLost = append(r.fact(id).keyLost, instAt{int32(rec.Arg), rec.At})
			if id == r.focus {
				focusLost = true
			}
		}
		delete(r.redis, id)
	}
	if r.emit == nil || !needsMarks(r.a.cfg.Strategy) || !(focusLost || r.inSpan(rec.At)) {
		return
	}
	text := fmt.Sprintf("restarts empty: every key is gone (%d lost)", rec.Event)
	if rec.Arg == 2 {
		text = fmt.Sprintf("fails over to a replica that lags behind: the keys written last are gone (%d lost)", rec.Event)
	}
	if focusLost {
		text += fmt.Sprintf(", event %d's among them", r.focus)
	}
	r.lossTold = true
	r.sayAs(i, rec.At, -1, "redis", text+"; it refuses calls until it is back", true)
}

// inSpan reports whether t falls within the focus event's story: from its
// first publish to its last record.
func (r *replayer) inSpan(t int64) bool {
	f := r.a.facts[r.focus]
	return f != nil && t >= f.first && t <= min(f.last, r.a.cut)
}

// holds reports whether t has a statement op about ev that the database
// accepted.
func (t *txn) holds(op int, ev uint32) bool {
	for _, s := range t.stmts {
		if s.op == op && s.ev == ev && s.ok {
			return true
		}
	}
	return false
}

// about reports whether t has an accepted statement about ev.
func (t *txn) about(ev uint32) bool { return t.holds(opInsert, ev) || t.holds(opApply, ev) }

// lost says what a rollback of t discards about ev.
func (t *txn) lost(ev uint32) string {
	switch {
	case t.holds(opInsert, ev) && t.holds(opApply, ev):
		return fmt.Sprintf("event %d's id and effect are discarded", ev)
	case t.holds(opApply, ev):
		return fmt.Sprintf("event %d's effect is discarded", ev)
	}
	return fmt.Sprintf("event %d's id is discarded", ev)
}

// state renders the state that matters for the strategy: the local caches,
// the Redis keys or the processed ids, and the committed ledger rows.
func (r *replayer) state() string {
	var parts []string
	switch r.a.cfg.Strategy {
	case "local-cache":
		var cs []string
		for i, in := range r.insts {
			if !in.up {
				cs = append(cs, fmt.Sprintf("i%d down", i))
				continue
			}
			cs = append(cs, fmt.Sprintf("i%d %s", i, idSet(in.cache)))
		}
		parts = append(parts, "caches: "+strings.Join(cs, ", "))
	case "redis", "redis-after":
		var ids []uint32
		for id, m := range r.redis {
			if m.exp > r.now() {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		var ks []string
		for _, id := range ids {
			k := fmt.Sprintf("e%d", id)
			if r.a.ttl < int64(time.Hour) {
				k += fmt.Sprintf(" (expires at %.3f ms)", ms(r.redis[id].exp))
			}
			ks = append(ks, k)
		}
		parts = append(parts, "redis keys: "+orNone(ks))
	case "db-unique", "db-unique-split":
		set := map[uint32]bool{}
		for id := range r.processed {
			set[id] = true
		}
		parts = append(parts, "processed ids: "+idSet(set))
	}
	var ids []uint32
	for id, n := range r.ledger {
		if n > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var ls []string
	for _, id := range ids {
		ls = append(ls, fmt.Sprintf("e%d ×%d", id, r.ledger[id]))
	}
	parts = append(parts, "ledger: "+orNone(ls))
	return strings.Join(parts, " | ")
}

// now is the time of the step being told, for which keys are live.
func (r *replayer) now() int64 { return r.clock }

func idSet(set map[uint32]bool) string {
	var ids []uint32
	for id, ok := range set {
		if ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return "{" + strings.Join(s, ",") + "}"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func targetWords(mask uint8) string {
	var parts []string
	if mask&toBroker != 0 {
		parts = append(parts, "the broker")
	}
	if mask&toRedis != 0 {
		parts = append(parts, "Redis")
	}
	if mask&toDB != 0 {
		parts = append(parts, "the database")
	}
	return strings.Join(parts, ", ")
}

// times says n applications in words.
func times(n int) string {
	switch n {
	case 1:
		return "applied once"
	case 2:
		return "applied twice"
	}
	return fmt.Sprintf("applied %d times", n)
}

// ttlWords renders a mark TTL, rounded to the millisecond.
func ttlWords(ttl int64) string { return time.Duration(ttl).Round(time.Millisecond).String() }

// ms converts simulated nanoseconds to milliseconds.
func ms(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }
