package realrun

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sim/check"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// Random streams of a real run; the workload's come from sim.NewWorkload.
const (
	streamAckLoss = 103
	streamFaults  = 300 // + fault number
)

// Fault counters, by what was injected.
const (
	injLostAck = iota
	injCrash
	injPartition
	injSlow
	injStoreLoss
	numInjected
)

var injectedNames = [numInjected]string{"lost-ack", "crash", "partition", "slow", "store-loss"}

// ErrUnreachable wraps the error of a server that cannot be reached.
var ErrUnreachable = errors.New("realrun: server unreachable")

// connectTimeout bounds how long Run waits for a server before it says so.
const connectTimeout = 3 * time.Second

type run struct {
	cfg     Config
	params  faults.Params
	wl      sim.Workload
	markTTL time.Duration
	rec     recorder
	br      *broker
	on      atomic.Bool // the safety phase: faults strike

	rmu sync.Mutex
	rng [6]*rand.Rand // per fault

	inj        [numInjected]atomic.Int64
	deliveries atomic.Int64

	redisOpts *redis.Options
	pgConfig  *pgxpool.Config
	consumers []*consumer
	marks     *redisstore.Marks
}

func (r *run) faultsOn() bool { return r.on.Load() }

func (r *run) injected(i int) { r.inj[i].Add(1) }

// chance draws from fault f's stream: true with probability p.
func (r *run) chance(f faults.Fault, p float64) bool {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.rng[f].Float64() < p
}

// durationIn draws a duration in [lo, hi] from fault f's stream.
func (r *run) durationIn(f faults.Fault, lo, hi time.Duration) time.Duration {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.rng[f].Int64N(int64(hi-lo)+1))
}

// Run runs cfg against the real servers and judges it like a simulated run.
// It creates (once) and empties this prefix's tables and deletes this
// prefix's Redis keys first; it touches nothing else.
func Run(ctx context.Context, cfg Config) (*sim.Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, params: faults.Draw(cfg.Faults, cfg.Seed), wl: sim.NewWorkload(cfg.Config)}
	for _, f := range faults.All() {
		r.rng[f] = rand.New(rand.NewPCG(cfg.Seed, streamFaults+uint64(f)))
	}
	r.markTTL = 24 * time.Hour
	if r.params.MarkTTL > 0 {
		r.markTTL = cfg.Timing.MarkTTL
	}
	if cfg.MarkTTL > 0 {
		r.markTTL = cfg.MarkTTL
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string) {}
	}

	// The run's own clients: to check the servers, set up, flush, read.
	rdb, ledger, pool, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	defer pool.Close()

	// One pair of proxies per consumer.
	pgAddr := net.JoinHostPort(r.pgConfig.ConnConfig.Host, strconv.Itoa(int(r.pgConfig.ConnConfig.Port)))
	for i := 0; i < cfg.Instances; i++ {
		rp, err := tcpproxy.Start(r.redisOpts.Addr)
		if err != nil {
			return nil, fmt.Errorf("realrun: proxy to Redis: %w", err)
		}
		defer rp.Close()
		pp, err := tcpproxy.Start(pgAddr)
		if err != nil {
			return nil, fmt.Errorf("realrun: proxy to PostgreSQL: %w", err)
		}
		defer pp.Close()
		r.consumers = append(r.consumers, &consumer{r: r, idx: i, redisProxy: rp, pgProxy: pp})
	}

	// The schedule, the simulator's workload of this seed on a shorter
	// clock.
	scale := float64(cfg.Timing.PublishGapMax) / float64(100*time.Millisecond)
	at := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	var published []strategies.EventID
	for _, p := range r.wl.Publishes {
		published = append(published, p.Event)
	}
	r.br = newBroker(r, published)
	last := time.Duration(0)
	for _, p := range r.wl.Publishes {
		last = max(last, at(p.At))
	}
	span := at(r.wl.Span)
	healAt := last + cfg.Timing.HealMargin

	progress(fmt.Sprintf("real run: %d events (%d copies), %d consumers, strategy %s, faults %s", cfg.Events, len(published), cfg.Instances, cfg.Strategy, cfg.Faults))
	r.rec.start = time.Now()
	r.on.Store(true)
	timers := r.planFaults(span)
	var wg sync.WaitGroup
	for _, c := range r.consumers {
		wg.Add(1)
		go func() { defer wg.Done(); c.loop() }()
	}
	go func() {
		for i, p := range r.wl.Publishes {
			if d := at(p.At) - r.rec.now(); d > 0 {
				time.Sleep(d)
			}
			r.br.publish(i)
		}
	}()

	// Safety phase, then heal and wait for every event to settle.
	select {
	case <-time.After(healAt):
	case <-ctx.Done():
	}
	r.on.Store(false)
	for _, t := range timers {
		t.Stop()
	}
	for _, c := range r.consumers {
		c.healAll()
	}
	r.rec.record(sim.RecHeal, -1, -1, 0, 0)
	progress("real run: faults healed; waiting for every event to settle")
	select {
	case <-r.br.allDone:
	case <-time.After(cfg.Timing.Liveness):
	case <-ctx.Done():
	}
	// Stop handing out deliveries and let handlers in flight finish, so
	// that no effect lands after the final read.
	r.br.stop()
	wg.Wait()

	return r.result(ctx, ledger)
}

