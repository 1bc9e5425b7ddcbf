package realrun

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// streamFaults numbers the streams of the real run's own fault decisions,
// one per fault (the workload's and the lost acks' come from package run).
const streamFaults = 300

// progressEvery is how often a run reports its progress, when asked to.
const progressEvery = 2 * time.Second

type session struct {
	cfg     Config
	params  faults.Params
	wl      run.Workload
	markTTL time.Duration
	// keyRetention, when not zero, is how long the payment provider
	// keeps this run's idempotency keys (key-expiry); zero: its own.
	keyRetention time.Duration
	rec          recorder
	br           Broker
	srv          *servers
	host         string      // the machine's name, for the consumers' names
	on           atomic.Bool // the safety phase: faults strike

	// ctx is the run's context: its consumers' calls end with it. It is
	// cancelled when the run fails (a server died or answered an error)
	// or the caller's context ends.
	ctx    context.Context
	cancel context.CancelFunc

	failMu  sync.Mutex
	failure error // the first failure, which ends the run without a verdict

	// inj makes the run's fault decisions, as the simulator's does
	// (faults.Injector), from the real run's own streams; rmu guards it,
	// since the consumers decide concurrently.
	rmu sync.Mutex
	inj faults.Injector
	// provErr draws which charges the provider answers with a 5xx, as
	// the simulator's provider stream does (run.StreamProvider).
	provErr *rand.Rand

	deliveries atomic.Int64
	// timeouts counts the store calls that timed out.
	timeouts atomic.Int64

	consumers []*consumer
	// down is the downstream topic and consumer of a strategy that sends
	// events on (strategies.NeedsPublisher), nil for the others; relay
	// is the outbox's relay, for a strategy that has one (relay.go).
	down  *downstream
	relay *relayRunner
	// effectTx maps an effect (its PostgreSQL transaction id,
	// pgstore.Tx.Effect) to the run's number of the transaction that
	// applied it, which the records name.
	effectTx sync.Map
}

func (r *session) faultsOn() bool { return r.on.Load() }

// fail ends the run without a verdict: a server failed, which says nothing
// about the strategy. The first failure is the one reported.
func (r *session) fail(err error) {
	r.failMu.Lock()
	if r.failure == nil {
		r.failure = err
	}
	r.failMu.Unlock()
	r.cancel()
	if r.br != nil {
		r.br.Stop()
	}
}

func (r *session) failed() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.failure
}

// realStream is the stream of fault f's decisions in a real run.
func realStream(f faults.Fault) uint64 { return streamFaults + uint64(f) }

// randomly decides fault f's next injection point: it strikes with
// probability p (faults.Injector.Randomly).
func (r *session) randomly(f faults.Fault, p float64) faults.Verdict {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.inj.Randomly(f, p)
}

// planned decides fault f's next planned strike (faults.Injector.Planned).
func (r *session) planned(f faults.Fault) faults.Verdict {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.inj.Planned(f)
}

// crashPoint decides the crash fault at a step, by the simulator's rule:
// a crash with probability p, then before the step or just after it, half
// and half. (The real backend drew p/2 before and p/2 after, apart: the
// same odds, other decisions.)
func (r *session) crashPoint(p float64) (v faults.Verdict, after bool) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if v = r.inj.Randomly(faults.Crash, p); v.Hit() {
		after = r.inj.Stream(faults.Crash).IntN(2) != 0
	}
	return v, after
}

// providerFails decides whether the provider answers the next charge with
// a 5xx: part of every run of a strategy that charges, with the chance
// the seed draws (faults.Params.ProviderErrors), as in the simulator,
// whose provider answers so after the heal too.
func (r *session) providerFails() bool {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.params.ProviderErrors > 0 && r.provErr.Float64() < r.params.ProviderErrors
}

// decisions lists the run's fault decisions that struck: the workload's,
// then the run's.
func (r *session) decisions() []faults.Decision {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return append(slices.Clone(r.wl.Decisions), r.inj.Made()...)
}

// sleep waits d, and reports whether the run still goes on: false if it
// ended meanwhile (its context, or the broker stopped: no consumer is to
// start again).
func (r *session) sleep(d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.ctx.Done():
		case <-r.br.Halted():
		}
	}
	select {
	case <-r.ctx.Done():
		return false
	case <-r.br.Halted():
		return false
	default:
		return true
	}
}

