package run

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Kind says what a Record is.
type Kind uint8

// The kinds of records, in the order a delivery meets them.
const (
	Publish     Kind = iota + 1 // the producer published a copy of Event as message Msg
	Deliver                     // the broker sent Msg to Inst (Tag)
	DeliverDrop                 // a delivery never reached Inst: a partition, or Inst crashed (Tag)
	Receive                     // Inst took Msg from its inbox: a handling attempt starts (Tag)
	Call                        // Inst sent store call Call (Op; Tx for the database)
	Serve                       // the store executed call Call (Op, Answer; Dur: a Redis write's TTL)
	Park                        // the database made call Call wait behind transaction Holder
	Reply                       // Inst got the answer to call Call (Op, Answer)
	CallHeld                    // a partition holds call Call's request or reply until it heals (Op)
	Timeout                     // Inst gave up on call Call: its outcome is unknown (Op)
	Handled                     // Inst's handler returned (Outcome)
	AckSend                     // Inst sent an ack (Tag)
	AckLost                     // the ack was lost (Tag)
	Acked                       // the broker accepted the ack: Msg is done (Tag)
	Nack                        // Inst sent a nack after an error (Tag)
	Requeue                     // the broker put Msg back in its queue (Cause)
	Crash                       // Inst crashed (Step, Op, InFlight, Call)
	Restart                     // Inst restarted with empty memory
	Stall                       // Inst stalls for Dur
	Partition                   // Inst is cut off from Stores, or (Stores 0) window Window healed
	StoreLoss                   // Redis lost data (Cause: restart or failover; Count: marks lost)
	StoreUp                     // Redis is back
	TxAbort                     // the database rolled back transaction Tx, whose connection died
	Heal                        // the safety phase ends: every fault heals
	End                         // the run ended (Count: events not settled)
	// Kinds added later come last, so that the numbers of the others,
	// which trace digests cover, stay.
	Memory     // Inst's handler called its own memory (Op: MemHas, MemAdd or MemDel; Event; Answer)
	DeadLetter // the broker gave up on Msg after Tag deliveries: dead-lettered, never delivered again
	// The log's (Tag is the group's generation in each).
	Join      // Inst joined the consumer group as a new member
	Leave     // Inst left the group (Cause: Graceful, or MaxPollPassed: it stopped polling)
	Evict     // the coordinator removed Inst from the group (Cause: SessionExpired, RejoinTimedOut)
	Rebalance // the group began a rebalance of generation Tag: its members must rejoin
	Assign    // the rebalance ended: generation Tag gives Inst the partitions Key
	Committed // the broker accepted Inst's commit: partition Part's next offset is Count (Msg: the record it followed)
	Fenced    // the broker refused Inst's commit of partition Part, offset Count, from generation Tag (Cause)
	Start     // Inst started for the first time, later than the others (the rebalance fault's scale-out)
	Seek      // the log: Inst's consumer, assigned in generation Tag, moved its position in partition Part to offset Count, read from its own store
	// A real broker's.
	AckUnknown // Inst's ack got no answer in time (or has none): it may or may not have settled Msg (Tag)
	// The downstream consumer's (Stores Downstream): it applied, or
	// skipped as a copy it had applied, the downstream event of Event
	// that message Msg of the downstream topic carried, announcing the
	// effect of transaction Tx (Answer Yes: applied; No: skipped).
	DownApply
	numKinds
)

var kindNames = [numKinds]string{
	Publish: "publish", Deliver: "deliver", DeliverDrop: "deliver-drop",
	Receive: "receive", Call: "call", Serve: "serve", Park: "park",
	Reply: "reply", CallHeld: "call-held", Timeout: "timeout",
	Handled: "handled", AckSend: "ack-send", AckLost: "ack-lost",
	Acked: "acked", Nack: "nack", Requeue: "requeue", Crash: "crash",
	Restart: "restart", Stall: "stall", Partition: "partition",
	StoreLoss: "store-loss", StoreUp: "store-up", TxAbort: "tx-abort",
	Heal: "heal", End: "end", Memory: "memory", DeadLetter: "dead-letter",
	Join: "join", Leave: "leave", Evict: "evict", Rebalance: "rebalance",
	Assign: "assign", Committed: "committed", Fenced: "fenced", Start: "start", Seek: "seek",
	AckUnknown: "ack-unknown", DownApply: "down-apply",
}