// planFaults arms the faults planned ahead: partition windows and Redis
// losses, within the publishing span.
func (r *run) planFaults(span time.Duration) []*time.Timer {
	var timers []*time.Timer
	t := r.cfg.Timing
	if r.params.Partitions > 0 {
		targets := [...]uint8{toRedis, toDB, toRedis | toDB}
		for _, c := range r.consumers {
			for k := 0; k < r.params.Partitions; k++ {
				start := r.durationIn(faults.Partition, 0, span)
				d := r.durationIn(faults.Partition, t.PartitionMin, t.PartitionMax)
				r.rmu.Lock()
				target := targets[r.rng[faults.Partition].IntN(len(targets))]
				r.rmu.Unlock()
				timers = append(timers, time.AfterFunc(start, func() {
					if r.faultsOn() {
						c.cutOff(target, d)
					}
				}))
			}
		}
	}
	for k := 0; k < r.params.StoreLosses; k++ {
		start := r.durationIn(faults.StoreLoss, 0, span)
		timers = append(timers, time.AfterFunc(start, func() {
			if !r.faultsOn() {
				return
			}
			// A Redis restart without persistence: every mark is gone.
			n, err := r.marks.Flush(context.Background())
			if err == nil {
				r.injected(injStoreLoss)
				r.rec.record(sim.RecStoreLoss, -1, -1, strategies.EventID(n), 1)
			}
		}))
	}
	return timers
}