// durationIn draws a duration in [lo, hi] from fault f's stream.
func (r *session) durationIn(f faults.Fault, lo, hi time.Duration) time.Duration {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.inj.Stream(f).Int64N(int64(hi-lo)+1))
}

// Run runs cfg against the real servers and judges it like a simulated run.
//
// It touches only what is its own: it takes the prefix (a PostgreSQL
// advisory lock, so a second run on the same prefix is refused), creates
// the prefix's tables if they are missing, marked as idemsim's, refuses
// tables of those names that idemsim did not create, empties its own, and
// writes Redis keys only under a namespace of this run's own
// ("<prefix>:run:<id>:"), which it deletes at the end. Every round trip has
// a deadline. A server that cannot be reached, refuses the connection, or
// dies, hangs or answers an error during the run ends it with a
// *ServerError and no Result: a broken server is not a broken strategy.
// A strategy whose New fails ends it the same way, with the
// *strategies.NewError ("strategy S: New failed: ..."). Refusals that
// protect the user's data match ErrRefused; bad settings match
// run.ErrBadConfig.
func Run(ctx context.Context, cfg Config) (*run.Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reproduce := cfg.Reproduce() // before the defaults: it names only what was given
	cfg = cfg.withDefaults()
	// Nothing the run says may show a password, whatever a driver put in
	// its messages.
	scrub := cfg.scrubber()
	for _, f := range []*func(string){&cfg.Progress, &cfg.Warn} {
		if out := *f; out != nil {
			*f = func(s string) { out(scrub.Scrub(s)) }
		}
	}
	srv, err := setUp(ctx, cfg)
	if err != nil {
		return nil, scrub.Error(err)
	}
	cfg.Timing = srv.cfg.Timing // stretched to a Kafka cluster's minimum session timeout
	r := &session{cfg: cfg, srv: srv, host: hostName(), params: faults.Draw(cfg.Faults, cfg.Seed), wl: run.NewWorkload(cfg.Config)}
	r.inj.Reset(cfg.Seed, realStream, cfg.Drop)
	r.provErr = rand.New(rand.NewPCG(cfg.Seed, streamFaults+run.StreamProvider))
	if r.params.KeyRetention > 0 {
		r.keyRetention = cfg.Timing.KeyRetention
	}
	r.markTTL = 24 * time.Hour
	if r.params.MarkTTL > 0 {
		r.markTTL = cfg.Timing.MarkTTL
	}
	if cfg.MarkTTL > 0 {
		r.markTTL = cfg.MarkTTL
	}
	res, err := r.play(ctx)
	srv.tearDown(cfg.Warn, err)
	if err != nil {
		return nil, scrub.Error(err)
	}
	res.Reproduce = reproduce
	res.RealBroker = cfg.BrokerServer
	return res, nil
}

