package strategies

import (
	"context"
	"errors"
	"fmt"
)

// APIKey charges the payment provider with the event id as the
// idempotency key (ProviderKey), and repeats a charge whose outcome it
// does not know with the same key: the provider answers a repeat from the
// key, without charging again. It keeps nothing of its own: it is exactly
// once for as long as the provider keeps the key, and a copy that comes
// after the provider forgot the key (key-expiry) charges again.
type APIKey struct{ Provider Provider }

// Handle charges e with its key until the outcome is known.
func (s APIKey) Handle(ctx context.Context, e Event) (Outcome, error) {
	return chargeOutcome(chargeKnown(ctx, s.Provider, ProviderKey(e.ID), e))
}

// chargeOutcome is what a handler returns for the outcome of chargeKnown:
// Applied for a charge this attempt made, Skipped for a replay of a charge
// an earlier attempt made, RetryLater for a conflict (another request with
// the key is running), Refused for a key the provider knows with other
// parameters (422: an event under a reused id, whose payload is not the
// first one's, which no retry will change: it goes to a dead-letter
// queue, surfaced), and an error otherwise. A mismatch says that no try
// of this attempt charged under the key (a try of its own would be
// replayed, its parameters being the same), so refusing claims nothing
// untrue.
//
// A replay, or a conflict, after a try of this very attempt whose outcome
// was unknown is an error that wraps ErrUnknownOutcome: the charge the
// provider replays (or is running) may be that try's own, and the handler
// cannot tell, so it must not claim that it did nothing. The broker
// redelivers, and the next attempt's replay skips.
func chargeOutcome(r Receipt, unsure bool, err error) (Outcome, error) {
	switch {
	case err == nil && !r.Replayed:
		return Applied, nil
	case unsure && (err == nil || errors.Is(err, ErrKeyConflict)):
		return 0, fmt.Errorf("strategies: the provider has (or is making) a charge that may be this attempt's own, whose reply was lost: %w", ErrUnknownOutcome)
	case err == nil:
		return Skipped, nil
	case errors.Is(err, ErrKeyConflict):
		return RetryLater, nil
	case errors.Is(err, ErrKeyMismatch):
		return Refused, nil
	}
	return 0, err
}

func init() {
	MustRegister(Strategy{
		Name:    "api-key",
		Order:   120,
		Summary: "charge the payment provider with the event id as the idempotency key; repeat with the same key until the outcome is known",
		Breaks:  "the provider dedups for as long as it keeps the key: a copy that comes after the key expired charges again",
		Needs:   NeedsProvider,
		New:     func(d Deps) (Handler, error) { return APIKey{Provider: d.Provider}, nil },
		// Measured (compare, 200 seeds, both brokers), as expected.
		Expected: map[string]string{"redeliver": "ok", "crash": "ok", "partition": "ok", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "dup", "id-reuse": "dead", "all": "dup"},
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "ok", "partition": "ok", "slow": "ok",
			"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "dup", "id-reuse": "dead", "all": "dup"}},
		Lesson: "key-expiry",
		Teaching: Teaching{
			Mark: "key",
			Calls: map[string]CallWords{
				"Charge": {Name: "charge", Does: "charges event {event}'s amount at the payment provider with idempotency key {key}"},
			},
			Why: map[string]string{
				"dup":               "api-key relies on the provider alone, which keeps an idempotency key only for its retention window:",
				"dup:key-forgotten": "api-key keeps nothing of its own: its idempotency key protects a charge only for as long as the provider keeps the key:",
			},
		},
		Promises: Promises{SameInstance: true, OtherInstance: true, Concurrent: OneApplies, AfterFailure: Applied},
	})
}
