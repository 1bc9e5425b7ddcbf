package cli

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/strategies"
)

// Bug 1 on the real backend, through the command: a strategy whose New
// fails ends `run --backend real` with exit status 1 and the strategy's
// error, and no verdict. (The servers are the test's own: this package's
// tests share none.)
func TestRealRunOfAFailingNewExitsOne(t *testing.T) {
	if !strategies.Valid("bad-new") {
		strategies.MustRegister(strategies.Strategy{Name: "bad-new", New: func(strategies.Deps) (strategies.Handler, error) {
			return nil, errors.New("no")
		}})
		t.Cleanup(func() { strategies.Unregister("bad-new") })
	}
	rs, ps := testserver.Redis(t), testserver.Postgres(t)
	code, stdout, stderr := runCLI(t, "run", "--backend", "real", "--strategy", "bad-new", "--faults", "none", "--seed", "1",
		"--events", "10", "--redis-url", rs.URL, "--postgres-url", ps.URL)
	assert.Equal(t, ExitError, code, stderr)
	assert.Equal(t, "idemsim run: strategy bad-new: New failed: no\n", stderr)
	assert.Empty(t, stdout, "no verdict")
}
