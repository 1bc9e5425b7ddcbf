// Package txscript holds scripted scenarios of concurrent transactions on
// the processed-ids table, each step with the answer PostgreSQL gives
// under READ COMMITTED, and plays them on any strategies.Ledger. The
// same scenarios run on package memstore's Ledger and on PostgreSQL
// (package pgstore's tests), so that the in-process double is held to
// what the real database does: which statements wait, on what, and what
// they see after the wait. OffsetScenarios do the same for the log's
// offsets table (ReadOffset, AdvanceOffset), and the simulator's database
// plays them too (package sim's tests).
//
// It is for tests only.
package txscript
