package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// The real stores take batches.
var (
	_ strategies.BatchMarkStore     = (*redisstore.Marks)(nil)
	_ strategies.BatchLedger        = (*pgstore.Ledger)(nil)
	_ strategies.BatchApplier       = (*pgstore.Ledger)(nil)
	_ strategies.BatchInsertApplier = (*pgstore.Ledger)(nil)
)

// batchEvents is the batch operation i delivers: batch i/2 of the workload
// (events (i/2)*size+1 .. (i/2+1)*size), so every batch is delivered twice,
// usually to two consumers at once.
func batchEvents(i uint64, size int) []strategies.Event {
	first := i / 2 * uint64(size)
	out := make([]strategies.Event, size)
	for k := range out {
		out[k] = eventOf(first + uint64(k))
	}
	return out
}

// BenchmarkBatch measures the batch forms of the redis, db-unique and
// db-unique-fast strategies (strategies.HandleBatchRedis,
// strategies.HandleBatchDBUnique, strategies.HandleBatchDBUniqueFast) on the
// real servers: BenchmarkBatch/<redis|db-unique|db-unique-fast>/real/batch=32/consumers=N.
// One op handles one batch of 32 deliveries; every batch is delivered twice
// (batchEvents). It reports events/s (deliveries per second), p50-ms and
// p99-ms (per batch) and dups/op. BenchmarkRaw/redis-setnx-pipelined is the
// limit of the claims.
func BenchmarkBatch(b *testing.B) {
	envs := newRealEnvs(b)
	handlers := []struct {
		name   string
		handle func(ctx context.Context, env *realEnv, events []strategies.Event) ([]strategies.Outcome, error)
	}{
		{"redis", func(ctx context.Context, env *realEnv, events []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchRedis(ctx, env.marks, env.ledger, benchMarkTTL, events)
		}},
		{"db-unique", func(ctx context.Context, env *realEnv, events []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchDBUnique(ctx, env.ledger, events)
		}},
		{"db-unique-fast", func(ctx context.Context, env *realEnv, events []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchDBUniqueFast(ctx, env.ledger, events)
		}},
	}
	for _, h := range handlers {
		for _, n := range consumerCounts {
			b.Run(fmt.Sprintf("%s/real/batch=%d/consumers=%d", h.name, benchBatch, n), func(b *testing.B) {
				env := envs.get(b, n)
				env.reset(b)
				lat := runConsumers(b, n, func(int) opFunc {
					return func(ctx context.Context, i uint64) error {
						_, err := h.handle(ctx, env, batchEvents(i, benchBatch))
						return err
					}
				})
				reportRate(b, "events/s", benchBatch)
				reportLatency(b, lat, "p50-ms", "p99-ms")
				dups, lost := env.audit(b, uint64(b.N+1)/2*benchBatch)
				b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
				if dups > 0 || lost > 0 {
					b.Errorf("batch %s without faults: %d duplicates, %d events lost", h.name, dups, lost)
				}
			})
		}
	}
}

