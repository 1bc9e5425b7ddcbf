// Package check holds the two exactly-once checkers that judge every
// simulated or real run, and that must agree.
//
// Porcupine checks the history of handling attempts, acks and final reads
// for linearizability against a sequential exactly-once ledger model,
// partitioned per event id so the check stays linear in the history's
// length. Audit counts effect applications per event id in the ledger.
//
// A run is correct when every event the broker considers done was applied
// exactly once, and no event was applied twice. An event whose every
// attempt did nothing (skipped, retried later or dropped: a handler that
// gave up and acked) is lost once an ack lands: both checkers count it. An event never settled is
// "stuck": a liveness failure that the broker reports, which neither checker
// counts as a safety violation.
package check
