package broker

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/idemsim/idemsim/run"
)

// Defaults of the log's parameters. They are part of the simulator's
// determinism contract: changing one changes every trace of the log.
const (
	DefaultPartitions      = 6               // the topic's partitions
	DefaultBatch           = 5               // records per poll (Kafka's max.poll.records)
	DefaultSessionTimeout  = 3 * time.Second // a silent member is evicted after this
	DefaultMaxPollInterval = 5 * time.Second // a member that does not poll within this leaves; also the rebalance timeout
	AutoCommitInterval     = 5 * time.Second // a consumer with --commit auto commits this often (auto.commit.interval.ms)
)

// LogParams are the parameters of the log model, each with its value
// spelled out (LogParamsOf fills in a run's defaults).
type LogParams struct {
	// Partitions is the topic's number of partitions, 1 to
	// run.MaxPartitions: a message of key k goes to partition 1+k%P.
	Partitions int
	// Batch is the most records one poll returns (max.poll.records), all
	// of one partition.
	Batch int
	// Commit is when the consumer commits: after each batch (the Last
	// record of a batch) or after each record (every record is Last).
	Commit run.CommitMode
	// SessionTimeout is how long the coordinator waits without a
	// member's heartbeat before it evicts the member.
	SessionTimeout time.Duration
	// MaxPollInterval is how long a member may handle a batch before the
	// Java client's heartbeat thread makes it leave the group
	// (max.poll.interval.ms), and how long a rebalance waits for the
	// members to rejoin (the Java client's rebalance timeout is its
	// max-poll interval).
	MaxPollInterval time.Duration
}

// DefaultLog is the log with every parameter at its default.
var DefaultLog = LogParams{
	Partitions: DefaultPartitions, Batch: DefaultBatch, Commit: run.CommitBatch,
	SessionTimeout: DefaultSessionTimeout, MaxPollInterval: DefaultMaxPollInterval,
}

// LogParamsOf returns the log's parameters that a run's p asks for: each
// zero value of p is the default's. The queue's parameters are ignored
// (run.Config.Validate refuses them on the log).
func LogParamsOf(p run.BrokerParams) LogParams {
	l := DefaultLog
	if p.Partitions != 0 {
		l.Partitions = p.Partitions
	}
	if p.Batch != 0 {
		l.Batch = p.Batch
	}
	if p.Commit != 0 {
		l.Commit = p.Commit
	}
	if p.SessionTimeout != 0 {
		l.SessionTimeout = p.SessionTimeout
	}
	if p.MaxPollInterval != 0 {
		l.MaxPollInterval = p.MaxPollInterval
	}
	return l
}

// Validate reports what is wrong with p, or nil.
func (p LogParams) Validate() error {
	switch {
	case p.Partitions < 1 || p.Partitions > run.MaxPartitions:
		return fmt.Errorf("broker: log: partitions %d: want 1 to %d", p.Partitions, run.MaxPartitions)
	case p.Batch < 1 || p.Batch > run.MaxPrefetch:
		return fmt.Errorf("broker: log: batch %d: want 1 to %d", p.Batch, run.MaxPrefetch)
	case p.Commit != run.CommitBatch && p.Commit != run.CommitRecord && p.Commit != run.CommitAuto:
		return fmt.Errorf("broker: log: commit mode %d: want batch or record", p.Commit)
	case p.SessionTimeout <= 0:
		return fmt.Errorf("broker: log: session timeout %v: want more than 0", p.SessionTimeout)
	case p.MaxPollInterval <= 0:
		return fmt.Errorf("broker: log: max-poll interval %v: want more than 0", p.MaxPollInterval)
	}
	return nil
}

// logMsg is one published copy of an event, as the log holds it.
type logMsg struct {
	part     int32 // its partition, from 1
	off      int32 // its offset in the partition; -1 until published
	accepted bool  // a commit covered it once: its Accepted was emitted
}

// partition is one partition of the topic.
type partition struct {
	recs      []uint32 // the messages at each offset
	committed int32    // the group's committed offset: the next to read
	pos       int32    // the owner's fetch position
	owner     uint32   // the member it is assigned to; 0: none
}

