package cli

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
)

// TestFailingNewIsAnError: a strategy whose New fails makes run and
// compare fail with exit status 1 and the strategy's own error, under the
// command's prefix as every error: no panic, no verdict.
func TestFailingNewIsAnError(t *testing.T) {
	require.NoError(t, strategies.Register(strategies.Strategy{Name: "bad-new", New: func(strategies.Deps) (strategies.Handler, error) {
		return nil, errors.New("no")
	}}))
	t.Cleanup(func() { strategies.Unregister("bad-new") })
	hist := filepath.Join(t.TempDir(), "h.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--strategy", "bad-new", "--faults", "none", "--seed", "1"}, "idemsim run: strategy bad-new: New failed: no\n"},
		{[]string{"run", "--strategy", "bad-new", "--faults", "crash", "--seed", "7", "--trace", "--history", hist}, "idemsim run: strategy bad-new: New failed: no\n"},
		{[]string{"compare", "--strategies", "bad-new", "--seeds", "3", "--events", "10"}, "idemsim compare: strategy bad-new: New failed: no\n"},
		{[]string{"compare", "--strategies", "none,bad-new", "--faults", "crash", "--seeds", "3", "--events", "10", "--json"}, "idemsim compare: strategy bad-new: New failed: no\n"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		assert.Equal(t, ExitError, code, "%v", tc.args)
		assert.Equal(t, tc.want, stderr, "%v", tc.args)
		assert.Empty(t, stdout, "%v: no verdict", tc.args)
	}
	assert.NoFileExists(t, hist, "a run that failed leaves no history behind")
}

// TestExplainOfAFailingNewIsAnError: explain of a strategy whose New fails
// exits 1 with the strategy's own error, searching one scenario or all of
// them, with --kind, or as the strategy --against names: never "no
// violation ... nothing to explain".
func TestExplainOfAFailingNewIsAnError(t *testing.T) {
	require.NoError(t, strategies.Register(strategies.Strategy{Name: "bad-new", New: func(strategies.Deps) (strategies.Handler, error) {
		return nil, errors.New("no")
	}}))
	t.Cleanup(func() { strategies.Unregister("bad-new") })
	const want = "idemsim explain: strategy bad-new: New failed: no\n"
	for _, args := range [][]string{
		{"explain", "--strategy", "bad-new"},
		{"explain", "--strategy", "bad-new", "--faults", "crash", "--seeds", "5"},
		{"explain", "--strategy", "bad-new", "--kind", "lost", "--seeds", "5"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, ExitError, code, "%v", args)
		assert.Equal(t, want, stderr, "%v", args)
		assert.Empty(t, stdout, "%v: no search line, no verdict", args)
	}
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "db-unique", "--faults", "crash", "--seeds", "2", "--against", "bad-new")
	assert.Equal(t, ExitError, code)
	assert.Equal(t, want, stderr)
	assert.Equal(t, "searching seeds 1..2 of db-unique under crash (3 instances, 200 events): no violation\n"+
		"db-unique: no violation in 2 seeds x 1 scenario (crash), 3 instances and 200 events per run; nothing to explain\n", stdout)
}
