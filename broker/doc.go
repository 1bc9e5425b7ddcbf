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
// and so far only model is the queue (Queue, "queue"): competing consumers,
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
// no ack deadline) takes it as the channel closing; the others ignore it.
package broker