// member is one member of the consumer group: one incarnation of an
// instance, or a rejoin of an evicted one. Members are numbered by serial
// from 1, in the order they are made; a member is never reused, so a
// timer that names one is never mistaken for another's.
type member struct {
	inst  int32
	igen  uint32 // the instance's incarnation (Up's gen)
	parts uint64 // the partitions it is assigned, bit p-1 for partition p
	rr    int32  // the partition index (from 0) where its next poll looks first
	given uint32 // the generation of its last assignment

	silences uint32 // how many times its heartbeats stopped: the Session timer's Msg
	polls    uint32 // how many batches it was handed: the MaxPoll timer's Msg

	joined     bool // it joined the group once (Up while cut off joins at Reconnect)
	inGroup    bool // the coordinator counts it a member
	alive      bool // its process runs (Down and Leave end it)
	silent     bool // its heartbeats stop: it crashed, paused or is cut off
	waiting    bool // it is in a poll with nothing in hand
	rejoined   bool // it rejoined the rebalance in progress
	pollLapsed bool // its max-poll interval passed while it was cut off
	seeks      bool // its consumer seeks on assignment (SeekOnAssign)
	unsought   bool // its last assignment waits for its consumer's seeks (Sought)
}

// logInst is one instance as the log sees it.
type logInst struct {
	cur   uint32 // its latest member; 0: none yet
	up    bool   // it runs
	cut   bool   // it is cut off from the broker
	seeks bool   // its consumer seeks on assignment (SeekOnAssign)
}

// Log is a partitioned log read by a Kafka consumer group: the classic
// eager protocol with the range assignor, and the Java client's max-poll
// interval (its heartbeat thread leaves the group when the consumer has
// not polled within it; franz-go would stay and be evicted only by the
// rebalance timeout).
//
// A message of key k is appended to partition 1+k%P at the next offset, so
// every copy of an event (a producer's retry too) lands in one partition.
// Each partition has one owner at a time, the member the last rebalance
// gave it to; a member's poll returns up to a batch of records of one of
// its partitions, taking its partitions in turn, from its position, which
// an assignment resets to the group's committed offset.
//
// Members: each incarnation of an instance joins as a new member (Up). A
// member's heartbeats are not simulated one by one: it is alive while its
// instance runs and can reach the broker. When they stop (Down, Disconnect,
// which the world also calls for a paused process) its session timer runs,
// and if they do not resume (Reconnect) before it passes, the member is
// evicted. A member whose poll returned records and that has not polled
// again within the max-poll interval leaves (a member waiting in a poll is
// polling, however long it waits). An evicted or departed member that still
// runs does not know it: it goes on handling what it holds, its commits are
// fenced, and its next poll joins the group again as a new member.
//
// A rebalance (eager) starts when a member joins, leaves or is evicted:
// every member must rejoin, which it does at its next poll (when it has
// handled and committed its batch) or at once if it is idle in a poll. It
// ends when every member has rejoined, or when the rebalance timeout
// evicts those that have not: the generation goes up and the partitions are
// split into contiguous ranges over the members in instance order (the
// first P%n members one more). Commits are fenced by member and generation
// only, never by ownership: a commit of a member of the group from the
// current generation is accepted for any partition, even one it does not
// own, and moves the committed offset where it says, back too
// (BROKER-FACTS row 11).
type Log struct {
	p        LogParams
	msgs     []logMsg
	parts    []partition // parts[p-1] is partition p
	members  []member    // members[0] is no member
	insts    []logInst
	group    []uint32 // the members in the group, in instance order once a rebalance has ended
	gen      uint32   // the group's generation: 0 until the first rebalance ends
	rebal    bool     // a rebalance is in progress
	rebals   uint32   // rebalances begun: the RebalanceTimeout timer's Tag
	scripted bool
	fx       []Effect
}

var _ Model = (*Log)(nil)

// NewLog returns a log with parameters p, or p's error.
func NewLog(p LogParams) (*Log, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Log{p: p}, nil
}

// Params returns the log's parameters.
func (l *Log) Params() LogParams { return l.p }

// SetParams gives the log parameters p for the runs after the next Reset,
// or returns p's error and leaves them as they were.
func (l *Log) SetParams(p LogParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	l.p = p
	return nil
}