// connect reaches both servers, or says clearly which one it could not
// reach and how to start one, within connectTimeout.
func (r *run) connect(ctx context.Context) (*redis.Client, *pgstore.Ledger, *pgxpool.Pool, error) {
	ro, err := redis.ParseURL(r.cfg.RedisURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: bad Redis URL %q: %v", sim.ErrBadConfig, Redact(r.cfg.RedisURL), err)
	}
	// No silent retries: a retried SET NX whose first try succeeded answers
	// "exists", which would hide what happened. Deadlines come from the
	// caller's context.
	ro.MaxRetries = -1
	ro.ContextTimeoutEnabled = true
	ro.DialTimeout = time.Second
	r.redisOpts = ro
	pc, err := pgxpool.ParseConfig(r.cfg.PostgresURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: bad PostgreSQL URL %q: %v", sim.ErrBadConfig, Redact(r.cfg.PostgresURL), err)
	}
	pc.ConnConfig.ConnectTimeout = time.Second
	r.pgConfig = pc

	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	rdb := redis.NewClient(ro)
	if err := rdb.Ping(cctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, nil, fmt.Errorf("%w: Redis at %s: %v\n  start one with: redis-server --port %s --save '' --daemonize yes\n  or point --redis-url / IDEMSIM_REDIS_URL at one",
			ErrUnreachable, ro.Addr, err, portOf(ro.Addr))
	}
	pool, err := pgxpool.NewWithConfig(cctx, pc)
	if err == nil {
		err = pool.Ping(cctx)
	}
	if err != nil {
		rdb.Close()
		if pool != nil {
			pool.Close()
		}
		return nil, nil, nil, fmt.Errorf("%w: PostgreSQL at %s:%d: %v\n  start one with: pg_ctlcluster --skip-systemctl-redirect <version> main start (Debian), or pg_ctl -D <datadir> start\n  or point --postgres-url / IDEMSIM_POSTGRES_URL at one",
			ErrUnreachable, pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	ledger, err := pgstore.New(ctx, pool, r.cfg.Prefix)
	if err == nil {
		err = ledger.Reset(ctx)
	}
	if err == nil {
		r.marks, err = redisstore.New(rdb, r.cfg.Prefix)
	}
	if err == nil {
		_, err = r.marks.Flush(ctx)
	}
	if err != nil {
		rdb.Close()
		pool.Close()
		return nil, nil, nil, err
	}
	return rdb, ledger, pool, nil
}

func (r *run) result(ctx context.Context, ledger *pgstore.Ledger) (*sim.Result, error) {
	n := r.cfg.Events
	apps, err := ledger.Applications(ctx)
	if err != nil {
		return nil, err
	}
	applied := make([]int, n+1)
	for id, k := range apps {
		if int(id) >= 1 && int(id) <= n {
			applied[id] = k
		}
	}
	done, settled := r.br.doneEvents(n)
	stuck := 0
	for i := 1; i <= n; i++ {
		if !settled[i] {
			stuck++
		}
	}
	end := int64(r.rec.now())
	r.rec.record(sim.RecEnd, -1, -1, 0, int64(stuck))
	for id := 1; id <= n; id++ {
		r.rec.op(check.Op{Kind: check.Read, Client: r.cfg.Instances, Event: uint64(id), Call: end, Return: end, Count: applied[id]})
	}
	// Timers of the broker may still fire: read a snapshot.
	r.rec.mu.Lock()
	trace := append([]sim.Record(nil), r.rec.trace...)
	history := append([]check.Op(nil), r.rec.history...)
	r.rec.mu.Unlock()
	audit := check.Audit(applied, done)
	h := fnv.New64a()
	for _, rec := range trace {
		fmt.Fprintln(h, rec.String())
	}
	inj := map[string]int{}
	for i := range r.inj {
		if v := int(r.inj[i].Load()); v > 0 || i == injLostAck {
			inj[injectedNames[i]] = v
		}
	}
	if r.wl.Dups > 0 {
		inj["redeliver"] = r.wl.Dups
	}
	if r.wl.Lates > 0 {
		inj["ttl"] = r.wl.Lates
	}
	for _, f := range r.cfg.Faults.Faults() {
		inj[f.String()] += 0
	}
	res := &sim.Result{
		Strategy:       r.cfg.Strategy,
		Faults:         r.cfg.Faults.Names(),
		Seed:           r.cfg.Seed,
		Instances:      r.cfg.Instances,
		Events:         n,
		Published:      len(r.wl.Publishes),
		Deliveries:     int(r.deliveries.Load()),
		Duplicates:     audit.Duplicates,
		Lost:           audit.Lost,
		Stuck:          stuck,
		Linearizable:   check.Verdict(history, check.Timeout),
		AuditOK:        audit.OK(),
		TraceHash:      fmt.Sprintf("%016x", h.Sum64()),
		SimTimeMS:      float64(end) / float64(time.Millisecond),
		FaultsInjected: inj,
		Reproduce:      r.cfg.Reproduce() + " --backend real",
	}
	if r.cfg.KeepTrace {
		res.Trace = trace
	}
	if r.cfg.KeepHistory {
		res.History = history
	}
	return res, nil
}

func splitHostPort(addr string) (string, uint16) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return host, uint16(p)
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "6379"
	}
	return port
}
