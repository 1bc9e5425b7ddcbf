package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// register registers s for the test's time only, so that no other test
// (the golden hashes over every strategy, say) sees it.
func register(t *testing.T, s strategies.Strategy) {
	t.Helper()
	require.NoError(t, strategies.Register(s))
	t.Cleanup(func() { strategies.Unregister(s.Name) })
}

// apply applies e in a transaction of its own.
func apply(ctx context.Context, l strategies.Ledger, e strategies.Event) error {
	tx, err := l.Begin(ctx)
	if err != nil {
		return err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// tokenLock is a consumer as a Redis lock library (redsync) makes one: a
// lock per event with a random token, extended with SET IFEQ and released
// with DEL IFEQ, and a Redis set of the events done.
type tokenLock struct {
	d strategies.Deps
}

func (s tokenLock) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	lock, token := "lock:"+strconv.Itoa(int(e.ID)), strconv.FormatUint(s.d.Rand.Uint64(), 36)
	ok, err := s.d.KV.Set(ctx, lock, token, strategies.IfAbsent, s.d.Lease)
	if err != nil {
		return 0, err
	}
	if !ok {
		return strategies.RetryLater, nil
	}
	defer func() { _, _ = s.d.KV.DelIfEqual(ctx, lock, token) }()
	done, err := s.d.KV.SIsMember(ctx, "done", strconv.Itoa(int(e.ID)))
	if err != nil {
		return 0, err
	}
	if done {
		return strategies.Skipped, nil
	}
	if ok, err := s.d.KV.SetIfEqual(ctx, lock, token, token, s.d.Lease); err != nil || !ok {
		return 0, fmt.Errorf("lock lost: %v", err)
	}
	if err := apply(ctx, s.d.Ledger, e); err != nil {
		return 0, err
	}
	if _, err := s.d.KV.SAdd(ctx, "done", strconv.Itoa(int(e.ID)), s.d.MarkTTL); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// inbox is a consumer as an inbox (MassTransit's) makes one: in one
// transaction, look the message's row up FOR UPDATE, insert it if absent,
// apply, and mark the row done.
type inbox struct{ l strategies.Ledger }

func (s inbox) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := s.l.Begin(ctx)
	if err != nil {
		return 0, err
	}
	state, found, err := tx.ReadProcessed(ctx, e.ID)
	if err == nil && !found {
		var inserted bool
		if inserted, err = tx.InsertProcessed(ctx, e.ID); err == nil && !inserted {
			state, found = "", true
		}
	}
	if err != nil || found {
		_ = tx.Rollback(ctx)
		if err == nil && state == "" {
			return strategies.RetryLater, nil // not done yet: another is at it
		}
		return strategies.Skipped, err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if ok, err := tx.UpdateProcessed(ctx, e.ID, "", "done"); err != nil || !ok {
		_ = tx.Rollback(ctx)
		return 0, fmt.Errorf("inbox row not updated: %v", err)
	}
	return strategies.Applied, tx.Commit(ctx)
}

// repository is a consumer as an idempotent repository on a database
// (Camel's JDBC one) makes one: claim the id in a transaction of its own,
// apply, and delete the claim if the effect fails.
type repository struct{ l strategies.Ledger }

func (s repository) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := s.l.Begin(ctx)
	if err != nil {
		return 0, err
	}
	ok, err := tx.InsertProcessed(ctx, e.ID)
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if !ok {
		return strategies.Skipped, nil
	}
	if err := apply(ctx, s.l, e); err != nil {
		if tx, berr := s.l.Begin(ctx); berr == nil {
			if _, derr := tx.DeleteProcessed(ctx, e.ID); derr == nil {
				_ = tx.Commit(ctx)
			} else {
				_ = tx.Rollback(ctx)
			}
		}
		return 0, err
	}
	return strategies.Applied, nil
}

func registerConsumers(t *testing.T) []string {
	register(t, strategies.Strategy{Name: "test-token-lock", Needs: strategies.NeedsKV,
		New: func(d strategies.Deps) (strategies.Handler, error) { return tokenLock{d}, nil }})
	register(t, strategies.Strategy{Name: "test-inbox",
		New: func(d strategies.Deps) (strategies.Handler, error) { return inbox{d.Ledger}, nil }})
	register(t, strategies.Strategy{Name: "test-repository",
		New: func(d strategies.Deps) (strategies.Handler, error) { return repository{d.Ledger}, nil }})
	return []string{"test-token-lock", "test-inbox", "test-repository"}
}

// TestConsumersOnTheNewCalls runs three consumers written on the new store
// calls under every scenario: every run ends, both checkers agree, nothing
// is stuck, a seed replays byte for byte, and every new call is made,
// crosses the network (some are held by a partition, time out or are
// refused while Redis is down) and is answered.
func TestConsumersOnTheNewCalls(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	made := map[run.Op]bool{}
	troubled := map[run.Op]bool{} // held by a partition, timed out or refused
	for _, st := range registerConsumers(t) {
		for _, sc := range faults.Scenarios() {
			for s := 1; s <= seeds; s++ {
				cfg := Config{Strategy: st, Faults: sc, Seed: uint64(s), Events: 40, KeepTrace: true}
				r, err := Run(cfg)
				require.NoError(t, err, cfg.Reproduce())
				require.True(t, r.CheckersAgree(), "checkers disagree: %s", cfg.Reproduce())
				require.Zero(t, r.Stuck, "stuck: %s", cfg.Reproduce())
				again, err := Run(cfg)
				require.NoError(t, err)
				require.Equal(t, r.TraceHash, again.TraceHash, "replay: %s", cfg.Reproduce())
				for _, rec := range r.Trace {
					switch {
					case rec.Kind == run.Call:
						made[rec.Op] = true
					case rec.Kind == run.CallHeld || rec.Kind == run.Timeout || rec.Kind == run.Park ||
						rec.Kind == run.Reply && rec.Answer == run.Refused:
						troubled[rec.Op] = true
					}
				}
			}
		}
	}
	for _, op := range []run.Op{run.DelIfEq, run.SetIfEq, run.SAdd, run.SIsMember, run.Read, run.Delete, run.Update} {
		assert.True(t, made[op], "%s never made", op)
	}
	for _, op := range []run.Op{run.SIsMember, run.Read} {
		assert.True(t, troubled[op], "%s never held, timed out, refused or parked", op)
	}
}

// TestTraceShowsTheNewCalls: a trace line of a compare-and-act call shows
// the token it compares with, a set call its member and TTL, a
// ReadProcessed the state it found, an UpdateProcessed both states.
func TestTraceShowsTheNewCalls(t *testing.T) {
	registerConsumers(t)
	lines := func(strategy string) string {
		res, err := RunScript(Script{Strategy: strategy, Instances: 2, Deliveries: []ScriptedDelivery{
			{At: 0, Instance: 0, Event: 1}, {At: 50 * time.Millisecond, Instance: 1, Event: 1},
		}})
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, run.WriteTrace(&b, res.Trace))
		return b.String()
	}
	lock := lines("test-token-lock")
	for _, want := range []string{`SET NX "lock:1" "`, `SISMEMBER "done" "1": false`, `SET IFEQ "lock:1" "`, `" if "`,
		`SADD "done" "1" PX 24h0m0s`, `SADD "done" "1": true`, `DEL IFEQ "lock:1" if "`, `SISMEMBER "done" "1": true`} {
		assert.Contains(t, lock, want)
	}
	in := lines("test-inbox")
	for _, want := range []string{"ReadProcessed tx1: false", `UpdateProcessed tx1 "done" if "": true`, `ReadProcessed tx2: "done"`} {
		assert.Contains(t, in, want)
	}
}

