package consumers

import (
	"context"

	"github.com/idemsim/idemsim/strategies"
)

// JDBCRepository is Apache Camel's idempotent consumer over its JDBC
// message id repository (JdbcMessageIdRepository), with Camel's defaults
// eager=true and removeOnFailure=true: the id is added to the repository
// in a transaction of its own before the route processes the message; if
// processing fails, the id is removed again so that a redelivery can try.
type JDBCRepository struct {
	Ledger strategies.Ledger
}

// Handle adds e's id to the repository, processes e unless the id was
// there, and removes the id if processing failed.
func (r JDBCRepository) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	added, err := r.add(ctx, e.ID)
	if err != nil {
		return 0, err
	}
	if !added {
		return strategies.Skipped, nil
	}
	if err := r.process(ctx, e); err != nil {
		_ = r.remove(ctx, e.ID) // removeOnFailure
		return 0, err
	}
	return strategies.Applied, nil
}

// add is JdbcMessageIdRepository.add: SELECT the id; if absent, INSERT it;
// a duplicate key on insert means another consumer added it first.
func (r JDBCRepository) add(ctx context.Context, id strategies.EventID) (bool, error) {
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return false, err
	}
	_, found, err := tx.ReadProcessed(ctx, id)
	if err == nil && !found {
		found, err = tx.InsertProcessed(ctx, id)
		found = !found
	}
	if err != nil || found {
		_ = tx.Rollback(ctx)
		return false, err
	}
	return true, tx.Commit(ctx)
}

// process is the route: the effect, in a transaction of its own.
func (r JDBCRepository) process(ctx context.Context, e strategies.Event) error {
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// remove is JdbcMessageIdRepository.remove: DELETE the id, in a
// transaction of its own.
func (r JDBCRepository) remove(ctx context.Context, id strategies.EventID) error {
	tx, err := r.Ledger.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.DeleteProcessed(ctx, id); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// JDBCRepositoryStrategy describes the repository to idemsim.
var JDBCRepositoryStrategy = strategies.Strategy{
	Name:    "camel-jdbc",
	Summary: "as Apache Camel's idempotent consumer over a JDBC repository (eager, removeOnFailure): add the id in its own transaction, process, delete the id if processing fails",
	Breaks:  "an id added by a handler that crashes stays forever; a removal after a commit whose reply was lost lets a redelivery apply the event again",
	New: func(d strategies.Deps) (strategies.Handler, error) {
		return JDBCRepository{Ledger: d.Ledger}, nil
	},
	// Written before measuring: as redis-release, with the claim in the
	// database, where it never expires and no Redis fault reaches it.
	Expected: map[string]string{"redeliver": "ok", "crash": "lost", "partition": "dup+lost", "slow": "lost",
		"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "lost", "key-expiry": "ok", "id-reuse": "lost", "all": "dup+lost"},
	// On the log, and the queue's rebalance and zombie columns: as measured
	// (compare --broker queue,log), the scenarios and the broker being newer
	// than these rows.
	ExpectedOn: map[string]map[string]string{"log": {"redeliver": "ok", "crash": "lost", "partition": "dup+lost", "slow": "ok",
		"store-loss": "ok", "ttl": "ok", "rebalance": "ok", "zombie": "ok", "key-expiry": "ok", "id-reuse": "lost", "all": "dup+lost"}},
	Promises: strategies.Promises{SameInstance: true, OtherInstance: true, Concurrent: strategies.OneApplies},
}
