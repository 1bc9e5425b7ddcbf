package realrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// register registers s for the test's time only.
func register(t *testing.T, s strategies.Strategy) {
	t.Helper()
	require.NoError(t, strategies.Register(s))
	t.Cleanup(func() { strategies.Unregister(s.Name) })
}

// Bug 1 on the real backend: a strategy whose New fails ends the run with
// its *strategies.NewError, no verdict and no panic, quickly, and the run
// tears down what it made: no Redis key left, the prefix free again.
func TestFailingNewEndsTheRunCleanly(t *testing.T) {
	register(t, strategies.Strategy{Name: "bad-new", New: func(strategies.Deps) (strategies.Handler, error) {
		return nil, errors.New("no")
	}})
	cfg := sharedServers(t, "rr_badnew")
	cfg.Config = run.Config{Strategy: "bad-new", Faults: faults.Of(), Seed: 1, Events: 20}
	var warnings []string
	cfg.Warn = func(s string) { warnings = append(warnings, s) }
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	require.Error(t, err)
	assert.Nil(t, res, "no verdict")
	assert.Equal(t, "strategy bad-new: New failed: no", err.Error())
	var ne *strategies.NewError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, "bad-new", ne.Strategy)
	assert.NotErrorIs(t, err, ErrServerFailed)
	assert.NotErrorIs(t, err, ErrRefused)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Empty(t, warnings, "everything torn down")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opt, err := redis.ParseURL(cfg.RedisURL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "rr_badnew:*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys)
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	require.NoError(t, err)
	defer pool.Close()
	lock, err := pgstore.LockPrefix(ctx, pool, "rr_badnew")
	require.NoError(t, err, "the prefix was released")
	require.NoError(t, lock.Release(ctx))
}

// inbox is a consumer written as a user would, with every new store call:
// a token-checked lease in Redis (SET NX with a token from Deps.Rand and
// Deps.Name, extended with SetIfEqual, released with DelIfEqual), a Redis
// set of events in hand, and an inbox row read FOR UPDATE in the ledger's
// transaction, marked done with a compare-and-set, plus a scratch row
// inserted and deleted. For event 1 it also makes a set call on its
// string lease key, once, and goes on after the WRONGTYPE answer.
type inbox struct {
	kv     strategies.KV
	ledger strategies.Ledger
	lease  time.Duration
	name   string
	rand   *rand.Rand
	seen   *sync.Map // names and tokens, for the test
}

func (h *inbox) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	id := strconv.FormatUint(uint64(e.ID), 10)
	lease := "lease:" + id
	token := fmt.Sprintf("%s/%016x", h.name, h.rand.Uint64())
	h.seen.Store(token, true)
	ok, err := h.kv.Set(ctx, lease, token, strategies.IfAbsent, h.lease)
	if err != nil {
		return 0, err
	}
	if !ok {
		return strategies.RetryLater, nil
	}
	if ok, err := h.kv.SetIfEqual(ctx, lease, token, token, h.lease); err != nil || !ok {
		return 0, fmt.Errorf("extend the lease: %v, %v", ok, err)
	}
	if e.ID == 1 {
		if _, err := h.kv.SIsMember(ctx, lease, "x"); !errors.Is(err, strategies.ErrWrongType) {
			return 0, fmt.Errorf("a set call on a string: want ErrWrongType, got %v", err)
		}
	}
	if _, err := h.kv.SAdd(ctx, "in-hand", id, time.Minute); err != nil {
		return 0, err
	}
	if in, err := h.kv.SIsMember(ctx, "in-hand", id); err != nil || !in {
		return 0, fmt.Errorf("in hand: %v, %v", in, err)
	}
	out, err := h.apply(ctx, e)
	if err != nil {
		return 0, err
	}
	if _, err := h.kv.SRem(ctx, "in-hand", id); err != nil {
		return 0, err
	}
	if _, err := h.kv.DelIfEqual(ctx, lease, token); err != nil {
		return 0, err
	}
	return out, nil
}

