package realrun

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// consumer is one consumer instance: a goroutine that runs incarnations one
// after the other, each with new clients and a new handler, until the broker
// stops. Its connections go through its own proxies, so that a partition or
// a crash touches this consumer only.
type consumer struct {
	r          *session
	idx        int
	redisProxy *tcpproxy.Proxy
	pgProxy    *tcpproxy.Proxy
	// provProxy is the consumer's proxy to the payment provider, for a
	// strategy that charges; nil otherwise.
	provProxy *tcpproxy.Proxy
	// brokerProxy is the broker's proxy for this consumer, nil for the
	// in-process broker, which has no connection to cut.
	brokerProxy brokerLink

	// lateStart, when not zero, is when the consumer first starts, since
	// the run began (rebalance's scale-out); set before the run.
	lateStart time.Duration

	mu        sync.Mutex
	cutRedis  int // partitions in force, per target: overlapping windows
	cutDB     int
	cutBroker int
	cutProv   int
	// pausedBroker: a pause (zombie) holds the broker's proxy cut, past
	// the heal too, as a paused process stays silent until it resumes.
	pausedBroker int
	windows      uint32 // partition windows so far, to number them
	// up: an incarnation runs, from its start to its crash or leave; a
	// leave finds it only then, as the simulator's does.
	up bool
	// leaving: the incarnation was told to leave (rebalance), for
	// leaveFor; it leaves once it handled and acked what it holds.
	leaving  bool
	leaveFor time.Duration
}

// ended is how an incarnation ended.
type ended uint8

const (
	stopped ended = iota // the broker stopped: the run is over
	crashed              // a crash: it restarts after a while, empty
	left                 // a graceful leave: it starts again after leaveFor, empty
)

// incarnation is one life of a consumer, from start to crash or leave.
type incarnation struct {
	c       *consumer
	rdb     *redis.Client
	pool    *pgxpool.Pool
	handler strategies.Handler
	// relay is the relay's own, in the relay's incarnation (relay.go).
	relay strategies.Relay
	// down is its client of the downstream topic, for a strategy that
	// sends events on.
	down downClient
	// prov is its HTTP transport to the payment provider, through its
	// proxy, for a strategy that charges.
	prov    *http.Transport
	conn    Conn // its connection to the broker
	crashed atomic.Bool
	txs     openTxs
	// crashAfter: the injector decided a crash just after the current
	// step (before), which after, or the ack, carries out. Only the
	// incarnation's own goroutine touches it.
	crashAfter bool

	cur      delivery
	curEvent strategies.EventID
	// source is the effect that the incarnation's next publish
	// announces (strategies.Publisher): its attempt's last Apply's, or
	// the outbox row the relay last read; 0 for none.
	source atomic.Int64

	// handling is the message (numbered from 1, as in traces) whose
	// delivery the handler is handling, 0 outside Handle: what a memory
	// call names.
	handling atomic.Uint32
}

func (c *consumer) loop() {
	r := c.r
	// A late consumer (scale-out) joins only at its time: no restart,
	// its first incarnation, as the simulator's late instance.
	if c.lateStart > 0 {
		if !r.sleep(c.lateStart - r.rec.now()) {
			return
		}
		r.rec.add(run.Record{Kind: run.Start, Inst: int32(c.idx)})
	}
	for gen := 1; ; gen++ {
		if gen > 1 {
			r.rec.add(run.Record{Kind: run.Restart, Inst: int32(c.idx)})
		}
		// Up from its start, as a simulated instance is: a leave told
		// while it connects takes it at its first receive.
		c.setUp()
		inc, err := c.start()
		if err != nil {
			// The strategy refused to build: no verdict, as for a
			// failed server, and the run tears down what it made.
			inc.close()
			r.fail(err)
			return
		}
		how := inc.serve()
		down := c.setDown()
		inc.close()
		switch how {
		case stopped:
			return
		case left:
			// A process that stopped and is started again later,
			// with empty memory: a rolling restart, or a scale-in
			// and out again.
			if !r.sleep(down) {
				return
			}
			continue
		}
		t := time.NewTimer(r.durationIn(faults.Crash, r.cfg.Timing.RestartMin, r.cfg.Timing.RestartMax))
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return
		}
	}
}

// setUp marks the consumer up, a new incarnation that the broker serves
// as any other: a leave told to its last one does not carry over.
func (c *consumer) setUp() {
	c.mu.Lock()
	c.up, c.leaving = true, false
	c.r.br.Rejoin(c.idx)
	c.mu.Unlock()
}

// setDown marks the consumer down, its incarnation over, and returns how
// long a leave asked it to stay down.
func (c *consumer) setDown() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = false
	return c.leaveFor
}

