package explain

import (
	"github.com/idemsim/idemsim/run"
)

// Facts are what one run did, derived from its trace in one pass (see
// NewFacts): the copies the producer published and where the broker sent
// them, every handling attempt, every store call by its id, every database
// transaction by its id, the Redis keys over time, the ledger, the acks
// and the faults. Every record that answers another names it (a reply its
// call, a park the transaction it waits behind, a healed partition its
// window), so nothing here is guessed, and nothing here is prose: the
// story, the timeline and the history page are all told from these facts.
//
// Times are nanoseconds since the start of the run, as in run.Record; a
// Rec field is the index in Trace of the record a fact comes from, -1 for
// "never". Slices indexed by an id (Events, Messages, Calls, Txs) leave
// index 0 unused, as ids start at 1.
type Facts struct {
	Config run.Config
	Trace  []run.Record

	Events     []Event    // by event id
	Messages   []Message  // by message id
	Deliveries []Delivery // in trace order
	Attempts   []Attempt  // handling attempts, in trace order
	Calls      []Call     // by call id
	Txs        []Tx       // by transaction id
	Keys       []Key      // Redis writes that set a mark or a key, in trace order
	Memory     []Memory   // what instances remembered, in trace order
	MemCalls   []MemCall  // the calls of instances' own memories, in trace order
	// Down are the downstream consumer's handlings, in trace order, and
	// RelayPublishes the records of the relay's publishes that reached
	// the downstream topic (downstream.go), for a strategy that sends
	// events on.
	Down           []DownApply
	RelayPublishes []int
	Acks           []Ack // acks sent, in trace order
	Requeues       []Requeue
	// DeadLetters are the messages the broker gave up on after their
	// maximum deliveries (run.BrokerParams.MaxDeliveries), in trace order.
	DeadLetters []DeadLetter
	Crashes     []Crash
	// Leaves are the instances leaving: gracefully (the rebalance
	// fault), or, on the log, dropped from the group for not polling.
	Leaves []Leave
	// Restarts are the records of the instances' restarts, in trace
	// order: each begins a new process (after a crash, a graceful leave,
	// or a stop the trace does not record: on the log, a leave of a
	// member the group had already evicted).
	Restarts []int
	// Late is the instance that started after the others (the rebalance
	// fault's scale-out), nil if none did.
	Late    *LateStart
	Stalls  []Stall
	Windows []Window // partition windows, in the order they opened
	// Group is what a partitioned log's consumer group did (log.go):
	// generations, assignments, commits; nil for a broker whose trace
	// has none of its records (the queue).
	Group   *Group
	Outages []Outage // Redis data losses, each with the outage after it

	// MemoryRecorded says that the trace records the calls of the
	// instances' own memories (run.Memory: strategies.Memory), so that
	// Memory comes from them.
	MemoryRecorded bool

	// Heal is when the faults healed, -1 if the trace has no heal; End is
	// when the run ended, and Unsettled how many events it left unsettled.
	Heal, End int64
	HealRec   int
	Unsettled int
}

// Event is what happened to one event.
type Event struct {
	ID      uint32
	Account int      // the account its effect goes to
	Copies  []uint32 // its messages, in publish order
	// Attempts are the indexes in Facts.Attempts of its handlings.
	Attempts []int
	// Applications are the commits that put its effect in the ledger, in
	// order: len(Applications) is its ledger count. A statement that
	// inserts the id and applies the effect at once (run.InsertApply)
	// commits as it is served.
	Applications []Application
	// IDCommits are the transactions that committed its id into the
	// processed-ids table, by a commit or by a run.InsertApply; IDDeletes
	// those that committed the delete of its row (run.Delete).
	IDCommits, IDDeletes []uint32
	// Keys are the indexes in Facts.Keys of the writes of its Redis mark
	// and of the key-value writes its handlers made (whatever the key).
	Keys []int
	// Done reports that the broker accepted an ack of one of its copies;
	// Settled that it is finished with every copy: it accepted an ack of
	// it, or dead-lettered it.
	Done, Settled bool
	// Dead reports that the broker dead-lettered a copy of it, and that
	// it is neither done nor applied: the run's dead outcome
	// (run.Result.Dead), not a violation.
	Dead bool
	// ReusedID is, for an event that the id-reuse fault gave an earlier
	// event's id, that id (its Publish record says so); 0 otherwise: its
	// id is its number, ID. Twins are the numbers of the other events
	// published under the same id (reuse.go).
	ReusedID uint32
	Twins    []uint32
	// Refused reports that a handler refused it to a dead-letter queue
	// (run.Rejected) and none applied it: dead too, a conflict surfaced,
	// neither lost nor a violation, acked or not (run.Result.Dead).
	Refused bool
	// FirstRec and LastRec are its first and last records.
	FirstRec, LastRec int
	// Insts has bit i set if instance i has a record about it.
	Insts uint64
}

