// Package realrun runs the simulator's workload against real servers: the
// very strategy code of package strategies, over real Redis (go-redis v9) and
// real PostgreSQL (pgx v5), under real faults, judged by the same two
// checkers (package sim/check).
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
//   - slow: the handler stalls past the ack deadline;
//   - store-loss: this run's Redis marks are flushed, as a Redis restart
//     without persistence would;
//   - ttl: marks live a few hundred milliseconds and late copies arrive after;
//   - redeliver: more lost acks, and events published twice at once.
//
// Unlike a simulated run, a real run is not reproducible: the seed fixes
// the workload and the fault decisions, but the wall clock and the servers
// decide the interleaving.
package realrun