// TestDeletedRowIsNotProcessed: a repository whose effect fails deletes its
// claim, and the next copy claims the id again and applies it, once. The
// run's verdict is the ledger's: a deleted row counts for nothing.
func TestDeletedRowIsNotProcessed(t *testing.T) {
	registerConsumers(t)
	res, err := RunScript(Script{Strategy: "test-repository", Instances: 2, FailApply: []strategies.EventID{1},
		Deliveries: []ScriptedDelivery{{At: 0, Instance: 0, Event: 1}, {At: 100 * time.Millisecond, Instance: 1, Event: 1}}})
	require.NoError(t, err)
	assert.Equal(t, []strategies.Outcome{0, strategies.Applied}, res.Outcomes)
	assert.Equal(t, map[strategies.EventID]int{1: 1}, res.Applications)
	var ops []string
	for _, r := range res.Trace {
		if r.Kind == run.Reply {
			ops = append(ops, r.Detail())
		}
	}
	assert.Contains(t, strings.Join(ops, "\n"), "DeleteProcessed tx3: true")
}

// drops applies odd events and drops even ones: it acks them with nothing
// done, as a consumer that logs an error and moves on.
type drops struct{ l strategies.Ledger }

func (s drops) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	if e.ID%2 == 0 {
		return strategies.Dropped, nil
	}
	if err := apply(ctx, s.l, e); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// TestDroppedIsAckedAndLost: a delivery dropped is recorded as dropped and
