package strategies

import "context"

// KafkaCommit is the default consumer of a Kafka-style log, at least once:
// process the record, and let the consumer loop commit its offset after
// the handler returns. It keeps no record of what it processed: the
// broker's committed offset is its only memory, and it lives apart from
// the effect, so every record the group fetches again after the effect
// committed and before the offset did (a crash, a rebalance, a zombie, a
// lost commit reply) applies again, and so does a producer's duplicate.
type KafkaCommit struct{ Ledger Ledger }

// Handle applies e in a transaction of its own.
func (s KafkaCommit) Handle(ctx context.Context, e Event) (Outcome, error) {
	if err := applyOnce(ctx, s.Ledger, e); err != nil {
		return 0, err
	}
	return Applied, nil
}

func init() {
	MustRegister(Strategy{
		Name:    "kafka-commit",
		Order:   15,
		Summary: "Kafka's default consumer: process the record, then the loop commits its offset; no deduplication",
		Breaks:  "the effect commits in the database and the offset in the broker, separately: a record fetched again before its offset was committed (a crash, a rebalance, a zombie, a lost commit reply) applies again, and so does a producer's duplicate",
		New:     func(d Deps) (Handler, error) { return KafkaCommit{Ledger: d.Ledger}, nil },
		Brokers: []string{"log"},
		// Measured: compare --broker log (200 seeds).
		ExpectedOn: map[string]map[string]string{"log": {"redeliver": "dup", "crash": "dup", "partition": "dup", "slow": "dup",
			"store-loss": "ok", "ttl": "dup", "rebalance": "ok", "zombie": "dup", "key-expiry": "dup", "id-reuse": "ok", "all": "dup"}},
		Teaching: Teaching{
			Why: map[string]string{
				"dup": "kafka-commit trusts the group's committed offset alone, and commits it only after the effect, in another system: a copy fetched again before that commit applies the effect again.",
			},
		},
		Promises: Promises{Concurrent: BothApply},
	})
}
