package broker

import (
	"math/rand/v2"
	"time"

	"github.com/idemsim/idemsim/run"
)

// Model is a broker model: a pure state machine that the world drives. It
// does no I/O, reads no clock and draws only from the stream Setup hands it;
// everything it decides comes back from Step as effects, in the order it
// decided them, for the world to carry out.
type Model interface {
	// Reset empties the model for a new run.
	Reset(s Setup)
	// Step feeds the model one input and returns the effects it decided.
	// The slice is the model's own and is valid until the next Step or
	// Reset: the world carries it out before it feeds the next input.
	Step(in Input) []Effect
	// Done reports whether the broker considers message m processed (the
	// queue: acked). The world asks it when the run ends.
	Done(m uint32) bool
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

// InputKind says what an Input tells the model.
type InputKind uint8

// The inputs a model takes from the world.
const (
	// Add: message Msg exists, not yet published. Messages are numbered
	// from 1, in the order they are added; 0 means "no message".
	Add InputKind = iota + 1
	// Publish: the producer published message Msg.
	Publish
	// Deliver: the world requests that Msg go to instance Inst now (a
	// script's delivery).
	Deliver
	// Up: instance Inst started, as incarnation Gen.
	Up
	// Down: instance Inst crashed.
	Down
	// Ack: an ack of delivery Tag of Msg from instance Inst, sent at Sent,
	// reached the broker.
	Ack
	// Nack: a nack of delivery Tag of Msg reached the broker.
	Nack
	// Fire: a timer the model armed (Effect Arm) is due: Timer, for Msg and
	// Tag.
	Fire
)

// Input is one thing that happened to the broker.
type Input struct {
	Kind  InputKind
	Msg   uint32 // the message, for all but Up and Down
	Tag   uint32 // Ack, Nack, Fire: the delivery's tag
	Inst  int32  // Deliver, Up, Down, Ack
	Gen   uint32 // Up: the instance's incarnation
	Timer Timer  // Fire
	Sent  int64  // Ack: when the ack was sent, in simulated nanoseconds
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
)

// EffectKind says what an Effect asks the world to do.
type EffectKind uint8

// The effects a model returns.
const (
	// Record: record a record of kind Record (with Cause) about Msg, from
	// instance Inst (-1: the broker's own), with Tag.
	Record EffectKind = iota + 1
	// Arm: fire timer Timer for Msg and Tag after After (Input Fire).
	Arm
	// Send: send delivery Tag of Msg to instance Inst, incarnation Gen,
	// over the network, and record it.
	Send
	// Accepted: the broker accepted instance Inst's ack of Msg, sent at
	// Sent: the checked history's ack.
	Accepted
)

// Effect is one thing a model asks the world to do.
type Effect struct {
	Kind   EffectKind
	Record run.Kind      // Record
	Cause  run.Cause     // Record: a requeue's cause
	Timer  Timer         // Arm
	Msg    uint32        // all
	Inst   int32         // Record, Send, Accepted
	Gen    uint32        // Send
	Tag    uint32        // Record, Arm, Send
	After  time.Duration // Arm
	Sent   int64         // Accepted
}