// Application is a commit that applied an event's effect, or, for a
// strategy that charges the payment provider, a charge the provider made
// (Tx 0, Rec the charge's Serve).
type Application struct {
	Tx   uint32
	Inst int32
	At   int64
	Rec  int // the Serve of the commit
	// Call is a charge's call (Tx 0), 0 for a commit.
	Call uint32
}

// Message is one published copy of an event.
type Message struct {
	ID, Event uint32
	Copy      int // 0 for the event's first copy, 1 for the second, ...
	At        int64
	Rec       int
	// Deliveries are the indexes in Facts.Deliveries of its deliveries.
	Deliveries []int
	// AckedRec is the record of the ack the broker accepted, -1 if none;
	// AckedBy the instance that sent it.
	AckedRec int
	AckedAt  int64
	AckedBy  int32
	// DeadRec is the record of its dead-letter, -1 if the broker did not
	// give up on it.
	DeadRec int
	// Part and Offset place it in a partitioned log: its partition (from
	// 1; 0 on the queue) and its offset there. On the log, AckedRec is
	// the first commit that covered it (its partition's committed offset
	// passed it), by AckedBy.
	Part   int32
	Offset int32
}

// Delivery is the broker sending a message to an instance.
type Delivery struct {
	Msg  uint32
	Inst int32
	Tag  uint32
	At   int64
	Rec  int
	// DropRec is the record of its loss (a partition, or the instance was
	// down), -1 if it arrived.
	DropRec int
	// Attempt is the index in Facts.Attempts of its handling, -1 if none.
	Attempt int
}

// Attempt is one handling of a delivery: from receive to handled.
type Attempt struct {
	Inst       int32
	Msg, Event uint32
	Tag        uint32
	At         int64
	Rec        int // the Receive
	// EndRec is the Handled record, -1 if the handler never returned;
	// Outcome what it returned (0 if it never did): run.RetryLater when
	// it did nothing and asked for the delivery later.
	EndRec  int
	End     int64
	Outcome run.Outcome
	// Calls are its store calls, in order; Mem the indexes in
	// Facts.MemCalls of its calls of its instance's own memory.
	Calls []uint32
	Mem   []int
	// Crash is the index in Facts.Crashes of the crash that ended it, -1
	// if none; Ack the index in Facts.Acks of its ack, -1 if none; NackRec
	// its nack's record, -1 if none.
	Crash, Ack, NackRec int
}

// Call is one store call, by its id.
type Call struct {
	ID         uint32
	Inst       int32
	Msg, Event uint32
	Op         run.Op
	Tx         uint32 // its transaction, for a database call
	Attempt    int    // the index in Facts.Attempts of the attempt that made it, -1 if none
	// Key and Value are a key-value call's key and value (run.Op.KV): the
	// value it writes, the member of a set call, or the value a GET found
	// (from its Serve); for a database row call, the state Update writes
	// or Read found. Expect is the value a compare-and-act call compares
	// with (run.Record.Expect).
	Key, Value, Expect string
	// Part is an offset call's partition (run.ReadOffset,
	// run.AdvanceOffset), whose offsets are in Value (the one written,
	// or read) and Expect, in decimal.
	Part    int32
	Sent    int64
	SentRec int
	// ServeRec is when its store executed it (-1: never), with Answer;
	// TTL is the key's lifetime that a Redis write set (0: none).
	ServeRec int
	Served   int64
	Answer   run.Answer
	TTL      int64
	// ReplyRec is when its answer reached the instance, -1 if never;
	// TimeoutRec when the instance gave up on it, -1 if it did not.
	ReplyRec   int
	TimeoutRec int
	TimedOut   int64
	Holds      []Hold // a partition held its request or its reply
	Parks      []Park // the database made it wait for a lock
}

// Hold is a partition holding a call's request or reply until it heals.
type Hold struct {
	At    int64
	Rec   int
	Reply bool // the reply was held; otherwise the request
}

