// Package pgstore implements strategies.Ledger on PostgreSQL through a pgx v5
// pool, so PostgreSQL and PostgreSQL-compatible distributed databases work.
//
// New creates, under a validated prefix, three tables and nothing else:
//
//	<prefix>_processed (event_id bigint PRIMARY KEY)            the dedup marks
//	<prefix>_accounts  (account int PRIMARY KEY, balance bigint) the effect
//	<prefix>_ledger    (event_id bigint, account int, amount bigint)
//
// The ledger has one row per application of an event, deliberately without
// a unique constraint, so that a duplicate application is visible to the
// audit (Applications) instead of being refused.
package pgstore
