package realrun

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// errCrashed is what every store call of a crashed incarnation returns: its
// handler is abandoned at the fault point.
var errCrashed = errors.New("realrun: consumer crashed")

// storeSet is a set of stores a partition cuts a consumer off from.
type storeSet uint8

const (
	toRedis storeSet = 1 << iota
	toDB
	toBroker   // the broker, when the run reaches it through a proxy (NATS, RabbitMQ)
	toProvider // the payment provider
)

// stores is the set as a record names it.
func (t storeSet) stores() run.Stores {
	var s run.Stores
	if t&toRedis != 0 {
		s |= run.Redis
	}
	if t&toDB != 0 {
		s |= run.Database
	}
	if t&toBroker != 0 {
		s |= run.Broker
	}
	if t&toProvider != 0 {
		s |= run.Provider
	}
	return s
}

// step is one fault point: a store call or the ack. before runs first and
// may crash the incarnation, stall it, or cut it off; after runs once the
// call returned and may crash it with the call's effect done but unseen.
// Each decision draws from its fault's own stream.
//
// A stall (slow) means the same as in the simulator: the handler stops
// before the step for SlowFactor times the ack deadline, and nothing
// cancels it; what it holds (an open transaction and the row locks it
// took) stays held, and the broker redelivers at the deadline. Only the end
// of the run (a failed server, the caller's context) cuts a stall short.
//
// A pause (zombie) is a stall of the whole incarnation, for PauseFactor
// times the broker's liveness timeout, which for the queue is its ack
// deadline: a consumer is one goroutine, so stopping it at the step stops
// all of it. As in the simulator, a step stalls at most once: a pause is
// drawn only where slow did not stall.
func (inc *incarnation) before(ctx context.Context, target storeSet, step run.Record) error {
	if inc.crashed.Load() {
		return errCrashed
	}
	r := inc.c.r
	if !r.faultsOn() {
		return nil
	}
	p := r.params
	if p.CrashPerStep > 0 {
		// The simulator's rule, decided by the shared injector: a crash
		// before the step, or just after it (after, for a call; at the
		// ack, once the ack is sent).
		if v, after := r.crashPoint(p.CrashPerStep); v == faults.Strike {
			if !after {
				inc.crash(step)
				return errCrashed
			}
			inc.crashAfter = true
		}
	}
	// A stall takes the step's place in the simulator, which goes on
	// with no fault point after it: a crash decided for after the step
	// is void, as there.
	switch {
	case p.SlowPerStep > 0 && r.randomly(faults.Slow, p.SlowPerStep) == faults.Strike:
		inc.crashAfter = false
		inc.stall(faults.Slow, time.Duration(float64(r.stallUnit())*p.SlowFactor))
	case p.PausePerStep > 0 && r.randomly(faults.Zombie, p.PausePerStep) == faults.Strike:
		inc.crashAfter = false
		inc.stall(faults.Zombie, time.Duration(float64(r.liveness())*p.PauseFactor))
	}
	if target != 0 && p.PartitionPerStep > 0 {
		if v := r.randomly(faults.Partition, p.PartitionPerStep); v.Hit() {
			d := r.durationIn(faults.Partition, r.cfg.Timing.PartitionMin, r.cfg.Timing.PartitionMax)
			if v == faults.Strike {
				inc.c.cutOff(target, d)
			}
		}
	}
	return nil
}

// crashedAfter carries out a crash decided, by before, for just after the
// step: it reports whether the incarnation crashed there.
func (inc *incarnation) crashedAfter(step run.Record) bool {
	if !inc.crashAfter {
		return false
	}
	inc.crashAfter = false
	if !inc.c.r.faultsOn() {
		return false
	}
	step.InFlight = true
	inc.crash(step)
	return true
}

