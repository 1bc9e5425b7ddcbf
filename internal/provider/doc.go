// Package provider is idemsim's payment provider over HTTP: the server that
// `idemsim provider` runs, keeping its idempotency keys and charges in
// PostgreSQL, and the client a real run's strategies charge it through.
//
// Its semantics are strategies.Provider's, as the well-known card-payment
// APIs document them, and as the simulator's provider and memstore's have
// them:
//
//   - POST /v1/charges with a JSON body {"account": 3, "amount": 42,
//     "reference": 17} (the reference is the event id) charges, and
//     answers 200 with {"id": "ch_12", "replayed": false}. With no
//     Idempotency-Key header every request charges.
//   - With an Idempotency-Key, a key kept (for the retention window after
//     its first request finished: 24 h unless --key-retention or the
//     request's Idemsim-Key-Retention header says otherwise) answers 200
//     with the first request's charge, "replayed": true and the header
//     Idempotent-Replayed: true, and charges nothing.
//   - The same key with another account, amount or reference answers 422,
//     nothing done; while the key's first request still runs, 409, nothing
//     done: retry later.
//   - A request with the header Idemsim-Fail: 1 answers 503 at once, with
//     nothing charged and no key kept: how a run injects the provider's
//     5xx answers where the simulator injects them. Every 5xx that is sure
//     nothing was charged says so with the header Idemsim-Charged: no; a
//     5xx without it (the database failed at the commit) leaves the
//     outcome unknown.
//
// Keys are scoped: the header Idemsim-Scope (a run's id) names a namespace
// of keys and charges of its own, as a payment API's keys belong to one
// account. GET /v1/charges/counts counts a scope's charges per reference,
// and per reference and payload (the checkers' count: under id-reuse two
// events share a reference, each with a payload of its own), DELETE
// /v1/scope forgets a scope's keys and
// charges (a run's tidy-up at its end), and GET /healthz answers 200 while
// the provider reaches its database.
//
// A charge runs to its end whatever becomes of its caller: a client that
// gives up, or whose connection a crash or a partition closes, does not
// stop it, as a real provider goes on with a request it received. Its
// first step claims the key (state running), its second inserts the charge
// and marks the key done in one transaction, so a provider killed between
// them leaves a running key and no charge; a running key older than the
// stale limit is taken over by the next request with it. Every round trip
// to PostgreSQL has a deadline.
//
// The tables (<prefix>_provider_keys and <prefix>_provider_charges) are
// made and marked as idemsim's by pgstore.EnsureProvider; a table of those
// names that idemsim did not make is refused, untouched, and idemsim clean
// removes them.
package provider
