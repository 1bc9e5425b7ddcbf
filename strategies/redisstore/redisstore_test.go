package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// claimFunc claims one event id through a Marks, as the redis strategy does.
type claimFunc func(ctx context.Context, m *redisstore.Marks, id strategies.EventID) (bool, error)

func claimOne(ctx context.Context, m *redisstore.Marks, id strategies.EventID) (bool, error) {
	return m.SetNX(ctx, id, time.Minute)
}

func claimBatch(ctx context.Context, m *redisstore.Marks, id strategies.EventID) (bool, error) {
	ok, err := m.SetNXBatch(ctx, []strategies.EventID{id}, time.Minute)
	if err != nil {
		return false, err
	}
	return ok[0], nil
}

// TestSetNXRetryAfterLostReply shows why a claim must not run through
// go-redis's command retries. The first SET NX reaches Redis and takes
// effect, but its reply comes after the client's read timeout. With the
// default options (MaxRetries 3) go-redis treats the timeout as retryable
// and sends SET NX again on a new connection; the key now exists, so the
// retry answers nil and the caller is told "not claimed, someone else holds
// it" with no error, although nobody else ever set the key: the event would
// be skipped and never applied, with no crash anywhere. With MaxRetries -1
// the caller gets the timeout instead, an unknown outcome it can handle.
//
// The sequence is made deterministic without sleeps by a custom Dialer: the
// first connection goes straight through the proxy; any later dial (which
// only a retry makes, the client having one connection in all) announces
// itself and then waits until the test has seen the first SET take effect
// on the server.
func TestSetNXRetryAfterLostReply(t *testing.T) {
	cases := []struct {
		name       string
		claim      claimFunc
		maxRetries int // redis.Options.MaxRetries: 0 is go-redis's default of 3
		wantErr    bool
		wantDials  int // connections the client dials in all: a second one is the retry's
	}{
		// The hazard: no error, not claimed, event skipped.
		{name: "SetNX/default retries", claim: claimOne, maxRetries: 0, wantErr: false, wantDials: 2},
		{name: "SetNX/MaxRetries -1", claim: claimOne, maxRetries: -1, wantErr: true, wantDials: 1},
		// go-redis retries a pipeline after a read timeout the same way.
		{name: "SetNXBatch/default retries", claim: claimBatch, maxRetries: 0, wantErr: false, wantDials: 2},
		{name: "SetNXBatch/MaxRetries -1", claim: claimBatch, maxRetries: -1, wantErr: true, wantDials: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newLostReplyHarness(t, tc.maxRetries)
			const id = strategies.EventID(42)
			key := h.marks.Key(id)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			// 1. Partition the proxy. The claim's SET NX is read by the
			// proxy from the client and held, not passed on to Redis.
			h.proxy.Cut()
			type result struct {
				ok  bool
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				ok, err := tc.claim(ctx, h.marks, id)
				done <- result{ok, err}
			}()

			// 2. Wait until the client has given up on the first attempt
			// after ReadTimeout: with retries it dials a new connection
			// for the retry (held by our Dialer), without them the claim
			// returns.
			var early *result
			select {
			case <-h.retryDialing:
			case r := <-done:
				early = &r
			case <-time.After(5 * time.Second):
				t.Fatal("the claim neither returned nor retried within 5 s")
			}

			require.GreaterOrEqual(t, time.Since(start), readTimeout, "the first attempt ended before its read timeout")

			// 3. The first SET NX has not reached Redis yet.
			n, err := h.direct.Exists(ctx, key).Result()
			require.NoError(t, err)
			require.Zero(t, n, "the held SET NX reached Redis during the cut")

			// 4. Heal: the held SET NX is delivered on the first connection,
			// which the client has already abandoned, and takes effect. (So
			// without retries the timeout was indeed an unknown outcome: the
			// claim did happen.)
			h.proxy.Heal()
			require.Eventually(t, func() bool { return h.direct.Exists(ctx, key).Val() == 1 },
				2*time.Second, 2*time.Millisecond, "the first SET NX never took effect after Heal")
			require.Equal(t, "1", h.direct.Get(ctx, key).Val())

			// 5. Only now let a retry connect: it finds the key the first
			// attempt set.
			h.releaseDials()
			var r result
			if early != nil {
				r = *early
			} else {
				select {
				case r = <-done:
				case <-time.After(5 * time.Second):
					t.Fatal("the claim did not return within 5 s of the retry's dial")
				}
			}

			require.Equal(t, tc.wantDials, int(h.dials.Load()), "connections dialed (the second is the retry's)")
			if tc.wantErr {
				// Unknown outcome, reported as such: the caller must not
				// skip the event on this error.
				require.Error(t, r.err)
				var ne net.Error
				require.True(t, errors.As(r.err, &ne) && ne.Timeout(), "want a read timeout, got %v", r.err)
				require.False(t, r.ok)
			} else {
				// The hazard: our own first attempt claimed the event,
				// yet the call reports "already claimed" with no error.
				require.NoError(t, r.err)
				require.False(t, r.ok, "claim reported as ours; the retry did not see the first attempt's key")
			}
			// Either way the mark is on the server, set by our first attempt.
			n, err = h.direct.Exists(ctx, key).Result()
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
		})
	}
}

