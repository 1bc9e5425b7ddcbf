// Package explain is idemsim's teaching mode: it finds a run that breaks
// exactly-once, shrinks it to the smallest run that still breaks it, and
// tells that run as a short numbered story, a timeline picture and
// porcupine's history page.
//
// It sits on top of package sim and reads a run only through its typed
// trace (run.Record). The pieces, in the order they run:
//
//   - search.go: Search runs seeds until one violates; Shrink tries smaller
//     runs (fewer events, instances, faults, then the seed whose story has
//     the fewest steps) until nothing smaller fails the same way.
//   - facts.go, derive.go, queries.go: NewFacts derives from a trace, in
//     one pass, what the run did: deliveries, attempts, store calls by call
//     id, transactions by transaction id, Redis keys over time, the ledger,
//     acks, crashes, partition windows paired by window id, stalls, Redis
//     losses. Every record that answers another names it, so nothing is
//     guessed and no store is simulated a second time; a test holds the
//     facts to the run's own audit and checked history. Facts hold no prose.
//   - focus.go: analyze picks the event to tell (its violation, when it was
//     sealed, which faults play a part in it), for Tell and for Shrink.
//   - story.go, narrate.go, calls.go, state.go, why.go: the narrator turns
//     the facts into numbered steps, the state line of each (the
//     instances' memories, the Redis keys, the processed ids, the ledger),
//     the violation, the "why" and the command that replays the run.
//   - teaching.go: the words. What is specific to a strategy comes from its
//     description (strategies.Teaching: what its mark is called, what its
//     calls mean, why it breaks); a strategy that gives none, such as one a
//     user registers, is told in neutral words from its store calls.
//   - timeline.go, gapscale.go, draw.go (WriteTimeline) and files.go
//     (WriteHistoryHTML, WriteFiles) draw the same facts the story tells,
//     so the picture and the story agree (the same partition windows, the
//     same keys and commits).
//
// `idemsim explain` (package cmd/idemsim) is the command line over these
// functions.
//
// Every run is deterministic, so everything here is too: the same strategy,
// scenario and bounds give the same story, byte for byte.
package explain
