// Package memstore is an in-process MarkStore, KV and Ledger with the
// semantics the simulator gives Redis and the SQL database. It is safe for
// concurrent use, so a test can run several handlers as goroutines against
// it, and it is the conformance suite's in-process backend. Time is the wall
// clock: it is a test double, not part of the simulator.
//
// Marks and KV keys expire as Redis keys do. A KV key holds a string or a
// set, as in Redis: the compare-and-act calls (DelIfEqual, SetIfEqual) are
// atomic, as a Lua script is; a set call on a string, or a string call on
// a set, fails with strategies.ErrWrongType; a set goes with its last
// member.
//
// The Ledger's transactions behave as PostgreSQL's under READ COMMITTED on
// the processed-ids table (see Tx): an insert of an id another open
// transaction inserted, deleted or updated waits for that one to end, then
// fails if the row is there; ReadProcessed (SELECT ... FOR UPDATE),
// DeleteProcessed and UpdateProcessed lock the row to the transaction's
// end, waiting for a row another open transaction locked; a row another
// open transaction inserted is invisible; a transaction sees its own
// changes, and Rollback undoes them. A waiting statement ends with its
// context. The log's offsets table (ReadOffset, AdvanceOffset) keeps the
// same rules, and AdvanceOffset's insert of a missing row (expected 0)
// waits as PostgreSQL's ON CONFLICT does; Ledger.Offsets reads it.
//
// NewLedger, NewMarks and NewKV each make one store; give the same ones to
// every handler of a test, as instances share Redis and the database, and
// read what was applied with Ledger.Applications. NewMemory makes an
// instance's own memory (strategies.Memory): give each handler its own.
package memstore
