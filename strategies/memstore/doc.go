// Package memstore is an in-process MarkStore, KV and Ledger with the semantics
// the simulator gives Redis and the SQL database: marks with expiry, and
// transactions whose insert of an id another open transaction inserted
// waits for that one to end, then fails if it committed and succeeds if it
// aborted. It is safe for concurrent use, so a test can run several handlers
// as goroutines against it, and it is the conformance suite's in-process
// backend. Time is the wall clock: it is a test double, not part of the
// simulator.
//
// NewLedger, NewMarks and NewKV each make one store; give the same ones to
// every handler of a test, as instances share Redis and the database, and
// read what was applied with Ledger.Applications.
package memstore
