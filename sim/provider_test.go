package sim

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

// TestProviderKeyExpiry: api-key charges each event once while the provider
// keeps its keys (24 h: ttl's late copies find them), and twice once
// key-expiry makes it forget them before the late copies come; both
// checkers agree either way, counting charges.
func TestProviderKeyExpiry(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		kept, err := Run(Config{Strategy: "api-key", Faults: faults.Of(faults.TTL), Seed: seed})
		require.NoError(t, err)
		assert.Zero(t, kept.Duplicates, "seed %d: the provider keeps its keys 24 h", seed)
		assert.True(t, kept.CheckersAgree(), kept.Reproduce)

		forgot, err := Run(Config{Strategy: "api-key", Faults: faults.Of(faults.KeyExpiry), Seed: seed})
		require.NoError(t, err)
		assert.Positive(t, forgot.Duplicates, "seed %d: late copies after the keys expired charge again", seed)
		assert.True(t, forgot.CheckersAgree(), forgot.Reproduce)
		assert.Positive(t, forgot.FaultsInjected["key-expiry"], forgot.Reproduce)
	}
}

// TestProviderOnlyForStrategiesThatCharge: a strategy gets the provider
// only if its description says it charges; a charge of an event the run
// did not publish is refused, with no round trip and no panic.
func TestProviderOnlyForStrategiesThatCharge(t *testing.T) {
	var refused, given, notGiven bool
	strategies.MustRegister(strategies.Strategy{Name: "test-bad-charge", Summary: "-", Breaks: "-", Needs: strategies.NeedsProvider,
		New: func(d strategies.Deps) (strategies.Handler, error) {
			given = d.Provider != nil
			return strategies.HandlerFunc(func(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
				_, err := d.Provider.Charge(ctx, "", strategies.Event{ID: 999, Account: 1, Amount: 1})
				refused = errors.Is(err, strategies.ErrBadValue)
				return strategies.Dropped, nil
			}), nil
		}})
	t.Cleanup(func() { strategies.Unregister("test-bad-charge") })
	strategies.MustRegister(strategies.Strategy{Name: "test-no-charge", Summary: "-", Breaks: "-",
		New: func(d strategies.Deps) (strategies.Handler, error) {
			notGiven = d.Provider == nil
			return strategies.DBUnique{Ledger: d.Ledger}, nil
		}})
	t.Cleanup(func() { strategies.Unregister("test-no-charge") })

	_, err := Run(Config{Strategy: "test-bad-charge", Seed: 1, Events: 2, Instances: 1})
	require.NoError(t, err)
	assert.True(t, given)
	assert.True(t, refused, "a charge of event 999 is refused with ErrBadValue")
	_, err = Run(Config{Strategy: "test-no-charge", Seed: 1, Events: 2, Instances: 1})
	require.NoError(t, err)
	assert.True(t, notGiven)
}
