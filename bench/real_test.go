package bench

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/memstore"
	"github.com/idemsim/idemsim/strategies/pgstore"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// The real-backend benchmarks share one workload. Operation i delivers
// event i/2, so every event is delivered twice, by two operations that, with
// several consumers, usually run at the same time on two goroutines: the
// skip path is measured as well as the apply path, and a strategy that
// cannot tell two copies in flight apart shows duplicates (dups/op). Events
// spread over 1000 accounts, so that concurrent events rarely wait for each
// other's account row. The raw operations (raw_test.go) use the same
// events.
const (
	benchPrefix   = "idemsim_bench" // tables idemsim_bench_*, keys idemsim_bench:mark:* and idemsim_bench:kv:*
	benchMarkTTL  = 10 * time.Minute
	benchLease    = time.Minute // redis-lease's INPROGRESS lease: longer than any run's Handle call
	benchAccounts = 1000
)

// consumerCounts are the concurrency levels: consumers=N runs N goroutines,
// each with its own Handler, over one Redis client and one PostgreSQL pool
// of N connections.
var consumerCounts = []int{1, 4, 16}

// eventOf is the k-th event of the workload (from 0): id k+1.
func eventOf(k uint64) strategies.Event {
	return strategies.Event{ID: strategies.EventID(k + 1), Account: int(k%benchAccounts) + 1, Amount: int64(k%100) + 1}
}

// deliveryEvent is the event operation i delivers: each event twice.
func deliveryEvent(i uint64) strategies.Event { return eventOf(i / 2) }

// BenchmarkStrategy measures every strategy on the simulator and on the real
// servers, at 1, 4 and 16 consumers:
// BenchmarkStrategy/<strategy>/<sim|real>/consumers=N.
//
// Every registered strategy (strategies.Names) is measured, in table order.
//
// real: N goroutines, each with its own Handler (strategies.New over
// redisstore.Marks, redisstore.KV and pgstore.Ledger), handle deliveries of
// the shared workload (each event twice, see deliveryEvent); one op is one
// delivery. It reports events/s (deliveries handled per second), p50-ms and
// p99-ms (the latency of one Handle call), dups/op (ledger applications
// beyond the first, per delivery) and retries/op (deliveries answered
// RetryLater, per delivery: redis-lease's answer to a copy whose lease
// another consumer holds; such a delivery did nothing, and the broker would
// deliver it again later, which the benchmark does not do). The prefix's
// tables and keys are emptied before each run. BenchmarkRaw measures the
// server operations beneath, at the same concurrency.
//
// sim: one op is one simulated run (200 events, faults=redeliver, seeds 1,
// 2, 3, ...) with N instances. It reports events/s (simulated deliveries per
// wall second), sim-p50-ms and sim-p99-ms (the simulated latency of the
// handling attempts whose outcome is known) and dups/op (duplicates per
// run).
func BenchmarkStrategy(b *testing.B) {
	envs := newRealEnvs(b)
	nenvs := natsEnvs{top: b}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, n := range consumerCounts {
			b.Run(fmt.Sprintf("%s/sim/consumers=%d", st, n), func(b *testing.B) { benchSimStrategy(b, st, n) })
		}
		if s, _ := strategies.Lookup(st); s.Needs.Has(strategies.NeedsPublisher) {
			// The outbox end to end (outbox_test.go), beside
			// db-unique's upstream alone; the dual writes are
			// measured in the simulator only.
			if st == "outbox" {
				for _, n := range consumerCounts {
					b.Run(fmt.Sprintf("%s/real/consumers=%d", st, n), func(b *testing.B) { benchRealOutbox(b, envs, n) })
				}
			}
			continue
		}
		for _, n := range consumerCounts {
			b.Run(fmt.Sprintf("%s/real/consumers=%d", st, n), func(b *testing.B) { benchRealStrategy(b, envs, st, n) })
		}
		if s, _ := strategies.Lookup(st); s.Needs.Has(strategies.NeedsProvider) {
			// The strategies that charge are measured against the
			// provider beside BenchmarkRaw/provider-charge, on the
			// in-process queue only.
			continue
		}
		// Through a real broker (nats_test.go), beside BenchmarkRawNATS.
		for _, n := range consumerCounts {
			b.Run(fmt.Sprintf("%s/real/broker=nats/consumers=%d", st, n), func(b *testing.B) { benchNATSStrategy(b, envs, &nenvs, st, n, false) })
		}
		// Through RabbitMQ (rabbit_test.go), beside BenchmarkRawBroker/rabbitmq.
		for _, n := range consumerCounts {
			b.Run(fmt.Sprintf("%s/real/broker=rabbitmq/consumers=%d", st, n), func(b *testing.B) { benchRabbitStrategy(b, envs, st, n, false) })
		}
	}
	// Through Kafka (kafka_test.go), beside BenchmarkRawBroker/kafka: the
	// strategies that run on the log, Kafka's model.
	kenvs := kafkaEnvs{top: b}
	for _, st := range strategies.NamesOn("log") {
		if s, _ := strategies.Lookup(st); s.Needs.Has(strategies.NeedsProvider) || s.Needs.Has(strategies.NeedsPublisher) {
			continue // measured against the provider on the in-process queue, or in the simulator only, above
		}
		for _, n := range consumerCounts {
			b.Run(fmt.Sprintf("%s/real/broker=kafka/consumers=%d", st, n), func(b *testing.B) { benchKafkaStrategy(b, envs, &kenvs, st, n, false) })
		}
	}
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("redis/real-marks/consumers=%d", n), func(b *testing.B) { benchRedisMarks(b, envs, n) })
	}
	// none through each real broker with its effect in process: the
	// broker alone is real, beside the broker's raw loop alone.
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("none/real-broker-only/broker=nats/consumers=%d", n), func(b *testing.B) { benchNATSStrategy(b, envs, &nenvs, "none", n, true) })
	}
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("none/real-broker-only/broker=rabbitmq/consumers=%d", n), func(b *testing.B) { benchRabbitStrategy(b, envs, "none", n, true) })
	}
	for _, n := range consumerCounts {
		b.Run(fmt.Sprintf("none/real-broker-only/broker=kafka/consumers=%d", n), func(b *testing.B) { benchKafkaStrategy(b, envs, &kenvs, "none", n, true) })
	}
}

