package broker

import (
	"fmt"

	"github.com/idemsim/idemsim/run"
)

// Description describes one broker model, once: its name, what it models,
// its parameters, and how to make one. The command line, the tables and the
// simulator read it, as they read strategies' and faults' descriptions.
type Description struct {
	Name    string
	Summary string
	// Params are the model's parameters, in the order they are told.
	Params []Param
	// Pull says that the model's consumers ask for records (Model.Fetch)
	// when they have handled all they were sent, as Kafka's poll does;
	// without it the model pushes deliveries, as the queue does.
	Pull bool
	// New returns the model with its default parameters.
	New func() Model
}

// Param is one parameter of a model, as it is told to a user.
type Param struct {
	Name    string
	Summary string
	Default string
}

// described lists the models in table order. Adding a model is one entry
// here and its file.
var described = []Description{{
	Name:    "queue",
	Summary: "an at-least-once queue with competing consumers (SQS, NATS JetStream; RabbitMQ with no ack deadline): an unacked delivery goes back to the queue at its original place after the ack deadline, for any instance",
	Params: []Param{
		{Name: "ack-deadline", Default: DefaultAckDeadline.String(),
			Summary: "an unacked delivery goes back to the queue after this, at its original place, and may go to any instance (SQS's visibility timeout, JetStream's AckWait); none: it stays with its instance until the instance acks or nacks it or its channel closes (it crashes or is cut off from the broker), and then goes to the head of the queue, and only the holder's ack counts (RabbitMQ)"},
		{Name: "nack-retry", Default: DefaultNackRetry.String(),
			Summary: "a nacked message is ready again after this (JetStream's NakWithDelay; a consumer's back-off before a RabbitMQ nack)"},
		{Name: "prefetch", Default: fmt.Sprint(DefaultPrefetch),
			Summary: "deliveries in flight per instance, which it handles one at a time in order (RabbitMQ's basic.qos prefetch count, JetStream's fetch batch, SQS's MaxNumberOfMessages): the broker sends more while it holds fewer"},
		{Name: "max-deliveries", Default: "unlimited",
			Summary: "deliveries a message may have in all; when the last fails, it is dead-lettered and its event, if never applied, is dead (JetStream's MaxDeliver and SQS's maxReceiveCount count alike; RabbitMQ's quorum delivery-limit N is N+1)"},
	},
	New: func() Model { return &Queue{p: DefaultQueue} },
}, {
	Name:    "log",
	Summary: "a partitioned log read by a Kafka consumer group (Kafka, Redpanda, Event Hubs): an event's key picks its partition, each partition has one owner at a time, consumers poll batches and commit offsets, and a rebalance (classic eager protocol, range assignor) moves partitions when a member joins, leaves or is evicted; commits are fenced by member and generation only",
	Pull:    true,
	Params: []Param{
		{Name: "partitions", Default: fmt.Sprint(DefaultPartitions),
			Summary: "the topic's partitions; an event of account k goes to partition 1+k%P, every copy of it to the same one"},
		{Name: "batch", Default: fmt.Sprint(DefaultBatch),
			Summary: "the most records one poll returns, all of one partition, the member's partitions taken in turn (max.poll.records)"},
		{Name: "commit", Default: run.CommitBatch.String(),
			Summary: "when the consumer commits its offset: batch, after the last record of each polled batch (poll, process, commitSync); record, after each record; auto, every " + AutoCommitInterval.String() + ", the offsets of what it has received, handled or not (franz-go's autocommit; auto.commit.interval.ms), and nothing when it leaves or rebalances: a crash then loses the records it received but had not handled, and a move of their partition replays those handled since the last commit"},
		{Name: "session-timeout", Default: DefaultSessionTimeout.String(),
			Summary: "a member whose heartbeats stop (it crashed, paused or was cut off) is evicted after this, and the group rebalances (session.timeout.ms)"},
		{Name: "max-poll-interval", Default: DefaultMaxPollInterval.String(),
			Summary: "a member that has not polled again this long after its batch came leaves the group, as the Java client's heartbeat thread does (max.poll.interval.ms; franz-go has none); also how long a rebalance waits for members to rejoin before it evicts them"},
	},
	New: func() Model { return &Log{p: DefaultLog} },
}}

// Models returns the descriptions of every model, in table order.
func Models() []Description { return append([]Description(nil), described...) }

// Lookup returns the description of the model called name.
func Lookup(name string) (Description, bool) {
	for _, d := range described {
		if d.Name == name {
			return d, true
		}
	}
	return Description{}, false
}
