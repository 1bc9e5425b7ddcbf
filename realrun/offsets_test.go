package realrun

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// accountSeq numbers each account's applications in the offsets table,
// the account as the partition: read its next number FOR UPDATE, advance
// it, apply, commit.
type accountSeq struct{ l strategies.Ledger }

func (s accountSeq) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := s.l.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	n, err := tx.ReadOffset(ctx, e.Account)
	if err != nil {
		return 0, err
	}
	if ok, err := tx.AdvanceOffset(ctx, e.Account, n, n+1); err != nil || !ok {
		return 0, fmt.Errorf("advance %d: %v, %v", n, ok, err)
	}
	if err := tx.Apply(ctx, e); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// The offset calls run on PostgreSQL through the fault points, recorded as
// run/record.go documents them (Part the partition, the offsets in
// decimal: Value the next one written or the one read, Expect the one
// expected), and the table ends holding, per account, as many
// applications as its ledger rows.
func TestOffsetCallsOnARealRun(t *testing.T) {
	register(t, strategies.Strategy{Name: "rr-account-seq",
		New: func(d strategies.Deps) (strategies.Handler, error) { return accountSeq{d.Ledger}, nil }})
	cfg := sharedServers(t, "rr_offsets")
	cfg.Config = run.Config{Strategy: "rr-account-seq", Faults: faults.Of(faults.Crash), Seed: 3, Events: 40, KeepTrace: true}
	res := realRun(t, cfg)
	assert.Zero(t, res.Stuck)

	calls := map[run.Op]int{}
	for _, r := range res.Trace {
		if r.Op != run.ReadOffset && r.Op != run.AdvanceOffset || r.Kind == run.Crash {
			continue
		}
		assert.Positive(t, r.Part, "%s", r)
		assert.NotZero(t, r.Tx, "%s", r)
		assert.NotZero(t, r.Event, "%s", r)
		switch {
		case r.Kind == run.Call:
			calls[r.Op]++
			if r.Op == run.AdvanceOffset {
				expect, err1 := strconv.ParseInt(r.Expect, 10, 64)
				next, err2 := strconv.ParseInt(r.Value, 10, 64)
				require.NoError(t, err1, "%s", r)
				require.NoError(t, err2, "%s", r)
				assert.Equal(t, expect+1, next, "%s", r)
			} else {
				assert.Empty(t, r.Value, "%s", r)
			}
		case r.Kind == run.Reply && r.Op == run.ReadOffset && r.Answer == run.Yes:
			_, err := strconv.ParseInt(r.Value, 10, 64)
			assert.NoError(t, err, "ReadOffset's Value is the offset read: %s", r)
		}
	}
	assert.Positive(t, calls[run.ReadOffset])
	assert.Positive(t, calls[run.AdvanceOffset])

	conn := pgConn(t, cfg.PostgresURL)
	bad := count(t, conn, `SELECT count(*) FROM rr_offsets_offsets o FULL JOIN
  (SELECT account, count(*) AS n FROM rr_offsets_ledger GROUP BY account) l ON l.account = o.partition
WHERE o.next_offset IS DISTINCT FROM l.n`)
	assert.Zero(t, bad, "each account's offset counts its applications")
	assert.Positive(t, count(t, conn, `SELECT count(*) FROM rr_offsets_offsets`))
}
