package idemsimtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/conformance"
)

// TestConformanceOfAUserStrategy plays the suite on a strategy registered
// by Conformance itself, held to the promises it states.
func TestConformanceOfAUserStrategy(t *testing.T) {
	t.Parallel()
	Conformance(t, userStrategy)
}

// TestConformanceOfABuiltin plays it on a strategy with Redis keys, whose
// cases include the expiry of a key.
func TestConformanceOfABuiltin(t *testing.T) {
	t.Parallel()
	Conformance(t, builtin(t, "redis-lease"))
}

// claim claims an event's key with SET NX for ttl, then applies the
// event; a failed effect leaves the key. With dropOnFailure, it acks an
// event whose effect failed (Dropped), as a consumer that logs an error
// and moves on does.
type claim struct {
	kv            strategies.KV
	ledger        strategies.Ledger
	ttl           time.Duration
	dropOnFailure bool
}

func (c claim) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	claimed, err := c.kv.Set(ctx, fmt.Sprintf("idem:%d", e.ID), "1", strategies.IfAbsent, c.ttl)
	if err != nil {
		return 0, err
	}
	if !claimed {
		return strategies.Skipped, nil
	}
	tx, err := c.ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		if c.dropOnFailure {
			return strategies.Dropped, nil
		}
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// aDay claims for a day, whatever Deps.MarkTTL says, as many a Redis
// idempotency library does; dropping claims for Deps.MarkTTL and drops an
// event whose effect failed. Both are described without declines, as a
// user writes them first.
var (
	aDay = strategies.Strategy{
		Name:  "idemsimtest-claim-for-a-day",
		Needs: strategies.NeedsKV,
		New: func(d strategies.Deps) (strategies.Handler, error) {
			return claim{kv: d.KV, ledger: d.Ledger, ttl: 24 * time.Hour}, nil
		},
		Promises: strategies.Promises{SameInstance: true, OtherInstance: true, Concurrent: strategies.OneApplies, AfterFailure: strategies.Skipped},
	}
	dropping = strategies.Strategy{
		Name:  "idemsimtest-claim-dropping",
		Needs: strategies.NeedsKV,
		New: func(d strategies.Deps) (strategies.Handler, error) {
			return claim{kv: d.KV, ledger: d.Ledger, ttl: d.MarkTTL, dropOnFailure: true}, nil
		},
		Promises: strategies.Promises{SameInstance: true, OtherInstance: true, Concurrent: strategies.OneApplies},
	}
)

// declining returns s declining the case called name for reason.
func declining(s strategies.Strategy, name, reason string) strategies.Strategy {
	s.Promises.Declines = map[string]string{name: reason}
	return s
}

// TestADeclinedCaseIsSkippedWithItsReason: a strategy whose keys outlive
// Deps.MarkTTL, or that drops a failed event, passes once it declines the
// case that does not fit it, and the suite says which and why. Without the
// decline, that case, and only that case, fails.
func TestADeclinedCaseIsSkippedWithItsReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s            strategies.Strategy
		name, reason string
		failure      string // what the case says when it is not declined
	}{
		{aDay, conformance.CaseMarkExpires, "its keys live a day, whatever Deps.MarkTTL says",
			"after the TTL (Deps.MarkTTL) the mark is gone"},
		{dropping, conformance.CaseAfterFailure, "it acks an event whose effect failed: no copy comes again",
			"dropped the event whose effect failed"},
	} {
		t.Run(tc.s.Name, func(t *testing.T) {
			t.Parallel()
			f := conform("TestConformance", declining(tc.s, tc.name, tc.reason))
			assert.Empty(t, f.errors, "declined, it passes")
			assert.Contains(t, f.logs, fmt.Sprintf("%s: skipped: %s declines %q: %s", tc.name, tc.s.Name, tc.name, tc.reason))

			f = conform("TestConformance", tc.s)
			require.NotEmpty(t, f.errors, "not declined, the case fails")
			assert.False(t, f.fatal, "a failed case is an error, not a fatal one")
			for _, msg := range f.errors {
				assert.True(t, strings.HasPrefix(msg, tc.name+": "), "only %q fails: %s", tc.name, msg)
			}
			assert.Contains(t, strings.Join(f.errors, "\n"), tc.failure)
		})
	}
}

// TestADeclinedCaseShowsInGoTestV plays a declining strategy on a real
// *testing.T, in a go test -v of its own (this test binary, run again),
// and reads what its user reads: the case skipped, with the reason, and
// the test passed.
func TestADeclinedCaseShowsInGoTestV(t *testing.T) {
	const reason = "its keys live a day, whatever Deps.MarkTTL says"
	if os.Getenv("IDEMSIMTEST_DECLINING_CHILD") == "1" {
		Conformance(t, declining(aDay, conformance.CaseMarkExpires, reason))
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "IDEMSIMTEST_DECLINING_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{
		"--- SKIP: " + t.Name() + "/mark_expires",
		`idemsimtest-claim-for-a-day declines "mark expires": ` + reason,
		"--- PASS: " + t.Name() + "/two_copies_at_once",
		"--- PASS: " + t.Name() + " ",
	} {
		assert.Contains(t, string(out), want)
	}
}

// TestADeclineOfNoCaseFailsTheSuite: a misspelt case name, or a decline
// without a reason, fails at once, naming the cases.
func TestADeclineOfNoCaseFailsTheSuite(t *testing.T) {
	t.Parallel()
	f := conform("TestConformance", declining(aDay, "mark expired", "its keys live a day"))
	require.True(t, f.fatal)
	require.Len(t, f.errors, 1)
	for _, want := range []string{`Promises.Declines names no conformance case: "mark expired"`, `"mark expires"`, `"new event applies"`, "CaseMarkExpires"} {
		assert.Contains(t, f.errors[0], want)
	}
	assert.Empty(t, f.logs, "no case was played")

	f = conform("TestConformance", declining(aDay, conformance.CaseMarkExpires, " "))
	require.True(t, f.fatal)
	assert.Contains(t, f.errors[0], `Promises.Declines gives no reason for "mark expires"`)
}

// badNew is a strategy whose New fails, as issue 14's bug 1 reproduces it.
var badNew = strategies.Strategy{
	Name: "bad-new",
	New:  func(strategies.Deps) (strategies.Handler, error) { return nil, errors.New("no") },
}

// TestABadNewFailsConformance: a strategy whose New fails fails the suite
// once, with New's error, and plays no case.
func TestABadNewFailsConformance(t *testing.T) {
	t.Cleanup(func() { strategies.Unregister(badNew.Name) })
	f := conform("TestConformance", badNew)
	require.True(t, f.fatal)
	require.Len(t, f.errors, 1)
	assert.Contains(t, f.errors[0], "strategy bad-new: New failed: no")
}

// TestABadNewFailsExactlyOnce: ExactlyOnce of a strategy whose New fails
// fails the test once, with New's error, rather than ending the test
// binary.
func TestABadNewFailsExactlyOnce(t *testing.T) {
	t.Cleanup(func() { strategies.Unregister(badNew.Name) })
	f := call("TestExactlyOnce", badNew, Options{Seeds: 50})
	require.True(t, f.fatal)
	require.Len(t, f.errors, 1, "once, not once per seed")
	assert.Equal(t, "idemsimtest: strategy bad-new: New failed: no", f.errors[0])
}
