package explain

import (
	"github.com/idemsim/idemsim/run"
)

// A story states facts, and a story that states one the run does not
// show teaches something false. So the narrator does not only write
// sentences: with each step, the violation and the why it also produces
// the facts they state, as typed claims, each naming the records it comes
// from (a call by its id, a record by its index). Story.Verify
// (verify.go) holds every claim of a story to the run's trace, and a test
// holds every story of many runs; none is checked by reading the prose.

// ClaimKind is what a claim states.
type ClaimKind uint8

// The kinds of claims. Each comment says what the claim states, with the
// fields it uses; Rec is a record's index in the trace.
const (
	// ClaimStep: the step tells record Rec, of kind Record, at At, by
	// Inst (-1: no instance) about Msg and Event (0: none named).
	ClaimStep ClaimKind = iota + 1
	// ClaimPublish: Msg is Event's copy number N (0 for the first),
	// published at At, Dur after the event's first copy; with Msg 0, the
	// producer published Event N times in all.
	ClaimPublish
	// ClaimDeliver: the broker sent Msg to Inst as delivery N (its tag),
	// at Rec.
	ClaimDeliver
	// ClaimNotArrived: the delivery of Msg to Inst at Rec never arrived,
	// because Inst was cut off from the broker (Yes) or down (not Yes):
	// crashed, or, with Record run.Leave, gone after a graceful leave (or
	// stopped, its leave on its way to the group).
	ClaimNotArrived
	// ClaimReceive: at Rec (at At, if set), Inst began handling Msg, a
	// copy of Event, as delivery N.
	ClaimReceive
	// ClaimCall: store call Call is Inst's Op about Event, on Key if Key
	// is set (a key-value call), and its store answered Answer (0: not
	// claimed); Value, if set, is the value it wrote or the value a GET
	// found; Dur, if set, the TTL it gave.
	ClaimCall
	// ClaimCallLate: call Call reached its store after its instance gave
	// up on it (Yes), or after its instance crashed (not Yes).
	ClaimCallLate
	// ClaimNoReply: call Call's answer never reached its instance.
	ClaimNoReply
	// ClaimTimeout: Inst gave up on call Call Dur after sending it.
	ClaimTimeout
	// ClaimHeld: a partition held call Call's reply (Yes) or request.
	ClaimHeld
	// ClaimPark: the database made call Call wait behind transaction Tx,
	// Inst's.
	ClaimPark
	// ClaimOutcome: the attempt that began at Rec returned Outcome at At
	// (0 and -1: it never returned).
	ClaimOutcome
	// ClaimLastCall: call Call is the last call of its attempt before the
	// handler returned, but for rollbacks.
	ClaimLastCall
	// ClaimNextCall: the next call of call Call's attempt is an Op.
	ClaimNextCall
	// ClaimCalls: the attempt that began at Rec made N store calls (at
	// least N, if Yes); or, with Op set (run.Apply), it sent no call that
	// applies the effect (an Apply or an InsertApply).
	ClaimCalls
	// ClaimAttemptApplied: the attempt that began at Rec committed its
	// event's effect (Yes), or did not.
	ClaimAttemptApplied
	// ClaimNack: after the attempt that began at Rec returned, Inst sent a
	// nack of Msg.
	ClaimNack
	// ClaimAck: Inst sent an ack of Msg at At, and the broker accepted it
	// (Yes) or it was lost (not Yes).
	ClaimAck
	// ClaimRequeue: at Rec the broker put Msg back in its queue, after
	// its ack deadline of Dur (Yes) or after a nack (not Yes). A requeue
	// because a channel closed is ClaimChannelClosed.
	ClaimRequeue
	// ClaimDeadline: the run's ack deadline is Dur: a message waited Dur
	// after its delivery before the broker put it back.
	ClaimDeadline
	// ClaimCrash: at Rec, Inst crashed at step N (run.Step) of Op, with
	// its request in flight (Yes) or before it.
	ClaimCrash
	// ClaimRestart: Inst restarted at Rec (after the crash it names).
	ClaimRestart
	// ClaimStall: at Rec, Inst stalled for Dur, holding Msg if set: its handler (not Yes:
	// slow), or the whole instance paused (Yes: zombie), which its broker
	// hears as silence.
	ClaimStall
	// ClaimCut: at Rec, Inst was cut off from at least the stores N
	// (run.Stores) if Yes, or from nothing (N 0, not Yes).
	ClaimCut
	// ClaimStoreLoss: at Rec, Redis lost data (Yes: a failover, else a
	// restart), N of its values that had not expired, Key (or the mark of
	// Event) among them if set.
	ClaimStoreLoss
	// ClaimStoreUp: at Rec, Redis was back.
	ClaimStoreUp
	// ClaimTxAbort: at Rec, the database rolled back transaction Tx, of
	// Inst, whose connection was gone.
	ClaimTxAbort
	// ClaimHeal: at Rec, the faults healed.
	ClaimHeal
	// ClaimKey: just after record Rec, at At, Key (or the mark of Event
	// for Key "") held Value (any value if Value is ""), if Yes; or held
	// nothing, if not Yes. To, if set, is when the value expires.
	ClaimKey
	// ClaimExpired: the value of Key (or the mark of Event) that call Call
	// wrote at At, with a TTL of Dur, expired at To, nothing having ended
	// it before.
	ClaimExpired
	// ClaimKeyEnded: the value of Key (or the mark of Event) that call
	// Call wrote was ended at Rec: by a DEL (Op), or lost by Redis (Op 0).
	ClaimKeyEnded
	// ClaimNoWrite: no write of Key (or the mark of Event) was served
	// after At and before To (To 0: the end of the run), by the attempt
	// that began at Rec (Rec -1: by anyone).
	ClaimNoWrite
	// ClaimLedger: just after record Rec, Event's effect was in the
	// ledger N times.
	ClaimLedger
	// ClaimApplied: a commit of Inst put Event's effect in the ledger at
	// At (record Rec), by transaction Tx.
	ClaimApplied
	// ClaimNotApplied: Event's effect was not in the ledger by record Rec
	// (-1: ever, by the end of the run).
	ClaimNotApplied
	// ClaimIDCommitted: just after record Rec, Event's id was in the
	// processed-ids table (Yes) or not.
	ClaimIDCommitted
	// ClaimTxHolds: transaction Tx holds Op (run.Insert: the insert of
	// Event's id; run.Apply: Event's effect, and with it the row lock of
	// Event's account).
	ClaimTxHolds
	// ClaimTxEnd: transaction Tx, of Inst (-1: not named), ended (N:
	// TxStatus) at Rec, or had not ended by Rec (N: TxOpen).
	ClaimTxEnd
	// ClaimStalled: Inst was stalled at At.
	ClaimStalled
	// ClaimMemory: by the description's rule (Teaching.Remembers), just
	// after record Rec, Inst's memory held Event (Yes) or not.
	ClaimMemory
	// ClaimUp: just after record Rec (at At, if set, for a step between
	// records), Inst was up (Yes) or down; Record, if set, says why it
	// was down (Facts.DownWhy: run.Crash, run.Leave, run.Restart for not
	// started yet).
	ClaimUp
	// ClaimNotAcked: no ack of Msg reached the broker by the end of the
	// run (on the log: no accepted commit passed it).
	ClaimNotAcked
	// ClaimHandledBefore: before record Rec, the incarnation of Inst that
	// was up then had begun N attempts of Event.
	ClaimHandledBefore
	// ClaimMarkKey: by the description (Teaching.MarkKey), Key is Event's
	// mark.
	ClaimMarkKey
	// ClaimRefers: the text refers to record Rec, which an earlier step of
	// the story (or this one) tells.
	ClaimRefers
	// ClaimBefore: record Rec came before record N.
	ClaimBefore

	// Claims about an instance's own memory (strategies.Memory), from its
	// recorded calls (run.Memory records).
	//
	// ClaimMemCall: record Rec is Inst's memory call Op (run.MemHas,
	// run.MemAdd or run.MemDel) about Event, and the memory answered Yes
	// (it held the event; the call changed it) or not.
	ClaimMemCall
	// ClaimMemHeld: just after record Rec, Inst's memory held Event (Yes)
	// or not, as its recorded calls show (a crash empties it).
	ClaimMemHeld
	// ClaimMemNone: Inst made no memory call Op about Event before record
	// N, in the attempt that began at Rec, or at all if Rec is -1.
	ClaimMemNone

	// Claims about the broker's parameters (run.BrokerParams): a queue
	// with no ack deadline, and a maximum number of deliveries.
	//
	// ClaimChannelClosed: at Rec the broker put Msg back at the head of
	// its queue because the channel of Inst, which held Msg's latest
	// delivery, closed (a requeue of cause run.ChannelClosed); N, unless
	// -1, is the record of why it closed, at the same time: Inst's crash,
	// its cut from the broker, or its lost ack (which breaks the
	// connection of a broker that acks over one).
	ClaimChannelClosed
	// ClaimDeadLetter: at Rec the broker dead-lettered Msg, a copy of
	// Event, after N deliveries: it never delivers it again.
	ClaimDeadLetter
	// ClaimDead: Event is dead: the broker dead-lettered a copy of it, no
	// ack of any copy reached the broker, and its effect was never
	// applied (run.Result.Dead).
	ClaimDead

	// Claims about instances leaving, coming back and starting late (the
	// rebalance fault); a pause (zombie) is a ClaimStall.
	//
	// ClaimLeave: at Rec, Inst left: gracefully (Yes), with no handling
	// of its own open, or (not Yes) its group dropped it for not polling
	// within the max-poll interval (the log).
	ClaimLeave
	// ClaimLateStart: Inst started only At into the run (a scale-out):
	// the run's faults say so, and the trace has no record of it before
	// (but of the partition windows drawn for it).
	ClaimLateStart

	// Claims about a partitioned log's consumer group (log.go), read
	// from its records (run.Join, run.Evict, run.Rebalance, run.Assign,
	// run.Committed, run.Fenced) and the partition and offset of its
	// messages (Part, Offset).
	//
	// ClaimOwner: just after record Rec, the group's last assignment of
	// partition Part was to Inst (-1: to no one yet), at generation N.
	ClaimOwner
	// ClaimCommitted: just after record Rec, the group's committed offset
	// of partition Part was Offset: the next record the group reads.
	ClaimCommitted
	// ClaimFenced: at Rec the broker refused Inst's commit of partition
	// Part up to Offset, from generation N, for its generation being
	// stale (Yes) or its member unknown (not Yes).
	ClaimFenced
	// ClaimNoCommit: Inst sent no commit of partition Part past Offset
	// after record Rec and before record N.
	ClaimNoCommit
	// ClaimJoin: at Rec, Inst joined the group as a new member.
	ClaimJoin
	// ClaimEvict: at Rec the coordinator evicted Inst from the group: no
	// heartbeat within the session timeout (Yes), or it did not rejoin a
	// rebalance in time (not Yes).
	ClaimEvict

	// ClaimReusedID: at Rec the producer published Msg, the first copy
	// of event N, under event Event's id (the id-reuse fault: a new
	// event with a payload of its own), and event Event was published
	// under its own id.
	ClaimReusedID
	// The downstream's (downstream.go):
	//
	// ClaimDownApply: at Rec, the downstream consumer applied (Yes) or
	// skipped as a copy (not Yes) Event's downstream event announcing the
	// effect of transaction Tx.
	ClaimDownApply
	// ClaimTxEffect: transaction Tx committed an effect of Event (Yes),
	// or did not.
	ClaimTxEffect
	// ClaimNoPublish: no publish of Event's downstream event announcing
	// a committed effect of it (with Tx set: Tx's) reached the topic.
	ClaimNoPublish
	numClaimKinds
)