// play runs the workload and judges it.
func (r *session) play(parent context.Context) (*run.Result, error) {
	cfg := r.cfg
	r.ctx, r.cancel = context.WithCancel(parent)
	defer r.cancel()
	progress := cfg.Progress
	if progress == nil {
		progress = func(string) {}
	}

	// The schedule, the simulator's workload of this seed on a shorter
	// clock.
	scale := float64(cfg.Timing.PublishGapMax) / float64(100*time.Millisecond)
	at := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	var published []strategies.EventID
	for _, p := range r.wl.Publishes {
		published = append(published, p.Event)
	}
	if r.srv.kafka != nil {
		kb, err := newKafkaBroker(r, published)
		if err != nil {
			return nil, err
		}
		defer kb.closeProxies()
		r.br = kb
	} else if r.srv.nats != nil {
		nb, err := newNATSBroker(r, published)
		if err != nil {
			return nil, err
		}
		defer nb.closeProxies()
		r.br = nb
	} else if r.srv.rabbit != nil {
		rb, err := newRabbitBroker(r, published)
		if err != nil {
			return nil, err
		}
		defer rb.closeProxies()
		r.br = rb
	} else {
		r.br = memoryBroker{newBroker(r, published)}
	}
	last := time.Duration(0)
	for _, p := range r.wl.Publishes {
		last = max(last, at(p.At))
	}
	span := at(r.wl.Span)
	healAt := last + cfg.Timing.HealMargin

	if st, _ := strategies.Lookup(cfg.Strategy); st.Needs.Has(strategies.NeedsPublisher) {
		if err := r.setUpDownstream(st); err != nil {
			return nil, err
		}
		defer r.down.topic.close()
		if r.relay != nil {
			defer r.relay.c.redisProxy.Close()
			defer r.relay.c.pgProxy.Close()
		}
	}

	// One pair of proxies per consumer.
	for i := 0; i < cfg.Instances; i++ {
		rp, err := tcpproxy.Start(r.srv.redisAddr)
		if err != nil {
			return nil, fmt.Errorf("a loopback proxy to Redis: %w", err)
		}
		defer rp.Close()
		pp, err := tcpproxy.Start(r.srv.pgAddr)
		if err != nil {
			return nil, fmt.Errorf("a loopback proxy to PostgreSQL: %w", err)
		}
		defer pp.Close()
		c := &consumer{r: r, idx: i, redisProxy: rp, pgProxy: pp}
		if r.srv.prov != nil {
			vp, err := tcpproxy.Start(r.srv.prov.addr)
			if err != nil {
				return nil, fmt.Errorf("a loopback proxy to the payment provider: %w", err)
			}
			defer vp.Close()
			c.provProxy = vp
		}
		if p, ok := r.br.(proxied); ok {
			c.brokerProxy = p.proxy(i)
		} else if r.down != nil {
			c.brokerProxy = r.down.link()
		}
		r.consumers = append(r.consumers, c)
	}

	where := ""
	if n := r.srv.nats; n != nil {
		where = fmt.Sprintf("; NATS stream %s at %s, consumer %s", n.stream, n.addr, n.consumer)
	}
	if q := r.srv.rabbit; q != nil {
		limit := ""
		if q.limit >= 0 {
			limit = fmt.Sprintf(", delivery limit %d, dead letters to %s", q.limit, q.deadQueue)
		}
		where = fmt.Sprintf("; RabbitMQ quorum queue %s at %s (heartbeat %v, prefetch %d%s)", q.queue, q.addr, rabbitHeartbeat, cfg.prefetch(), limit)
	}
	if k := r.srv.kafka; k != nil {
		where = fmt.Sprintf("; Kafka topic %s at %s, consumer group %s (session timeout %v, max-poll interval %v: the log's, scaled)", k.topic, k.addr, k.group, k.session, k.maxPoll)
		if k.fitNote != "" {
			where += "; " + k.fitNote
		}
	}
	if p := r.srv.prov; p != nil {
		own := "its own idemsim provider"
		if p.cmd != nil {
			own += fmt.Sprintf(" (pid %d)", p.cmd.Process.Pid)
		}
		if !cfg.ownProvider() {
			own = "the provider"
		}
		where += fmt.Sprintf("; charges at %s at %s, scope %s", own, p.url, r.srv.runID)
	}
	progress(fmt.Sprintf("real run: %s (%s), %s, strategy %s, faults %s; Redis keys under %s*%s",
		plural(cfg.Events, "event"), plural(len(published), "message"), plural(cfg.Instances, "consumer"), cfg.Strategy, cfg.Faults, r.srv.marks.Namespace(), where))
	r.rec.start = time.Now()
	r.rec.rec.Reset(cfg.Config)
	r.srv.watch(r.ctx, r.fail)
	go r.report(progress)
	r.on.Store(true)
	timers := r.planFaults(span, at)
	downStop := make(chan struct{})
	downDone := make(chan struct{})
	if r.down != nil {
		go func() { defer close(downDone); r.down.topic.consume(r.down.apply, downStop) }()
		if r.relay != nil {
			go r.relay.loop()
		}
	}
	var wg sync.WaitGroup
	for _, c := range r.consumers {
		wg.Add(1)
		go func() { defer wg.Done(); c.loop() }()
	}
	go r.publish(at)

	// Safety phase, then heal and wait for every event to settle.
	select {
	case <-time.After(healAt):
	case <-r.ctx.Done():
	}
	r.on.Store(false)
	for _, t := range timers {
		t.Stop()
	}
	for _, c := range r.consumers {
		c.healAll()
	}
	if r.relay != nil {
		r.relay.c.healAll()
	}
	r.rec.add(run.Record{Kind: run.Heal, Inst: -1})
	if r.ctx.Err() == nil {
		progress("real run: faults healed; waiting for every event to settle")
	}
	select {
	case <-r.br.AllDone():
	case <-time.After(cfg.Timing.Liveness):
	case <-r.ctx.Done():
	}
	// Stop handing out deliveries and let handlers in flight finish, so
	// that no effect lands after the final read.
	r.br.Stop()
	wg.Wait()
	if r.down != nil {
		// The handlers are done: the relay sends what the outbox
		// still holds, and the downstream consumer applies what the
		// topic still carries, before the final reads.
		since := r.rec.now()
		r.wakeRelay()
		r.down.settle(r.relay, since)
		if r.relay != nil {
			close(r.relay.stop)
			<-r.relay.done
		}
		close(downStop)
		<-downDone
	}

	if err := r.failed(); err != nil {
		return nil, err
	}
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("the run was interrupted: %w", err)
	}
	var apps map[strategies.EventID]int
	var err error
	if r.srv.prov != nil {
		// The effect of a strategy that charges is the charge.
		apps, err = r.srv.readCharges(parent, &r.wl)
	} else {
		apps, err = r.srv.readApplications(parent, &r.wl)
	}
	var done, settled []bool
	if err == nil {
		done, settled, err = r.br.Final(parent, cfg.Events)
	}
	if err == nil {
		err = r.failed() // the watch may have seen a server die meanwhile
	}
	if err != nil {
		return nil, err
	}
	var down *run.DownTally
	if r.down != nil {
		if down, err = r.down.tally(parent); err != nil {
			return nil, err
		}
	}
	res := r.result(apps, done, settled, down)
	if n := r.timeouts.Load(); n > 0 && !cfg.Faults.TimesCallsOut() && res.Violating() && cfg.Warn != nil {
		cfg.Warn(fmt.Sprintf("%s timed out (each after %v) although no fault of this run (%s) makes calls time out: the servers or this machine were slow, and the violation may come from that rather than from the strategy; run it again on a quieter machine",
			plural(int(n), "store call"), cfg.Timing.CallTimeout, cfg.Faults))
	}
	return res, nil
}