// brokerDeps gives a broker benchmark's handlers their Deps, and the audit
// of the ledger after the loop: the real PostgreSQL's, or with inProcess
// an in-process ledger (memstore), so that only the broker is real and the
// figure is the strategy's loop over the plain client's loop alone.
func brokerDeps(b *testing.B, env *realEnv, inProcess bool) (strategies.Deps, func(events uint64) (dups, lost int)) {
	deps := env.deps()
	if !inProcess {
		return deps, func(events uint64) (int, int) { return env.audit(b, events) }
	}
	ledger := memstore.NewLedger()
	deps.Ledger = ledger
	return deps, func(events uint64) (dups, lost int) {
		apps := ledger.Applications()
		for k := range events {
			switch n := apps[eventOf(k).ID]; {
			case n > 1:
				dups += n - 1
			case n == 0:
				lost++
			}
		}
		return dups, lost
	}
}

// benchRedisMarks runs the redis strategy against the real Redis with its
// effect in an in-process ledger (memstore), so that the figure is the
// strategy's cost over the operation it is built on: one SET NX per
// delivery, as BenchmarkRaw/redis-setnx does at the same concurrency. (The
// real/ figures add a PostgreSQL transaction per event, which SET NX alone
// cannot be compared with.)
func benchRedisMarks(b *testing.B, envs *realEnvs, n int) {
	env := envs.get(b, n)
	env.reset(b)
	ledger := memstore.NewLedger()
	deps := strategies.Deps{Marks: env.marks, Ledger: ledger, MarkTTL: benchMarkTTL}
	lat := runConsumers(b, n, func(int) opFunc {
		h, err := strategies.New("redis", deps)
		if err != nil {
			panic(err) // a valid name with both stores
		}
		return func(ctx context.Context, i uint64) error {
			_, err := h.Handle(ctx, deliveryEvent(i))
			return err
		}
	})
	reportRate(b, "events/s", 1)
	reportLatency(b, lat, "p50-ms", "p99-ms")
	dups := 0
	apps := ledger.Applications()
	for k := uint64(0); k < uint64(b.N+1)/2; k++ {
		switch n := apps[eventOf(k).ID]; {
		case n > 1:
			dups += n - 1
		case n == 0:
			b.Errorf("event %d never applied", k+1)
		}
	}
	b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
	if dups > 0 {
		b.Errorf("redis without faults applied %d duplicates", dups)
	}
}

