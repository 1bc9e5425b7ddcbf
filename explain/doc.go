// Package explain is idemsim's teaching mode: it finds a run that breaks
// exactly-once, shrinks it to the smallest run that still breaks it, and
// tells that run as a short numbered story, a timeline picture and
// porcupine's history page.
//
// It sits on top of package sim and reads a run only through its typed
// trace (run.Record). Every sentence it tells is true to that trace: the
// narrator states only what the records show, and with each step, the
// violation and the why it produces the facts it states as typed claims
// (claims.go: a call by its id, a record by its index), which Story.Verify
// holds to the trace (verify.go), and a test over many runs of every
// strategy. What the trace cannot
// show, it says only where the strategy's description says it: which key
// is the event's mark (strategies.Teaching.MarkKey) and when a memory of
// the strategy's own is written (Teaching.Remembers); otherwise it names
// keys as keys and tells of a memory only what the handler's calls and
// returns show. An instance's memory kept in strategies.Deps.Memory is
// recorded call by call (run.Memory), and told from those records: what
// a handler's lookup found, what went in and out, what a crash emptied
// (memory.go). A queue with other parameters (run.BrokerParams) is told
// as its records say: a message that went back because its instance's
// channel closed (no ack deadline: a crash, a cut, a lost ack that broke
// the connection) goes back "at the head of the queue: instance 1's
// channel closed", never "after a nack" or "after its ack deadline"; a
// message the broker gave up on after its maximum deliveries is
// dead-lettered, and an event left neither applied nor acked by it is
// dead, an outcome of its own (Event.Dead), neither lost nor stuck nor a
// violation (ClaimChannelClosed, ClaimDeadLetter, ClaimDead). Instances
// that come and go (membership.go) are told as their records show them:
// a graceful leave (the rebalance fault: it finishes what it was
// handling and leaves, and its process and memory go with it; never "it
// is down", which is a crash), its return as a new process, the
// scale-out's late start (a step between records, from the run's drawn
// faults, since no record marks it), and a pause of a whole instance
// (zombie: no progress, no heartbeat; its resume is a step between
// records at the pause's end), each with its claims (ClaimLeave,
// ClaimLateStart, ClaimStall with Yes for a pause, ClaimNotArrived with
// Record run.Leave, ClaimUp with why an instance was not running).
//
// A partitioned log (log.go, the one file that knows a consumer group)
// is told from its records, not from the model's name: a trace with
// run.Join, run.Assign, run.Committed, run.Fenced and records placed by
// partition and offset gets Facts.Group, and is told by where a record is
// ("m7, offset 4 of partition 3, fetched in generation 2"), by commits
// rather than acks (a commit lost, accepted, or fenced: "its generation 3
// is stale; its effect is already in the ledger"), by the assignments
// that move a partition ("partition 3 moves from instance 0 to instance
// 1", and why the new owner read a record again: it began at the group's
// committed offset, which had not passed it), and an event is done when
// its partition's committed offset passed it (ClaimOwner,
// ClaimCommitted, ClaimFenced, ClaimNoCommit, ClaimJoin, ClaimEvict). A
// record of a kind explain does not know (past lastKnownKind: a third
// model's own) is told neutrally, by its kind and detail, its step's claim
// the record itself. The pieces, in the order they run:
//
//   - search.go: Search (SearchKind, for a kind of violation; SearchWith,
//     with a progress callback) runs seeds until one violates, and returns
//     the error of a run that fails (a strategy whose New fails) rather
//     than finding nothing; Scenarios lists, when the user names none, the
//     strategy's lesson and then every scenario its description expects
//     to fail; Shrink (ShrinkKind) tries smaller runs (fewer events,
//     instances, faults, then the seed whose story has the fewest steps)
//     until nothing smaller fails the same way, and ShrunkWords says why
//     the seed changed.
//   - facts.go, derive.go, keys.go, queries.go: NewFacts derives from a
//     trace, in one pass, what the run did: deliveries, attempts (with
//     what the handler returned, asking to retry later included), store
//     calls by call id, transactions by transaction id (a statement that
//     inserts the id and applies the effect commits as it is served),
//     Redis marks and key-value keys over time (each value: the write that
//     set it, its TTL, the write or DEL that ended it, the data loss that
//     dropped it), the ledger, acks, crashes, partition windows paired by
//     window id, stalls, Redis losses, requeues with their causes,
//     dead-letters (DeadLetters). Every record that answers another
//     names it, so nothing is guessed and no store is simulated a second
//     time; a test holds the facts to the run's own audit and checked
//     history, and to every answer Redis gave. The calls of instances'
//     own memories, where the trace records them, are facts too
//     (MemCalls), and what each memory held comes from them. Facts hold
//     no prose.
//   - focus.go: analyze picks the event to tell (its violation, when it was
//     sealed, which faults play a part in it), for Tell and for Shrink.
//   - story.go, narrate.go, calls.go, kvcalls.go, memory.go, retry.go,
//     state.go, why.go, whylease.go, claims.go: the narrator turns the facts into
//     numbered steps (the attempts that ask to retry later with the same
//     answers are told as one), the state line of each (the instances'
//     memories, the Redis marks or keys with their values, the processed
//     ids, the ledger; of the events the story has told of), the
//     violation, the "why" (chosen from what the run shows: a lost event
//     is told from the handler whose ack made it done, a duplicate from
//     what the second handler's calls found and what had become of each
//     key) and the command that replays the run, each with its claims.
//     Tell tells a run (TellKind, a violation of a kind; TellEvent, one
//     event, as how a strategy came through a run that breaks another).
//   - downstream.go: a strategy that sends events on, told from the
//     downstream consumer's handlings and the outbox relay's publishes,
//     which the upstream's facts leave apart; its violations, a ghost
//     (Ghost) and a downstream event lost (Unsent, "lost" as the table
//     counts it), with their claims.
//   - verify.go: Story.Verify, the story-vs-trace check: every claim of a
//     story, held to the run's trace by its own reading of the records,
//     independent of the narrator, for any strategy's story (a user's
//     included); a *FalseClaimsError lists what does not hold.
//   - fix.go: after a violation, the same run replayed under the strategy
//     that survives every scenario (strategies.Teaching.Fix), told in its
//     decisive steps, from that run's own facts.
//   - teaching.go: the words. What is specific to a strategy comes from its
//     description (strategies.Teaching: what its mark is called, what its
//     calls mean, by each call's label, the operation and the key with the
//     event's id as {event}, so that two calls of one operation on two keys
//     are told apart; what its values mean, why it breaks); a strategy that
//     gives none, such as one a user registers, is told in neutral words
//     from its store calls.
//   - snapshot.go: a step's state in parts (Snapshot: each instance, its
//     memory, the marks or keys, the processed ids, the ledger), whose
//     Line is the step's state line, so that a page drawn from it says
//     what the text says; Story.Snapshots adds, from the same facts, what
//     each instance is handling and the broker's queue (or the log's
//     partitions), and Fix.SnapshotAt the fix's run at a step's time.
//     timelineview.go: Story.Timeline, the timeline's marks as data, each
//     tied to its step. Package explain/page draws both as a web page.
//   - timeline.go, gapscale.go, draw.go (WriteTimeline, WriteFiles) and
//     files.go (WriteHistoryHTML) draw the same facts the story tells,
//     so the picture and the story agree (the same partition windows, the
//     same keys and commits), and only what happened (a closed
//     channel's requeue and a dead-letter with marks of their own): an answer where it
//     was received, a call served after its instance crashed on the
//     store's lane; round ticks on an axis whose idle stretches are
//     shortened. draw.go alone imports gonum/plot, and is left out of the
//     js/wasm build: the playground's WebAssembly draws no picture (the
//     page draws Story.Timeline) and so carries neither gonum nor its fonts.
//
// `idemsim explain` (package cli) is the command line over these
// functions.
//
// Every run is deterministic, so everything here is too: the same strategy,
// scenario and bounds give the same story, byte for byte.
package explain