var claimNames = [numClaimKinds]string{
	ClaimStep: "step", ClaimPublish: "publish", ClaimDeliver: "deliver", ClaimNotArrived: "not-arrived",
	ClaimReceive: "receive", ClaimCall: "call", ClaimCallLate: "call-late", ClaimNoReply: "no-reply",
	ClaimTimeout: "timeout", ClaimHeld: "held", ClaimPark: "park", ClaimOutcome: "outcome",
	ClaimLastCall: "last-call", ClaimAttemptApplied: "attempt-applied", ClaimNextCall: "next-call", ClaimCalls: "calls", ClaimNack: "nack",
	ClaimAck: "ack", ClaimRequeue: "requeue", ClaimDeadline: "deadline", ClaimCrash: "crash",
	ClaimRestart: "restart", ClaimStall: "stall", ClaimCut: "cut", ClaimStoreLoss: "store-loss",
	ClaimStoreUp: "store-up", ClaimTxAbort: "tx-abort", ClaimHeal: "heal", ClaimKey: "key",
	ClaimExpired: "expired", ClaimKeyEnded: "key-ended", ClaimNoWrite: "no-write", ClaimLedger: "ledger",
	ClaimApplied: "applied", ClaimNotApplied: "not-applied", ClaimIDCommitted: "id-committed",
	ClaimTxHolds: "tx-holds", ClaimTxEnd: "tx-end", ClaimStalled: "stalled", ClaimMemory: "memory", ClaimUp: "up", ClaimNotAcked: "not-acked",
	ClaimHandledBefore: "handled-before", ClaimMarkKey: "mark-key", ClaimRefers: "refers", ClaimBefore: "before",
	ClaimMemCall: "mem-call", ClaimMemHeld: "mem-held", ClaimMemNone: "mem-none",
	ClaimChannelClosed: "channel-closed", ClaimDeadLetter: "dead-letter", ClaimDead: "dead",
	ClaimLeave: "leave", ClaimLateStart: "late-start",
	ClaimOwner: "owner", ClaimCommitted: "committed", ClaimFenced: "fenced", ClaimNoCommit: "no-commit",
	ClaimJoin: "join", ClaimEvict: "evict", ClaimReusedID: "reused-id",
	ClaimDownApply: "down-apply", ClaimTxEffect: "tx-effect", ClaimNoPublish: "no-publish",
}