func (h *inbox) apply(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := h.ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.InsertProcessed(ctx, e.ID); err != nil {
		return 0, err
	}
	state, found, err := tx.ReadProcessed(ctx, e.ID)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, errors.New("the inbox row is missing")
	}
	if state == "done" {
		return strategies.Skipped, nil
	}
	if err := tx.Apply(ctx, e); err != nil {
		return 0, err
	}
	if ok, err := tx.UpdateProcessed(ctx, e.ID, state, "done"); err != nil || !ok {
		return 0, fmt.Errorf("mark done: %v, %v", ok, err)
	}
	scratch := e.ID + 1_000_000
	if _, err := tx.InsertProcessed(ctx, scratch); err != nil {
		return 0, err
	}
	if ok, err := tx.DeleteProcessed(ctx, scratch); err != nil || !ok {
		return 0, fmt.Errorf("delete the scratch row: %v, %v", ok, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// Every new store call runs on the real servers through the fault points,
// recorded as run/record.go documents them; a WRONGTYPE is the strategy's
// answer, not a failed server; Deps names each instance by host, process
// and number, and gives each incarnation a random source of its own.
func TestNewStoreCallsOnARealRun(t *testing.T) {
	var seen sync.Map
	var mu sync.Mutex
	names := map[int]string{}
	register(t, strategies.Strategy{Name: "rr-inbox", Needs: strategies.NeedsKV, New: func(d strategies.Deps) (strategies.Handler, error) {
		mu.Lock()
		names[d.Instance] = d.Name
		mu.Unlock()
		return &inbox{kv: d.KV, ledger: d.Ledger, lease: d.Lease, name: d.Name, rand: d.Rand, seen: &seen}, nil
	}})
	cfg := sharedServers(t, "rr_inbox")
	cfg.Config = run.Config{Strategy: "rr-inbox", Faults: faults.Of(faults.Crash), Seed: 2, Events: 60, KeepTrace: true}
	res := realRun(t, cfg)
	assert.Zero(t, res.Duplicates)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.Stuck)

	host, err := os.Hostname()
	require.NoError(t, err)
	require.Len(t, names, 3)
	for i, name := range names {
		assert.Equal(t, fmt.Sprintf("%s-%d-%d", host, os.Getpid(), i), name)
	}
	tokens := 0
	seen.Range(func(any, any) bool { tokens++; return true })
	assert.Greater(t, tokens, 60, "a token per delivery, none drawn twice")

	calls := map[run.Op][]run.Record{}
	replies := map[run.Op][]run.Record{}
	for _, r := range res.Trace {
		switch r.Kind {
		case run.Call:
			calls[r.Op] = append(calls[r.Op], r)
		case run.Reply:
			replies[r.Op] = append(replies[r.Op], r)
		}
	}
	for _, op := range []run.Op{run.DelIfEq, run.SetIfEq, run.SAdd, run.SIsMember, run.SRem, run.Read, run.Delete, run.Update} {
		require.NotEmpty(t, calls[op], "%s recorded", op)
		assert.NotEmpty(t, replies[op], "%s answered", op)
	}
	tokenRE := regexp.MustCompile(`^` + regexp.QuoteMeta(host) + `-\d+-\d/[0-9a-f]{16}$`)
	for _, r := range calls[run.DelIfEq] {
		assert.Regexp(t, `^lease:\d+$`, r.Key)
		assert.Regexp(t, tokenRE, r.Expect, "DelIfEq: Expect is the token")
		assert.Empty(t, r.Value)
		assert.NotZero(t, r.Event)
	}
	for _, r := range calls[run.SetIfEq] {
		assert.Regexp(t, tokenRE, r.Expect)
		assert.Equal(t, r.Expect, r.Value, "SetIfEq: Value is the new value")
		assert.Equal(t, int64(cfg.withDefaults().Timing.AckDeadline*2), r.Dur, "SetIfEq: Dur is the TTL")
	}
	for _, r := range calls[run.SAdd] {
		assert.Equal(t, "in-hand", r.Key)
		assert.Equal(t, strconv.Itoa(int(r.Event)), r.Value, "SAdd: Value is the member")
		assert.Equal(t, int64(time.Minute), r.Dur)
	}
	for _, op := range []run.Op{run.SIsMember, run.SRem} {
		for _, r := range calls[op] {
			if r.Key == "in-hand" {
				assert.Equal(t, strconv.Itoa(int(r.Event)), r.Value, "%s: Value is the member", op)
			}
		}
	}
	for _, r := range calls[run.Update] {
		assert.Equal(t, "done", r.Value, "Update: Value is the new state")
		assert.Equal(t, "", r.Expect, "Update: Expect is the old state")
		assert.NotZero(t, r.Tx)
	}
	for _, r := range replies[run.Read] {
		assert.NotZero(t, r.Tx)
		if r.Answer == run.Yes {
			assert.Contains(t, []string{"", "done"}, r.Value, "Read: Value is the state found")
		}
	}
	for _, r := range replies[run.Delete] {
		assert.Greater(t, r.Event, uint32(1_000_000), "the scratch row")
	}
	wrong := 0
	for _, r := range replies[run.SIsMember] {
		if r.Answer == run.WrongType {
			wrong++
			assert.Equal(t, "lease:1", r.Key)
		}
	}
	assert.Positive(t, wrong, "the WRONGTYPE is recorded as the strategy's answer")

	// The run deleted its keys, sets included.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opt, err := redis.ParseURL(cfg.RedisURL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "rr_inbox:*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys)
}

// Clean removes what a killed run left: its sets as its other keys, and
// the tables, the processed table's state column with them.
func TestCleanRemovesSetsAndTables(t *testing.T) {
	cfg := sharedServers(t, "rr_clean")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pgstore.New(ctx, pool, "rr_clean")
	require.NoError(t, err)
	opt, err := redis.ParseURL(cfg.RedisURL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	killed, err := redisstore.NewRunKV(rdb, "rr_clean", "0123456789ab")
	require.NoError(t, err)
	_, err = killed.SAdd(ctx, "in-hand", "7", 0)
	require.NoError(t, err)
	_, err = killed.Set(ctx, "lease:7", "tok", strategies.Always, 0)
	require.NoError(t, err)
	require.NoError(t, rdb.SAdd(ctx, "rr_clean:not-a-run", "m").Err())

	out, err := Clean(ctx, cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"public.rr_clean_processed", "public.rr_clean_accounts", "public.rr_clean_ledger", "public.rr_clean_offsets"}, out.Tables)
	assert.Equal(t, 2, out.RedisKeys, "the set and the string")
	assert.Equal(t, int64(1), rdb.Exists(ctx, "rr_clean:not-a-run").Val(), "not a run's key: kept")
}

// A handler that returns Dropped has its delivery acked, with nothing
// done: each event is handled, acked and never applied.
func TestDroppedIsAcked(t *testing.T) {
	register(t, strategies.Strategy{Name: "rr-drop", New: func(strategies.Deps) (strategies.Handler, error) {
		return strategies.HandlerFunc(func(context.Context, strategies.Event) (strategies.Outcome, error) {
			return strategies.Dropped, nil
		}), nil
	}})
	cfg := sharedServers(t, "rr_drop")
	cfg.Config = run.Config{Strategy: "rr-drop", Faults: faults.Of(), Seed: 1, Events: 20, KeepTrace: true}
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 20, res.Lost, "acked, never applied")
	assert.Zero(t, res.Stuck, "every message settled: acked after its drop")
	handled, acks := 0, map[uint32]bool{}
	for _, r := range res.Trace {
		switch r.Kind {
		case run.Handled:
			handled++
			assert.Equal(t, run.Dropped, r.Outcome)
		case run.AckSend:
			acks[r.Msg] = true
		case run.Nack:
			t.Errorf("a dropped delivery was nacked: %s", r)
		}
	}
	assert.Positive(t, handled)
	assert.Len(t, acks, countPublished(res.Trace), "every message acked")
}

func countPublished(trace []run.Record) int {
	n := 0
	for _, r := range trace {
		if r.Kind == run.Publish {
			n++
		}
	}
	return n
}
