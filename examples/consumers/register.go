package consumers

import "github.com/idemsim/idemsim/strategies"

// All lists the three consumers' descriptions.
var All = []strategies.Strategy{InboxStrategy, JDBCRepositoryStrategy, RedsyncLockStrategy}

// Register adds the three consumers to idemsim's strategies, once.
func Register() error {
	for _, s := range All {
		if strategies.Valid(s.Name) {
			continue
		}
		if err := strategies.Register(s); err != nil {
			return err
		}
	}
	return nil
}