// leaveAt tells the consumer to stop gracefully and start again down
// later (the rebalance fault): now if it waits for a delivery, else once it has
// handled and acked what it holds. As in the simulator, a consumer that is
// not up (crashed, or not started yet) or already leaving ignores it, and
// it counts as injected only when it takes.
func (c *consumer) leaveAt(down time.Duration) {
	if !c.r.faultsOn() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up || c.leaving {
		return
	}
	c.r.rec.injected(faults.Rebalance, 1)
	c.leaving, c.leaveFor = true, down
	c.r.br.CallOff(c.idx)
}

// storeClients makes an incarnation's clients of Redis (a pool of
// redisConns) and PostgreSQL (two connections), through this consumer's
// proxies, so that its faults cut them.
func (c *consumer) storeClients(redisConns int) (*redis.Client, *pgxpool.Pool) {
	r := c.r
	ro := *r.srv.redisOpts
	ro.Addr = c.redisProxy.Addr()
	ro.PoolSize = redisConns
	pc := r.srv.pgConfig.Copy()
	host, port := splitHostPort(c.pgProxy.Addr())
	pc.ConnConfig.Host, pc.ConnConfig.Port = host, port
	pc.ConnConfig.Fallbacks = nil
	pc.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		// NewWithConfig does not connect; it fails only on a bad
		// config, which Run checked on its own pool first.
		panic("realrun: invariant broken: pool config refused: " + err.Error())
	}
	return redis.NewClient(&ro), pool
}

