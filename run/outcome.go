package run

import (
	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/strategies"
)

// Three types say what a handling attempt came to, each numbered its own
// way: strategies.Outcome (what a handler returns), Outcome (what a trace
// records, with Errored for a failure) and check.Result (what the checkers
// judge, with Unknown for a failure). A cast between them would map a
// value to another meaning (strategies.RetryLater is 3, which is Errored
// here and check.Unknown there), so every conversion goes through the
// functions below, which TestOutcomeMappings covers value by value.

// The mappings are tables indexed by the value mapped, one entry per
// possible value, so that a lookup needs no bounds check: a handling ends
// in one of them at every delivery.
var (
	// fromStrategy maps a strategies.Outcome to an Outcome; a value that
	// is no outcome, 0 included, to Errored.
	fromStrategy = outcomeTable(func(o strategies.Outcome) Outcome {
		switch o {
		case strategies.Applied:
			return Applied
		case strategies.Skipped:
			return Skipped
		case strategies.RetryLater:
			return RetryLater
		case strategies.Dropped:
			return Dropped
		case strategies.Refused:
			return Rejected
		}
		return Errored
	})
	// toStrategy maps an Outcome to a strategies.Outcome; Errored, and a
	// value that is no outcome, to 0.
	toStrategy = outcomeTable(func(o Outcome) strategies.Outcome {
		switch o {
		case Applied:
			return strategies.Applied
		case Skipped:
			return strategies.Skipped
		case RetryLater:
			return strategies.RetryLater
		case Dropped:
			return strategies.Dropped
		case Rejected:
			return strategies.Refused
		}
		return 0
	})
	// toResult maps an Outcome to a check.Result; Errored, and a value
	// that is no outcome, to Unknown.
	toResult = outcomeTable(func(o Outcome) check.Result {
		switch o {
		case Applied:
			return check.Applied
		case Skipped:
			return check.Skipped
		case RetryLater:
			return check.RetryLater
		case Dropped:
			return check.Dropped
		case Rejected:
			return check.Refused
		}
		return check.Unknown
	})
)

// outcomeTable tabulates f over every value of its argument's type.
func outcomeTable[From ~uint8, To any](f func(From) To) (t [256]To) {
	for i := range t {
		t[i] = f(From(i))
	}
	return t
}

// acked has bit o set for each Outcome o after which an instance acks.
const acked = 1<<Applied | 1<<Skipped | 1<<Dropped | 1<<Rejected

// OutcomeOf is the outcome of a handler that returned out and err. An
// error makes it Errored whatever out says; an out that is none of the
// strategies' outcomes, with no error, is the strategy's bug, and also
// Errored: the effect's outcome is unknown.
func OutcomeOf(out strategies.Outcome, err error) Outcome {
	if err != nil {
		return Errored
	}
	return fromStrategy[out]
}

// Strategy is o as a handler returns it, or 0 for Errored and for a value
// that is no outcome: a handler that failed returned no Outcome.
func (o Outcome) Strategy() strategies.Outcome { return toStrategy[o] }

// Result is o as the checked history holds it: Errored, and any value
// that is no outcome, is Unknown (the effect may or may not have landed).
func (o Outcome) Result() check.Result { return toResult[o] }

// Acks reports whether an instance acks a delivery whose handling came to
// o: after Applied, Skipped, Dropped and Refused (the handler handed the
// event to a dead-letter queue). After Errored or RetryLater it
// nacks, and the broker delivers the message again.
func (o Outcome) Acks() bool { return uint32(acked)>>o&1 != 0 }
