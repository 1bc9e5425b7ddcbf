// Package strategies holds the deduplication strategies of an idempotent
// event consumer, written once against two small store interfaces so that the
// very same code runs in the deterministic simulator (package sim) and against
// real Redis and PostgreSQL.
//
// A strategy is a Handler: it receives one delivered Event and either applies
// its business effect (Applied), recognises it as a duplicate (Skipped), or
// fails with an error, in which case the caller must not acknowledge the
// delivery and the outcome is unknown (the effect may or may not have been
// committed). The caller acknowledges the delivery after Handle returns
// without error; a strategy never acknowledges anything itself.
//
// The business effect always lives in the Ledger (the database): an account
// balance plus one ledger row per application, so that an audit can count
// applications per event. Marks (Redis) only remember which events were seen.
//
// Every method of MarkStore and Tx is a point where the simulator may
// interleave another instance, delay the call, cut the network or crash the
// instance, so a strategy must not assume that two calls happen back to back.
package strategies
