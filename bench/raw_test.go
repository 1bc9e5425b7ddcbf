package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/strategies"
)

// The statements of pgstore, written out again so that the raw operations
// run them through pgx directly, without the strategies' code. They must
// stay equal to pgstore's (pgstore.Attach).
var (
	rawInsertProcessed = fmt.Sprintf(`INSERT INTO %s_processed (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, benchPrefix)
	rawApply           = fmt.Sprintf(`WITH acct AS (
	INSERT INTO %[1]s_accounts (account, balance) VALUES ($2, $3)
	ON CONFLICT (account) DO UPDATE SET balance = %[1]s_accounts.balance + EXCLUDED.balance)
INSERT INTO %[1]s_ledger (event_id, account, amount) VALUES ($1, $2, $3)`, benchPrefix)
	// rawInsertApply is the statement of pgstore's Ledger.InsertApply
	// (db-unique-fast): insert the id if absent and, only if it was
	// inserted, apply the effect; one statement, one round trip.
	rawInsertApply = fmt.Sprintf(`WITH ins AS (
	INSERT INTO %[1]s_processed (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id),
acct AS (
	INSERT INTO %[1]s_accounts AS a (account, balance) SELECT $2, $3 FROM ins
	ON CONFLICT (account) DO UPDATE SET balance = a.balance + EXCLUDED.balance),
led AS (
	INSERT INTO %[1]s_ledger (event_id, account, amount) SELECT $1, $2, $3 FROM ins)
SELECT count(*) FROM ins`, benchPrefix)
)

// rawKey is the key of event id's mark, as redisstore.Marks names it, so
// that Marks.Flush removes the raw operations' keys too.
func rawKey(id uint64) string { return benchPrefix + ":mark:" + strconv.FormatUint(id, 10) }

// rawOp is one raw server operation: what a strategy does on the servers
// per delivery, written directly against go-redis and pgx.
type rawOp struct {
	name string
	// strategies names the strategies built on it, for the reader.
	strategies string
	op         func(ctx context.Context, env *realEnv, i uint64) error
}

// rawOps are the raw operations, each on the workload of BenchmarkStrategy
// (operation i delivers event i/2) except redis-setnx, which sets a new key
// every time.
var rawOps = []rawOp{
	{"redis-setnx", "reference for redis", func(ctx context.Context, env *realEnv, i uint64) error {
		return env.rdb.SetNX(ctx, rawKey(i+1), 1, benchMarkTTL).Err()
	}},
	{"pg-apply-tx", "none, local-cache", func(ctx context.Context, env *realEnv, i uint64) error {
		return rawApplyTx(ctx, env, i)
	}},
	{"setnx-then-apply-tx", "redis", func(ctx context.Context, env *realEnv, i uint64) error {
		e := deliveryEvent(i)
		ok, err := env.rdb.SetNX(ctx, rawKey(uint64(e.ID)), 1, benchMarkTTL).Result()
		if err != nil || !ok {
			return err
		}
		return rawApplyTx(ctx, env, i)
	}},
	{"exists-then-apply-tx-then-set", "redis-after", func(ctx context.Context, env *realEnv, i uint64) error {
		e := deliveryEvent(i)
		n, err := env.rdb.Exists(ctx, rawKey(uint64(e.ID))).Result()
		if err != nil || n == 1 {
			return err
		}
		if err := rawApplyTx(ctx, env, i); err != nil {
			return err
		}
		return env.rdb.Set(ctx, rawKey(uint64(e.ID)), 1, benchMarkTTL).Err()
	}},
	{"pg-mark-and-apply-tx", "db-unique", func(ctx context.Context, env *realEnv, i uint64) error {
		e := deliveryEvent(i)
		return pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, rawInsertProcessed, int64(e.ID))
			if err != nil || tag.RowsAffected() == 0 {
				return err // a duplicate commits an empty transaction
			}
			_, err = tx.Exec(ctx, rawApply, int64(e.ID), e.Account, e.Amount)
			return err
		})
	}},
	{"pg-mark-tx-then-apply-tx", "db-unique-split", func(ctx context.Context, env *realEnv, i uint64) error {
		e := deliveryEvent(i)
		var fresh bool
		if err := pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, rawInsertProcessed, int64(e.ID))
			fresh = tag.RowsAffected() == 1
			return err
		}); err != nil || !fresh {
			return err
		}
		return rawApplyTx(ctx, env, i)
	}},
	{"pg-insert-apply", "db-unique-fast", func(ctx context.Context, env *realEnv, i uint64) error {
		e := deliveryEvent(i)
		var n int
		return env.pool.QueryRow(ctx, rawInsertApply, int64(e.ID), e.Account, e.Amount).Scan(&n)
	}},
	{"provider-charge", "api-key", rawCharge},
}

// rawApplyTx applies operation i's event in a transaction of its own.
func rawApplyTx(ctx context.Context, env *realEnv, i uint64) error {
	return rawApplyEventTx(ctx, env, deliveryEvent(i))
}

// rawApplyEventTx applies e's effect in a transaction of its own (BEGIN;
// apply; COMMIT), the statements of the none strategy's effect, through
// pgx directly: the effect the raw broker loops "with none's effect" run
// between a delivery and its ack.
func rawApplyEventTx(ctx context.Context, env *realEnv, e strategies.Event) error {
	return pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, rawApply, int64(e.ID), e.Account, e.Amount)
		return err
	})
}

// benchBatch is the batch size of the batched benchmarks.
const benchBatch = 32

// BenchmarkRaw measures the server operations the strategies are built on,
// at the same concurrency as BenchmarkStrategy, so that a strategy's
// events/s over its raw op's ops/s is the cost of the strategy's code:
//
//	redis-setnx                    SET NX PX on a new key (reference)
//	pg-apply-tx                    BEGIN; apply; COMMIT (none, local-cache)
//	setnx-then-apply-tx            SET NX PX, then if set the apply transaction (redis)
//	exists-then-apply-tx-then-set  EXISTS, then if absent the apply transaction and SET PX (redis-after)
//	pg-mark-and-apply-tx           BEGIN; INSERT ... ON CONFLICT DO NOTHING; if inserted, apply; COMMIT (db-unique)
//	pg-mark-tx-then-apply-tx       the insert's transaction, then if inserted the apply transaction (db-unique-split)
//	pg-insert-apply                one statement: insert the id if absent, apply only if inserted (db-unique-fast)
//	provider-charge                one POST /v1/charges with the event's idempotency key to idemsim's provider (api-key)
//
// All but redis-setnx run on BenchmarkStrategy's workload, each event
// twice. Each reports ops/s (one op is one delivery) and p50-ms, p99-ms.
//
// redis-setnx-pipelined/batch=32 sends 32 SET NX PX on new keys in one
// pipeline per op: the limit of BenchmarkBatch's claims. Its ops/s counts
// SET NX commands, to compare with BenchmarkBatch's events/s. Its first run
// also logs the figure of redis-benchmark -t set -P 32 against the
// throwaway server, when redis-benchmark is installed: another client, for
// reference only.
func BenchmarkRaw(b *testing.B) {
	envs := newRealEnvs(b)
	for _, r := range rawOps {
		for _, n := range consumerCounts {
			b.Run(fmt.Sprintf("%s/consumers=%d", r.name, n), func(b *testing.B) {
				env := envs.get(b, n)
				env.reset(b)
				lat := runConsumers(b, n, func(int) opFunc {
					return func(ctx context.Context, i uint64) error { return r.op(ctx, env, i) }
				})
				reportRate(b, "ops/s", 1)
				reportLatency(b, lat, "p50-ms", "p99-ms")
			})
		}
	}
	var tool sync.Once
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("redis-setnx-pipelined/batch=%d/consumers=%d", benchBatch, n), func(b *testing.B) {
			env := envs.get(b, n)
			tool.Do(func() { logRedisBenchmark(b, env) })
			env.reset(b)
			lat := runConsumers(b, n, func(int) opFunc {
				return func(ctx context.Context, i uint64) error {
					_, err := env.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
						for k := range uint64(benchBatch) {
							p.SetNX(ctx, rawKey(i*benchBatch+k+1), 1, benchMarkTTL)
						}
						return nil
					})
					return err
				}
			})
			reportRate(b, "ops/s", benchBatch)
			reportLatency(b, lat, "p50-ms", "p99-ms")
		})
	}
}

// logRedisBenchmark runs redis-benchmark -t set -P 32 -n 200000 against the
// throwaway Redis server and logs its figure. It runs nothing against a
// server the benchmarks do not own (IDEMSIM_REDIS_URL), whose keys are not
// theirs to write.
func logRedisBenchmark(b *testing.B, env *realEnv) {
	if !env.owned {
		b.Logf("redis-benchmark: not run against %s, a server these benchmarks do not own", env.addr)
		return
	}
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Logf("redis-benchmark: not installed, not run")
		return
	}
	host, port, _ := strings.Cut(env.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-t", "set", "-P", strconv.Itoa(benchBatch), "-n", "200000", "-q").CombinedOutput()
	if err != nil {
		b.Logf("redis-benchmark: %v: %s", err, out)
		return
	}
	// -q prints progress lines ending in \r, then the result.
	last := ""
	for _, line := range strings.FieldsFunc(string(out), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if s := strings.TrimSpace(line); s != "" {
			last = s
		}
	}
	b.Logf("redis-benchmark -t set -P %d -n 200000 (50 clients; another client, for reference): %s", benchBatch, last)
}
