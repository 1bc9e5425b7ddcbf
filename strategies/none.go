package strategies

import "context"

// None applies every delivery: no deduplication at all. It is the baseline
// that shows how often the broker delivers twice.
type None struct{ Ledger Ledger }

// Handle applies e.
func (s None) Handle(ctx context.Context, e Event) (Outcome, error) {
	if err := applyOnce(ctx, s.Ledger, e); err != nil {
		return 0, err
	}
	return Applied, nil
}

func init() {
	MustRegister(Strategy{
		Name:    "none",
		Order:   10,
		Summary: "processes every delivery",
		Breaks:  "every redelivery applies again",
		New:     func(d Deps) (Handler, error) { return None{Ledger: d.Ledger}, nil },
		Expected: map[string]string{"redeliver": "dup", "crash": "dup", "partition": "dup", "slow": "dup",
			"store-loss": "dup", "ttl": "dup", "rebalance": "dup", "zombie": "dup", "key-expiry": "dup", "id-reuse": "dup", "all": "dup"},
		// Measured: compare --broker log (200 seeds).
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "dup", "crash": "dup", "partition": "dup", "slow": "dup",
			"store-loss": "ok", "ttl": "dup", "rebalance": "ok", "zombie": "dup", "key-expiry": "dup", "id-reuse": "ok", "all": "dup"}},
		Teaching: Teaching{
			Why: map[string]string{
				"dup": "none keeps no record of what it has processed, so every copy that reaches an instance applies the effect.",
			},
		},
		Promises: Promises{Concurrent: BothApply},
	})
}