// start makes a fresh incarnation: clients through this consumer's proxies,
// and a new handler, with a new, empty memory (recorded, as the
// simulator's is) and a random source of its own, seeded by the system. If the strategy's New fails, it returns
// its *strategies.NewError, and an incarnation with no handler to close.
func (c *consumer) start() (*incarnation, error) {
	r := c.r
	inc := &incarnation{c: c}
	inc.rdb, inc.pool = c.storeClients(2)
	marks, err := redisstore.NewRun(inc.rdb, r.cfg.Prefix, r.srv.runID)
	if err != nil {
		panic("realrun: invariant broken: validated prefix refused: " + err.Error())
	}
	deps := strategies.Deps{
		Marks:    faultyMarks{inc: inc, inner: marks},
		KV:       faultyKV{inc: inc, inner: r.srv.kv.Shared(inc.rdb)},
		Ledger:   faultyLedger{inc: inc, inner: r.srv.ledger.On(inc.pool)},
		Memory:   newMemory(inc),
		MarkTTL:  r.markTTL,
		Lease:    2 * r.cfg.Timing.AckDeadline,
		Instance: c.idx,
		Name:     instanceName(r.host, c.idx),
		Rand:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	if r.down != nil {
		deps.Publisher = newPublisher(inc, r.down.topic)
	}
	if c.provProxy != nil {
		// Only a strategy that says it charges gets the provider, as
		// in the simulator. Its connections go through the
		// consumer's proxy; a new incarnation has new ones.
		inc.prov = newTransport(c.provProxy.Addr)
		deps.Provider = faultyProvider{inc: inc, inner: &provider.Client{
			URL: r.srv.prov.url, Scope: r.srv.runID, Retention: r.keyRetention,
			HTTP: &http.Client{Transport: inc.prov},
		}}
	}
	h, err := strategies.New(r.cfg.Strategy, deps)
	if err != nil {
		return inc, err
	}
	inc.handler = h
	inc.connect()
	// Attach fails only on a broker that failed, which it reported:
	// the run is over.
	if inc.conn, err = r.br.Attach(r.ctx, c.idx); err != nil {
		return inc, err
	}
	// On the log, a Seeker's consumer seeks on assignment.
	if lc, ok := inc.conn.(logConn); ok {
		if sk, ok := h.(strategies.Seeker); ok {
			lc.setSeeker(sk)
		}
	}
	return inc, nil
}

// connect opens the incarnation's connections to Redis and PostgreSQL
// before it takes its first delivery, as a consumer process connects at
// start: in the simulator a started instance is connected at once, so the
// first store call of an incarnation must not carry a connection's setup
// (a PostgreSQL backend to fork, on a loaded machine easily more than a
// call's 150 ms deadline), or a BEGIN that times out before any statement
// loses an event that a claim already covers. It waits at most
// connectTimeout, the run's own bound for reaching a server. A store the consumer is cut
// off from right now is left to connect on first use, as before, so that
// a restart during a partition is not held up; so is one that fails, which
// the first call then reports.
func (inc *incarnation) connect() {
	c := inc.c
	ctx, cancel := context.WithTimeout(c.r.ctx, connectTimeout)
	defer cancel()
	if !c.redisProxy.Cutting() {
		_ = inc.rdb.Ping(ctx).Err()
	}
	if !c.pgProxy.Cutting() {
		if conn, err := inc.pool.Acquire(ctx); err == nil {
			conn.Release()
		}
	}
	if inc.prov != nil && !c.provProxy.Cutting() {
		// An HTTP connection kept open for the first charge.
		pc := provider.Client{URL: c.r.srv.prov.url, HTTP: &http.Client{Transport: inc.prov}}
		_ = pc.Health(ctx)
	}
}

// instanceName is a consumer's name on real servers, as a consumer tag
// would be: the host's name, the process id and the instance, as
// "myhost-4242-1".
func instanceName(host string, idx int) string {
	return fmt.Sprintf("%s-%d-%d", host, os.Getpid(), idx)
}

// hostName is the machine's name for instanceName, or "localhost" if the
// system does not say.
func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// Backoff after handlings that failed fast: a consumer whose every call
// fails at once (a server that died, before the health watch says so) must
// not spin. Failures that took their time (a call that timed out under an
// injected partition or stall) pace themselves and get no backoff, so the
// faults mean what they mean in the simulator.
const (
	fastFailure = 10 * time.Millisecond
	backoffMin  = 5 * time.Millisecond
	backoffMax  = 500 * time.Millisecond
)

// serve handles deliveries until the broker stops, the incarnation
// crashes, or it leaves.
func (inc *incarnation) serve() ended {
	c, r := inc.c, inc.c.r
	backoff := time.Duration(0)
	for {
		d, ev, got := inc.conn.Receive(r.ctx)
		switch got {
		case gotStop:
			return stopped
		case gotLeave:
			// Told to leave, with nothing in hand: what it handled
			// is acked, so it stops cleanly. Its connections close
			// as a process's do at exit, nothing half done.
			r.rec.add(run.Record{Kind: run.Leave, Inst: int32(c.idx), Cause: run.Graceful})
			return left
		}
		r.deliveries.Add(1)
		inc.cur, inc.curEvent = d, ev
		r.rec.add(d.record(run.Receive, c.idx, ev))
		start := r.rec.now()
		attempt := r.rec.beginAttempt(c.idx, ev)
		inc.handling.Store(uint32(d.msg + 1))
		inc.source.Store(0)
		e := r.wl.Events[ev]
		lc, onLog := inc.conn.(logConn)
		if onLog {
			e.Partition, e.Offset = lc.position(d)
		}
		out, err := inc.handler.Handle(r.ctx, e)
		inc.handling.Store(0)
		if inc.crashed.Load() {
			return crashed // the attempt stays unknown
		}
		// An outcome that is none of the four, with no error, is the
		// strategy's bug: it counts as an error, the effect unknown.
		o := run.OutcomeOf(out, err)
		if o != run.Errored && o != run.RetryLater {
			backoff = 0
		}
		r.rec.endAttempt(attempt, o)
		rec := msgRecord(run.Handled, c.idx, d.msg, ev)
		rec.Outcome = o
		r.rec.add(rec)
		if onLog {
			// The log's consumer retries a failed record in place,
			// and commits only at the end of a batch (or of each
			// record, or before it leaves): only a commit is a
			// fault point, as in the simulator.
			if !o.Acks() {
				inc.conn.Nack(r.ctx, d)
				continue
			}
			if !lc.commitDue(d) {
				inc.conn.Ack(r.ctx, d, r.rec.now())
				continue
			}
		}
		// The ack is a fault point too: a crash here leaves the effect
		// done and the delivery unacked.
		if inc.before(r.ctx, 0, run.Record{Step: run.AtAck}) != nil {
			return crashed
		}
		// Dropped is acked too: the handler gave up, with nothing done,
		// and asked that the delivery not come again.
		if o.Acks() {
			inc.conn.Ack(r.ctx, d, r.rec.now())
			if inc.crashedAfter(run.Record{Step: run.AtAck}) {
				return crashed
			}
			continue
		}
		inc.conn.Nack(r.ctx, d)
		if inc.crashedAfter(run.Record{Step: run.AtNack}) {
			return crashed
		}
		if r.rec.now()-start < fastFailure {
			backoff = min(max(2*backoff, backoffMin), backoffMax)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
			}
		}
	}
}

// crash abandons the incarnation at the current step: every later store
// call fails, and its sockets are closed now, so the servers see the client
// vanish (PostgreSQL rolls back its open transaction).
func (inc *incarnation) crash(step run.Record) {
	if !inc.crashed.CompareAndSwap(false, true) {
		return
	}
	c := inc.c
	c.mu.Lock()
	c.up = false // a leave told from now on finds it down
	c.mu.Unlock()
	c.r.rec.injected(faults.Crash, 1)
	rec := msgRecord(run.Crash, c.idx, inc.cur.msg, inc.curEvent)
	rec.Step, rec.Op, rec.InFlight, rec.Call = step.Step, step.Op, step.InFlight, step.Call
	c.r.rec.add(rec)
	c.redisProxy.CloseConns()
	c.pgProxy.CloseConns()
	if c.provProxy != nil {
		c.provProxy.CloseConns()
	}
	if inc.conn != nil {
		inc.conn.Crash()
	}
	if inc.down != nil && c.brokerProxy != nil {
		// Its publishes held by a partition, or buffered by its
		// client, die with it.
		c.brokerProxy.CloseConns()
		inc.down.close()
	}
}

