// Package sim is idemsim's deterministic simulator: a virtual clock, one
// root seed split into a random stream per component, an event queue that
// decides every interleaving, a simulated network with latency and
// partitions, an at-least-once broker (a model from package broker
// decides; the world keeps time, timers, the network and the record, and
// carries out the effects the model returns, in applyBroker; its
// parameters come from Config.Broker, and the world tells it when an
// instance is cut off from it or loses an ack, which a broker that acks
// over a connection takes as the channel closing), consumer
// instances that crash and restart with empty memory, and simulated Redis
// (marks; keys holding a string or a set, with compare-and-act calls and
// WRONGTYPE) and SQL stores (transactions, unique inserts, processed rows
// read FOR UPDATE, updated and deleted under their row locks, accounts' row
// locks), and a simulated payment provider (provider.go: idempotency keys
// kept for a retention window, conflicts while a charge runs for its
// processing delay, 5xx answers, drawn from a stream of its own), whose
// charges are the effects of a strategy that needs it, and, for a strategy
// that sends events on (outbox.go), a downstream topic (a second broker
// model of the run's kind) with its consumer, an outbox table, and the
// outbox's relay, run as an instance after the consumers that the faults
// hit as they hit an instance. Every store
// call crosses the simulated network, so each is a point where faults and
// other instances interleave. It records the run through a run.Recorder,
// and package check judges it.
//
// Each incarnation of an instance builds its strategy from Deps with its
// number, its name ("instance-N"), a random source seeded from the run's
// seed, the instance and the incarnation (run.StreamInstance), so that
// what a strategy draws replays too, and moves nothing else, and its own
// memory of events (memory.go), empty at every start, whose calls take no
// simulated time, are no interleaving points, and are recorded
// (run.Memory) whenever the run records at all. A
// strategy whose New fails ends the run with its error
// (strategies.NewError) and no verdict.
//
// Run simulates one run of a run.Config (of any registered strategy, a
// user's included) and returns its run.Result; package sweep runs many,
// over strategies, scenarios and seeds; RunScript plays chosen deliveries
// with no faults, as the conformance suite does.
//
// The same Config gives the same trace, byte for byte, on any machine:
// nothing here reads the wall clock, the global random source, map order or
// goroutine scheduling.
package sim
