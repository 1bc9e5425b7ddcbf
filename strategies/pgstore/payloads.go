package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/idemsim/idemsim/strategies"
)

// ApplicationsByPayload counts the ledger rows per event id and payload
// (account and amount): how many times each event's effect was applied,
// where two events may share an id (a producer that reuses ids), so that
// the effect of one is not counted as the other's. The events it returns
// hold ID, Account and Amount only.
func (l *Ledger) ApplicationsByPayload(ctx context.Context) (map[strategies.Event]int, error) {
	rows, err := l.pool.Query(ctx, fmt.Sprintf(`SELECT event_id, account, amount, count(*) FROM %s GROUP BY event_id, account, amount`, l.t.ledger))
	if err != nil {
		return nil, fmt.Errorf("pgstore: count applications by payload: %w", err)
	}
	out := map[strategies.Event]int{}
	var id, account, amount, n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &account, &amount, &n}, func() error {
		out[strategies.Event{ID: strategies.EventID(id), Account: int(account), Amount: amount}] = int(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: count applications by payload: %w", err)
	}
	return out, nil
}