// Park is the database making a call wait behind an open transaction.
type Park struct {
	At     int64
	Rec    int
	Holder uint32 // the transaction it waits behind
	// ID says it waits for the holder's insert of the same id (an insert,
	// or the insert of a run.InsertApply); Row that it waits for the lock
	// of the id's processed row, which the holder read FOR UPDATE, updated
	// or deleted (a run.Read, run.Update or run.Delete), or of the
	// partition's row of the offsets table, which the holder inserted,
	// read FOR UPDATE or advanced (run.ReadOffset, run.AdvanceOffset); otherwise it
	// waits for the row lock of its event's account (an Apply, or a
	// run.InsertApply that inserted its id).
	ID, Row bool
}

// TxStatus is how a transaction ended.
type TxStatus uint8

// The ends of a transaction.
const (
	TxOpen        TxStatus = iota // it never ended
	TxCommitted                   // its Commit took effect
	TxRolledBack                  // its client rolled it back
	TxAbortedByDB                 // the database rolled it back: its connection died, or a statement failed
)

// Drop says why a client let go of a transaction's connection.
type Drop uint8

// The reasons a client drops its connection.
const (
	NotDropped  Drop = iota
	DropCrash        // the instance crashed
	DropTimeout      // the instance gave up on a call and closed the connection
	DropLeave        // the instance left gracefully: its process stopped
)

// Tx is one database transaction, by its id.
type Tx struct {
	ID   uint32
	Inst int32
	// Attempt is the index in Facts.Attempts of the attempt that began it.
	Attempt int
	Calls   []uint32 // its calls, in order
	// Inserted and Applied are the events whose insert of the id or whose
	// Apply the database accepted in it, in order; an Apply takes the row
	// lock of its event's account until the transaction ends. A
	// run.InsertApply that parks behind an account's row lock has
	// inserted its id already (the statement inserts first), and holds it
	// while it waits.
	Inserted, Applied []uint32
	// Deleted are the events whose processed row it deleted (run.Delete).
	Deleted []uint32
	Status  TxStatus
	// EndRec is the record that ended it (-1: open to the end), at End.
	EndRec int
	End    int64
	// Dropped says why its client let go of it while it was open, at
	// DroppedRec; the database rolls it back once it notices.
	Dropped    Drop
	DroppedRec int
}

// Key is one Redis write that set a value, and the life of that value:
// until it expires, another write replaces it, a DEL deletes it, or Redis
// loses it. It is either an event's mark (run.SetNX, run.Set: Name is "")
// or a key of the key-value store (run.Put, run.PutNX, run.PutXX,
// run.SetIfEq: Name is the key, any string the strategy chose, and Value
// what it holds), or a member of a set (run.SAdd: Set, Name the set's key
// and Value the member; a run.SRem ends it, and the set's TTL, which
// every SADD with a TTL gives the whole set, is its own).
type Key struct {
	// Event is the mark's event; for a key-value write, the event its
	// handler was handling.
	Event uint32
	Name  string
	Value string
	Set   bool   // a member of the set Name
	Op    run.Op // the write
	Call  uint32 // the write
	Inst  int32
	At    int64 // when Redis executed the write
	Rec   int
	// TTL is the lifetime the write gave it (0: none); Expires is when it
	// expires, At + TTL, or math.MaxInt64 for a key without a TTL.
	TTL, Expires int64
	// EndRec is the record that ended this value before it expired: a
	// later write of the key, a DEL (or DEL IFEQ, or SREM of a member), or
	// a data loss; -1 if none did. EndCall is the write or delete that
	// ended it, 0 if none did. Lost is
	// the index in Facts.Outages of the loss, -1 if it was not lost.
	EndRec  int
	EndCall uint32
	Lost    int
}

// Memory is an event an instance's memory held, from when it went in
// until it went out. Where the trace records the memory's calls
// (Facts.MemoryRecorded) it went in with an Add that changed the memory
// and out with a Remove or a crash. Otherwise, for a strategy that keeps
// a memory of its own, which the trace does not show, it is the rule
// Teaching.Remembers names, which the narrator uses only where the
// description says it: in with the handler's return with applied, out
// with a crash.
type Memory struct {
	Inst  int32
	Event uint32
	Rec   int // the Add, or the Handled record
	// EndRec is the Remove or the crash that took it out, -1 if none.
	EndRec int
}

// MemCall is one call of an instance's own memory (a run.Memory record):
// Contains (run.MemHas), Add (run.MemAdd) or Remove (run.MemDel).
type MemCall struct {
	Inst       int32
	Msg, Event uint32 // Msg: the message its attempt handles, 0 for none
	Op         run.Op
	// Yes is the memory's answer: for a Contains, whether it held the
	// event; for an Add or a Remove, whether the call changed it.
	Yes bool
	At  int64
	Rec int
	// Attempt is the index in Facts.Attempts of the attempt that made it,
	// -1 if none (the strategy's New made it).
	Attempt int
}

