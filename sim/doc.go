// Package sim is idemsim's deterministic simulator: a virtual clock, one
// root seed split into a random stream per component, an event queue that
// decides every interleaving, a simulated network with latency and
// partitions, an at-least-once broker, consumer instances that crash and
// restart with empty memory, and simulated Redis (marks, and keys with
// values) and SQL stores (transactions, unique inserts, row locks). It
// records the run through a run.Recorder, and package check judges it.
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