// benchSimStrategy runs strategy st on the simulator with n instances.
func benchSimStrategy(b *testing.B, st string, n int) {
	var deliveries, dups int
	var lat []time.Duration
	seed := uint64(0)
	for b.Loop() {
		seed++
		res, err := sim.Run(sim.Config{Strategy: st, Faults: faults.Of(faults.Redeliver), Seed: seed, Instances: n, KeepHistory: true})
		if err != nil {
			b.Fatal(err)
		}
		deliveries += res.Deliveries
		dups += res.Duplicates
		for _, op := range res.History {
			if op.Kind == check.Attempt && op.Return != check.Never {
				lat = append(lat, time.Duration(op.Return-op.Call))
			}
		}
	}
	b.ReportMetric(float64(deliveries)/b.Elapsed().Seconds(), "events/s")
	reportLatency(b, lat, "sim-p50-ms", "sim-p99-ms")
	b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
}

// exactlyOnceWithoutFaults reports whether strategy st never applies twice
// or loses an event when nothing fails, which the real benchmark checks:
// whether its description promises that a copy handled by another instance
// after the first is skipped, and that of two copies handled at once
// exactly one applies.
func exactlyOnceWithoutFaults(st string) bool {
	s, ok := strategies.Lookup(st)
	return ok && s.Promises.OtherInstance && s.Promises.Concurrent == strategies.OneApplies
}

// holdsUnderRedeliver reports whether strategy st is expected to hold
// under the redeliver fault (duplicates published and acks lost) on
// broker model m.
func holdsUnderRedeliver(st, m string) bool {
	s, ok := strategies.Lookup(st)
	return ok && s.ExpectedRow(m)["redeliver"] == "ok"
}

// benchRealStrategy runs strategy st on the real servers with n consumers.
func benchRealStrategy(b *testing.B, envs *realEnvs, st string, n int) {
	env := envs.get(b, n)
	env.reset(b)
	deps := env.deps()
	if _, err := strategies.New(st, deps); err != nil {
		b.Fatal(err)
	}
	var retries atomic.Int64
	lat := runConsumers(b, n, func(int) opFunc {
		h, err := strategies.New(st, deps)
		if err != nil {
			panic(err) // New succeeded above with the same arguments
		}
		return func(ctx context.Context, i uint64) error {
			out, err := h.Handle(ctx, deliveryEvent(i))
			if out == strategies.RetryLater {
				retries.Add(1)
			}
			return err
		}
	})
	reportRate(b, "events/s", 1)
	reportLatency(b, lat, "p50-ms", "p99-ms")
	var dups, lost int
	if s, _ := strategies.Lookup(st); s.Needs.Has(strategies.NeedsProvider) {
		dups, lost = env.auditCharges(b, uint64(b.N+1)/2)
	} else {
		dups, lost = env.audit(b, uint64(b.N+1)/2)
	}
	b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
	b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/op")
	if exactlyOnceWithoutFaults(st) && (dups > 0 || lost > 0) {
		b.Errorf("%s without faults: %d duplicates, %d events lost", st, dups, lost)
	}
}

// realEnv is one concurrency level's connection to the real servers: a
// Redis client and a PostgreSQL pool sized for n consumers, and the
// strategies' stores over them, under benchPrefix.
type realEnv struct {
	owned  bool   // testserver started the Redis server
	addr   string // the Redis server's host:port
	rdb    *redis.Client
	pool   *pgxpool.Pool
	marks  *redisstore.Marks
	kv     *redisstore.KV // replaced by reset, so that its record of written keys stays small
	ledger *pgstore.Ledger
	prov   *provEnv // the payment provider, shared by every level
}

// deps are the stores of the strategies over env, as they are after the
// last reset.
func (env *realEnv) deps() strategies.Deps {
	return strategies.Deps{Marks: env.marks, KV: env.kv, Ledger: env.ledger, MarkTTL: benchMarkTTL, Lease: benchLease, Provider: env.prov.client}
}

