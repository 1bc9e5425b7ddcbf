// Package check holds the two exactly-once checkers that judge every
// simulated or real run, and that must agree.
//
// Porcupine checks the history of handling attempts, acks and final reads
// for linearizability against a sequential exactly-once ledger model,
// partitioned per event id so the check stays linear in the history's
// length. Audit counts effect applications per event id in the ledger, or,
// for a strategy whose effect is a charge at the payment provider, the
// provider's charges per event: the backend hands either count over
// (run.Tally.Applied), and the model is the same.
//
// For a strategy that sends events on, both also judge the downstream
// (downstream.go): each committed effect's downstream event applied
// exactly once downstream (a missing one is lost, a second one a
// duplicate), and none applied for an effect that never committed (a
// ghost, a kind of its own).
//
// A run is correct when every event the broker considers done was applied
// exactly once, and no event was applied twice. An event whose every
// attempt did nothing (skipped, retried later or dropped: a handler that
// gave up and acked) is lost once an ack lands: both checkers count it. An event never settled is
// "stuck": a liveness failure that the broker reports, which neither checker
// counts as a safety violation. An event the broker dead-lettered after its
// last allowed delivery, never applied and never acked, is "dead" (AuditDead
// counts it): the broker gave up on it as told, and neither checker counts
// it as a violation (the porcupine model holds an event never acked to
// nothing), while one that an ack settled unapplied is lost as any other.
// An event that a handler refused to a dead-letter queue (Refused: a
// payload that conflicts with its id's first one, under id-reuse) and that
// none applied is dead too, acked or not: the conflict is surfaced for a
// person, not lost in silence, and the model's refused state makes an
// acked event without effect legal once it is refused.
//
// Events are judged by number, one per event: a backend hands over the
// history and the counts by the event's number (run.Workload.Number),
// which is its id, but where the id-reuse fault gave two events one id:
// then the truth is by id and payload, and each is judged on its own.
package check