// Configure sets the parameters a run's p asks for (LogParamsOf).
func (l *Log) Configure(p run.BrokerParams) error { return l.SetParams(LogParamsOf(p)) }

// Stall is the max-poll interval: a handler slower than it makes its
// member leave the group.
func (l *Log) Stall() time.Duration { return l.p.MaxPollInterval }

// Liveness is the session timeout: a process paused longer is evicted.
func (l *Log) Liveness() time.Duration { return l.p.SessionTimeout }

// Reset empties the log for a run, reusing its memory. Message 0 exists,
// so that 0 means "no message".
func (l *Log) Reset(s Setup) {
	l.msgs = append(l.msgs[:0], logMsg{off: -1})
	if cap(l.parts) < l.p.Partitions {
		l.parts = make([]partition, l.p.Partitions)
	}
	l.parts = l.parts[:l.p.Partitions]
	for i := range l.parts {
		l.parts[i] = partition{recs: l.parts[i].recs[:0]}
	}
	l.members = append(l.members[:0], member{inst: -1})
	l.insts = append(l.insts[:0], make([]logInst, s.Instances)...)
	l.group = l.group[:0]
	l.gen, l.rebal, l.rebals = 0, false, 0
	l.scripted, l.fx = s.Scripted, l.fx[:0]
}

// Add makes a new message of key key and returns its number; its
// partition is 1+key%P.
func (l *Log) Add(key uint32) uint32 {
	l.msgs = append(l.msgs, logMsg{part: 1 + int32(key%uint32(l.p.Partitions)), off: -1})
	return uint32(len(l.msgs) - 1)
}

// Publish appends m to its partition and serves the partition's owner if
// it waits in a poll.
func (l *Log) Publish(m uint32) []Effect {
	l.fx = l.fx[:0]
	msg := &l.msgs[m]
	pt := &l.parts[msg.part-1]
	msg.off = int32(len(pt.recs))
	pt.recs = append(pt.recs, m)
	l.fx = append(l.fx, Effect{Kind: Record, Record: run.Publish, Msg: m, Inst: -1, Part: msg.part, Offset: msg.off})
	if pt.owner != 0 {
		l.serve(pt.owner)
	}
	return l.fx
}

// Deliver sends m to instance inst's latest member as a batch of one, as a
// script asks, whoever owns m's partition.
func (l *Log) Deliver(m uint32, inst int32) []Effect {
	l.fx = l.fx[:0]
	s := l.insts[inst].cur
	if s == 0 {
		return l.fx
	}
	mb := &l.members[s]
	msg := &l.msgs[m]
	l.fx = append(l.fx, Effect{Kind: Send, Msg: m, Inst: inst, Gen: mb.igen, Tag: l.gen, Part: msg.part, Offset: msg.off, Last: true})
	l.handOut(s)
	return l.fx
}

// Up: instance inst started as incarnation gen: a new member joins the
// group and waits in its first poll. The member of its last incarnation,
// if still in the group, stays until its session expires.
func (l *Log) Up(inst int32, gen uint32) []Effect {
	l.fx = l.fx[:0]
	in := &l.insts[inst]
	if old := in.cur; old != 0 && l.members[old].alive {
		// Up with no Down or Leave before it: the last incarnation
		// is gone all the same, as if it crashed.
		l.members[old].alive, l.members[old].waiting = false, false
		l.silence(old)
	}
	in.up = true
	s := l.newMember(inst, gen)
	l.members[s].waiting = true
	if !in.cut {
		l.join(s)
	}
	return l.fx
}

// Down: instance inst crashed. Its member's heartbeats stop, and its
// session timer runs.
func (l *Log) Down(inst int32) []Effect {
	l.fx = l.fx[:0]
	in := &l.insts[inst]
	in.up = false
	if s := in.cur; s != 0 {
		mb := &l.members[s]
		mb.alive, mb.waiting = false, false
		l.silence(s)
	}
	return l.fx
}

