package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/memstore"
	"github.com/idemsim/idemsim/strategies/pgstore"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func TestInProcess(t *testing.T) {
	Run(t, EnvRunner{Backend: "memory", Open: func(t testing.TB) Env {
		marks, kv, ledger, provider := memstore.NewMarks(), memstore.NewKV(), memstore.NewLedger(), memstore.NewProvider()
		publisher := memstore.NewPublisher()
		// A charge takes a while at the provider, so that two copies at
		// once find its key running.
		provider.Processing = 5 * time.Millisecond
		return Env{
			Instance: func() strategies.Deps {
				return strategies.Deps{Marks: marks, KV: kv, Ledger: ledger, Provider: provider, Publisher: publisher}
			},
			Applications: ledger.Applications,
			Charges:      provider.Charges,
		}
	}})
}

func TestRedisAndPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("the fast tier plays the cases in process (TestInProcess); the full run plays them on Redis and PostgreSQL too")
	}
	rs := testserver.SharedRedis(t)
	ps := testserver.SharedPostgres(t)
	ctx := context.Background()
	const prefix = "conformance"
	setup, err := pgxpool.New(ctx, ps.URL)
	require.NoError(t, err)
	t.Cleanup(setup.Close)
	ledger, err := pgstore.New(ctx, setup, prefix)
	require.NoError(t, err)
	require.NoError(t, ledger.Reset(ctx))
	opt, err := redis.ParseURL(rs.URL)
	require.NoError(t, err)

	Run(t, EnvRunner{Backend: "redis+postgres", Open: func(t testing.TB) Env {
		// No real provider yet: the strategies that charge play against
		// PostgreSQL with an in-process one.
		provider := memstore.NewProvider()
		provider.Processing = 5 * time.Millisecond
		return Env{
			Charges: provider.Charges,
			// Each instance has its own connections, as separate
			// processes would.
			Instance: func() strategies.Deps {
				rdb := redis.NewClient(opt)
				t.Cleanup(func() { rdb.Close() })
				pool, err := pgxpool.New(ctx, ps.URL)
				require.NoError(t, err)
				t.Cleanup(pool.Close)
				m, err := redisstore.New(rdb, prefix)
				require.NoError(t, err)
				kv, err := redisstore.NewKV(rdb, prefix)
				require.NoError(t, err)
				l, err := pgstore.Attach(pool, prefix)
				require.NoError(t, err)
				return strategies.Deps{Marks: m, KV: kv, Ledger: l, Provider: provider}
			},
			Applications: func() map[strategies.EventID]int {
				apps, err := ledger.Applications(ctx)
				require.NoError(t, err)
				return apps
			},
		}
	}})
}

// TestTheCasesAreNamedByTheConstants: the names a strategy declines cases
// by are the cases' own, each once.
func TestTheCasesAreNamedByTheConstants(t *testing.T) {
	assert.Equal(t, []string{CaseNewEvent, CaseSameInstance, CaseOtherInstance, CaseConcurrent, CaseAfterFailure, CaseMarkExpires}, Names())
}

func TestDeclinesAreChecked(t *testing.T) {
	assert.NoError(t, checkDeclines(nil))
	assert.NoError(t, checkDeclines(map[string]string{CaseMarkExpires: "its keys live a day"}))
	err := checkDeclines(map[string]string{"mark expired": "a typo", "two copies": "another", CaseMarkExpires: "fine"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `names no conformance case: "mark expired", "two copies" (the cases: "new event applies", `)
	err = checkDeclines(map[string]string{CaseAfterFailure: ""})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `gives no reason for "failed effect then redelivery"`)
}
