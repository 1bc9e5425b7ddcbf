// Package strategies holds the deduplication strategies of an idempotent
// event consumer, written once against small store interfaces so that the
// very same code runs in the deterministic simulator (package sim), in
// process (package memstore) and against real Redis and PostgreSQL
// (packages redisstore and pgstore).
//
// A strategy is a Handler: it receives one delivered Event and either applies
// its business effect (Applied), recognises it as a duplicate (Skipped),
// declines it for now with nothing done (RetryLater: the consumer nacks and
// the broker redelivers later), or fails with an error, in which case the
// caller must not acknowledge the delivery and the outcome is unknown (the
// effect may or may not have been committed). The caller acknowledges the
// delivery after Applied or Skipped; a strategy never acknowledges anything
// itself.
//
// A strategy is built from Deps: the stores it needs (a Ledger always; Redis
// marks keyed by event id, MarkStore; Redis keys and values, KV; a payment
// Provider, whose charges are then the strategy's effects), the
// instance's own Memory of events (emptied by a crash, seen by no other
// instance; every runner records its calls, so that a trace shows what it
// held when a handler asked), a Clock (simulated time in the simulator,
// the wall clock on real servers), and settings (MarkTTL, Lease). The business effect lives in the Ledger
// (the database): an account balance plus one ledger row per application,
// so that an audit can count applications per event; or, for a strategy
// that needs a Provider (api-no-key, api-key, api-key-db), it is a charge
// at the payment provider, which keeps the event id as the charge's
// reference so that the charges of each event can be counted.
//
// A strategy may also send events on (NeedsPublisher: a Publisher to a
// downstream topic, whose consumer group the checkers judge too): each
// downstream event announces the effect of the handling attempt that sent
// it, and must be applied downstream exactly once, never for an effect
// that rolled back (a ghost), never missing for one that committed.
// publish-after-commit and publish-in-tx publish from the handler, after
// or before the commit; outbox inserts the event into an outbox table in
// the effect's transaction (OutboxTx), and its Relay, a component of its
// own, publishes the outbox's rows (OutboxReader) at least once.
//
// Each strategy is described once, by a Strategy value given to Register:
// its name, constructor, the stores it needs, what it does and why it
// breaks, its expected outcome-table row, what it promises in the
// conformance suite, and the words explain tells it in. Every runner (the
// command line, sweeps, explain, the conformance suite, real runs) reads
// the registry, so a user's own strategy registered before a run runs
// everywhere a built-in does:
//
//	strategies.MustRegister(strategies.Strategy{
//		Name:  "my-dedup",
//		Needs: strategies.NeedsKV,
//		New:   func(d strategies.Deps) (strategies.Handler, error) { return myDedup{kv: d.KV, ledger: d.Ledger}, nil },
//	})
//
// Package idemsimtest sweeps such a strategy from a go test, and tells its
// first failure, shrunk, as explain does.
//
// Every store call is a point where the simulator may interleave another
// instance, delay the call, cut the network or crash the instance, so a
// strategy must not assume that two calls happen back to back. Misuse (a
// bad key, a store a strategy needs but was not given) is an error, never a
// panic.
package strategies