// testStores connects to the shared servers under a prefix of the tests'
// own, emptied first.
func testStores(t *testing.T) (*redisstore.Marks, *pgstore.Ledger) {
	t.Helper()
	rs := testserver.SharedRedis(t)
	ps := testserver.SharedPostgres(t)
	ctx := context.Background()
	ro, err := redis.ParseURL(rs.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(ro)
	t.Cleanup(func() { _ = rdb.Close() })
	pool, err := pgxpool.New(ctx, ps.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	const prefix = "idemsim_benchtest"
	ledger, err := pgstore.New(ctx, pool, prefix)
	require.NoError(t, err)
	require.NoError(t, ledger.Reset(ctx))
	marks, err := redisstore.New(rdb, prefix)
	require.NoError(t, err)
	_, err = marks.Flush(ctx)
	require.NoError(t, err)
	return marks, ledger
}

// ev is a test event: id on account id%7+1, amount id.
func ev(ids ...strategies.EventID) []strategies.Event {
	out := make([]strategies.Event, len(ids))
	for i, id := range ids {
		out[i] = strategies.Event{ID: id, Account: int(id%7) + 1, Amount: int64(id)}
	}
	return out
}

const (
	applied = strategies.Applied
	skipped = strategies.Skipped
)

func TestBatchOnRealServersAppliesEachEventOnce(t *testing.T) {
	marks, ledger := testStores(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		handle func([]strategies.Event) ([]strategies.Outcome, error)
		ids    []strategies.EventID // the ids of this strategy's events
	}{
		{"db-unique", func(e []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchDBUnique(ctx, ledger, e)
		}, []strategies.EventID{1, 2, 3, 4}},
		{"redis", func(e []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchRedis(ctx, marks, ledger, 0, e)
		}, []strategies.EventID{11, 12, 13, 14}},
		{"db-unique-fast", func(e []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchDBUniqueFast(ctx, ledger, e)
		}, []strategies.EventID{21, 22, 23, 24}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c, d := tc.ids[0], tc.ids[1], tc.ids[2], tc.ids[3]
			out, err := tc.handle(ev(a, b, a, c, b, c))
			require.NoError(t, err)
			assert.Equal(t, []strategies.Outcome{applied, applied, skipped, applied, skipped, skipped}, out)
			out, err = tc.handle(ev(c, d, d, a))
			require.NoError(t, err)
			assert.Equal(t, []strategies.Outcome{skipped, applied, skipped, skipped}, out)
			out, err = tc.handle(nil)
			require.NoError(t, err)
			assert.Empty(t, out)
		})
	}
	apps, err := ledger.Applications(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.EventID]int{1: 1, 2: 1, 3: 1, 4: 1, 11: 1, 12: 1, 13: 1, 14: 1, 21: 1, 22: 1, 23: 1, 24: 1}, apps)
}

func TestBatchDBUniqueConcurrentOverlappingBatches(t *testing.T) {
	// Eight consumers apply, at once, batches of random halves of the same
	// 64 events on 7 accounts, shuffled and with copies: every event is
	// applied once, by exactly one of them, and no two batches deadlock on
	// their rows. Every event is in some batch: the last takes them all.
	for _, tc := range []struct {
		name   string
		handle func(context.Context, *pgstore.Ledger, []strategies.Event) ([]strategies.Outcome, error)
	}{
		{"db-unique", func(ctx context.Context, l *pgstore.Ledger, e []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchDBUnique(ctx, l, e)
		}},
		{"db-unique-fast", func(ctx context.Context, l *pgstore.Ledger, e []strategies.Event) ([]strategies.Outcome, error) {
			return strategies.HandleBatchDBUniqueFast(ctx, l, e)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ledger := testStores(t)
			ctx := context.Background()
			const consumers, events = 8, 64
			var mu sync.Mutex
			appliedBy := map[strategies.EventID]int{}
			var wg sync.WaitGroup
			errs := make([]error, consumers)
			for w := range consumers {
				r := rand.New(rand.NewPCG(uint64(w), 1))
				var ids []strategies.EventID
				for id := strategies.EventID(1); id <= events; id++ {
					if w < consumers-1 && r.IntN(2) == 0 {
						continue
					}
					ids = append(ids, id)
					if r.IntN(4) == 0 {
						ids = append(ids, id)
					}
				}
				r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				batch := ev(ids...)
				wg.Go(func() {
					out, err := tc.handle(ctx, ledger, batch)
					if err != nil {
						errs[w] = err
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for i, o := range out {
						if o == applied {
							appliedBy[batch[i].ID]++
						}
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			apps, err := ledger.Applications(ctx)
			require.NoError(t, err)
			require.Len(t, apps, events)
			for id := strategies.EventID(1); id <= events; id++ {
				assert.Equal(t, 1, apps[id], "applications of event %d", id)
				assert.Equal(t, 1, appliedBy[id], "batches reporting event %d applied", id)
			}
		})
	}
}