// stall stops the incarnation at the current step for d, by fault f:
// slow, a stalled handler, or zombie, a paused process (recorded with
// Cause Paused, as the simulator records it).
//
// The broker hears a paused consumer as silence, and nothing need tell it
// so: the in-process queue hears a consumer only by its acks, and has an
// ack deadline, so its deliveries come back at the deadline whether the
// consumer is cut off or paused. That is the simulator's queue too: with an
// ack deadline its Disconnect and Reconnect change nothing. RabbitMQ, the
// queue without one, hears a consumer by its connection: a pause there
// cuts the consumer's proxy to it (silentPause), and RabbitMQ closes the
// channel once the heartbeats say so, as the simulator's queue without a
// deadline closes it on Disconnect.
func (inc *incarnation) stall(f faults.Fault, d time.Duration) {
	r := inc.c.r
	r.rec.injected(f, 1)
	rec := msgRecord(run.Stall, inc.c.idx, inc.cur.msg, inc.curEvent)
	rec.Dur = int64(d)
	if f == faults.Zombie {
		rec.Cause = run.Paused
	}
	r.rec.add(rec)
	switch {
	case f == faults.Zombie && r.srv.kafka != nil:
		// On Kafka the client's heartbeats run on their own: a paused
		// process sends none, which the coordinator hears as silence,
		// so the member's link is held for the pause (as the
		// simulator's log hears a Disconnect).
		inc.c.silence(d)
	case f == faults.Zombie && inc.c.brokerProxy != nil:
		if _, ok := r.br.(silentPause); ok {
			// The whole process stops, its heartbeats too: the
			// broker hears silence until it resumes.
			inc.c.pauseBroker()
			defer inc.c.resumeBroker()
		}
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-r.ctx.Done():
		t.Stop()
	}
}

// silentPause is a broker that notices a paused consumer only by its
// silence on the connection, after liveness (RabbitMQ: missed
// heartbeats), and has no ack deadline: the zombie fault pauses a consumer
// for a multiple of liveness, cut off from the broker meanwhile.
type silentPause interface {
	liveness() time.Duration
}

// stallUnit is what a slow step stalls a multiple of: the ack deadline on
// a queue, the max-poll interval on Kafka (the simulator's Stall).
func (r *session) stallUnit() time.Duration {
	if k := r.srv.kafka; k != nil {
		return k.maxPoll
	}
	return r.cfg.Timing.AckDeadline
}

// liveness is what a pause lasts a multiple of, the broker's liveness
// timeout (the simulator's Liveness): the ack deadline on a queue with
// one, a silentPause broker's own (RabbitMQ), the session timeout on
// Kafka.
func (r *session) liveness() time.Duration {
	if k := r.srv.kafka; k != nil {
		return k.session
	}
	if p, ok := r.br.(silentPause); ok {
		return p.liveness()
	}
	return r.cfg.Timing.AckDeadline
}

func (inc *incarnation) after(op run.Op, call uint32) error {
	if inc.crashed.Load() {
		return errCrashed
	}
	if inc.crashedAfter(run.Record{Step: run.AtCall, Op: op, Call: call}) {
		return errCrashed
	}
	return nil
}

// call runs one store call as a fault point, with its own deadline, and
// records it as the simulator does: the call, whether a partition holds
// it, and its reply or timeout. An error the server itself answered that
// no healthy run meets (a missing table, a permission, a Redis error
// reply) fails the run: it is the server's or the setup's failure, not the
// strategy's.
func (inc *incarnation) call(ctx context.Context, target storeSet, op run.Op, ev strategies.EventID, tx uint32, f func(context.Context) (bool, error)) (bool, error) {
	return inc.callWith(ctx, target, op, ev, tx, run.Record{}, f, nil)
}

