// Package realrun runs the simulator's workload against real servers: the
// very strategy code of package strategies, over real Redis (go-redis v9) and
// real PostgreSQL (pgx v5), under real faults, judged by the same two
// checkers (package check).
//
// A run has an in-process at-least-once broker on the wall clock, with an ack
// deadline, lost acks and redelivery to any consumer, and N consumer
// goroutines. Each consumer has its own Redis client and PostgreSQL pool,
// connected through its own loopback TCP proxies so that a partition can cut
// it off. Faults strike where the simulator's do, by wrapping the stores
// (faulty.go) so that each store call is a fault point:
//
//   - crash: the handler is abandoned before or right after a store call, or
//     before its ack; the consumer's sockets are closed, and it restarts later
//     with new clients and empty memory;
//   - partition: the consumer's proxies to Redis, PostgreSQL or both hold all
//     traffic for a while; calls in flight time out with unknown outcome;
//   - slow: the handler stalls past the ack deadline, before a store call or
//     the ack, and nothing cancels it: an open transaction keeps its row
//     locks, as in the simulator;
//   - store-loss: this run's Redis marks are deleted, as a Redis restart
//     without persistence would;
//   - ttl: marks live a few hundred milliseconds and late copies arrive after;
//   - redeliver: more lost acks, and events published twice at once;
//   - rebalance: a consumer told to leave takes no new delivery, leaves once
//     it has acked what it holds, and starts again later with new clients
//     and empty memory; with scale-out, the last consumer starts only later
//     in the workload;
//   - zombie: the whole consumer pauses before a store call or the ack, past
//     the ack deadline (the queue's liveness timeout), then goes on where it
//     was; the broker redelivers meanwhile, as for slow. On RabbitMQ, which
//     has no ack deadline, slow redelivers nothing, and zombie pauses past
//     RabbitMQ's heartbeat timeout (about three 1 s heartbeats), cut off
//     from it meanwhile, so that RabbitMQ closes its connection and
//     redelivers what it held.
//
// On Kafka (the log) slow stalls past the max-poll interval and zombie
// pauses past the session timeout, its link to the broker held meanwhile
// (no heartbeat); redeliver's lost acks are lost commit replies.
//
// A real run's broker sits behind a narrow seam (seam.go: Broker for the
// run, Conn for each consumer incarnation): memory, the in-process queue
// above (broker.go, the default), or NATS JetStream (natsbroker.go,
// natsserver.go), a real server whose matching model is the simulator's
// queue with an ack deadline. On NATS the run creates its own stream and
// durable pull consumer under the prefix, marked as idemsim's in their
// metadata, refuses ones of those names it did not create, and deletes
// them at the end; each consumer reaches NATS over a connection of its own
// through a proxy of its own, so a crash closes it abruptly and a
// partition can cut the consumer off from the broker as well as from the
// stores; acks are sent with AckSync, and one that gets no answer in time
// is recorded as unknown (ack-unknown), never guessed. Or RabbitMQ
// (rabbitbroker.go, rabbitserver.go), whose matching model is the queue
// with no ack deadline: a quorum queue of the run's own, marked in
// arguments RabbitMQ checks on a redeclare, publisher confirms, manual
// acks with basic.qos prefetch, a 1 s heartbeat, and with a delivery limit
// a dead-letter exchange and queue of its own; basic.ack has no reply, so every
// ack is unknown and the queue's state at the end settles it; a delivery's
// tag is used only on the channel that gave it. Or Kafka (kafkabroker.go,
// kafkaserver.go), through franz-go, whose matching model is the
// simulator's log: a topic of the run's own (marked by a config value it
// never uses) and a consumer group of its own, members that poll batches
// and commit what they handled (a fenced commit is refused, one with no
// answer unknown), the log's session timeout and max-poll interval scaled
// to the run's clock, the max-poll interval kept by the consumer itself
// (kgo has none). On the queue brokers, --broker log and the log's
// parameters are refused.
//
// A strategy that charges the payment provider (strategies.NeedsProvider)
// charges idemsim's own, over HTTP (provider.go, package
// internal/provider): the run starts `idemsim provider` as a process of
// its own (its executable, on a free loopback port, its PostgreSQL URL in
// the environment, its stdin a pipe that ends it with the run), unless
// Config.ProviderURL names one; its tables are made, or refused, under the
// prefix's lock before it starts. Each consumer charges it through a proxy
// of its own (a crash closes its connections, a partition cuts them; the
// provider takes Redis's place among a partition's targets, as in the
// simulator), each charge a fault point with the store calls' deadline,
// a lost reply an unknown outcome. The provider's 5xx answers come where
// the simulator draws them, asked of the provider with a header;
// key-expiry shortens the run's keys' retention. The run's keys and
// charges are a scope of its own (the run id); the checkers count its
// charges per event (under id-reuse, by id and payload: readCharges), and
// the run forgets the scope at the end. A provider that is
// killed (its process exits), hangs or answers what a healthy one never
// does ends the run with a *ServerError naming the payment provider.
//
// Each consumer builds its handler anew at every start (strategies.New),
// with Deps that name it as a real consumer is named: Instance, its number,
// and Name, "<host>-<pid>-<instance>", Rand, a random source of this
// incarnation's own, seeded by the system, and Memory, the incarnation's
// own memory of events, empty at its start, whose every call the trace
// records (run.Memory) as the simulator's does. A strategy whose New fails ends
// the run with its *strategies.NewError and no verdict, torn down as after
// a failed server. A handler's Dropped is acked, as Applied and Skipped
// are; RetryLater and errors are nacked.
//
// A real run is safe on a user's servers. It touches only what it created
// and can recognise as its own: it takes the prefix with a PostgreSQL
// advisory lock (a second run on the prefix is refused), uses the prefix's
// tables only if they bear idemsim's mark (setup.go, package pgstore), and
// writes Redis keys (strings and sets) only under a namespace of its own
// run, which it deletes at the end. Clean removes what runs of a prefix
// left behind.
//
// A real run is honest about failures. Every round trip has a deadline; a
// health watch (watch.go) pings both servers on the run's own connections,
// outside the injected partitions; a server that cannot be reached, refuses
// the connection, turns out to be another kind of server (ErrWrongService:
// told from the driver's error, with no probe of its own), or dies, hangs
// or answers an unexpected error ends the run
// with a *ServerError naming the server, its address and what the run was
// doing, and no verdict: a broken server is not a broken strategy
// (errors.go). No output shows a password (secrets.go).
//
// Unlike a simulated run, a real run is not reproducible: the seed fixes
// the workload and the fault decisions, but the wall clock and the servers
// decide the interleaving.
package realrun