// acked, and an event whose every delivery was dropped is lost, for both
// checkers alike.
func TestDroppedIsAckedAndLost(t *testing.T) {
	register(t, strategies.Strategy{Name: "test-drops",
		New: func(d strategies.Deps) (strategies.Handler, error) { return drops{d.Ledger}, nil }})
	r, err := Run(Config{Strategy: "test-drops", Seed: 1, Instances: 2, Events: 10, KeepTrace: true, KeepHistory: true})
	require.NoError(t, err)
	assert.Equal(t, 5, r.Lost, "the five even events")
	assert.Zero(t, r.Duplicates)
	assert.Zero(t, r.Stuck, "dropped deliveries are acked: nothing is left to settle")
	require.NotNil(t, r.Linearizable)
	assert.False(t, *r.Linearizable)
	assert.False(t, r.AuditOK)
	dropped := 0
	for i, rec := range r.Trace {
		if rec.Kind == run.Handled && rec.Outcome == run.Dropped {
			dropped++
			require.Less(t, i+1, len(r.Trace))
			next := r.Trace[i+1]
			assert.Equal(t, run.AckSend, next.Kind, "a dropped delivery is acked at once")
			assert.Equal(t, rec.Msg, next.Msg)
			assert.Zero(t, rec.Event%2)
		}
	}
	assert.GreaterOrEqual(t, dropped, 5)
	n := 0
	for _, o := range r.History {
		if o.Result == run.Dropped.Result() {
			n++
		}
	}
	assert.Equal(t, dropped, n, "the history holds every dropped attempt as dropped")

	for _, sc := range faults.Scenarios() {
		for s := uint64(1); s <= 3; s++ {
			cfg := Config{Strategy: "test-drops", Faults: sc, Seed: s, Events: 30}
			r, err := Run(cfg)
			require.NoError(t, err)
			require.True(t, r.CheckersAgree(), cfg.Reproduce())
			assert.Positive(t, r.Lost, cfg.Reproduce())
		}
	}
}

