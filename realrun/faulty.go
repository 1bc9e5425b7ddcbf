package realrun

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// errCrashed is what every store call of a crashed incarnation returns: its
// handler is abandoned at the fault point.
var errCrashed = errors.New("realrun: consumer crashed")

// Store targets, as in the simulator's partitions.
const (
	toRedis = 1 << iota
	toDB
)

// step is one fault point: a store call or the ack. before runs first and
// may crash the incarnation, stall it, or cut it off; after runs once the
// call returned and may crash it with the call's effect done but unseen.
// Each decision draws from its fault's own stream.
func (inc *incarnation) before(ctx context.Context, target uint8, what int64) error {
	if inc.crashed.Load() {
		return errCrashed
	}
	r := inc.c.r
	if !r.faultsOn() {
		return nil
	}
	p := r.params
	if p.CrashPerStep > 0 && r.chance(faults.Crash, p.CrashPerStep/2) {
		inc.crash(what)
		return errCrashed
	}
	if p.SlowPerStep > 0 && r.chance(faults.Slow, p.SlowPerStep) {
		d := time.Duration(float64(r.cfg.Timing.AckDeadline) * p.SlowFactor)
		r.injected(injSlow)
		r.rec.record(sim.RecStall, inc.c.idx, inc.cur.msg, inc.curEvent, int64(d))
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	if target != 0 && p.PartitionPerStep > 0 && r.chance(faults.Partition, p.PartitionPerStep) {
		inc.c.cutOff(target, r.durationIn(faults.Partition, r.cfg.Timing.PartitionMin, r.cfg.Timing.PartitionMax))
	}
	return nil
}

func (inc *incarnation) after(what int64) error {
	r := inc.c.r
	if inc.crashed.Load() {
		return errCrashed
	}
	if r.faultsOn() && r.params.CrashPerStep > 0 && r.chance(faults.Crash, r.params.CrashPerStep/2) {
		inc.crash(1<<16 | what)
		return errCrashed
	}
	return nil
}

// call runs one store call as a fault point, with its own deadline.
func (inc *incarnation) call(ctx context.Context, target uint8, what int64, f func(context.Context) error) error {
	if err := inc.before(ctx, target, what); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, inc.c.r.cfg.Timing.CallTimeout)
	err := f(cctx)
	cancel()
	if aerr := inc.after(what); aerr != nil {
		return aerr
	}
	return err
}

// Codes of what a step is, as the simulator's crash records have them
// (action<<8 | store op).
const (
	stepSetNX    = 2<<8 | 1
	stepExists   = 2<<8 | 2
	stepSet      = 2<<8 | 3
	stepInsert   = 2<<8 | 4
	stepApply    = 2<<8 | 5
	stepCommit   = 2<<8 | 6
	stepRollback = 2<<8 | 7
	stepAck      = 3 << 8
)

// faultyMarks wraps a MarkStore so that each call is a fault point.
type faultyMarks struct {
	inc   *incarnation
	inner strategies.MarkStore
}

func (m faultyMarks) SetNX(ctx context.Context, id strategies.EventID, ttl time.Duration) (ok bool, err error) {
	err = m.inc.call(ctx, toRedis, stepSetNX, func(ctx context.Context) (err error) {
		ok, err = m.inner.SetNX(ctx, id, ttl)
		return err
	})
	return ok, err
}

func (m faultyMarks) Exists(ctx context.Context, id strategies.EventID) (ok bool, err error) {
	err = m.inc.call(ctx, toRedis, stepExists, func(ctx context.Context) (err error) {
		ok, err = m.inner.Exists(ctx, id)
		return err
	})
	return ok, err
}

func (m faultyMarks) Set(ctx context.Context, id strategies.EventID, ttl time.Duration) error {
	return m.inc.call(ctx, toRedis, stepSet, func(ctx context.Context) error {
		return m.inner.Set(ctx, id, ttl)
	})
}

// faultyLedger wraps a Ledger so that each statement is a fault point, and
// keeps the open transactions so that a crash can release their
// connections.
type faultyLedger struct {
	inc   *incarnation
	inner strategies.Ledger
}

func (l faultyLedger) Begin(ctx context.Context) (strategies.Tx, error) {
	if l.inc.crashed.Load() {
		return nil, errCrashed
	}
	// BEGIN is a round trip too, but not a fault point of its own: the
	// simulator sends it with the first statement.
	cctx, cancel := context.WithTimeout(ctx, l.inc.c.r.cfg.Timing.CallTimeout)
	defer cancel()
	tx, err := l.inner.Begin(cctx)
	if err != nil {
		return nil, err
	}
	ft := &faultyTx{inc: l.inc, inner: tx}
	l.inc.txs.add(ft)
	return ft, nil
}

type faultyTx struct {
	inc   *incarnation
	inner strategies.Tx
}

func (t *faultyTx) InsertProcessed(ctx context.Context, id strategies.EventID) (ok bool, err error) {
	err = t.inc.call(ctx, toDB, stepInsert, func(ctx context.Context) (err error) {
		ok, err = t.inner.InsertProcessed(ctx, id)
		return err
	})
	return ok, err
}

func (t *faultyTx) Apply(ctx context.Context, e strategies.Event) error {
	return t.inc.call(ctx, toDB, stepApply, func(ctx context.Context) error { return t.inner.Apply(ctx, e) })
}

// Commit and Rollback end the transaction only if they reached the driver;
// one abandoned before stays open, for openTxs.release to free.
func (t *faultyTx) Commit(ctx context.Context) error {
	return t.inc.call(ctx, toDB, stepCommit, func(ctx context.Context) error {
		defer t.inc.txs.remove(t)
		return t.inner.Commit(ctx)
	})
}

func (t *faultyTx) Rollback(ctx context.Context) error {
	return t.inc.call(ctx, toDB, stepRollback, func(ctx context.Context) error {
		defer t.inc.txs.remove(t)
		return t.inner.Rollback(ctx)
	})
}

// openTxs are an incarnation's transactions not yet committed or rolled
// back.
type openTxs struct {
	mu  sync.Mutex
	txs map[*faultyTx]struct{}
}

func (o *openTxs) add(t *faultyTx) {
	o.mu.Lock()
	if o.txs == nil {
		o.txs = map[*faultyTx]struct{}{}
	}
	o.txs[t] = struct{}{}
	o.mu.Unlock()
}

func (o *openTxs) remove(t *faultyTx) {
	o.mu.Lock()
	delete(o.txs, t)
	o.mu.Unlock()
}

// release rolls back, without fault points, every transaction left open by
// an abandoned handler, so that its pool can close. After a crash their
// sockets are closed already, so this only frees the pool's slots.
func (o *openTxs) release() {
	o.mu.Lock()
	txs := o.txs
	o.txs = nil
	o.mu.Unlock()
	for t := range txs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = t.inner.Rollback(ctx)
		cancel()
	}
}
