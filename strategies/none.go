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
