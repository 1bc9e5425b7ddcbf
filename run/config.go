package run

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

// Limits on a run's size: enough for any lesson or sweep, small enough that
// a typo cannot make a run that never ends.
const (
	MaxInstances = 64
	MaxEvents    = 100_000
	// MaxPrefetch bounds BrokerParams.Prefetch: more than an instance
	// could hold in a lesson's run.
	MaxPrefetch = 1000
)

// Config says which run: the zero values of Instances and Events mean the
// defaults (3 and 200).
type Config struct {
	Strategy  string
	Faults    faults.Set
	Seed      uint64
	Instances int
	Events    int
	// MarkTTL, when not zero, sets how long Redis marks live, overriding
	// both the default (24 h) and the ttl fault's draw: for sweeps of
	// duplicates against the TTL.
	MarkTTL time.Duration
	// BrokerModel names the broker model (package broker's Models); ""
	// means DefaultBroker, the queue.
	BrokerModel string
	// Broker sets the broker model's parameters; its zero value is the
	// queue as idemsim has always simulated it. Reproduce names each one
	// that is not the default, as the command line's flags.
	Broker BrokerParams
	// KeepTrace keeps every trace record, for printing or explaining; the
	// trace hash is computed either way.
	KeepTrace bool
	// KeepHistory keeps the checked history in the Result.
	KeepHistory bool
	// NoTraceHash leaves Result.TraceHash empty: a sweep that reads only
	// the verdicts spares the digest's cost, a few percent of a run.
	NoTraceHash bool
}

// ErrBadConfig is matched (errors.Is) by every error of Config.Validate and
// of the sweeps' checks of their configs. Those errors read as the problem
// alone, such as "instances must be 1 to 64, not 0", without this
// sentinel's text, so a command line can show them as they are; BadConfigf
// makes one.
var ErrBadConfig = errors.New("run: bad config")

// BadConfigf returns an error that matches ErrBadConfig and reads as the
// formatted message alone: the way to report bad input that a command line
// shows its user.
func BadConfigf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// configError is an error of BadConfigf.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// Is reports whether target is ErrBadConfig.
func (e *configError) Is(target error) bool { return target == ErrBadConfig }

// WithDefaults returns c with its defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Instances == 0 {
		c.Instances = 3
	}
	if c.Events == 0 {
		c.Events = 200
	}
	if c.BrokerModel == "" {
		c.BrokerModel = DefaultBroker
	}
	return c
}

// Validate reports what is wrong with c, if anything, in words that list
// what is accepted; the error matches ErrBadConfig.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if _, ok := strategies.Lookup(c.Strategy); !ok {
		return BadConfigf("unknown strategy %q (accepted: %s)", c.Strategy, strings.Join(strategies.Names(), ", "))
	}
	if c.Faults&^faults.AllFaults != 0 {
		return BadConfigf("unknown faults in set %#x (accepted: subsets of %#x)", uint64(c.Faults), uint64(faults.AllFaults))
	}
	if c.Instances < 1 || c.Instances > MaxInstances {
		return BadConfigf("instances must be 1 to %d, not %d", MaxInstances, c.Instances)
	}
	if c.MarkTTL < 0 {
		return BadConfigf("mark TTL must not be negative, not %v (0 means the default: 24h, or drawn per seed under ttl)", c.MarkTTL)
	}
	if c.Events < 1 || c.Events > MaxEvents {
		return BadConfigf("events must be 1 to %d, not %d", MaxEvents, c.Events)
	}
	if c.BrokerModel != DefaultBroker {
		// Package broker describes the models, but depends on run: the
		// command line checks a name against its list first, and this
		// check is the simulator's, which has the queue only.
		return BadConfigf("unknown broker %q (accepted: %s)", c.BrokerModel, DefaultBroker)
	}
	return c.Broker.Validate()
}

// DefaultBroker is the name of the default broker model, the queue.
const DefaultBroker = "queue"

// NoAckDeadline, as BrokerParams.AckDeadline, means that the queue has no
// ack deadline: an unacked message stays with its consumer until the
// consumer's channel closes or it nacks (RabbitMQ).
const NoAckDeadline time.Duration = -1