// callWith is call with the details of detail (Key, Value, Dur, Expect)
// on its records, and for a GET or a Read the value found, *got.
func (inc *incarnation) callWith(ctx context.Context, target storeSet, op run.Op, ev strategies.EventID, tx uint32, detail run.Record, f func(context.Context) (bool, error), got *string) (bool, error) {
	if err := inc.before(ctx, target, run.Record{Step: run.AtCall, Op: op}); err != nil {
		return false, err
	}
	c, r := inc.c, inc.c.r
	rec := msgRecord(run.Call, c.idx, inc.cur.msg, ev)
	rec.Call, rec.Op, rec.Tx = r.rec.calls.Add(1), op, tx
	rec.Key, rec.Value, rec.Dur, rec.Expect, rec.Part = detail.Key, detail.Value, detail.Dur, detail.Expect, detail.Part
	r.rec.add(rec)
	if c.cutting(target) {
		held := rec
		held.Kind = run.CallHeld
		r.rec.add(held)
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timing.CallTimeout)
	ok, err := f(cctx)
	cancel()
	if aerr := inc.after(op, rec.Call); aerr != nil {
		return false, aerr
	}
	switch {
	case err == nil:
		rec.Kind, rec.Answer = run.Reply, run.No
		if ok {
			rec.Answer = run.Yes
		}
		if got != nil {
			rec.Value = *got
		}
	case isTimeout(err):
		rec.Kind = run.Timeout
		r.timeouts.Add(1)
	case errors.Is(err, strategies.ErrWrongType):
		// The strategy's own misuse of a key, which Redis refused: its
		// answer, as the simulator gives it, not a failing server.
		rec.Kind, rec.Answer = run.Reply, run.WrongType
	default:
		rec.Kind, rec.Answer = run.Reply, run.Failed
		if fatal(err) && r.ctx.Err() == nil {
			doing := fmt.Sprintf("serving a strategy's %s call for event %d", op, ev)
			if target == toRedis {
				r.fail(r.srv.redisErr(ErrServerFailed, doing, err))
			} else {
				r.fail(r.srv.pgErr(ErrServerFailed, doing, err))
			}
		}
	}
	r.rec.add(rec)
	return ok, err
}

// faultyMarks wraps a MarkStore so that each call is a fault point.
type faultyMarks struct {
	inc   *incarnation
	inner strategies.MarkStore
}

func (m faultyMarks) SetNX(ctx context.Context, id strategies.EventID, ttl time.Duration) (bool, error) {
	return m.inc.call(ctx, toRedis, run.SetNX, id, 0, func(ctx context.Context) (bool, error) {
		return m.inner.SetNX(ctx, id, ttl)
	})
}

func (m faultyMarks) Exists(ctx context.Context, id strategies.EventID) (bool, error) {
	return m.inc.call(ctx, toRedis, run.Exists, id, 0, func(ctx context.Context) (bool, error) {
		return m.inner.Exists(ctx, id)
	})
}

func (m faultyMarks) Set(ctx context.Context, id strategies.EventID, ttl time.Duration) error {
	_, err := m.inc.call(ctx, toRedis, run.Set, id, 0, func(ctx context.Context) (bool, error) {
		return true, m.inner.Set(ctx, id, ttl)
	})
	return err
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
	ft := &faultyTx{inc: l.inc, inner: tx, id: l.inc.c.r.rec.txs.Add(1)}
	l.inc.txs.add(ft)
	return ft, nil
}

type faultyTx struct {
	inc   *incarnation
	inner strategies.Tx
	id    uint32 // numbered as the simulator numbers transactions
	// outbox: it inserted into the outbox, so its commit wakes the
	// relay.
	outbox bool
}

func (t *faultyTx) InsertProcessed(ctx context.Context, id strategies.EventID) (bool, error) {
	return t.inc.call(ctx, toDB, run.Insert, id, t.id, func(ctx context.Context) (bool, error) {
		return t.inner.InsertProcessed(ctx, id)
	})
}

func (t *faultyTx) ReadProcessed(ctx context.Context, id strategies.EventID) (state string, found bool, err error) {
	found, err = t.inc.callWith(ctx, toDB, run.Read, id, t.id, run.Record{}, func(ctx context.Context) (bool, error) {
		var err error
		state, found, err = t.inner.ReadProcessed(ctx, id)
		return found, err
	}, &state)
	return state, found, err
}

func (t *faultyTx) DeleteProcessed(ctx context.Context, id strategies.EventID) (bool, error) {
	return t.inc.call(ctx, toDB, run.Delete, id, t.id, func(ctx context.Context) (bool, error) {
		return t.inner.DeleteProcessed(ctx, id)
	})
}