// publish publishes the workload on its schedule, until the run ends.
func (r *session) publish(at func(time.Duration) time.Duration) {
	for i, p := range r.wl.Publishes {
		if d := at(p.At) - r.rec.now(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return
			}
		}
		if err := r.br.Publish(r.ctx, i); err != nil {
			if r.ctx.Err() == nil {
				r.fail(err)
			}
			return
		}
	}
}

// report calls progress every progressEvery until the run ends.
func (r *session) report(progress func(string)) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		settled, total := r.br.Progress()
		progress(fmt.Sprintf("real run: %.1f s, %d of %d messages settled, %d deliveries",
			r.rec.now().Seconds(), settled, total, r.deliveries.Load()))
	}
}

// planFaults arms the faults planned ahead, within the publishing span:
// partition windows, Redis losses and graceful leaves, and with
// rebalance's scale-out the late start of the last consumer, at its moment
// of the workload (at: the workload's clock, shrunk), as the simulator
// plans them.
func (r *session) planFaults(span time.Duration, at func(time.Duration) time.Duration) []*time.Timer {
	var timers []*time.Timer
	t := r.cfg.Timing
	if r.params.Partitions > 0 {
		// A strategy that charges uses no Redis: the provider takes
		// its place, as in the simulator, with the same draws.
		store := toRedis
		if r.srv.prov != nil {
			store = toProvider
		}
		targets := []storeSet{store, toDB, store | toDB}
		if r.consumers[0].brokerProxy != nil {
			// A broker reached over a connection can be cut off too,
			// as the simulator draws it: the broker, Redis (or the
			// provider), the database, or all three.
			targets = []storeSet{toBroker, store, toDB, toBroker | toRedis | toDB | store}
		}
		// The relay has its planned windows too, as in the simulator.
		cut := r.consumers
		if r.relay != nil {
			cut = append(slices.Clip(cut), r.relay.c)
		}
		for _, c := range cut {
			for k := 0; k < r.params.Partitions; k++ {
				v := r.planned(faults.Partition)
				start := r.durationIn(faults.Partition, 0, span)
				d := r.durationIn(faults.Partition, t.PartitionMin, t.PartitionMax)
				target := targets[r.intN(faults.Partition, len(targets))]
				if v == faults.Dropped {
					continue
				}
				timers = append(timers, time.AfterFunc(start, func() {
					if r.faultsOn() {
						c.cutOff(target, d)
					}
				}))
			}
		}
	}
	for k := 0; k < r.params.StoreLosses; k++ {
		v := r.planned(faults.StoreLoss)
		start := r.durationIn(faults.StoreLoss, 0, span)
		if v == faults.Strike {
			timers = append(timers, time.AfterFunc(start, r.storeLoss))
		}
	}
	if r.params.Leaves > 0 {
		// Each of Leaves times, a consumer stops gracefully and comes
		// back later (consumer.leaveAt).
		for k := 0; k < r.params.Leaves; k++ {
			v := r.planned(faults.Rebalance)
			c := r.consumers[r.intN(faults.Rebalance, len(r.consumers))]
			start := r.durationIn(faults.Rebalance, 0, span)
			down := r.durationIn(faults.Rebalance, t.LeaveDownMin, t.LeaveDownMax)
			if v == faults.Strike {
				timers = append(timers, time.AfterFunc(start, func() { c.leaveAt(down) }))
			}
		}
		if r.params.ScaleOut && len(r.consumers) > 1 && r.planned(faults.Rebalance) == faults.Strike {
			r.rec.injected(faults.Rebalance, 1)
			r.consumers[len(r.consumers)-1].lateStart = max(at(r.params.LateStart), 1)
		}
	}
	return timers
}