// String names the kind as traces print it.
func (k Kind) String() string {
	if k < numKinds && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Op is a store operation.
type Op uint8

// The store operations: Redis marks, the database, then Redis keys and
// values.
const (
	SetNX       Op = iota + 1 // SET key NX PX ttl: claim a mark
	Exists                    // EXISTS key
	Set                       // SET key PX ttl
	Insert                    // INSERT the id into the processed-ids table
	Apply                     // apply the business effect
	Commit                    // COMMIT
	Rollback                  // ROLLBACK
	InsertApply               // insert the id and apply the effect only if inserted: one statement
	Get                       // GET key (Key; Value when found)
	Put                       // SET key value [PX ttl] (Key, Value, Dur)
	PutNX                     // SET key value NX [PX ttl]
	PutXX                     // SET key value XX [PX ttl]
	Del                       // DEL key (Key)
	// Operations added later come last, so that the numbers of the
	// others, which trace digests cover, stay.
	DelIfEq   // delete key if its value is Expect: a token-checked release (Key, Expect)
	SetIfEq   // set key to Value [PX ttl] if its value is Expect (Key, Expect, Value, Dur)
	SAdd      // SADD key member [+ PEXPIRE ttl] (Key, Value: the member, Dur)
	SIsMember // SISMEMBER key member (Key, Value: the member)
	SRem      // SREM key member (Key, Value: the member)
	Read      // SELECT state ... FOR UPDATE of the id's processed row (Value: the state found)
	Delete    // DELETE the id's processed row
	Update    // UPDATE the id's processed row SET state = Value WHERE state = Expect
	// The calls of an instance's own memory (strategies.Memory), recorded
	// as Kind Memory: no store serves them. Answer: for MemHas, whether
	// the memory held the id; for MemAdd and MemDel, whether the call
	// changed it (the id was absent, or there).
	MemHas // Contains(id)
	MemAdd // Add(id)
	MemDel // Remove(id)
	// The log's offsets table (strategies.Tx ReadOffset, AdvanceOffset):
	// Part is the partition (numbered from 1).
	ReadOffset    // SELECT next_offset ... FOR UPDATE of partition Part (Serve, Reply: Answer Yes, Value the offset found, in decimal: 0 for no row)
	AdvanceOffset // set partition Part's next offset to Value if it is Expect (both in decimal; a missing row is 0, and inserted)
	// The payment provider's (strategies.Provider).
	Charge // charge Event's amount to its account (Key: the idempotency key, "" for none; Serve, Reply: Value, the charge's id)
	// The downstream topic's and the outbox's (strategies.Publisher,
	// OutboxTx, OutboxReader). Tx is, for a Publish and an InsertOutbox,
	// the transaction whose effect the downstream event announces (0:
	// none), and Count the outbox row's sequence number.
	PublishDown  // publish Event's downstream event to the downstream topic (Tx: the effect it announces)
	InsertOutbox // INSERT Event's downstream event into the outbox, in transaction Tx
	NextOutbox   // SELECT the oldest unsent outbox row (Serve, Reply: Answer Yes, Event and Count the row's)
	MarkSent     // UPDATE outbox row Count SET sent (its own transaction)
	numOps
)

var opNames = [numOps]string{SetNX: "SetNX", Exists: "Exists", Set: "Set", Insert: "InsertProcessed", Apply: "Apply", Commit: "Commit", Rollback: "Rollback",
	InsertApply: "InsertApply", Get: "GET", Put: "SET", PutNX: "SET NX", PutXX: "SET XX", Del: "DEL",
	DelIfEq: "DEL IFEQ", SetIfEq: "SET IFEQ", SAdd: "SADD", SIsMember: "SISMEMBER", SRem: "SREM",
	Read: "ReadProcessed", Delete: "DeleteProcessed", Update: "UpdateProcessed",
	MemHas: "Contains", MemAdd: "Add", MemDel: "Remove",
	ReadOffset: "ReadOffset", AdvanceOffset: "AdvanceOffset", Charge: "Charge",
	PublishDown: "Publish", InsertOutbox: "InsertOutbox", NextOutbox: "NextOutbox", MarkSent: "MarkSent"}

// opStores is the store that serves each operation.
var opStores = [numOps]Stores{SetNX: Redis, Exists: Redis, Set: Redis, Insert: Database, Apply: Database, Commit: Database, Rollback: Database,
	InsertApply: Database, Get: Redis, Put: Redis, PutNX: Redis, PutXX: Redis, Del: Redis,
	DelIfEq: Redis, SetIfEq: Redis, SAdd: Redis, SIsMember: Redis, SRem: Redis,
	Read: Database, Delete: Database, Update: Database,
	ReadOffset: Database, AdvanceOffset: Database, Charge: Provider,
	PublishDown: Broker, InsertOutbox: Database, NextOutbox: Database, MarkSent: Database}

// opKV marks the operations of the Redis key-value store (Key, Value).
var opKV = [numOps]bool{Get: true, Put: true, PutNX: true, PutXX: true, Del: true,
	DelIfEq: true, SetIfEq: true, SAdd: true, SIsMember: true, SRem: true}

// String names the operation as traces print it.
func (o Op) String() string {
	if o < numOps && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Memory reports whether o is a call of an instance's own memory, which
// no store serves.
func (o Op) Memory() bool { return o >= MemHas && o <= MemDel }

// Store is the store that serves o: none for a memory call.
func (o Op) Store() Stores {
	if o < numOps {
		return opStores[o]
	}
	return 0
}

// PutOp is the operation of a KV Set under cond: SET, SET NX or SET XX.
func PutOp(cond strategies.Cond) Op {
	switch cond {
	case strategies.IfAbsent:
		return PutNX
	case strategies.IfPresent:
		return PutXX
	}
	return Put
}

// KV reports whether o is a call of a Redis key-value store (Key, Value).
func (o Op) KV() bool { return o < numOps && opKV[o] }

// Stores is a set of the parts of a run that a partition can cut an
// instance off from.
type Stores uint8

// The parts of a run an instance talks to.
const (
	Broker Stores = 1 << iota
	Redis
	Database
	Provider // the payment provider
	// Downstream marks, in Stores, a record of the downstream topic and
	// its consumer: a broker record of the downstream model (Publish,
	// Deliver, Acked, ...) or a DownApply. Its messages are numbered
	// apart from the upstream topic's. It is no part a partition cuts.
	Downstream
)

// String names the set, as "redis+database".
func (s Stores) String() string {
	var parts []string
	for _, p := range []struct {
		bit  Stores
		name string
	}{{Broker, "broker"}, {Redis, "redis"}, {Database, "database"}, {Provider, "provider"}, {Downstream, "downstream"}} {
		if s&p.bit != 0 {
			parts = append(parts, p.name)
		}
	}
	if parts == nil {
		return "nothing"
	}
	return strings.Join(parts, "+")
}

// Answer is what a store answered a call.
type Answer uint8

// The answers of a store call.
const (
	No        Answer = iota + 1 // false: not set, not there, not inserted
	Yes                         // true, or done
	Refused                     // Redis refused the call: it is down
	TxAborted                   // the database had aborted the call's transaction
	Failed                      // another error (real servers only)
	WrongType                   // the key holds the other kind of value (Redis's WRONGTYPE)
	// The payment provider's answers to a Charge (besides Yes: charged).
	Replayed    // the key's first request charged; this one is answered from the key
	KeyConflict // a request with the key is still running: nothing done (409)
	KeyMismatch // the key was used with other parameters: nothing done (422)
	ServerError // the provider failed before charging (5xx): nothing done
	numAnswers
)

var answerNames = [numAnswers]string{No: "false", Yes: "true", Refused: "refused", TxAborted: "tx aborted", Failed: "error", WrongType: "wrong type",
	Replayed: "replayed", KeyConflict: "409 conflict", KeyMismatch: "422 key mismatch", ServerError: "500"}

// String names the answer as traces print it.
func (a Answer) String() string {
	if a < numAnswers && answerNames[a] != "" {
		return answerNames[a]
	}
	return fmt.Sprintf("Answer(%d)", uint8(a))
}

// Outcome is what a handler returned.
type Outcome uint8

// The outcomes of a handling attempt.
const (
	Applied    Outcome = iota + 1 // it committed the event's effect
	Skipped                       // it judged the delivery a duplicate
	Errored                       // it failed: the outcome is unknown, and the instance nacks
	RetryLater                    // it did nothing and asked for the delivery later: the instance nacks
	Dropped                       // it gave up with nothing done and asked for an ack: the instance acks
	Rejected                      // it refused the event to a dead-letter queue, nothing done (strategies.Refused): the instance acks
	numOutcomes
)

var outcomeNames = [numOutcomes]string{Applied: "applied", Skipped: "skipped", Errored: "error", RetryLater: "retry-later", Dropped: "dropped", Rejected: "refused"}

// String names the outcome as traces print it.
func (o Outcome) String() string {
	if o < numOutcomes && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Step is the step of handling at which an instance crashed.
type Step uint8

// The steps of handling that are fault points.
const (
	AtCall Step = iota + 1 // a store call (Op)
	AtAck                  // the ack
	AtNack                 // the nack
)

// Cause says why the broker requeued a message, or how Redis lost data.
type Cause uint8

// The causes of a Requeue and of a StoreLoss.
const (
	DeadlinePassed Cause = iota + 1 // Requeue: the ack deadline passed
	AfterNack                       // Requeue: the nack's retry delay passed
	RestartEmpty                    // StoreLoss: Redis restarted with no persistence
	Failover                        // StoreLoss: Redis failed over to a lagging replica
	// Causes added later come last, so that the numbers of the others,
	// which trace digests cover, stay.
	ChannelClosed // Requeue: the consumer's channel closed (it crashed or was cut off), with no ack deadline
	// The log's.
	Graceful        // Leave: the member stopped and said so
	MaxPollPassed   // Leave: the member did not poll within the max-poll interval (the Java client leaves)
	SessionExpired  // Evict: no heartbeat within the session timeout (it crashed, paused or was cut off)
	RejoinTimedOut  // Evict: a rebalance waited for it past the rebalance timeout
	StaleGeneration // Fenced: the commit's generation is not the group's (a rebalance ended since its fetch)
	UnknownMember   // Fenced: the committer is no member of the group (it was evicted or left)
	Paused          // Stall: the whole process paused (zombie): no heartbeat, no progress
	ReplyLost       // AckLost: the log's commit took effect, but its reply was lost
)

// Record is one step of a run, as a backend saw it. Each kind fills the
// fields its comment names; the others are zero (Inst is -1 when no
// instance is involved). The fields are ordered so that the record packs
// into 64 bytes: a run records about ten of them per delivery.
type Record struct {
	At  int64 // nanoseconds since the start of the run
	Dur int64 // Stall: how long; Serve of a Redis write: the key's TTL (0: none)

	Inst   int32  // the instance, -1 for none
	Msg    uint32 // the broker's message (one published copy), 0 for none
	Event  uint32 // the event, 0 for none
	Tag    uint32 // the delivery tag of a delivery, its ack or nack
	Call   uint32 // the store call's id, unique within the run
	Tx     uint32 // the database transaction of a call, or the one aborted
	Holder uint32 // Park: the open transaction the call waits behind
	Window uint32 // Partition: the window (numbered from 1 per instance)
	Count  int32  // StoreLoss: marks lost; End: events not settled; the log: an offset
	Part   int32  // the log: the partition (numbered from 1; 0: none) of a Deliver, Publish, Commit or Fenced record, or of a ReadOffset or AdvanceOffset call

	Kind    Kind
	Op      Op      // the store operation
	Answer  Answer  // Serve, Reply: the store's answer
	Outcome Outcome // Handled: what the handler returned
	Step    Step    // Crash: before which step
	Stores  Stores  // Partition: cut off from these; 0 when a window healed
	Cause   Cause   // Requeue, StoreLoss
	// InFlight is, for a Crash, whether the step's request was already
	// sent.
	InFlight bool

	// Key and Value are a key-value call's key and value (Op.KV): the
	// value set, or the value a GET found; a set call's member; a
	// database row's state that Read found or Update writes. A memory
	// call about an id too large for Event has Event 0 and the id, in
	// decimal, in Value. A Publish of an event that id-reuse gave an
	// earlier event's id has that id, in decimal, in Value: Event is the
	// event's number, which the checkers judge (run.Workload.Number). An offset call's offsets are in decimal: the
	// next offset AdvanceOffset writes, or the one ReadOffset found.
	Key, Value string
	// Expect is the value a compare-and-act call compares with: DelIfEq's
	// and SetIfEq's token, Update's old state, AdvanceOffset's expected
	// offset (in decimal).
	Expect string
}

// String renders the record as one trace line: time, instance, message,
// event, what happened and its detail.
func (r Record) String() string {
	inst, msg, ev := "-", "-", "-"
	if r.Inst >= 0 {
		inst = fmt.Sprintf("i%d", r.Inst)
	}
	if r.Msg > 0 {
		msg = fmt.Sprintf("m%d", r.Msg)
	}
	if r.Event > 0 {
		ev = fmt.Sprintf("e%d", r.Event)
	}
	if r.Downstream() {
		// The downstream topic's: its consumer, and its own messages.
		inst = "dn"
		if r.Msg > 0 {
			msg = fmt.Sprintf("dm%d", r.Msg)
		}
	}
	return strings.TrimRight(fmt.Sprintf("%12.6fms %-3s %-5s %-5s %-12s %s",
		float64(r.At)/float64(time.Millisecond), inst, msg, ev, r.Kind, r.Detail()), " ")
}

// Downstream reports whether r is a record of the downstream topic and its
// consumer (Stores Downstream), whose messages are numbered apart.
func (r Record) Downstream() bool { return r.Stores == Downstream && r.Kind != Partition }

// Detail renders what the record says beyond who and when.
func (r Record) Detail() string {
	call := func(rest string) string {
		s := fmt.Sprintf("c%d %s", r.Call, r.Op)
		if r.Tx != 0 {
			s += fmt.Sprintf(" tx%d", r.Tx)
		}
		if r.Op.KV() {
			s += fmt.Sprintf(" %q", r.Key)
			// A set call names its member, and SET IFEQ its value,
			// even when empty; a SET's empty value goes unsaid, as
			// it always has.
			if r.Value != "" && r.Op != Get || r.Op == SetIfEq || r.Op == SAdd || r.Op == SIsMember || r.Op == SRem {
				s += fmt.Sprintf(" %q", r.Value)
			}
		}
		switch r.Op {
		case DelIfEq, SetIfEq:
			s += fmt.Sprintf(" if %q", r.Expect)
		case Update:
			s += fmt.Sprintf(" %q if %q", r.Value, r.Expect)
		case ReadOffset:
			s += fmt.Sprintf(" p%d", r.Part)
		case AdvanceOffset:
			s += fmt.Sprintf(" p%d %s if %s", r.Part, r.Value, r.Expect)
		}
		if r.Op == MarkSent || r.Op == NextOutbox && r.Count > 0 {
			s += fmt.Sprintf(" row %d", r.Count)
		}
		if r.Op == Charge {
			if r.Key != "" {
				s += fmt.Sprintf(" key %q", r.Key)
			} else {
				s += " no key"
			}
		}
		if r.Op.KV() && r.Dur > 0 && r.Kind == Call {
			s += " PX " + time.Duration(r.Dur).String()
		}
		return s + rest
	}
	switch r.Kind {
	case AckLost:
		if r.Cause == ReplyLost {
			return fmt.Sprintf("tag %d: its reply", r.Tag)
		}
		return fmt.Sprintf("tag %d", r.Tag)
	case Deliver, DeliverDrop, Receive, AckSend, Acked, Nack, AckUnknown:
		return fmt.Sprintf("tag %d", r.Tag) + r.placement()
	case Publish:
		if r.Value != "" {
			return "id " + r.Value + ", an earlier event's (id-reuse)" + r.placement()
		}
		return r.placement()
	case Join:
		return ""
	case Leave:
		if r.Cause == MaxPollPassed {
			return "max-poll interval passed"
		}
		return "graceful"
	case Evict:
		if r.Cause == RejoinTimedOut {
			return fmt.Sprintf("gen %d: did not rejoin in time", r.Tag)
		}
		return fmt.Sprintf("gen %d: session expired", r.Tag)
	case Rebalance:
		return fmt.Sprintf("gen %d ends", r.Tag)
	case Assign:
		return fmt.Sprintf("gen %d: partitions [%s]", r.Tag, r.Key)
	case Committed:
		return fmt.Sprintf("gen %d p%d next offset %d", r.Tag, r.Part, r.Count)
	case Fenced:
		why := "stale generation"
		if r.Cause == UnknownMember {
			why = "unknown member"
		}
		return fmt.Sprintf("gen %d p%d offset %d: %s", r.Tag, r.Part, r.Count, why)
	case Seek:
		return fmt.Sprintf("gen %d p%d to offset %d", r.Tag, r.Part, r.Count)
	case Call, CallHeld, Timeout:
		return call("")
	case Serve, Reply:
		// A read that found its key or row shows what it found.
		if r.Op == Charge && r.Value != "" {
			if r.Answer == Replayed {
				return call(fmt.Sprintf(": replayed %q", r.Value))
			}
			return call(fmt.Sprintf(": charged %q", r.Value))
		}
		if (r.Op == Get || r.Op == Read || r.Op == ReadOffset) && r.Answer == Yes {
			return call(fmt.Sprintf(": %q", r.Value))
		}
		return call(": " + r.Answer.String())
	case Park:
		return call(fmt.Sprintf(" behind tx%d", r.Holder))
	case Handled:
		return r.Outcome.String()
	case Requeue:
		switch r.Cause {
		case DeadlinePassed:
			return "ack deadline passed"
		case ChannelClosed:
			return "channel closed"
		}
		return "after nack"
	case DeadLetter:
		return fmt.Sprintf("after %d deliveries", r.Tag)
	case Crash:
		step := "the ack"
		switch r.Step {
		case AtCall:
			step = r.Op.String()
		case AtNack:
			step = "the nack"
		}
		if r.InFlight {
			if r.Call != 0 {
				return fmt.Sprintf("with %s in flight (c%d)", step, r.Call)
			}
			return "with " + step + " in flight"
		}
		return "before " + step
	case Stall:
		if r.Cause == Paused {
			return time.Duration(r.Dur).String() + ", paused"
		}
		return time.Duration(r.Dur).String()
	case Partition:
		if r.Stores == 0 {
			return fmt.Sprintf("healed (window %d)", r.Window)
		}
		return fmt.Sprintf("from %s (window %d)", r.Stores, r.Window)
	case StoreLoss:
		if r.Cause == RestartEmpty {
			return fmt.Sprintf("restart empty, %d marks lost", r.Count)
		}
		return fmt.Sprintf("failover to a lagging replica, %d marks lost", r.Count)
	case TxAbort:
		return fmt.Sprintf("tx%d", r.Tx)
	case End:
		return fmt.Sprintf("%d events not settled", r.Count)
	case Memory:
		return fmt.Sprintf("%s %s: %s", r.Op, r.MemoryID(), r.Answer)
	case DownApply:
		if r.Answer == Yes {
			return fmt.Sprintf("downstream: applied (tx%d's effect)", r.Tx)
		}
		return fmt.Sprintf("downstream: skipped, a copy (tx%d's effect)", r.Tx)
	}
	return ""
}

// placement is " p2@7" for a record of the log's message at offset 7 of
// partition 2, or "" for the queue's.
func (r Record) placement() string {
	if r.Part == 0 {
		return ""
	}
	return fmt.Sprintf(" p%d@%d", r.Part, r.Count)
}

// MemoryID names the id a memory call was about, as "e3": the event, or
// the id in Value when it is too large for Event.
func (r Record) MemoryID() string {
	if r.Event == 0 && r.Value != "" {
		return "id " + r.Value
	}
	return fmt.Sprintf("e%d", r.Event)
}

// MemoryRecord is the record, at time at, of instance inst's call op of
// its own memory about id, handling message msg (0 for none), with the
// memory's answer: whether it held id (MemHas), or whether the call
// changed it (MemAdd, MemDel).
func MemoryRecord(at int64, inst int32, msg uint32, op Op, id strategies.EventID, answer bool) Record {
	rec := Record{At: at, Kind: Memory, Inst: inst, Msg: msg, Op: op, Answer: No}
	if answer {
		rec.Answer = Yes
	}
	if id <= math.MaxUint32 {
		rec.Event = uint32(id)
	} else {
		rec.Value = strconv.FormatUint(uint64(id), 10)
	}
	return rec
}

// WriteTrace writes records one per line.
func WriteTrace(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	for _, r := range recs {
		if _, err := bw.WriteString(r.String() + "\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}
