package realrun

import (
	"context"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// The seam between a real run and its broker. The run publishes, watches
// progress and reads the end state through Broker; each consumer
// incarnation receives, acks and nacks through its own Conn, and closes it
// abruptly (a crash) or gracefully (a leave). Three implementations exist:
// memoryBroker, the in-process queue that sees everything (broker.go);
// natsBroker, NATS JetStream through nats.go (natsbroker.go);
// rabbitBroker, RabbitMQ through amqp091-go (rabbitbroker.go); and
// kafkaBroker, Kafka through franz-go (kafkabroker.go). The last three
// know only what a client can know.
//
// An implementation records in the trace what its side sees (Publish,
// Deliver, AckSend, Acked, AckLost, AckUnknown, Nack, and for the memory
// broker also Requeue and its own view of the queue), and reports a broker
// that failed through the session's fail, naming it; the consumer loop
// then sees gotStop.
//
// RabbitMQ (rabbitbroker.go) fits so: Attach makes a Conn that opens a
// connection and a channel with basic.qos prefetch (the run's); a delivery keeps its
// channel's tag, and an ack after a reconnect never reuses a stale one
// (BROKER-FACTS row 10); basic.ack has no reply, so Ack returns
// AckUnknown, and Final settles from the queue's state at the end.
//
// Kafka (kafkabroker.go) fits so: Attach makes a member of the run's
// consumer group (its client made at its first poll); Receive hands out
// the records of a polled batch one by one, Ack commits what was handled
// when a commit is due (refused when fenced: AckRefused), CallOff is a
// graceful leave, Final reads the group's committed offsets. What the log
// adds, its Conn also offers (logConn): each record's partition and
// offset for the strategy, whether an ack commits (only a commit is a
// fault point, as in the simulator), a failed record retried in place,
// and the seek of a Seeker strategy on assignment.

// Broker is a real run's broker, as the run drives it.
type Broker interface {
	// Publish publishes message m of the workload, once the producer's
	// clock says so. An error is the broker failing: no verdict.
	Publish(ctx context.Context, m int) error
	// Attach connects consumer's new incarnation. A connection that
	// cannot be made now (a partition) may be made later, by Receive.
	Attach(ctx context.Context, consumer int) (Conn, error)
	// CallOff tells consumer to leave (rebalance): its Receive returns
	// gotLeave instead of a delivery, until Rejoin.
	CallOff(consumer int)
	// Rejoin: consumer starts again, and receives as any other.
	Rejoin(consumer int)
	// Stop ends the run's deliveries: every Receive returns gotStop.
	Stop()
	// Halted is closed by Stop.
	Halted() <-chan struct{}
	// AllDone is closed once every message is settled, as far as the
	// implementation can tell.
	AllDone() <-chan struct{}
	// Progress counts the messages settled so far, and all of them.
	Progress() (settled, total int)
	// Final reports, after Stop, per event id (1..events) whether a copy
	// of it was settled (done) and whether every copy was (settled).
	Final(ctx context.Context, events int) (done, settled []bool, err error)
}

// Conn is one consumer incarnation's connection to the broker.
type Conn interface {
	// Receive waits for a delivery, or for the reason there is none.
	Receive(ctx context.Context) (delivery, strategies.EventID, received)
	// Ack acks d, sent at sent (since the run began), and says what the
	// client can know of its outcome.
	Ack(ctx context.Context, d delivery, sent time.Duration) AckOutcome
	// Nack asks for d again, after the run's nack retry delay.
	Nack(ctx context.Context, d delivery)
	// Crash closes the connection abruptly, as a process that dies: the
	// broker sees the socket close, with nothing flushed.
	Crash()
	// Close closes the connection gracefully (a leave, or the end).
	Close()
}

// deadLetters is a Broker that can tell which messages it dead-lettered
// (run.BrokerParams.MaxDeliveries), as far as its client sees: after
// Final, per event id whether a copy of it was dead-lettered and never
// settled by an ack; nil when none was. A dead-lettered message is
// settled (Final) but not done.
type deadLetters interface {
	dead(events int) []bool
}

// AckOutcome is what a consumer can know of its ack.
type AckOutcome uint8

// The outcomes of an ack.
const (
	// AckAccepted: the broker said it took the ack.
	AckAccepted AckOutcome = iota + 1
	// AckRefused: the broker said it did not take it.
	AckRefused
	// AckUnknown: no answer came in time (or none exists, as for
	// RabbitMQ): the ack may or may not have been applied.
	AckUnknown
	// AckNotSent: the redeliver fault lost it on the wire: it never
	// reached the broker.
	AckNotSent
)

// proxied is a broker whose consumers reach it through proxies of the
// run's own, so that a partition can cut a consumer off from it.
type proxied interface {
	proxy(consumer int) brokerLink
}

// logConn is a Conn of a broker whose model is the log (Kafka): its
// consumer hands the strategy each record's partition and offset,
// commits only when a commit is due, retries a failed record in place,
// and seeks on assignment when its strategy is a Seeker.
type logConn interface {
	Conn
	position(d delivery) (partition int, offset int64)
	commitDue(d delivery) bool
	setSeeker(s strategies.Seeker)
}