// Leave: instance inst stopped gracefully, having committed what it
// handled: its member leaves the group, which rebalances. Cut off from the
// broker, its LeaveGroup is lost: it is as gone as a crash, and its
// session timer decides.
func (l *Log) Leave(inst int32) []Effect {
	l.fx = l.fx[:0]
	in := &l.insts[inst]
	in.up = false
	if s := in.cur; s != 0 {
		mb := &l.members[s]
		mb.alive, mb.waiting = false, false
		if in.cut {
			l.silence(s)
		} else if mb.inGroup {
			l.fx = append(l.fx, Effect{Kind: Record, Record: run.Leave, Inst: inst, Tag: l.gen, Cause: run.Graceful})
			l.remove(s)
		}
	}
	return l.fx
}

// Fetch: instance inst's member handled all it was sent and polls. Not in
// the group, it joins as a new member; during a rebalance, it rejoins;
// otherwise it is sent a batch, or waits for one. Cut off from the
// broker, it waits for Reconnect.
func (l *Log) Fetch(inst int32) []Effect {
	l.fx = l.fx[:0]
	in := &l.insts[inst]
	if s := in.cur; s != 0 && in.up && l.members[s].alive {
		l.members[s].waiting = true
		l.members[s].pollLapsed = false
		if !in.cut {
			l.poll(inst)
		}
	}
	return l.fx
}

// Disconnect: instance inst was cut off from the broker (or paused): its
// member's heartbeats stop, and its session timer runs.
func (l *Log) Disconnect(inst int32) []Effect {
	l.fx = l.fx[:0]
	in := &l.insts[inst]
	in.cut = true
	if s := in.cur; s != 0 && in.up {
		l.silence(s)
	}
	return l.fx
}

// Reconnect: instance inst can reach the broker again. Its member's
// heartbeats resume, which voids its session timer if it was not yet
// evicted; if it waits in a poll, the poll goes through now; if its
// max-poll interval passed while it was cut off, it leaves now.
func (l *Log) Reconnect(inst int32) []Effect {
	l.fx = l.fx[:0]
	in := &l.insts[inst]
	in.cut = false
	s := in.cur
	if s == 0 || !in.up {
		return l.fx
	}
	mb := &l.members[s]
	if !mb.alive {
		return l.fx
	}
	mb.silent = false
	switch {
	case mb.waiting:
		l.poll(inst)
	case mb.pollLapsed && mb.inGroup:
		mb.pollLapsed = false
		l.fx = append(l.fx, Effect{Kind: Record, Record: run.Leave, Inst: inst, Tag: l.gen, Cause: run.MaxPollPassed})
		l.remove(s)
	}
	return l.fx
}

// SeekOnAssign says that instance inst's consumer seeks on assignment,
// as a Kafka consumer with a rebalance listener that reads its own stored
// offsets does (offset-in-db): each assignment its members get is held,
// nothing fetched, until the consumer has sought (Seek) and says it is done
// (Sought). It holds for the instance's members from its next Up on, for
// the run.
func (l *Log) SeekOnAssign(inst int32) { l.insts[inst].seeks = true }

// Seek: instance inst's consumer, assigned in generation gen, moves its
// fetch position in partition part (from 1) to offset next, which it read
// from its own store. It takes effect only if its member still holds that
// assignment, waits for its seeks and owns the partition; a seek beyond
// the partition's end stops at the end.
func (l *Log) Seek(inst, part, next int32, gen uint32) []Effect {
	l.fx = l.fx[:0]
	s := l.insts[inst].cur
	if s == 0 || part < 1 || int(part) > len(l.parts) {
		return l.fx
	}
	mb := &l.members[s]
	if !mb.unsought || !mb.inGroup || mb.given != gen || l.gen != gen || mb.parts&(1<<(part-1)) == 0 {
		return l.fx
	}
	pt := &l.parts[part-1]
	pt.pos = min(max(next, 0), int32(len(pt.recs)))
	l.fx = append(l.fx, Effect{Kind: Record, Record: run.Seek, Inst: inst, Tag: gen, Part: part, Offset: pt.pos})
	return l.fx
}

// RecordAt is the message at offset off of partition part (from 1), if
// there is one.
func (l *Log) RecordAt(part, off int32) (uint32, bool) {
	if part < 1 || int(part) > len(l.parts) || off < 0 || int(off) >= len(l.parts[part-1].recs) {
		return 0, false
	}
	return l.parts[part-1].recs[off], true
}