// realEnvs holds one realEnv per concurrency level for one top-level
// benchmark, created when a sub-benchmark first asks and closed when the
// top-level benchmark ends.
type realEnvs struct {
	mu   sync.Mutex
	byN  map[int]*realEnv
	prov *provEnv
}

// newRealEnvs returns the environments of the top-level benchmark b.
func newRealEnvs(b *testing.B) *realEnvs {
	e := &realEnvs{byN: map[int]*realEnv{}}
	b.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, env := range e.byN {
			env.close()
		}
		if e.prov != nil {
			e.prov.stop()
		}
	})
	return e
}

// get returns the environment of n consumers, connecting it on first use.
// It skips tb when the servers are not installed (fails it under CI), as
// testserver does.
func (e *realEnvs) get(tb testing.TB, n int) *realEnv {
	tb.Helper()
	rs := testserver.SharedRedis(tb)
	ps := testserver.SharedPostgres(tb)
	e.mu.Lock()
	defer e.mu.Unlock()
	if env, ok := e.byN[n]; ok {
		return env
	}
	if e.prov == nil {
		e.prov = startProvider(tb, ps.URL)
	}
	ctx := context.Background()
	ro, err := redis.ParseURL(rs.URL)
	if err != nil {
		tb.Fatal(err)
	}
	ro.PoolSize = n
	ro.MinIdleConns = n
	pc, err := pgxpool.ParseConfig(ps.URL)
	if err != nil {
		tb.Fatal(err)
	}
	pc.MaxConns = int32(n)
	pc.MinConns = int32(n)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		tb.Fatal(err)
	}
	env := &realEnv{owned: rs.Owned, addr: rs.Addr, rdb: redis.NewClient(ro), pool: pool, prov: e.prov}
	if env.ledger, err = pgstore.New(ctx, pool, benchPrefix); err != nil {
		env.close()
		tb.Fatal(err)
	}
	if env.marks, err = redisstore.New(env.rdb, benchPrefix); err != nil {
		env.close()
		tb.Fatal(err)
	}
	if env.kv, err = redisstore.NewKV(env.rdb, benchPrefix); err != nil {
		env.close()
		tb.Fatal(err)
	}
	if err := env.warm(ctx, n); err != nil {
		env.close()
		tb.Fatal(err)
	}
	e.byN[n] = env
	return env
}

// unlinkNamespace deletes every key under namespace, the benchmarks' own
// (idemsim_bench:kv:): those of every environment's KV, and those a killed
// benchmark process left on a server that outlived it (IDEMSIM_REDIS_URL).
func unlinkNamespace(ctx context.Context, rdb *redis.Client, namespace string) error {
	iter := rdb.Scan(ctx, 0, namespace+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("bench: scan %s*: %w", namespace, err)
	}
	for start := 0; start < len(keys); start += 1000 {
		if err := rdb.Unlink(ctx, keys[start:min(start+1000, len(keys))]...).Err(); err != nil {
			return fmt.Errorf("bench: unlink %s*: %w", namespace, err)
		}
	}
	return nil
}

// close closes the client and the pool.
func (env *realEnv) close() {
	env.pool.Close()
	_ = env.rdb.Close()
}

// warm opens all n connections of the pool and of the client before any
// measurement, so that no run pays for connecting.
func (env *realEnv) warm(ctx context.Context, n int) error {
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range n {
		c, err := env.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("bench: connect to PostgreSQL: %w", err)
		}
		conns = append(conns, c)
	}
	rconns := make([]*redis.Conn, 0, n)
	defer func() {
		for _, c := range rconns {
			_ = c.Close()
		}
	}()
	for range n {
		c := env.rdb.Conn()
		rconns = append(rconns, c)
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("bench: connect to Redis: %w", err)
		}
	}
	return nil
}