// String names the kind.
func (k ClaimKind) String() string {
	if k < numClaimKinds && claimNames[k] != "" {
		return claimNames[k]
	}
	return "ClaimKind(?)"
}

// Claim is one fact a story states, in the form its kind describes; the
// fields a kind does not use are zero (Rec and Inst -1).
type Claim struct {
	Kind ClaimKind
	// Record is the kind of record Rec is, for ClaimStep.
	Record     run.Kind
	Rec        int
	Inst       int32
	Msg, Event uint32
	Call, Tx   uint32
	Op         run.Op
	Answer     run.Answer
	Outcome    run.Outcome
	Key, Value string
	At, To     int64 // times, nanoseconds since the start of the run
	Dur        int64
	N          int
	Yes        bool
	// Part and Offset are, on a partitioned log, a partition (from 1; 0:
	// none claimed) and an offset in it: of a publish, a delivery or a
	// receive, where its message is (each checked when Part is set).
	Part, Offset int32
}

// claim starts a claim of kind k: no record, no instance.
func claim(k ClaimKind) Claim { return Claim{Kind: k, Rec: -1, Inst: -1} }

// claims collects claims while a text is written.
type claims []Claim

func (cs *claims) add(c ...Claim) { *cs = append(*cs, c...) }

// The claims the narrator makes most, built from the facts they state.