// Sought: instance inst's consumer, assigned in generation gen, has
// sought: its member's assignment is no longer held, and it is served if
// it waits in a poll.
func (l *Log) Sought(inst int32, gen uint32) []Effect {
	l.fx = l.fx[:0]
	s := l.insts[inst].cur
	if s == 0 {
		return l.fx
	}
	if mb := &l.members[s]; mb.unsought && mb.given == gen {
		mb.unsought = false
		l.serve(s)
	}
	return l.fx
}

// Ack: instance inst's commit of m's partition at m's offset + 1, from
// generation tag, reached the broker. It is fenced if inst's member is not
// in the group, or tag is not the group's generation; otherwise the
// partition's committed offset becomes offset(m)+1, even if that is lower,
// and each record it newly covers is accepted.
func (l *Log) Ack(m, tag uint32, inst int32, sent int64) []Effect {
	l.fx = l.fx[:0]
	msg := &l.msgs[m]
	next := msg.off + 1
	s := l.insts[inst].cur
	switch {
	case s == 0 || !l.members[s].inGroup:
		l.fx = append(l.fx, Effect{Kind: Record, Record: run.Fenced, Inst: inst, Msg: m, Tag: tag, Part: msg.part, Offset: next, Cause: run.UnknownMember})
	case tag != l.gen:
		l.fx = append(l.fx, Effect{Kind: Record, Record: run.Fenced, Inst: inst, Msg: m, Tag: tag, Part: msg.part, Offset: next, Cause: run.StaleGeneration})
	default:
		pt := &l.parts[msg.part-1]
		old := pt.committed
		pt.committed = next
		l.fx = append(l.fx, Effect{Kind: Record, Record: run.Committed, Inst: inst, Msg: m, Tag: tag, Part: msg.part, Offset: next})
		for off := old; off < next; off++ {
			r := pt.recs[off]
			if !l.msgs[r].accepted {
				l.msgs[r].accepted = true
				l.fx = append(l.fx, Effect{Kind: Accepted, Inst: inst, Msg: r, Sent: sent})
			}
		}
	}
	return l.fx
}

// Nack is never sent on the log: its consumer retries a failed record in
// place. It does nothing.
func (l *Log) Nack(uint32, uint32) []Effect { return nil }

// Fire handles a due timer: a member's session timeout (Tag: the member,
// Msg: which silence), its max-poll interval (Tag: the member, Msg: which
// batch), or a rebalance's timeout (Tag: which rebalance). A timer that no
// longer counts is ignored. A timer the log never arms is a broken
// invariant and panics.
func (l *Log) Fire(t Timer, m, tag uint32) []Effect {
	l.fx = l.fx[:0]
	switch t {
	case Session:
		mb := &l.members[tag]
		if mb.inGroup && mb.silent && mb.silences == m {
			l.fx = append(l.fx, Effect{Kind: Record, Record: run.Evict, Inst: mb.inst, Tag: l.gen, Cause: run.SessionExpired})
			l.remove(tag)
		}
	case MaxPoll:
		mb := &l.members[tag]
		if !mb.inGroup || mb.polls != m || mb.waiting || !mb.alive {
			break
		}
		if mb.silent {
			// Its heartbeat thread cannot reach the coordinator:
			// it leaves when it can, unless it polls first.
			mb.pollLapsed = true
			break
		}
		l.fx = append(l.fx, Effect{Kind: Record, Record: run.Leave, Inst: mb.inst, Tag: l.gen, Cause: run.MaxPollPassed})
		l.remove(tag)
	case RebalanceTimeout:
		if l.rebal && tag == l.rebals {
			l.timeOut()
		}
	default:
		panic(fmt.Sprintf("broker: invariant broken: the log has no timer %d", t))
	}
	return l.fx
}

// Done reports whether the group's committed offset of m's partition is
// past m.
func (l *Log) Done(m uint32) bool {
	msg := &l.msgs[m]
	return msg.off >= 0 && l.parts[msg.part-1].committed > msg.off
}