// Ack is an ack an instance sent.
type Ack struct {
	Inst       int32
	Msg, Event uint32
	Tag        uint32
	At         int64
	Rec        int
	// LostRec is the record of its loss, -1 if it was not lost; Cut says
	// the instance was cut off from the broker then.
	LostRec int
	Cut     bool
	// AcceptedRec is the broker accepting it, -1 if it did not. On the
	// log an ack is a commit (after the last record of a batch), accepted
	// by a run.Committed record; FencedRec is its run.Fenced, -1 if it
	// was not fenced.
	AcceptedRec int
	Accepted    int64
	FencedRec   int
}

// Requeue is the broker putting a message back in its queue.
type Requeue struct {
	Msg  uint32
	Inst int32 // the instance of its latest delivery
	At   int64
	Rec  int
	// Cause is why: its ack deadline passed, after a nack, or (with no
	// ack deadline) its instance's channel closed: the instance crashed,
	// was cut off from the broker, or lost an ack, which on a
	// connection-based broker is the connection breaking; such a message
	// goes back to the head of the queue. Delivery is
	// the index in Facts.Deliveries of its latest delivery, -1 if none;
	// for a deadline, At minus that delivery's time is the deadline.
	Cause    run.Cause
	Delivery int
}

// DeadLetter is the broker giving up on a message whose latest delivery
// was its last (run.BrokerParams.MaxDeliveries): it is never delivered
// again.
type DeadLetter struct {
	Msg, Event uint32
	At         int64
	Rec        int
	// Deliveries is how many deliveries it had in all.
	Deliveries int
}

// Crash is an instance crashing.
type Crash struct {
	Inst       int32
	Msg, Event uint32
	At         int64
	Rec        int
	Step       run.Step
	Op         run.Op // the call it crashed at, for Step AtCall
	InFlight   bool   // the step's request was already sent
	Call       uint32 // the call in flight, if any
	Attempt    int    // the attempt it ended, -1 if none
	// RestartRec is its restart, -1 if it never restarted.
	RestartRec int
	Restart    int64
}

// Stall is an instance's handler stopping for a while (slow), or the
// whole instance pausing (Paused: the zombie fault), which its broker
// hears as silence: no progress, no heartbeat.
type Stall struct {
	Inst       int32
	Msg, Event uint32
	At, Dur    int64
	Rec        int
	Paused     bool
}

// Leave is an instance leaving. Gracefully (Cause run.Graceful, the
// rebalance fault's scale-in or rolling restart), it finished what it
// was handling and stopped: its process and its memory are gone, and a
// new process with empty memory comes back at its Restart. On the log,
// a member that did not poll within the max-poll interval leaves the
// group (run.MaxPollPassed) but keeps running.
type Leave struct {
	Inst  int32
	At    int64
	Rec   int
	Cause run.Cause
	// RestartRec is when it came back, -1 if it did not.
	RestartRec int
	Restart    int64
}

// Stops reports whether the leave ends its instance's process (and with
// it the instance's memory): a graceful one.
func (l *Leave) Stops() bool { return l.Cause == run.Graceful }

// LateStart is the instance that started only At into the run (the
// rebalance fault's scale-out): before it, it did nothing. Its start is
// the trace's Start record.
type LateStart struct {
	Inst int32
	At   int64
}

// Window is one partition window of an instance: from its opening to the
// record that closed it (its own healed record, or the heal of every
// fault), paired by the window's id, so that overlapping windows of one
// instance are told apart.
type Window struct {
	Inst   int32
	ID     uint32 // numbered from 1 per instance
	Stores run.Stores
	From   int64
	Rec    int
	// To and EndRec close it: -1 if it was open at the end of the trace.
	To     int64
	EndRec int
}

// Outage is Redis losing data and refusing calls until it is back.
type Outage struct {
	Cause run.Cause // run.RestartEmpty or run.Failover
	At    int64
	Rec   int
	// Count is how many marks and live keys the record says were lost;
	// Lost lists the indexes in Facts.Keys of the values lost, exactly
	// those.
	Count int
	Lost  []int
	// UpRec is when Redis was back, -1 if never.
	UpRec int
	Up    int64
}

// The actors of a story that are parts of the run rather than instances,
// named as traces name the parts an instance talks to.
var (
	actorBroker = run.Broker.String()
	actorRedis  = run.Redis.String()
	actorDB     = run.Database.String()
)