// close releases the incarnation's clients. A pool waits for its borrowed
// connections, so open transactions are released first; if that still
// hangs, the run goes on without it.
func (inc *incarnation) close() {
	if inc.conn != nil && !inc.crashed.Load() {
		inc.conn.Close()
	}
	inc.txs.release(inc.c.r.ctx)
	if inc.down != nil {
		inc.down.close()
	}
	if inc.prov != nil {
		inc.prov.CloseIdleConnections()
	}
	_ = inc.rdb.Close()
	closePool(inc.pool, closeTimeout)
}

// cutOff partitions the consumer from target for d.
func (c *consumer) cutOff(target storeSet, d time.Duration) {
	c.r.rec.injected(faults.Partition, 1)
	c.mu.Lock()
	c.windows++
	window := c.windows
	c.r.rec.add(run.Record{Kind: run.Partition, Inst: int32(c.idx), Stores: target.stores(), Window: window})
	if target&toRedis != 0 {
		c.cutRedis++
		c.redisProxy.Cut()
	}
	if target&toDB != 0 {
		c.cutDB++
		c.pgProxy.Cut()
	}
	if target&toBroker != 0 && c.brokerProxy != nil {
		c.cutBroker++
		c.brokerProxy.Cut()
	}
	if target&toProvider != 0 && c.provProxy != nil {
		c.cutProv++
		c.provProxy.Cut()
	}
	c.mu.Unlock()
	time.AfterFunc(d, func() { c.heal(target, window) })
}

// heal ends one partition window; a proxy heals when no window holds it.
func (c *consumer) heal(target storeSet, window uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if target&toRedis != 0 && c.cutRedis > 0 {
		if c.cutRedis--; c.cutRedis == 0 {
			c.redisProxy.Heal()
		}
	}
	if target&toDB != 0 && c.cutDB > 0 {
		if c.cutDB--; c.cutDB == 0 {
			c.pgProxy.Heal()
		}
	}
	if target&toBroker != 0 && c.cutBroker > 0 {
		if c.cutBroker--; c.cutBroker == 0 && c.pausedBroker == 0 {
			c.brokerProxy.Heal()
		}
	}
	if target&toProvider != 0 && c.cutProv > 0 {
		if c.cutProv--; c.cutProv == 0 {
			c.provProxy.Heal()
		}
	}
	c.r.rec.add(run.Record{Kind: run.Partition, Inst: int32(c.idx), Window: window})
}

// silence holds the consumer's link to its broker for d, with no
// partition recorded: a paused process (zombie) whose heartbeats stop.
func (c *consumer) silence(d time.Duration) {
	if c.brokerProxy == nil {
		return
	}
	c.mu.Lock()
	c.cutBroker++
	c.brokerProxy.Cut()
	c.mu.Unlock()
	time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cutBroker > 0 {
			if c.cutBroker--; c.cutBroker == 0 {
				c.brokerProxy.Heal()
			}
		}
	})
}

// healAll ends every partition at once: the safety phase is over.
func (c *consumer) healAll() {
	c.mu.Lock()
	c.cutRedis, c.cutDB, c.cutBroker, c.cutProv = 0, 0, 0, 0
	c.redisProxy.Heal()
	c.pgProxy.Heal()
	if c.provProxy != nil {
		c.provProxy.Heal()
	}
	if c.brokerProxy != nil && c.pausedBroker == 0 {
		c.brokerProxy.Heal()
	}
	c.mu.Unlock()
}

// pauseBroker cuts the consumer off from the broker for a pause.
func (c *consumer) pauseBroker() {
	c.mu.Lock()
	c.pausedBroker++
	c.brokerProxy.Cut()
	c.mu.Unlock()
}

// resumeBroker ends a pause's cut, unless a partition still holds it.
func (c *consumer) resumeBroker() {
	c.mu.Lock()
	if c.pausedBroker--; c.pausedBroker == 0 && c.cutBroker == 0 {
		c.brokerProxy.Heal()
	}
	c.mu.Unlock()
}

// cutting reports whether a partition holds the consumer's traffic to any
// store of target now.
func (c *consumer) cutting(target storeSet) bool {
	return target&toRedis != 0 && c.redisProxy.Cutting() || target&toDB != 0 && c.pgProxy.Cutting() ||
		target&toBroker != 0 && c.brokerProxy != nil && c.brokerProxy.Cutting() ||
		target&toProvider != 0 && c.provProxy != nil && c.provProxy.Cutting()
}