// Dead is always false: the log gives up on no record.
func (l *Log) Dead(uint32) bool { return false }

// Committed returns the group's committed offset of partition p (from
// 1): the next offset the group will read.
func (l *Log) Committed(p int32) int32 { return l.parts[p-1].committed }

// Generation returns the group's generation: 0 until the first rebalance
// ends.
func (l *Log) Generation() uint32 { return l.gen }

// MemberGeneration returns the generation of the last assignment that
// instance inst's latest member had, or 0 if it is no member of the
// group or was never assigned. A real client commits with it, not with the
// generation its records were fetched in: a world that wants a rejoined
// ex-zombie's late commit of old records accepted, as kfake accepted it
// (BROKER-FACTS row 11), tags the commit with this.
func (l *Log) MemberGeneration(inst int32) uint32 {
	s := l.insts[inst].cur
	if s == 0 || !l.members[s].inGroup {
		return 0
	}
	return l.members[s].given
}

// Placement returns m's partition (from 1) and offset (-1 if it is not
// yet published).
func (l *Log) Placement(m uint32) (part, offset int32) { return l.msgs[m].part, l.msgs[m].off }

// newMember makes a new member for incarnation gen of instance inst, the
// instance's latest.
func (l *Log) newMember(inst int32, gen uint32) uint32 {
	l.members = append(l.members, member{inst: inst, igen: gen, alive: true, seeks: l.insts[inst].seeks})
	s := uint32(len(l.members) - 1)
	l.insts[inst].cur = s
	return s
}

// silence stops member s's heartbeats and arms its session timer, if it
// is in the group and they were running.
func (l *Log) silence(s uint32) {
	mb := &l.members[s]
	if mb.silent || !mb.inGroup {
		mb.silent = true
		return
	}
	mb.silent = true
	mb.silences++
	l.fx = append(l.fx, Effect{Kind: Arm, Timer: Session, Msg: mb.silences, Tag: s, After: l.p.SessionTimeout})
}

// poll: instance inst's member, connected, polls: it joins if it is not
// in the group, rejoins a rebalance, or is served.
func (l *Log) poll(inst int32) {
	s := l.insts[inst].cur
	mb := &l.members[s]
	switch {
	case !mb.inGroup:
		if mb.joined {
			// It was evicted or left: it joins again as a new
			// member.
			s = l.newMember(inst, mb.igen)
			l.members[s].waiting = true
		}
		l.join(s)
	case l.rebal:
		if !mb.rejoined {
			mb.rejoined = true
			l.settle()
		}
	default:
		l.serve(s)
	}
}

// join adds member s to the group and begins a rebalance, or extends the
// one in progress.
func (l *Log) join(s uint32) {
	mb := &l.members[s]
	// It joins idle, in a poll: in a rebalance in progress, joining is
	// rejoining.
	mb.joined, mb.inGroup, mb.rejoined = true, true, true
	l.group = append(l.group, s)
	l.fx = append(l.fx, Effect{Kind: Record, Record: run.Join, Inst: mb.inst, Tag: l.gen})
	l.rebalance()
}

// remove takes member s out of the group, and rebalances.
func (l *Log) remove(s uint32) {
	mb := &l.members[s]
	mb.inGroup, mb.rejoined = false, false
	for i, g := range l.group {
		if g == s {
			l.group = append(l.group[:i], l.group[i+1:]...)
			break
		}
	}
	for p := mb.parts; p != 0; p &= p - 1 {
		l.parts[bits.TrailingZeros64(p)].owner = 0
	}
	mb.parts = 0
	l.rebalance()
}

// rebalance begins a rebalance, or, if one is in progress, checks
// whether it can end (a member joined or went).
func (l *Log) rebalance() {
	if l.rebal {
		l.settle()
		return
	}
	l.rebal = true
	l.rebals++
	l.fx = append(l.fx, Effect{Kind: Record, Record: run.Rebalance, Inst: -1, Tag: l.gen})
	for _, s := range l.group {
		mb := &l.members[s]
		mb.rejoined = mb.waiting && mb.alive && !mb.silent
	}
	if !l.settle() {
		l.fx = append(l.fx, Effect{Kind: Arm, Timer: RebalanceTimeout, Tag: l.rebals, After: l.p.MaxPollInterval})
	}
}

