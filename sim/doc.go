// Package sim is idemsim's deterministic simulator: a virtual clock, one
// root seed split into a random stream per component, an event queue that
// decides every interleaving, a simulated network with latency and
// partitions, an at-least-once broker, consumer instances that crash and
// restart with empty memory, and simulated Redis and SQL stores. Package
// package check judges each run.
//
// Run simulates one run; package sweep runs many, over strategies,
// scenarios and seeds.
// The same Config gives the same trace, byte for byte, on any machine:
// nothing here reads the wall clock, the global random source, map order or
// goroutine scheduling.
package sim