// stepClaim states that a step tells record i, as the trace has it.
func stepClaim(f *Facts, i int) Claim {
	r := &f.Trace[i]
	c := claim(ClaimStep)
	c.Rec, c.Record, c.At, c.Inst, c.Msg, c.Event = i, r.Kind, r.At, r.Inst, r.Msg, r.Event
	return c
}

// callClaim states what call c was and, if it was served, what its store
// answered.
func callClaim(c *Call) Claim {
	cl := claim(ClaimCall)
	cl.Call, cl.Inst, cl.Event, cl.Op, cl.Key, cl.Value, cl.Dur = c.ID, c.Inst, c.Event, c.Op, c.Key, c.Value, c.TTL
	if c.ServeRec >= 0 {
		cl.Answer = c.Answer
	}
	return cl
}

// outcomeClaim states that attempt a returned what it returned, when
// (At, -1 if it never did).
func outcomeClaim(a *Attempt) Claim {
	c := claim(ClaimOutcome)
	c.Rec, c.Inst, c.Msg, c.Event, c.Outcome, c.At = a.Rec, a.Inst, a.Msg, a.Event, a.Outcome, a.End
	return c
}

// receiveClaim states that attempt a began as it did.
func receiveClaim(a *Attempt) Claim {
	c := claim(ClaimReceive)
	c.Rec, c.Inst, c.Msg, c.Event, c.N, c.At = a.Rec, a.Inst, a.Msg, a.Event, int(a.Tag), a.At
	return c
}

// appliedClaim states application ap of event ev.
func appliedClaim(ev uint32, ap Application) Claim {
	c := claim(ClaimApplied)
	c.Event, c.Inst, c.At, c.Rec, c.Tx = ev, ap.Inst, ap.At, ap.Rec, ap.Tx
	return c
}

// refers states that the text refers to record i, which the story told.
func refers(i int) Claim {
	c := claim(ClaimRefers)
	c.Rec = i
	return c
}

// before states that record a came before record b.
func before(a, b int) Claim {
	c := claim(ClaimBefore)
	c.Rec, c.N = a, b
	return c
}