// settle ends the rebalance in progress if every member has rejoined, and
// reports whether it did.
func (l *Log) settle() bool {
	for _, s := range l.group {
		if !l.members[s].rejoined {
			return false
		}
	}
	l.assign()
	return true
}

// timeOut: the rebalance's timeout passed: the members that did not
// rejoin are evicted, and it ends.
func (l *Log) timeOut() {
	kept := l.group[:0]
	for _, s := range l.group {
		mb := &l.members[s]
		if mb.rejoined {
			kept = append(kept, s)
			continue
		}
		mb.inGroup = false
		for p := mb.parts; p != 0; p &= p - 1 {
			l.parts[bits.TrailingZeros64(p)].owner = 0
		}
		mb.parts = 0
		l.fx = append(l.fx, Effect{Kind: Record, Record: run.Evict, Inst: mb.inst, Tag: l.gen, Cause: run.RejoinTimedOut})
	}
	l.group = kept
	l.assign()
}

// assign ends the rebalance: the generation goes up, and the range
// assignor splits the partitions over the members in instance order; each
// member's positions are the committed offsets, and each that waits in a
// poll is served.
func (l *Log) assign() {
	l.rebal = false
	l.gen++
	// Insertion sort: a handful of members, mostly in order already.
	g := l.group
	for i := 1; i < len(g); i++ {
		for j := i; j > 0 && l.members[g[j]].inst < l.members[g[j-1]].inst; j-- {
			g[j], g[j-1] = g[j-1], g[j]
		}
	}
	for i := range l.parts {
		l.parts[i].owner = 0
	}
	n := len(g)
	if n == 0 {
		return
	}
	P := len(l.parts)
	each, extra := P/n, P%n
	first := 0
	for k, s := range g {
		count := each
		if k < extra {
			count++
		}
		mb := &l.members[s]
		mb.parts, mb.rr, mb.rejoined, mb.given = 0, int32(first), false, l.gen
		mb.unsought = mb.seeks
		for p := first; p < first+count; p++ {
			mb.parts |= 1 << p
			pt := &l.parts[p]
			pt.owner, pt.pos = s, pt.committed
		}
		first += count
		l.fx = append(l.fx, Effect{Kind: Record, Record: run.Assign, Inst: mb.inst, Tag: l.gen, Parts: mb.parts})
	}
	for _, s := range g {
		l.serve(s)
	}
}

// serve sends member s a batch if it waits in a poll, can be reached,
// and one of its partitions has records past its position: up to Batch
// records of one partition, its partitions taken in turn so that none
// starves.
func (l *Log) serve(s uint32) {
	mb := &l.members[s]
	if l.scripted || l.rebal || !mb.waiting || mb.parts == 0 || !mb.inGroup || !mb.alive || mb.unsought || l.insts[mb.inst].cut {
		return
	}
	P := int32(len(l.parts))
	for k := int32(0); k < P; k++ {
		p := mb.rr + k
		if p >= P {
			p -= P
		}
		pt := &l.parts[p]
		if mb.parts&(1<<p) == 0 || pt.pos >= int32(len(pt.recs)) {
			continue
		}
		end := min(pt.pos+int32(l.p.Batch), int32(len(pt.recs)))
		every := l.p.Commit == run.CommitRecord
		for off := pt.pos; off < end; off++ {
			l.fx = append(l.fx, Effect{Kind: Send, Msg: pt.recs[off], Inst: mb.inst, Gen: mb.igen, Tag: l.gen,
				Part: p + 1, Offset: off, Last: every || off == end-1})
		}
		pt.pos = end
		mb.rr = p + 1
		if mb.rr == P {
			mb.rr = 0
		}
		l.handOut(s)
		return
	}
}

// handOut: member s's poll returned records: it is busy with them, and
// its max-poll interval runs.
func (l *Log) handOut(s uint32) {
	mb := &l.members[s]
	mb.waiting = false
	mb.polls++
	l.fx = append(l.fx, Effect{Kind: Arm, Timer: MaxPoll, Msg: mb.polls, Tag: s, After: l.p.MaxPollInterval})
}
