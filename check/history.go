package check

import (
	"fmt"
	"math"
)

// Kind says what an Op is.
type Kind uint8

const (
	// Attempt is one handling of one delivery by one consumer instance,
	// from the moment the instance received it to the moment its handler
	// returned.
	Attempt Kind = iota + 1
	// Ack is an acknowledgement the broker accepted: from the moment the
	// instance sent it to the moment the broker took it.
	Ack
	// Read is the final read of the ledger after the run settled.
	Read
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Attempt:
		return "attempt"
	case Ack:
		return "ack"
	case Read:
		return "read"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Result is what an Attempt reported.
type Result uint8

const (
	// Applied: the handler returned having committed the effect.
	Applied Result = iota + 1
	// Skipped: the handler judged the delivery a duplicate.
	Skipped
	// Unknown: the handler failed, timed out or its instance crashed; the
	// effect may or may not have been applied.
	Unknown
	// RetryLater: the handler did nothing and asked for the delivery
	// again later (another instance held the event, say).
	RetryLater
	// Dropped: the handler gave up with nothing done and asked for an
	// ack. Like a skip it changes nothing; once the ack lands, an event
	// that no attempt applied is lost.
	Dropped
	// Refused: the handler refused the event to a dead-letter queue with
	// nothing done (a payload that conflicts with its id's first one).
	// Like a drop it changes nothing, but it surfaces the event: one
	// that a handler refused and none applied is dead, not lost, even
	// once an ack landed.
	Refused
)

// String names the result.
func (r Result) String() string {
	switch r {
	case Applied:
		return "applied"
	case Skipped:
		return "skipped"
	case Unknown:
		return "unknown"
	case RetryLater:
		return "retry-later"
	case Dropped:
		return "dropped"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

// Never is the return time of an operation whose outcome is unknown: it may
// take effect at any time after its call.
const Never int64 = math.MaxInt64

// Op is one operation of a checked history. Times are simulated (or, for a
// real run, wall-clock) nanoseconds since the start of the run.
type Op struct {
	Kind   Kind
	Client int    // the consumer instance; for a Read, the reader's own id
	Event  uint64 // the event id, from 1
	Call   int64
	Return int64  // Never when the outcome is unknown
	Result Result // for an Attempt
	Count  int    // for a Read: the applications found in the ledger
}

// String describes the operation as the visualization shows it.
func (o Op) String() string {
	switch o.Kind {
	case Attempt:
		return fmt.Sprintf("attempt(e%d) -> %s", o.Event, o.Result)
	case Ack:
		return fmt.Sprintf("ack(e%d)", o.Event)
	case Read:
		return fmt.Sprintf("read(e%d) -> %d", o.Event, o.Count)
	}
	return "?"
}