// UpdateProcessed refuses bad states before any fault point, as the store
// itself refuses them before any round trip.
func (t *faultyTx) UpdateProcessed(ctx context.Context, id strategies.EventID, old, state string) (bool, error) {
	if err := validValues(old, state); err != nil {
		return false, err
	}
	detail := run.Record{Value: state, Expect: old}
	return t.inc.callWith(ctx, toDB, run.Update, id, t.id, detail, func(ctx context.Context) (bool, error) {
		return t.inner.UpdateProcessed(ctx, id, old, state)
	}, nil)
}

// ReadOffset and AdvanceOffset refuse bad partitions and offsets before any
// fault point, as the store itself refuses them before any round trip.
// Their records carry the partition (Part) and, as the simulator's do, the
// offsets in decimal: the one read (always answered: 0 for no row), or the
// next offset written (Value) if it is the one expected (Expect).
func (t *faultyTx) ReadOffset(ctx context.Context, partition int) (int64, error) {
	if err := strategies.ValidateOffset(partition); err != nil {
		return 0, err
	}
	var next int64
	var got string
	_, err := t.inc.callWith(ctx, toDB, run.ReadOffset, t.inc.curEvent, t.id, run.Record{Part: int32(partition)}, func(ctx context.Context) (bool, error) {
		var err error
		next, err = t.inner.ReadOffset(ctx, partition)
		got = strconv.FormatInt(next, 10)
		return err == nil, err
	}, &got)
	if err != nil {
		return 0, err
	}
	return next, nil
}

func (t *faultyTx) AdvanceOffset(ctx context.Context, partition int, expect, next int64) (bool, error) {
	if err := strategies.ValidateOffset(partition, expect, next); err != nil {
		return false, err
	}
	detail := run.Record{Part: int32(partition), Value: strconv.FormatInt(next, 10), Expect: strconv.FormatInt(expect, 10)}
	return t.inc.callWith(ctx, toDB, run.AdvanceOffset, t.inc.curEvent, t.id, detail, func(ctx context.Context) (bool, error) {
		return t.inner.AdvanceOffset(ctx, partition, expect, next)
	}, nil)
}

// Apply is a fault point; once it returned, the effect it applied (its
// transaction, pgstore.Tx.Effect) is what the attempt's publish announces.
func (t *faultyTx) Apply(ctx context.Context, e strategies.Event) error {
	_, err := t.inc.call(ctx, toDB, run.Apply, t.inc.c.r.number(e), t.id, func(ctx context.Context) (bool, error) {
		err := t.inner.Apply(ctx, e)
		if fx, ok := t.inner.(interface{ Effect() int64 }); ok && err == nil {
			t.inc.source.Store(fx.Effect())
			t.inc.c.r.effectTx.Store(fx.Effect(), t.id)
		}
		return true, err
	})
	return err
}

// Commit and Rollback end the transaction only if they reached the driver;
// one abandoned before stays open, for openTxs.release to free.
func (t *faultyTx) Commit(ctx context.Context) error {
	_, err := t.inc.call(ctx, toDB, run.Commit, t.inc.curEvent, t.id, func(ctx context.Context) (bool, error) {
		defer t.inc.txs.remove(t)
		return true, t.inner.Commit(ctx)
	})
	if t.outbox {
		// Rows committed to the outbox (or perhaps, if the reply was
		// lost): the relay reads again, as PostgreSQL's NOTIFY would
		// wake it.
		t.inc.c.r.wakeRelay()
	}
	return err
}

