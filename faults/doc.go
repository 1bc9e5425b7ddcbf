// Package faults names the fault scenarios of idemsim and draws, for each
// seed, how hard each fault strikes.
//
// A scenario is a set of faults (Set), parsed from names such as
// "crash,partition", "all" (every fault) or "none" (the empty set: no
// injected fault beyond the broker's ordinary lost acks; accepted alone). Draw turns a Set and a seed into Params: the
// probabilities, counts and durations the simulator (package sim) obeys. In
// the manner of swarm testing, every seed draws its own intensities, so a
// few hundred seeds cover gentle and violent runs alike.
//
// key-expiry makes the payment provider forget idempotency keys early (as
// ttl does Redis marks) and publishes late copies, unless ttl does; every
// scenario also draws the provider's ordinary 5xx chance, beside the lost
// acks.
//
// id-reuse is a producer's bug, not a fault of the servers: the producer
// gives some new events the id of an earlier one, with a payload of their
// own. It is the one fault that changes which events exist, so "all"
// leaves it out (name it beside "all" to have both).
//
// Each fault draws from a random stream of its own, derived from the seed
// and the fault, so adding a fault to a scenario does not change what the
// others draw. The ordinary at-least-once behaviour of the broker (a few
// lost acks in every run) is part of every scenario, drawn from its own
// stream too.
//
// During a run, an Injector makes the faults' decisions for both backends
// (the simulator and the real run), in the manner of pebble's errorfs: one
// decision per injection point (Randomly: a chance at each step of
// handling; Planned: a strike laid out ahead), each from its fault's own
// stream, with a mechanism per backend. The strikes are recorded as
// Decisions ("crash@3"), which a run's result lists; a run given some of
// them to drop draws them all the same and carries them out not, so
// explain can shrink a run's fault schedule one decision at a time.
package faults
