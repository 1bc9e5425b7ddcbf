// Package run is the vocabulary of one run, shared by every backend that
// plays one (the simulator, package sim, and real servers, package realrun)
// and by everything that reads one (the checkers, explain, the command
// line):
//
//   - Config says which run: strategy, faults, seed, size, the broker
//     model (BrokerModel, DefaultBroker "queue" when empty) and its
//     parameters (BrokerParams: ack deadline or none, nack retry delay,
//     prefetch, max deliveries; each zero value the default). Reproduce
//     is the command line that replays it: --broker always, and a flag
//     for each parameter that is not the default (BrokerParams.Flags).
//   - NewWorkload draws what the producer publishes for a Config: the
//     same events, copies and times on every backend.
//   - Record is one step of a run, with typed fields (instance, message,
//     event, delivery tag, call id, transaction, store operation, answer,
//     ...), so that nobody decodes it twice. A handler's calls of its
//     instance's own memory (strategies.Memory) are records too (Kind
//     Memory, MemoryRecord), so that a trace shows what the memory held.
//   - Recorder is what a backend writes its run through: it keeps the trace
//     (or only its digest), the history the checkers judge, and the counts
//     of injected faults, and makes the Result.
//   - Result is the judged run: its broker (BrokerNaming, which a
//     comparison's JSON uses too), counts, both checkers' verdicts, the
//     trace hash, and the command that replays it. Dead counts the events a
//     delivery limit dead-lettered unapplied: an outcome of their own,
//     neither lost nor a violation.
//
// The random streams every backend derives from a run's seed are numbered
// here (streams.go), so that the two backends draw the same workload and
// the same fault decisions; StreamInstance numbers the simulated
// instances' own, which strategies draw from through Deps.Rand.
//
// What a handling attempt came to is said by three types, each numbered
// its own way: strategies.Outcome (what a handler returns), Outcome (what
// a trace records) and check.Result (what the checkers judge). OutcomeOf,
// Outcome.Strategy and Outcome.Result are the only conversions between
// them, and Outcome.Acks says which outcomes an instance acks (Applied,
// Skipped and Dropped).
package run
