package realrun

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// relayRunner runs the outbox's relay (strategies.Relay) as a component of
// its own, as the simulator does (sim/outbox.go): a goroutine "relay",
// numbered after the consumers, with its own clients through its own
// proxies, so that the faults reach it as they reach a consumer: a crash
// at one of its calls (it restarts after the crash fault's delay and
// reads the outbox from its oldest unsent row), its planned partition
// windows and the cuts at a call (its reads and marks time out, its
// publishes are held and time out with an unknown outcome), and stalls
// between calls (slow, zombie). The faults of the broker's deliveries
// (rebalance, redeliver) and of Redis do not touch it.
//
// It is woken when a transaction that wrote the outbox commits (as
// PostgreSQL's LISTEN/NOTIFY would wake it), and after a failure; it
// relays rows until none is left. It also reads again every NackRetry,
// so that a commit whose reply was lost is never missed.
type relayRunner struct {
	c    *consumer
	wake chan struct{} // a commit wrote the outbox; capacity 1
	stop chan struct{} // closed at the end of the run
	done chan struct{} // closed when the relay stopped
	// emptyAt is when the last RelayOnce that found the outbox empty
	// (and failed in nothing) started; -1 after one that sent or failed.
	emptyAt atomic.Int64
}

func newRelayRunner(c *consumer) *relayRunner {
	rr := &relayRunner{c: c, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	rr.emptyAt.Store(-1)
	return rr
}

// wakeRelay wakes the run's relay, if it has one.
func (r *session) wakeRelay() {
	if r.relay == nil {
		return
	}
	select {
	case r.relay.wake <- struct{}{}:
	default:
	}
}

// foundEmptySince reports whether a read of the outbox that started at or
// after since found it empty, and nothing was relayed since.
func (rr *relayRunner) foundEmptySince(since time.Duration) bool {
	return rr.emptyAt.Load() >= int64(since)
}

// loop runs the relay's incarnations until the run ends.
func (rr *relayRunner) loop() {
	defer close(rr.done)
	c := rr.c
	r := c.r
	for gen := 1; ; gen++ {
		if gen > 1 {
			r.rec.add(run.Record{Kind: run.Restart, Inst: int32(c.idx)})
		}
		c.mu.Lock()
		c.up = true
		c.mu.Unlock()
		inc, err := rr.start()
		if err != nil {
			inc.close()
			r.fail(err)
			return
		}
		how := rr.serve(inc)
		c.mu.Lock()
		c.up = false
		c.mu.Unlock()
		inc.close()
		if how == stopped {
			return
		}
		t := time.NewTimer(r.durationIn(faults.Crash, r.cfg.Timing.RestartMin, r.cfg.Timing.RestartMax))
		select {
		case <-t.C:
		case <-rr.stop:
			t.Stop()
			return
		case <-r.ctx.Done():
			t.Stop()
			return
		}
	}
}

// start makes a fresh incarnation of the relay: its own clients through
// its proxies, and the strategy's relay built anew.
func (rr *relayRunner) start() (*incarnation, error) {
	c := rr.c
	r := c.r
	inc := &incarnation{c: c, cur: delivery{msg: -1}}
	inc.rdb, inc.pool = c.storeClients(1) // its Redis client is unused; closed with it
	deps := strategies.Deps{
		Ledger:    faultyLedger{inc: inc, inner: r.srv.ledger.On(inc.pool)},
		Publisher: newPublisher(inc, r.down.topic),
		Memory:    newMemory(inc),
		MarkTTL:   r.markTTL,
		Lease:     2 * r.cfg.Timing.AckDeadline,
		Instance:  c.idx,
		Name:      "relay",
		Rand:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	relay, _, err := strategies.NewRelay(r.cfg.Strategy, deps)
	if err != nil {
		return inc, err
	}
	inc.relay = relay
	inc.connect()
	return inc, nil
}

// serve relays rows until the run ends or the incarnation crashes.
func (rr *relayRunner) serve(inc *incarnation) ended {
	r := rr.c.r
	for {
		select {
		case <-rr.stop:
			return stopped
		case <-r.ctx.Done():
			return stopped
		default:
		}
		start := r.rec.now()
		inc.source.Store(0)
		sent, err := inc.relay.RelayOnce(r.ctx)
		if inc.crashed.Load() {
			return crashed
		}
		wait := r.cfg.Timing.NackRetry
		switch {
		case err != nil:
			rr.emptyAt.Store(-1)
		case sent:
			rr.emptyAt.Store(-1)
			continue
		default:
			rr.emptyAt.Store(int64(start))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-rr.wake:
			t.Stop()
			if err != nil {
				// A back-off is waited out, as the simulator's
				// relay waits relayRetry after a failure.
				if !rr.sleep(wait) {
					return stopped
				}
			}
		case <-rr.stop:
			t.Stop()
			return stopped
		case <-r.ctx.Done():
			t.Stop()
			return stopped
		}
	}
}

// sleep waits d, and reports whether the relay goes on.
func (rr *relayRunner) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-rr.stop:
		return false
	case <-rr.c.r.ctx.Done():
		return false
	}
}