// BrokerParams are the parameters of the broker model, as a Config carries
// them. Each zero value means the default, the queue as idemsim has always
// simulated it (package broker: QueueParams, and the model's description
// tells each parameter with its default and the real broker it matches).
// They live here rather than in package broker, which depends on run.
type BrokerParams struct {
	// AckDeadline is how long a delivery may stay unacked before its
	// message goes back to the queue (SQS's visibility timeout,
	// JetStream's AckWait). 0: the default, 5s; NoAckDeadline: none
	// (RabbitMQ).
	AckDeadline time.Duration
	// NackRetry is how long a nacked message waits before it is ready
	// again. 0: the default, 200ms.
	NackRetry time.Duration
	// Prefetch is how many deliveries an instance may hold unacked at
	// once. 0: the default, 1.
	Prefetch int
	// MaxDeliveries is how many deliveries a message may have in all:
	// when the last of them fails, the message is dead-lettered instead
	// of going back to the queue. JetStream's MaxDeliver and SQS's
	// maxReceiveCount count the same way; RabbitMQ's quorum-queue
	// delivery-limit N is MaxDeliveries N+1. 0: unlimited.
	MaxDeliveries int
}

// Validate reports what is wrong with p, in words that say what is
// accepted; the error matches ErrBadConfig.
func (p BrokerParams) Validate() error {
	switch {
	case p.AckDeadline < 0 && p.AckDeadline != NoAckDeadline:
		return BadConfigf("ack deadline must be more than 0, or none (run.NoAckDeadline), not %v", p.AckDeadline)
	case p.NackRetry < 0:
		return BadConfigf("nack retry delay must not be negative, not %v (0 means the default)", p.NackRetry)
	case p.Prefetch < 0 || p.Prefetch > MaxPrefetch:
		return BadConfigf("prefetch must be 1 to %d, not %d (0 means the default: 1)", MaxPrefetch, p.Prefetch)
	case p.MaxDeliveries < 0:
		return BadConfigf("max deliveries must not be negative, not %d (0 means unlimited)", p.MaxDeliveries)
	}
	return nil
}

// Reproduce is the command line that replays this run.
func (c Config) Reproduce() string {
	c = c.WithDefaults()
	cmd := fmt.Sprintf("idemsim run --strategy %s --faults %s --seed %d --instances %d --events %d",
		c.Strategy, c.Faults, c.Seed, c.Instances, c.Events)
	if c.MarkTTL > 0 {
		cmd += fmt.Sprintf(" --mark-ttl %v", c.MarkTTL)
	}
	return cmd + " --broker " + c.BrokerModel + c.Broker.Flags()
}

// Flags returns the command-line flags that set p's parameters that are not
// the default, each with a leading space: "" for the default queue.
func (p BrokerParams) Flags() string {
	var b strings.Builder
	switch {
	case p.AckDeadline == NoAckDeadline:
		b.WriteString(" --ack-deadline none")
	case p.AckDeadline > 0:
		fmt.Fprintf(&b, " --ack-deadline %v", p.AckDeadline)
	}
	if p.NackRetry > 0 {
		fmt.Fprintf(&b, " --nack-retry %v", p.NackRetry)
	}
	if p.Prefetch > 0 {
		fmt.Fprintf(&b, " --prefetch %d", p.Prefetch)
	}
	if p.MaxDeliveries > 0 {
		fmt.Fprintf(&b, " --max-deliveries %d", p.MaxDeliveries)
	}
	return b.String()
}

// ackDeadlineText is p's ack deadline as the JSON tells it: "" for the
// default, "none", or a duration.
func (p BrokerParams) ackDeadlineText() string {
	if p.AckDeadline == NoAckDeadline {
		return "none"
	}
	return durationText(p.AckDeadline)
}

// durationText is d as a Go duration, or "" for 0 (the default).
func durationText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

// parseDurationText reads what durationText (and, with none,
// ackDeadlineText) writes.
func parseDurationText(s string, none bool) (time.Duration, error) {
	switch {
	case s == "":
		return 0, nil
	case none && s == "none":
		return NoAckDeadline, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		err = errors.New("not positive")
	}
	return d, err
}
