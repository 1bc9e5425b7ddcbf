package provider

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// serve starts a provider on the shared throwaway PostgreSQL under prefix,
// and returns its URL; it stops when the test ends.
func serve(t *testing.T, c Config) string {
	t.Helper()
	c.PostgresURL = testserver.SharedPostgres(t).URL
	c.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, c, func(u string) { urls <- u }) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case u := <-urls:
		return u
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the provider did not serve within 15 s")
	}
	return ""
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestChargeSemantics: the semantics of strategies.Provider, over HTTP and
// PostgreSQL.
func TestChargeSemantics(t *testing.T) {
	u := serve(t, Config{Prefix: "prov_sem"})
	ctx := ctxT(t)
	c := &Client{URL: u, Scope: "run1"}
	e := strategies.Event{ID: 7, Account: 2, Amount: 30}

	// No key: every request charges.
	r1, err := c.Charge(ctx, "", e)
	require.NoError(t, err)
	r2, err := c.Charge(ctx, "", e)
	require.NoError(t, err)
	assert.NotEqual(t, r1.Charge, r2.Charge)
	assert.False(t, r1.Replayed || r2.Replayed)

	// A key: the first charges, the repeat replays its receipt.
	k1, err := c.Charge(ctx, "evt-8", strategies.Event{ID: 8, Account: 1, Amount: 5})
	require.NoError(t, err)
	assert.False(t, k1.Replayed)
	k2, err := c.Charge(ctx, "evt-8", strategies.Event{ID: 8, Account: 1, Amount: 5})
	require.NoError(t, err)
	assert.True(t, k2.Replayed)
	assert.Equal(t, k1.Charge, k2.Charge)

	// The same key with other parameters: a mismatch, nothing done.
	_, err = c.Charge(ctx, "evt-8", strategies.Event{ID: 8, Account: 1, Amount: 6})
	assert.ErrorIs(t, err, strategies.ErrKeyMismatch)

	// Another scope has keys of its own.
	other := &Client{URL: u, Scope: "run2"}
	o1, err := other.Charge(ctx, "evt-8", strategies.Event{ID: 8, Account: 1, Amount: 5})
	require.NoError(t, err)
	assert.False(t, o1.Replayed)

	// Another event under event 7's id, with a payload of its own (a
	// producer that reused the id): Counts adds it to event 7's,
	// CountsByPayload tells the two apart.
	reused := strategies.Event{ID: 7, Account: 3, Amount: 30}
	_, err = c.Charge(ctx, "", reused)
	require.NoError(t, err)

	counts, err := c.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.EventID]int{7: 3, 8: 1}, counts)
	byPayload, err := c.CountsByPayload(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.Event]int{e: 2, reused: 1, {ID: 8, Account: 1, Amount: 5}: 1}, byPayload)

	// Forget removes the scope's keys and charges, and no other's.
	require.NoError(t, c.Forget(ctx))
	counts, err = c.Counts(ctx)
	require.NoError(t, err)
	assert.Empty(t, counts)
	byPayload, err = c.CountsByPayload(ctx)
	require.NoError(t, err)
	assert.Empty(t, byPayload)
	counts, err = other.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.EventID]int{8: 1}, counts)
	require.NoError(t, other.Forget(ctx))
	require.NoError(t, c.Health(ctx))
}

// TestKeyRetention: a key is kept for its retention window, then
// forgotten: a request with it charges again (the key-expiry fault).
func TestKeyRetention(t *testing.T) {
	u := serve(t, Config{Prefix: "prov_ret", Retention: 300 * time.Millisecond})
	ctx := ctxT(t)
	e := strategies.Event{ID: 1, Account: 1, Amount: 9}
	expired := 0
	c := &Client{URL: u, Scope: "ret", Expired: func() { expired++ }}
	t.Cleanup(func() { _ = c.Forget(context.Background()) })
	_, err := c.Charge(ctx, "k", e)
	require.NoError(t, err)
	r, err := c.Charge(ctx, "k", e)
	require.NoError(t, err)
	assert.True(t, r.Replayed, "kept within the provider's retention")
	time.Sleep(400 * time.Millisecond)
	r, err = c.Charge(ctx, "k", e)
	require.NoError(t, err)
	assert.False(t, r.Replayed, "forgotten after the provider's retention")
	assert.Equal(t, 1, expired, "the answer says the key had expired")

	// A request's own retention overrides the provider's.
	short := &Client{URL: u, Scope: "ret", Retention: 50 * time.Millisecond}
	_, err = short.Charge(ctx, "k2", e)
	require.NoError(t, err)
	time.Sleep(150 * time.Millisecond)
	r, err = short.Charge(ctx, "k2", e)
	require.NoError(t, err)
	assert.False(t, r.Replayed)
	counts, err := c.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4, counts[1])
}

