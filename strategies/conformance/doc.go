// Package conformance is the suite every strategy passes on every backend:
// what each strategy promises (a duplicate is skipped, two copies at once
// apply once) and what it does not (across instances, after a failed
// effect, after a mark expired).
//
// A case is data: which instances get which event, when, and what must
// follow. A Runner plays the cases on one backend. EnvRunner hands them, as
// goroutines on the wall clock, to a backend whose stores it can open: the
// in-process memstore and real Redis plus PostgreSQL. The simulator plays
// them on its own simulated stores with a runner of its own (package sim's
// tests, with sim.RunScript), so this package does not import it. An
// EnvRunner's event is record 0 of a partition of its own, as the log
// would give it (every copy of it the same record), so that the strategies
// of the log's offsets (offset-in-db) play every case; the simulator's
// runner delivers on the queue and plays the queue's strategies only.
//
// Play holds one strategy to its stated Promises on a Runner, each case a
// subtest; Run plays every registered strategy; Cases lists the cases,
// and the constants CaseNewEvent, ..., CaseMarkExpires name them. A
// strategy declines a case that does not fit it, with the reason, in
// strategies.Promises.Declines: the case is skipped, and go test -v shows
// why. Every entry point takes a testing.TB: on a *testing.T the cases are
// subtests, on another TB they run one after the other.
//
// To hold a strategy of your own to its stated Promises, call
// idemsimtest.Conformance from a test.
package conformance
