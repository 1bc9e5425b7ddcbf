// Package broker holds idemsim's broker models: pure state machines, in the
// shape of etcd's raft, that decide what a broker does while the simulator
// (package sim) keeps time, scheduling, the network and the record.
//
// A Model takes one input at a time, each a method of its own (a message
// published, a delivery the world requests, an instance up or down, an ack
// or a nack that reached the broker, a timer it armed that is now due), and
// returns the effects it decided, in order: record this, arm that timer,
// send that delivery to that instance, the history's ack. It does no I/O,
// reads no clock, and draws randomness only from the stream it is handed
// (Setup.Pick, the run's broker stream), so that the same inputs give the
// same effects on every machine. The world carries out each batch of
// effects before it feeds the next input.
//
// Each model is described once (Description: its name, summary and
// parameters with their defaults); Models and Lookup list them. The first
// model is the queue (Queue, "queue"): competing consumers,
// nacks retried after a delay, and the parameters real queues differ on
// (QueueParams, from a run's run.BrokerParams by QueueParamsOf): an ack
// deadline (SQS, JetStream; the default, 5s) or none (RabbitMQ: a delivery
// stays with its instance until its channel closes, and then goes to the
// head of the queue), a prefetch of deliveries in flight per instance
// (default 1), and a maximum number of deliveries after which a message is
// dead-lettered (default unlimited). ../shared/BROKER-FACTS.md has what the
// real brokers were measured to do; the queue's doc says which row each
// choice follows.
//
// The second model is the partitioned log (Log, "log"): a topic of
// partitions read by a Kafka consumer group, with the classic eager
// protocol, the range assignor and the Java client's max-poll interval
// (LogParams, from a run's run.BrokerParams by LogParamsOf: partitions,
// default 6; batch, the records one poll returns, default 5; commit after
// each batch or each record; session timeout, default 3s; max-poll
// interval, default 5s, also the rebalance timeout). A message's key (its
// event's account) picks its partition, so every copy of an event lands in
// one; each partition has one owner at a time. A member joins at each
// incarnation of an instance (Up); it is evicted when its heartbeats stop
// (Down, Disconnect) for the session timeout, and leaves when it does not
// poll within the max-poll interval; each join, leave or eviction begins a
// rebalance, which waits until every member has rejoined (at its next poll)
// or the rebalance timeout evicts those that did not, and then moves to the
// next generation and splits the partitions over the members in ranges. A
// commit is fenced when its member is no longer in the group or its
// generation is not the group's, and otherwise sets the partition's
// committed offset where it says, even back (BROKER-FACTS row 11). Its
// record kinds are run's Join, Leave, Evict, Rebalance, Assign, Committed
// and Fenced; a message is Done when the group's committed offset has
// passed it.
//
// The consumer loop's contract: an instance asks the model what to do
// next, and does it. With the queue the answer is always the same: take the
// next delivery the broker sent (its inbox holds them in arrival order),
// hand its event to the strategy, then ack it if the outcome acks
// (run.Outcome.Acks: applied, skipped, dropped) or nack it otherwise, and
// ask again. The ack or nack travels to the broker over the network, where
// it may be lost; the model hears of it only if it arrives (Ack or
// Nack). An instance that crashes says nothing: the world tells the model
// Down, and Up when the next incarnation starts. When an instance is cut
// off from the broker, or the network loses its ack on a link that is up,
// the world tells the model Disconnect (and Reconnect when it can reach the
// broker again): a model whose consumers hold a connection (the queue with
// no ack deadline) takes it as the channel closing; the log takes it as the
// member's heartbeats stopping; the queue with a deadline ignores it.
//
// On the log (its description says Pull), the loop is Kafka's: the
// instance polls (Fetch) when it has handled everything it was sent, and is
// sent a batch of records of one partition (Send effects, the last one
// Last), or nothing yet (it waits, and the model sends when records come or
// a rebalance ends). It handles the records in order, retrying a failed one
// in place (it never nacks), and commits after the Last one (or after each
// record): the commit is an Ack of the record, with the generation the
// record was sent in as its tag, and it covers every record of its
// partition up to that one. A new incarnation (Up) waits in a poll from the
// start; the world need not call Fetch for it.
package broker