// intN draws an int in [0, n) from fault f's stream.
func (r *session) intN(f faults.Fault, n int) int {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.inj.Stream(f).IntN(n)
}

// storeLoss deletes every mark of this run, as a Redis restart without
// persistence would; it touches no other key.
func (r *session) storeLoss() {
	if !r.faultsOn() {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, setupTimeout)
	defer cancel()
	n, err := r.srv.deleteKeys(ctx)
	if err != nil {
		if r.ctx.Err() == nil {
			r.fail(r.srv.redisErr(ErrServerFailed, "deleting this run's marks (the store-loss fault)", err))
		}
		return
	}
	r.rec.injected(faults.StoreLoss, 1)
	r.rec.add(run.Record{Kind: run.StoreLoss, Inst: -1, Cause: run.RestartEmpty, Count: int32(n)})
}

func (r *session) result(apps map[strategies.EventID]int, done, settled []bool, down *run.DownTally) *run.Result {
	n := r.cfg.Events
	applied := make([]int, n+1)
	for id, k := range apps {
		if int(id) >= 1 && int(id) <= n {
			applied[id] = k
		}
	}
	for f, n := range r.wl.Extra {
		r.rec.injected(faults.Fault(f), n)
	}
	var dead []bool
	if d, ok := r.br.(deadLetters); ok {
		dead = d.dead(n)
	}
	return r.rec.finish(r.cfg.Config, run.Tally{
		Published:  len(r.wl.Publishes),
		Deliveries: int(r.deliveries.Load()),
		Applied:    applied,
		Done:       done,
		Settled:    settled,
		Dead:       dead,
		Decisions:  r.decisions(),
		Down:       down,
	})
}

// plural is "1 event", "2 events".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// setUpDownstream makes the downstream of st, a strategy that sends events
// on: its topic on the run's broker and, for a strategy with a relay, the
// relay, numbered after the consumers, with its own proxies.
func (r *session) setUpDownstream(st strategies.Strategy) error {
	var topic downTopic = newMemoryTopic()
	switch {
	case r.srv.nats != nil:
		topic = &natsTopic{r: r, n: r.srv.nats}
	case r.srv.kafka != nil:
		topic = &kafkaDownstream{r: r, k: r.srv.kafka}
	case r.srv.rabbit != nil:
		topic = newRabbitDownstream(r, r.srv.rabbit)
	}
	r.down = &downstream{r: r, topic: topic}
	if st.Relay == nil {
		return nil
	}
	rp, err := tcpproxy.Start(r.srv.redisAddr)
	if err != nil {
		return fmt.Errorf("a loopback proxy to Redis: %w", err)
	}
	pp, err := tcpproxy.Start(r.srv.pgAddr)
	if err != nil {
		rp.Close()
		return fmt.Errorf("a loopback proxy to PostgreSQL: %w", err)
	}
	c := &consumer{r: r, idx: r.cfg.Instances, redisProxy: rp, pgProxy: pp, brokerProxy: r.down.link()}
	if p, ok := r.br.(proxied); ok {
		c.brokerProxy = p.proxy(c.idx)
	}
	r.relay = newRelayRunner(c)
	return nil
}
