package run

import (
	"errors"
	"fmt"
	"slices"
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
	// Drop lists fault decisions (Result.Decisions of the run without
	// them) not to inject: the run draws them all the same, so every other
	// decision keeps its number and its draws, and the run differs from
	// the one without Drop only from the first dropped point on. explain
	// shrinks a run's fault schedule with it (--drop crash@3,slow@12).
	Drop []faults.Decision
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
	st, ok := strategies.Lookup(c.Strategy)
	if !ok {
		return BadConfigf("unknown strategy %q (accepted: %s)", c.Strategy, strings.Join(strategies.Names(), ", "))
	}
	if c.Faults&^faults.Known != 0 {
		return BadConfigf("unknown faults in set %#x (accepted: subsets of %#x)", uint64(c.Faults), uint64(faults.Known))
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
	if !slices.Contains(BrokerNames, c.BrokerModel) {
		return BadConfigf("unknown broker %q (accepted: %s)", c.BrokerModel, strings.Join(BrokerNames, ", "))
	}
	if !st.RunsOn(c.BrokerModel) {
		return BadConfigf("strategy %s runs on the %s broker only, not on the %s (on the %s, accepted: %s)",
			c.Strategy, strings.Join(st.Brokers, " and "), c.BrokerModel, c.BrokerModel, strings.Join(strategies.NamesOn(c.BrokerModel), ", "))
	}
	if err := c.Broker.Validate(); err != nil {
		return err
	}
	if flag := c.Broker.foreignTo(c.BrokerModel); flag != "" {
		return BadConfigf("%s is a parameter of the %s broker, not of the %s", flag, otherBroker(c.BrokerModel), c.BrokerModel)
	}
	for i, d := range c.Drop {
		if !c.Faults.Has(d.Fault) {
			return BadConfigf("--drop %s: %s is not a fault of the scenario %s, so it makes no decision to drop", d, d.Fault, c.Faults)
		}
		if slices.Contains(c.Drop[:i], d) {
			return BadConfigf("--drop %s is given twice", d)
		}
	}
	return nil
}

// DefaultBroker is the name of the default broker model, the queue.
const DefaultBroker = "queue"

// LogBroker is the name of the partitioned log, Kafka's consumer groups.
const LogBroker = "log"

// BrokerNames are the broker models a Config may name, in table order.
// Package broker describes them (broker.Models), but depends on run; a
// test there holds the two lists equal.
var BrokerNames = []string{DefaultBroker, LogBroker}

// otherBroker names the model that is not model, for a message about a
// parameter given to the wrong one.
func otherBroker(model string) string {
	if model == LogBroker {
		return DefaultBroker
	}
	return LogBroker
}

// foreignTo returns the flag of the first parameter set in p that model
// does not have, or "".
func (p BrokerParams) foreignTo(model string) string {
	queue := []struct {
		set  bool
		flag string
	}{{p.AckDeadline != 0, "--ack-deadline"}, {p.NackRetry != 0, "--nack-retry"}, {p.Prefetch != 0, "--prefetch"}, {p.MaxDeliveries != 0, "--max-deliveries"}}
	log := []struct {
		set  bool
		flag string
	}{{p.Partitions != 0, "--partitions"}, {p.Batch != 0, "--batch"}, {p.Commit != 0, "--commit"}, {p.SessionTimeout != 0, "--session-timeout"}, {p.MaxPollInterval != 0, "--max-poll-interval"}}
	foreign := log
	if model == LogBroker {
		foreign = queue
	}
	for _, f := range foreign {
		if f.set {
			return f.flag
		}
	}
	return ""
}

// CommitMode says when the log's consumer commits its offsets.
type CommitMode uint8

// The commit modes; the zero value means the default, CommitBatch.
const (
	// CommitBatch: after the last record of each fetched batch (Kafka's
	// canonical loop: poll, process the batch, commitSync).
	CommitBatch CommitMode = iota + 1
	// CommitRecord: after each record.
	CommitRecord
	// CommitAuto: on an interval, of what the consumer has received,
	// handled or not (franz-go's autocommit); not after processing, and
	// neither when it leaves nor on a rebalance.
	CommitAuto
)

// String names the mode as the --commit flag takes it.
func (m CommitMode) String() string {
	switch m {
	case CommitBatch:
		return "batch"
	case CommitRecord:
		return "record"
	case CommitAuto:
		return "auto"
	}
	return ""
}

// ParseCommitMode reads a --commit value.
func ParseCommitMode(s string) (CommitMode, error) {
	switch s {
	case "batch":
		return CommitBatch, nil
	case "record":
		return CommitRecord, nil
	case "auto":
		return CommitAuto, nil
	}
	return 0, BadConfigf("--commit %q: want batch (after each fetched batch), record (after each record) or auto (every 5s, of what was received)", s)
}

// MaxPartitions bounds BrokerParams.Partitions: a partition set is a
// 64-bit set.
const MaxPartitions = 64

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

	// The log's parameters (package broker's Log, LogParams). Each zero
	// value means its default.
	//
	// Partitions is the topic's number of partitions. 0: 6.
	Partitions int
	// Batch is the most records one poll returns (Kafka's
	// max.poll.records). 0: 5.
	Batch int
	// Commit is when the consumer commits. 0: CommitBatch.
	Commit CommitMode
	// SessionTimeout is how long the coordinator waits without a
	// member's heartbeat before it evicts the member. 0: 3s.
	SessionTimeout time.Duration
	// MaxPollInterval is how long a member may go between polls before
	// it leaves the group (the Java client's max.poll.interval.ms), and
	// how long a rebalance waits for members to rejoin. 0: 5s.
	MaxPollInterval time.Duration
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
	case p.Partitions < 0 || p.Partitions > MaxPartitions:
		return BadConfigf("partitions must be 1 to %d, not %d (0 means the default: 6)", MaxPartitions, p.Partitions)
	case p.Batch < 0 || p.Batch > MaxPrefetch:
		return BadConfigf("batch must be 1 to %d, not %d (0 means the default: 5)", MaxPrefetch, p.Batch)
	case p.Commit > CommitAuto:
		return BadConfigf("unknown commit mode %d", p.Commit)
	case p.SessionTimeout < 0:
		return BadConfigf("session timeout must not be negative, not %v (0 means the default)", p.SessionTimeout)
	case p.MaxPollInterval < 0:
		return BadConfigf("max-poll interval must not be negative, not %v (0 means the default)", p.MaxPollInterval)
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
	cmd += " --broker " + c.BrokerModel + c.Broker.Flags()
	if len(c.Drop) > 0 {
		cmd += " --drop " + faults.FormatDecisions(c.Drop)
	}
	return cmd
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
	if p.Partitions > 0 {
		fmt.Fprintf(&b, " --partitions %d", p.Partitions)
	}
	if p.Batch > 0 {
		fmt.Fprintf(&b, " --batch %d", p.Batch)
	}
	if p.Commit != 0 {
		fmt.Fprintf(&b, " --commit %s", p.Commit)
	}
	if p.SessionTimeout > 0 {
		fmt.Fprintf(&b, " --session-timeout %v", p.SessionTimeout)
	}
	if p.MaxPollInterval > 0 {
		fmt.Fprintf(&b, " --max-poll-interval %v", p.MaxPollInterval)
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
