// Package pgstore implements strategies.Ledger on PostgreSQL through a pgx v5
// pool, so PostgreSQL and PostgreSQL-compatible distributed databases work.
//
// New creates, under a validated prefix and in the current schema, four
// tables and an index, and nothing else:
//
//	<prefix>_processed (event_id bigint PRIMARY KEY, state text)  the dedup marks
//	<prefix>_accounts  (account int PRIMARY KEY, balance bigint)  the effect
//	<prefix>_ledger    (event_id bigint, account int, amount bigint)
//	<prefix>_ledger_event, an index of the ledger on event_id
//	<prefix>_offsets   (partition int PRIMARY KEY, next_offset bigint)  the log's offsets
//
// EnsureProvider creates, the same way, the two tables of idemsim's payment
// provider (idemsim provider): <prefix>_provider_keys, its idempotency
// keys, and <prefix>_provider_charges, its charges. Drop removes them with
// the rest.
//
// Tx's ReadOffset and AdvanceOffset read and compare-and-set a
// partition's row of the offsets table; New adds the table to an older
// idemsim's set of tables that lacks it.
//
// The processed table's state (NOT NULL, empty for an inserted row) is what
// Tx's UpdateProcessed compares and sets; ReadProcessed reads it with
// SELECT ... FOR UPDATE and DeleteProcessed deletes the row. New adds the
// column to a processed table an older idemsim created without it (see
// ensureTables for why that is safe).
//
// Each carries a comment beginning "created by idemsim": that is how idemsim
// recognises what it may write, empty (Reset) and drop (Drop). A relation of
// one of these names without it is someone else's: New refuses it with a
// *NotOwnedError and touches nothing. Every statement names the tables with
// their schema, so a table of the same name elsewhere on the search path is
// never touched.
//
// LockPrefix takes a prefix for one run (a session advisory lock on a
// connection of its own), so that two runs never share tables; a second
// taker gets an *InUseError naming the session that holds it.
//
// The ledger has one row per application of an event, deliberately without
// a unique constraint, so that a duplicate application is visible to the
// audit (Applications) instead of being refused.
package pgstore