// TestConflictAndCallerGone: a second request while the first with the
// key still runs is a conflict; a caller that gives up has an unknown
// outcome, and its charge is made all the same.
func TestConflictAndCallerGone(t *testing.T) {
	u := serve(t, Config{Prefix: "prov_conf", Processing: 400 * time.Millisecond})
	c := &Client{URL: u, Scope: "conf"}
	t.Cleanup(func() { _ = c.Forget(context.Background()) })
	e := strategies.Event{ID: 3, Account: 1, Amount: 1}

	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Charge(short, "evt-3", e)
	require.ErrorIs(t, err, strategies.ErrUnknownOutcome, "the caller gave up before the answer")

	// The first request still runs at the provider: a conflict.
	_, err = c.Charge(ctxT(t), "evt-3", e)
	assert.ErrorIs(t, err, strategies.ErrKeyConflict)

	// Once it finished, the key replays it.
	time.Sleep(500 * time.Millisecond)
	r, err := c.Charge(ctxT(t), "evt-3", e)
	require.NoError(t, err)
	assert.True(t, r.Replayed)
	counts, err := c.Counts(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, map[strategies.EventID]int{3: 1}, counts, "the abandoned request charged, once")

	// Concurrent requests with one key: one charges, the others conflict
	// or replay.
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Charge(ctxT(t), "evt-4", strategies.Event{ID: 4, Account: 1, Amount: 1})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, strategies.ErrKeyConflict):
				answers["conflict"]++
			case err == nil && !r.Replayed:
				answers["charged"]++
			default:
				answers["other"]++
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, map[string]int{"charged": 1, "conflict": 3}, answers)
}

// TestInjectedFailure: Idemsim-Fail answers 503 before anything is done,
// and keeps no key: the next request with the key charges.
func TestInjectedFailure(t *testing.T) {
	u := serve(t, Config{Prefix: "prov_fail"})
	ctx := ctxT(t)
	fail := true
	c := &Client{URL: u, Scope: "fail", Fail: func() bool { return fail }}
	t.Cleanup(func() { _ = c.Forget(context.Background()) })
	e := strategies.Event{ID: 5, Account: 1, Amount: 1}
	_, err := c.Charge(ctx, "evt-5", e)
	require.ErrorIs(t, err, strategies.ErrProviderFailed)
	assert.NotErrorIs(t, err, strategies.ErrUnknownOutcome)
	fail = false
	r, err := c.Charge(ctx, "evt-5", e)
	require.NoError(t, err)
	assert.False(t, r.Replayed)
	counts, err := c.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[strategies.EventID]int{5: 1}, counts)
}

// TestBadRequests: malformed requests are refused with 400, nothing done.
func TestBadRequests(t *testing.T) {
	u := serve(t, Config{Prefix: "prov_bad"})
	ctx := ctxT(t)
	_, err := (&Client{URL: u, Scope: "bad scope!"}).Charge(ctx, "", strategies.Event{ID: 1, Account: 1, Amount: 1})
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusBadRequest, se.Code)
	_, err = (&Client{URL: u}).Charge(ctx, "", strategies.Event{ID: 1, Account: 1, Amount: 0})
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusBadRequest, se.Code)
	_, err = (&Client{URL: u}).Charge(ctx, " padded", strategies.Event{ID: 1, Account: 1, Amount: 1})
	assert.ErrorIs(t, err, strategies.ErrBadKey)
}

// TestForeignTablesRefused: a table of the provider's names that idemsim
// did not create is refused, untouched, and Drop (clean) removes the
// provider's own tables.
func TestForeignTablesRefused(t *testing.T) {
	ps := testserver.SharedPostgres(t)
	ctx := ctxT(t)
	pool, err := pgxpool.New(ctx, ps.URL)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `DROP TABLE IF EXISTS prov_theirs_provider_keys; CREATE TABLE prov_theirs_provider_keys (x int); INSERT INTO prov_theirs_provider_keys VALUES (42)`)
	require.NoError(t, err)
	err = Serve(ctx, Config{Listen: "127.0.0.1:0", PostgresURL: ps.URL, Prefix: "prov_theirs"}, func(string) { t.Error("served on someone else's table") })
	require.ErrorIs(t, err, pgstore.ErrNotOwned)
	assert.ErrorContains(t, err, "prov_theirs_provider_keys")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT x FROM prov_theirs_provider_keys`).Scan(&n))
	assert.Equal(t, 42, n, "untouched")
	dropped, err := pgstore.Drop(ctx, pool, "prov_theirs")
	assert.ErrorIs(t, err, pgstore.ErrNotOwned)
	assert.Empty(t, dropped)
	_, err = pool.Exec(ctx, `DROP TABLE prov_theirs_provider_keys`)
	require.NoError(t, err)

	// Its own tables: made, marked, and dropped by Drop.
	_, err = pgstore.EnsureProvider(ctx, pool, "prov_own")
	require.NoError(t, err)
	dropped, err = pgstore.Drop(ctx, pool, "prov_own")
	require.NoError(t, err)
	assert.Equal(t, []string{"public.prov_own_provider_keys", "public.prov_own_provider_charges"}, dropped)
}

// TestBadConfig: bad settings are refused before anything is contacted.
func TestBadConfig(t *testing.T) {
	for _, c := range []Config{
		{},
		{Listen: "nope"},
		{Listen: "127.0.0.1:0", Prefix: "Bad"},
		{Listen: "127.0.0.1:0", Prefix: "ok", Retention: -time.Second},
		{Listen: "127.0.0.1:0", Prefix: "ok", Processing: 2 * time.Hour},
		{Listen: "127.0.0.1:0", Prefix: "ok", PostgresURL: "postgres://a b"},
	} {
		err := Serve(context.Background(), c, nil)
		assert.Error(t, err, "%+v", c)
	}
}
