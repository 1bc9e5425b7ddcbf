package broker

import (
	"math/rand/v2"
	"time"

	"github.com/idemsim/idemsim/run"
)

// Model is a broker model: a pure state machine that the world drives. It
// does no I/O, reads no clock and draws only from the stream Setup hands it.
// Each method but Reset, Add and Done is one input, of something that
// happened to the broker; it returns the effects the model decided, in the
// order it decided them, for the world to carry out. That slice is the
// model's own and is valid until the next call: the world carries it out
// before it feeds the next input.
//
// The inputs are typed methods rather than one Step(Input) with a switch,
// as etcd's raft.Node has Tick, Propose and Step: the world calls one per
// broker event of its loop, hundreds of thousands of times a second, and a
// method per input passes no input struct and switches on no kind. (A
// Step(Input) behind the interface made compare run 2.9% more
// instructions; these methods, small enough to inline, 0.6%.)
type Model interface {
	// Configure sets the model's parameters from a run's (each zero
	// value its default), or reports why they are invalid. A model is
	// configured once per run, before Reset.
	Configure(p run.BrokerParams) error
	// Reset empties the model for a new run.
	Reset(s Setup)
	// Stall is the time a slow handler's stall is measured against (the
	// slow fault stalls for a multiple of it): the queue's ack deadline,
	// the log's max-poll interval. A strategy's lease is twice it.
	Stall() time.Duration
	// Liveness is the time a paused instance's pause is measured against
	// (the zombie fault): the log's session timeout, the queue's ack
	// deadline.
	Liveness() time.Duration
	// Add makes a new message, not yet published, and returns its
	// number. Messages are numbered from 1, in the order they are
	// added; 0 means "no message". key is the message's key (its
	// event's account): the log puts every message of one key in one
	// partition; the queue ignores it.
	Add(key uint32) uint32
	// Publish: the producer published message m. Its effects begin
	// with a Record of kind run.Publish (with the message's partition
	// and offset where it has them): explain and the checkers read the
	// trace's publishes, and a model that records none breaks them.
	Publish(m uint32) []Effect
	// Deliver: the world requests that m go to instance inst now (a
	// script's delivery, Setup.Scripted).
	Deliver(m uint32, inst int32) []Effect
	// Up: instance inst started, as incarnation gen.
	Up(inst int32, gen uint32) []Effect
	// Down: instance inst crashed.
	Down(inst int32) []Effect
	// Leave: instance inst stops gracefully (the rebalance fault's
	// scale-in or rolling restart): it handled what it had in hand and
	// acked or committed it, and takes nothing more. A pushing model
	// hears it as the consumer stops (a cancel), before the last acks
	// arrive, and then Down once they have (the connection closes); a
	// polling one once its last commit has arrived (a LeaveGroup), and
	// nothing after. Up follows when it comes back.
	Leave(inst int32) []Effect
	// Fetch: instance inst has handled everything it was sent and asks
	// for more (a poll). The world calls it only for a model whose
	// description says Pull; the queue pushes, and never needs it.
	Fetch(inst int32) []Effect
	// Disconnect: instance inst was cut off from the broker (a partition
	// began). The world calls it once per cut, however many windows
	// overlap, and Reconnect when the last of them ends.
	Disconnect(inst int32) []Effect
	// Reconnect: instance inst can reach the broker again.
	Reconnect(inst int32) []Effect
	// Ack: an ack of delivery tag of m, sent by instance inst at sent (in
	// simulated nanoseconds), reached the broker.
	Ack(m, tag uint32, inst int32, sent int64) []Effect
	// Nack: a nack of delivery tag of m reached the broker. (The log
	// has none: its consumer retries a failed record in place.)
	Nack(m, tag uint32) []Effect
	// Fire: timer t, which the model armed for delivery tag of m, is due.
	Fire(t Timer, m, tag uint32) []Effect
	// Done reports whether the broker considers message m processed (the
	// queue: acked). The world asks it when the run ends.
	Done(m uint32) bool
	// Dead reports whether the broker gave up on message m unprocessed
	// (dead-lettered it). The world asks it when the run ends, of a
	// message not Done.
	Dead(m uint32) bool
}

// Setup is what a model is told at the start of a run.
type Setup struct {
	// Instances is the number of consumer instances, numbered from 0.
	Instances int
	// Pick is the model's random stream (run.StreamBroker): its only
	// source of randomness.
	Pick *rand.Rand
	// Scripted: the world requests every delivery itself (Deliver), and
	// the model sends nothing of its own accord (sim.RunScript).
	Scripted bool
}

// Timer is a kind of timer a model arms. Within one run, every timer of one
// kind has the same delay, so the world keeps them in first-in first-out
// order without sorting.
type Timer uint8

// The timers of the queue.
const (
	// Deadline is a delivery's ack deadline.
	Deadline Timer = iota + 1
	// Retry is the delay after which a nacked message is ready again.
	Retry
	// The log's timers. Their Msg is unused; their Tag says which
	// member or rebalance they belong to, as the log chose it.
	//
	// Session: a member's session timeout, armed when its heartbeats
	// stop (it crashed, paused or was cut off from the coordinator).
	Session
	// MaxPoll: a member's max-poll interval, armed each time one of its
	// polls returns records (at once, or when records come).
	MaxPoll
	// RebalanceTimeout: how long a rebalance waits for members to rejoin.
	RebalanceTimeout
)

// EffectKind says what an Effect asks the world to do.
type EffectKind uint8

// The effects a model returns.
const (
	// Record: record a record of kind Record (with Cause) about Msg, from
	// instance Inst (-1: the broker's own), with Tag.
	Record EffectKind = iota + 1
	// Arm: call Fire with Timer, Msg and Tag after After.
	Arm
	// Send: send delivery Tag of Msg to instance Inst, incarnation Gen,
	// over the network, and record it. Unless After is 0, first arm the
	// delivery's Deadline timer, due After from now: the deadline runs
	// from the moment the broker sends. (One effect rather than an Arm
	// and a Send, as there is one per delivery.)
	Send
	// Accepted: the broker accepted instance Inst's ack of Msg, sent at
	// Sent: the checked history's ack. (The log accepts a commit as one
	// Accepted per record it newly covers.)
	Accepted
)

// Effect is one thing a model asks the world to do.
//
// On the log, Tag is the group's generation: of a delivery, the one it
// was fetched in, which its commit carries; of a record, the one it tells
// of. Part and Offset place a message in its partition, and Last marks
// the last record of a fetched batch, after which the consumer commits.
type Effect struct {
	Kind   EffectKind
	Record run.Kind      // Record
	Cause  run.Cause     // Record: a requeue's, an eviction's, a fenced commit's cause
	Timer  Timer         // Arm
	Msg    uint32        // all but the log's group records (0)
	Inst   int32         // Record, Send, Accepted
	Gen    uint32        // Send
	Tag    uint32        // Record, Arm, Send
	After  time.Duration // Arm; Send: the ack deadline, or 0 for none
	Sent   int64         // Accepted
	// The log's: a message's partition, numbered from 1 (0: none), and
	// offset, from 0 (Send, and Record of a publish; of a commit, Offset
	// is the next offset to read); Parts, the partitions an Assign record
	// gives its member, as a bitset (bit p-1 for partition p); Last, a
	// Send whose record ends its batch.
	Part   int32
	Offset int32
	Parts  uint64
	Last   bool
}