// TestDepsIdentityAndRand: each incarnation of an instance gets its number,
// its name and a random source of its own, seeded from the run's seed: the
// same seed draws the same, another instance or a restart draws anew, and
// drawing moves nothing else in the run.
func TestDepsIdentityAndRand(t *testing.T) {
	type start struct {
		inst int
		name string
		draw uint64
	}
	var starts []start
	draws := func(draw bool) func(d strategies.Deps) (strategies.Handler, error) {
		return func(d strategies.Deps) (strategies.Handler, error) {
			starts = append(starts, start{d.Instance, d.Name, d.Rand.Uint64()})
			return strategies.HandlerFunc(func(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
				if draw {
					d.Rand.Uint64() // a token no one reads
				}
				if err := apply(ctx, d.Ledger, e); err != nil {
					return 0, err
				}
				return strategies.Applied, nil
			}), nil
		}
	}
	register(t, strategies.Strategy{Name: "test-draws", New: draws(true)})
	register(t, strategies.Strategy{Name: "test-draws-not", New: draws(false)})

	cfg := Config{Strategy: "test-draws", Faults: faults.Of(faults.Crash), Seed: 3, Instances: 3, Events: 60}
	play := func(cfg Config) ([]start, *Result) {
		starts = nil
		r, err := Run(cfg)
		require.NoError(t, err)
		return starts, r
	}
	first, r1 := play(cfg)
	again, r2 := play(cfg)
	assert.Equal(t, first, again, "the same seed draws the same")
	assert.Equal(t, r1.TraceHash, r2.TraceHash)

	gens := map[int]int{}
	seen := map[uint64]string{}
	for _, s := range first {
		gens[s.inst]++
		assert.Equal(t, fmt.Sprintf("instance-%d", s.inst), s.name)
		who := fmt.Sprintf("instance %d, incarnation %d", s.inst, gens[s.inst])
		if other, dup := seen[s.draw]; dup {
			t.Errorf("%s draws what %s drew", who, other)
		}
		seen[s.draw] = who
	}
	require.Len(t, gens, 3)
	restarted := false
	for _, n := range gens {
		restarted = restarted || n > 1
	}
	require.True(t, restarted, "the crash scenario restarts an instance: pick another seed")

	other, _ := play(Config{Strategy: "test-draws", Faults: faults.Of(faults.Crash), Seed: 4, Instances: 3, Events: 60})
	assert.NotEqual(t, first[0].draw, other[0].draw, "another seed draws anew")

	// The same run without the handlers' draws takes the same steps.
	cfg.Strategy = "test-draws-not"
	_, r3 := play(cfg)
	assert.Equal(t, r1.TraceHash, r3.TraceHash, "a strategy's draws move no other stream")
}

// TestFailingNewEndsTheRun: a strategy whose New fails ends the run with
// its error, no verdict and no panic: at the start, for one instance only,
// or only on a restart, which the error then says, with the command that
// replays it.
func TestFailingNewEndsTheRun(t *testing.T) {
	register(t, strategies.Strategy{Name: "test-bad-new", New: func(strategies.Deps) (strategies.Handler, error) {
		return nil, errors.New("no")
	}})
	register(t, strategies.Strategy{Name: "test-bad-new-1", New: func(d strategies.Deps) (strategies.Handler, error) {
		if d.Instance == 1 {
			return nil, errors.New("not on instance 1")
		}
		return strategies.None{Ledger: d.Ledger}, nil
	}})
	var started [MaxInstances]int
	register(t, strategies.Strategy{Name: "test-bad-restart", New: func(d strategies.Deps) (strategies.Handler, error) {
		if started[d.Instance]++; started[d.Instance] > 1 {
			return nil, errors.New("no config on a restart")
		}
		return strategies.None{Ledger: d.Ledger}, nil
	}})

	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Strategy: "test-bad-new", Seed: 1}, "strategy test-bad-new: New failed: no"},
		{Config{Strategy: "test-bad-new-1", Faults: faults.Of(faults.Crash), Seed: 1}, "strategy test-bad-new-1: New failed: not on instance 1"},
	} {
		res, err := Run(tc.cfg)
		assert.Nil(t, res)
		var ne *strategies.NewError
		require.ErrorAs(t, err, &ne)
		assert.Equal(t, tc.want, err.Error())
	}

	res, err := Run(Config{Strategy: "test-bad-restart", Faults: faults.Of(faults.Crash), Seed: 1})
	assert.Nil(t, res)
	var ne *strategies.NewError
	require.ErrorAs(t, err, &ne, "the crash scenario restarts an instance: pick another seed")
	assert.Equal(t, "test-bad-restart", ne.Strategy)
	assert.True(t, strings.HasPrefix(err.Error(), "strategy test-bad-restart: New failed: no config on a restart (when instance "), err.Error())
	assert.Contains(t, err.Error(), "restarted, at ")
	assert.Contains(t, err.Error(), "reproduce with: idemsim run --strategy test-bad-restart --faults crash --seed 1")

	_, err = RunScript(Script{Strategy: "test-bad-new", Instances: 1, Deliveries: []ScriptedDelivery{{Event: 1}}})
	require.ErrorAs(t, err, &ne)

	// The pool is not poisoned: the next run is whole.
	r, err := Run(Config{Strategy: "none", Seed: 1, Events: 10})
	require.NoError(t, err)
	assert.Equal(t, 10, r.Events)
}
