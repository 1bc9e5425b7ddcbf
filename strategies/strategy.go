package strategies

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Outcome is what a Handler did with one delivery when it returned no error.
type Outcome uint8

const (
	// Applied means this call committed the event's effect.
	Applied Outcome = iota + 1
	// Skipped means the strategy judged the delivery a duplicate and did
	// nothing.
	Skipped
	// RetryLater means the strategy did nothing and wants the delivery
	// again later, as when another instance holds the event's lease: the
	// consumer nacks it, and the broker redelivers it after a delay.
	// Unlike an error, it says for sure that no effect was applied.
	RetryLater
	// Dropped means the handler gave up and wants the delivery acked with
	// nothing done, as consumers that log an error and move on do: the
	// consumer acks it, and the broker will not deliver it again. An event
	// whose every delivery was dropped was never applied: it is lost.
	Dropped
	// Refused means the handler refuses the event as it came, with
	// nothing done, and hands it to a dead-letter queue for a person to
	// look at: a conflict it must not settle by itself, such as an id
	// already taken by an event with another payload (db-unique-payload).
	// The consumer acks it, as it does a dropped one; but where Dropped
	// loses the event silently, Refused surfaces it: the checkers count
	// an event that a handler refused and none applied as dead, an
	// outcome of its own, not lost.
	Refused
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Skipped:
		return "skipped"
	case RetryLater:
		return "retry-later"
	case Dropped:
		return "dropped"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Handler handles one delivered event. An error means: do not acknowledge;
// the effect may or may not have been applied.
type Handler interface {
	Handle(ctx context.Context, e Event) (Outcome, error)
}

// Seeker is a Handler that keeps its own offsets (offset-in-db): it can
// say where a consumer assigned a partition should start, as a Kafka
// consumer's rebalance listener seeks to the offset it stored instead of
// the group's committed offset. ok false means it has none for the
// partition: start where the group committed.
//
// On the log broker, idemsim's consumer calls Seek for each partition of
// every assignment, before it fetches (the group holds the assignment's
// records back meanwhile), moves its position there, and commits that
// position to the group if it is past the group's committed offset. A
// Seek that fails leaves the partition where the group committed. A
// Seeker must still skip, in Handle, a record it has passed (offset-in-db
// does): a zombie, or a consumer whose seek failed, is handed one.
type Seeker interface {
	Handler
	Seek(ctx context.Context, partition int) (next int64, ok bool, err error)
}

// HandlerFunc is a function that is a Handler.
type HandlerFunc func(ctx context.Context, e Event) (Outcome, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, e Event) (Outcome, error) { return f(ctx, e) }

// Deps is what a strategy is built from: the shared stores and settings. One
// consumer instance builds its own Handler, so per-instance memory (the local
// cache) starts empty whenever an instance starts. A runner gives every
// store a strategy's description says it needs (Strategy.Needs).
type Deps struct {
	Marks  MarkStore // Redis marks keyed by event id (NeedsMarks)
	KV     KV        // Redis keys and values (NeedsKV)
	Ledger Ledger    // needed by every strategy: the effect lives there, or its marks do
	// Provider is the payment provider (NeedsProvider): the effect of a
	// strategy that needs it is a charge there, which the checkers count
	// instead of the ledger's applications.
	Provider Provider
	// Publisher sends events on to the downstream topic
	// (NeedsPublisher), whose consumer group the checkers judge too.
	Publisher Publisher
	// Memory is this incarnation of the instance's own memory of events:
	// empty when the instance starts, emptied by a crash, seen by no
	// other instance. A runner records each of its calls, so that a
	// trace shows what it held. New gives a plain in-process one where a
	// runner gives none.
	Memory Memory
	// Clock is the time of the run: simulated time in the simulator, the
	// wall clock on real servers. A strategy reads the time only through
	// it, so that what it does with the time is deterministic in the
	// simulator.
	Clock Clock
	// MarkTTL is the lifetime of a Redis mark; 0 means no expiry.
	MarkTTL time.Duration
	// Lease is how long an instance may hold an event it is handling
	// before another may take it over (redis-lease): a runner sets it to
	// twice its broker's ack deadline, so that it means the same on every
	// backend's clock.
	Lease time.Duration

	// Instance is the number of the consumer instance that builds the
	// handler (0, 1, ...), and Name its name, as a consumer's host name or
	// consumer tag: "instance-0" in the simulator, the host name, process
	// and instance on real servers.
	Instance int
	Name     string
	// Rand is this incarnation of the instance's random source, for lock
	// tokens and consumer names. In the simulator it is seeded from the
	// run's root seed, the instance and its start, so a run replays byte
	// for byte; on real servers it is seeded by the system. New gives a
	// system-seeded one where a runner gives none.
	Rand *rand.Rand
}

// applyOnce applies e in a transaction of its own: Apply, then Commit. It is
// the "process" step of every strategy whose mark lives outside the ledger.
func applyOnce(ctx context.Context, l Ledger, e Event) error {
	tx, err := l.Begin(ctx)
	if err != nil {
		return err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}