func (t *faultyTx) Rollback(ctx context.Context) error {
	_, err := t.inc.call(ctx, toDB, run.Rollback, t.inc.curEvent, t.id, func(ctx context.Context) (bool, error) {
		defer t.inc.txs.remove(t)
		return true, t.inner.Rollback(ctx)
	})
	return err
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
//
// A run that failed has its context cancelled: the rollbacks then give up
// at once, closing their connections, rather than wait on a dead server.
func (o *openTxs) release(runCtx context.Context) {
	o.mu.Lock()
	txs := o.txs
	o.txs = nil
	o.mu.Unlock()
	for t := range txs {
		ctx, cancel := context.WithTimeout(runCtx, time.Second)
		_ = t.inner.Rollback(ctx)
		cancel()
	}
}

// faultyKV wraps a KV store so that each call is a fault point. A bad key
// or value is refused before any fault point, as the store itself refuses
// it before any round trip.
type faultyKV struct {
	inc   *incarnation
	inner strategies.KV
}

// validKV checks a key and a call's values.
func validKV(key string, values ...string) error {
	if err := strategies.ValidateKey(key); err != nil {
		return err
	}
	return validValues(values...)
}

func validValues(values ...string) error {
	for _, v := range values {
		if err := strategies.ValidateValue(v); err != nil {
			return err
		}
	}
	return nil
}

func (k faultyKV) Get(ctx context.Context, key string) (value string, found bool, err error) {
	if err := validKV(key); err != nil {
		return "", false, err
	}
	found, err = k.inc.kvCall(ctx, run.Get, run.Record{Key: key}, func(ctx context.Context) (bool, error) {
		var err error
		value, found, err = k.inner.Get(ctx, key)
		return found, err
	}, &value)
	return value, found, err
}

func (k faultyKV) Set(ctx context.Context, key, value string, cond strategies.Cond, ttl time.Duration) (bool, error) {
	if err := validKV(key, value); err != nil {
		return false, err
	}
	return k.inc.kvCall(ctx, run.PutOp(cond), run.Record{Key: key, Value: value, Dur: int64(ttl)}, func(ctx context.Context) (bool, error) {
		return k.inner.Set(ctx, key, value, cond, ttl)
	}, nil)
}

func (k faultyKV) Del(ctx context.Context, key string) (bool, error) {
	if err := validKV(key); err != nil {
		return false, err
	}
	return k.inc.kvCall(ctx, run.Del, run.Record{Key: key}, func(ctx context.Context) (bool, error) {
		return k.inner.Del(ctx, key)
	}, nil)
}

func (k faultyKV) DelIfEqual(ctx context.Context, key, value string) (bool, error) {
	if err := validKV(key, value); err != nil {
		return false, err
	}
	return k.inc.kvCall(ctx, run.DelIfEq, run.Record{Key: key, Expect: value}, func(ctx context.Context) (bool, error) {
		return k.inner.DelIfEqual(ctx, key, value)
	}, nil)
}

func (k faultyKV) SetIfEqual(ctx context.Context, key, old, value string, ttl time.Duration) (bool, error) {
	if err := validKV(key, old, value); err != nil {
		return false, err
	}
	detail := run.Record{Key: key, Expect: old, Value: value, Dur: int64(ttl)}
	return k.inc.kvCall(ctx, run.SetIfEq, detail, func(ctx context.Context) (bool, error) {
		return k.inner.SetIfEqual(ctx, key, old, value, ttl)
	}, nil)
}

func (k faultyKV) SAdd(ctx context.Context, key, member string, ttl time.Duration) (bool, error) {
	if err := validKV(key, member); err != nil {
		return false, err
	}
	return k.inc.kvCall(ctx, run.SAdd, run.Record{Key: key, Value: member, Dur: int64(ttl)}, func(ctx context.Context) (bool, error) {
		return k.inner.SAdd(ctx, key, member, ttl)
	}, nil)
}

func (k faultyKV) SIsMember(ctx context.Context, key, member string) (bool, error) {
	if err := validKV(key, member); err != nil {
		return false, err
	}
	return k.inc.kvCall(ctx, run.SIsMember, run.Record{Key: key, Value: member}, func(ctx context.Context) (bool, error) {
		return k.inner.SIsMember(ctx, key, member)
	}, nil)
}

func (k faultyKV) SRem(ctx context.Context, key, member string) (bool, error) {
	if err := validKV(key, member); err != nil {
		return false, err
	}
	return k.inc.kvCall(ctx, run.SRem, run.Record{Key: key, Value: member}, func(ctx context.Context) (bool, error) {
		return k.inner.SRem(ctx, key, member)
	}, nil)
}

// kvCall is call for a key-value call: its records carry detail's key,
// value, TTL and expected value, and for a GET the value found (*got).
func (inc *incarnation) kvCall(ctx context.Context, op run.Op, detail run.Record, f func(context.Context) (bool, error), got *string) (bool, error) {
	return inc.callWith(ctx, toRedis, op, inc.curEvent, 0, detail, f, got)
}

// InsertApply is one statement, so one fault point, in a transaction of
// its own.
func (l faultyLedger) InsertApply(ctx context.Context, e strategies.Event) (bool, error) {
	tx := l.inc.c.r.rec.txs.Add(1)
	return l.inc.call(ctx, toDB, run.InsertApply, l.inc.c.r.number(e), tx, func(ctx context.Context) (bool, error) {
		return l.inner.InsertApply(ctx, e)
	})
}

// faultyProvider wraps the payment provider's client so that each charge
// is a fault point, recorded as the simulator records it (run.Charge,
// with the key and the charge's id), and injects the provider's 5xx
// answers where the simulator does: at the provider, for a chance drawn
// per run (faults.Params.ProviderErrors), by asking the provider to
// answer 503 (provider.HeaderFail).
type faultyProvider struct {
	inc   *incarnation
	inner *provider.Client
}

// Charge refuses a bad key or an event of another run before any fault
// point, as the simulator's client does before any round trip.
func (p faultyProvider) Charge(ctx context.Context, key string, e strategies.Event) (strategies.Receipt, error) {
	if key != "" {
		if err := strategies.ValidateKey(key); err != nil {
			return strategies.Receipt{}, err
		}
	}
	inc := p.inc
	c, r := inc.c, inc.c.r
	if e.ID == 0 || int(e.ID) > r.cfg.Events {
		return strategies.Receipt{}, fmt.Errorf("%w: a charge of event %d, which this run did not publish", strategies.ErrBadValue, e.ID)
	}
	if err := inc.before(ctx, toProvider, run.Record{Step: run.AtCall, Op: run.Charge}); err != nil {
		return strategies.Receipt{}, err
	}
	rec := msgRecord(run.Call, c.idx, inc.cur.msg, r.number(e))
	rec.Call, rec.Op, rec.Key = r.rec.calls.Add(1), run.Charge, key
	r.rec.add(rec)
	if c.cutting(toProvider) {
		held := rec
		held.Kind = run.CallHeld
		r.rec.add(held)
	}
	injected := r.providerFails()
	client := *p.inner
	client.Fail = func() bool { return injected }
	if r.keyRetention > 0 {
		// A key the key-expiry fault made the provider forget early,
		// and a request with it came: counted as the simulator
		// counts it.
		client.Expired = func() { r.rec.injected(faults.KeyExpiry, 1) }
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timing.CallTimeout)
	got, err := client.Charge(cctx, key, e)
	cancel()
	if aerr := inc.after(run.Charge, rec.Call); aerr != nil {
		return strategies.Receipt{}, aerr
	}
	rec.Kind = run.Reply
	switch {
	case err == nil:
		rec.Answer, rec.Value = run.Yes, got.Charge
		if got.Replayed {
			rec.Answer = run.Replayed
		}
	case isTimeout(err):
		rec.Kind = run.Timeout
		r.timeouts.Add(1)
	case errors.Is(err, strategies.ErrKeyConflict):
		rec.Answer = run.KeyConflict
	case errors.Is(err, strategies.ErrKeyMismatch):
		rec.Answer = run.KeyMismatch
	case errors.Is(err, strategies.ErrProviderFailed) && injected:
		rec.Answer = run.ServerError
	default:
		// A closed connection (a crash's, or the provider's), or an
		// answer no healthy provider gives. The latter fails the run:
		// it is the provider's failure, not the strategy's.
		rec.Answer = run.Failed
		var se *provider.StatusError
		if (errors.As(err, &se) || errors.Is(err, strategies.ErrProviderFailed)) && r.ctx.Err() == nil {
			r.fail(r.srv.prov.err(ErrServerFailed, fmt.Sprintf("serving a strategy's charge of event %d", e.ID), err))
		}
	}
	r.rec.add(rec)
	return got, err
}