// reset empties the prefix's tables, marks and KV keys, for a fresh run,
// and gives env a new KV, whose record of written keys (which the
// benchmarks do not use) starts empty.
func (env *realEnv) reset(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	if err := env.ledger.Reset(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := env.marks.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	// Every environment's KV writes under one namespace: delete all of
	// it, as Flush does for the marks, not only the keys this KV wrote.
	if err := unlinkNamespace(ctx, env.rdb, env.kv.Namespace()); err != nil {
		tb.Fatal(err)
	}
	kv, err := redisstore.NewKV(env.rdb, benchPrefix)
	if err != nil {
		tb.Fatal(err)
	}
	env.kv = kv
	if err := env.prov.client.Forget(ctx); err != nil {
		tb.Fatal(err)
	}
}

// audit counts, after a run over events 1..events, the applications beyond
// the first (dups) and the events never applied (lost).
func (env *realEnv) audit(b *testing.B, events uint64) (dups, lost int) {
	b.Helper()
	apps, err := env.ledger.Applications(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for id, n := range apps {
		if uint64(id) < 1 || uint64(id) > events {
			b.Fatalf("ledger holds event %d, outside the run's 1..%d", id, events)
		}
		dups += n - 1
	}
	return dups, int(events) - len(apps)
}

// opFunc is one operation of a consumer: the i-th of the run, from 0.
type opFunc func(ctx context.Context, i uint64) error

// runConsumers runs b's operations on exactly n goroutines, each of which
// first builds its own operation with newWorker(index). Operation indexes
// come from one counter shared by all goroutines, so operations i and i+1
// usually run at the same time on two of them. With one consumer it is a
// plain b.Loop loop; when n is a multiple of GOMAXPROCS, b.RunParallel with
// SetParallelism(n/GOMAXPROCS); otherwise n goroutines of its own over b.N.
// It returns the latency of every operation and fails b on the first error.
func runConsumers(b *testing.B, n int, newWorker func(worker int) opFunc) []time.Duration {
	b.Helper()
	ctx := b.Context()
	lats := make([][]time.Duration, n)
	var next atomic.Uint64
	var failed atomic.Bool
	var errOnce sync.Once
	var firstErr error
	consume := func(w int, op opFunc, more func() bool) {
		lat := make([]time.Duration, 0, 1024)
		for more() {
			i := next.Add(1) - 1
			if failed.Load() {
				continue // drain: RunParallel wants its iterations consumed
			}
			t0 := time.Now()
			err := op(ctx, i)
			lat = append(lat, time.Since(t0))
			if err != nil {
				errOnce.Do(func() { firstErr = fmt.Errorf("consumer %d, op %d: %w", w, i, err) })
				failed.Store(true)
			}
		}
		lats[w] = lat
	}
	procs := runtime.GOMAXPROCS(0)
	switch {
	case n == 1:
		op := newWorker(0)
		lat := make([]time.Duration, 0, 1024)
		var i uint64
		for b.Loop() {
			t0 := time.Now()
			if err := op(ctx, i); err != nil {
				b.Fatalf("op %d: %v", i, err)
			}
			lat = append(lat, time.Since(t0))
			i++
		}
		lats[0] = lat
	case n%procs == 0:
		b.SetParallelism(n / procs)
		var workers atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			w := int(workers.Add(1) - 1)
			consume(w, newWorker(w), pb.Next)
		})
		b.StopTimer()
		if got := workers.Load(); got != int64(n) {
			b.Fatalf("RunParallel ran %d goroutines, want %d", got, n)
		}
	default:
		ops := make([]opFunc, n)
		for w := range ops {
			ops[w] = newWorker(w)
		}
		var started atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for w := range n {
			wg.Go(func() { consume(w, ops[w], func() bool { return started.Add(1) <= int64(b.N) }) })
		}
		wg.Wait()
		b.StopTimer()
	}
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return slices.Concat(lats...)
}

// reportRate reports perOp units of work per op, per second of the
// measured time, as metric unit.
func reportRate(b *testing.B, unit string, perOp float64) {
	b.ReportMetric(float64(b.N)*perOp/b.Elapsed().Seconds(), unit)
}

// reportLatency reports the median and the 99th percentile of lat in
// milliseconds, as metrics p50 and p99.
func reportLatency(b *testing.B, lat []time.Duration, p50, p99 string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 0.50)), p50)
	b.ReportMetric(ms(percentile(lat, 0.99)), p99)
}

// percentile returns the q-quantile of sorted, by nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