// lostReplyHarness is a client whose connections to the shared Redis go
// through a tcpproxy, with a Dialer that holds every dial after the first.
type lostReplyHarness struct {
	proxy  *tcpproxy.Proxy
	direct *redis.Client // straight to Redis, only to read keys
	marks  *redisstore.Marks

	dials        atomic.Int32
	retryDialing chan struct{} // receives once a second dial starts
	release      chan struct{} // closed by releaseDials to let held dials proceed
	releaseOnce  sync.Once
}

// releaseDials lets held dials proceed.
func (h *lostReplyHarness) releaseDials() { h.releaseOnce.Do(func() { close(h.release) }) }

// readTimeout is the client's read timeout: the first attempt's reply is held
// past it. Long enough that the healthy round trips (PING, the retry) never
// hit it on a loaded machine, short enough to keep the test fast.
const readTimeout = 200 * time.Millisecond

func newLostReplyHarness(t *testing.T, maxRetries int) *lostReplyHarness {
	t.Helper()
	rs := testserver.SharedRedis(t)
	p, err := tcpproxy.Start(rs.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })

	h := &lostReplyHarness{
		proxy:        p,
		retryDialing: make(chan struct{}, 1),
		release:      make(chan struct{}),
	}
	h.direct = redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = h.direct.Close() })

	c := redis.NewClient(&redis.Options{
		Addr: p.Addr(),
		Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
			if h.dials.Add(1) > 1 {
				select {
				case h.retryDialing <- struct{}{}:
				default:
				}
				select {
				case <-h.release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			var d net.Dialer
			return d.DialContext(ctx, network, p.Addr())
		},
		ReadTimeout: readTimeout,
		MaxRetries:  maxRetries,
		// One connection in all, so that a retry finds no idle connection
		// and must dial: PoolSize 1, and pipelines on that same pool rather
		// than on go-redis's dedicated pipeline pool (PipelinePoolSize -1),
		// whose retries work the same way.
		PoolSize:         1,
		PipelinePoolSize: -1,
	})
	// Cleanups run last-in first-out: a failed test's held dial is let go,
	// then the client is closed, then the proxy.
	t.Cleanup(func() { _ = c.Close() })
	t.Cleanup(h.releaseDials)

	// A prefix of its own, so repeated runs (-count) on the shared server
	// start with no mark.
	prefix := fmt.Sprintf("rstest_%x", time.Now().UnixNano())
	h.marks, err = redisstore.New(c, prefix)
	require.NoError(t, err)
	cleaner, err := redisstore.New(h.direct, prefix) // not through the proxy, which may be cut
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = cleaner.Flush(context.Background()) })

	// Open the one pooled connection while the proxy is healthy, so the
	// claim is written at once on an established connection.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx).Err())
	require.Equal(t, int32(1), h.dials.Load())
	return h
}
