package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The front door of issue 14: what a new user met that misled them.

// A fault named twice is a slip, refused with exit status 2 wherever
// faults are taken, not silently counted once.
func TestRepeatedFaultIsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--strategy", "redis", "--faults", "crash,crash", "--seed", "1"}, `--faults: "crash" is given twice in "crash,crash": name each fault once`},
		{[]string{"run", "--strategy", "redis", "--faults", "none,none", "--seed", "1"}, `"none" is given twice`},
		{[]string{"explain", "--strategy", "redis", "--faults", "ttl, crash,ttl"}, `"ttl" is given twice in "ttl, crash,ttl"`},
		{[]string{"compare", "--faults", "crash,all,crash", "--seeds", "1"}, `--faults "crash,all,crash" names crash twice: name each once`},
		{[]string{"compare", "--strategies", "redis,redis", "--seeds", "1"}, `--strategies "redis,redis" names redis twice`},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		assert.Equal(t, ExitUsage, code, "%q: %s", tc.args, stderr)
		assert.Empty(t, stdout, "%q", tc.args)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
	}
}

// A bad server URL that came from IDEMSIM_REDIS_URL or
// IDEMSIM_POSTGRES_URL says so, since the command line shows none; one
// given by flag does not. Either is bad input, refused before any server
// is contacted.
func TestBadURLFromTheEnvironmentSaysSo(t *testing.T) {
	real := []string{"run", "--backend", "real", "--strategy", "redis", "--faults", "none", "--seed", "1"}

	t.Setenv("IDEMSIM_REDIS_URL", "redis://127.0.0.1:notaport/0")
	for _, args := range [][]string{real, {"clean"}} {
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, ExitUsage, code, "%q: %s", args, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, `bad Redis URL "redis://127.0.0.1:notaport/0" (from the environment variable IDEMSIM_REDIS_URL: fix or unset it): `, "%q", args)
	}
	code, _, stderr := runCLI(t, append(real, "--redis-url", "redis://127.0.0.1:alsobad/0")...)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `bad Redis URL "redis://127.0.0.1:alsobad/0": `)
	assert.NotContains(t, stderr, "environment", "the flag's URL is the one refused")

	t.Setenv("IDEMSIM_REDIS_URL", "")
	t.Setenv("IDEMSIM_POSTGRES_URL", "mysql://x@y/z")
	code, _, stderr = runCLI(t, "clean")
	assert.Equal(t, ExitUsage, code, stderr)
	assert.Contains(t, stderr, `bad PostgreSQL URL "mysql://x@y/z" (from the environment variable IDEMSIM_POSTGRES_URL: fix or unset it): `)
}

// `--faults none` injects nothing, yet local-cache violates: the summary
// says that the broker's ordinary redelivery of lost acks did it. A run
// with injected faults, or one that holds, says nothing of the kind.
func TestNoFaultViolationNamesTheBrokersRedelivery(t *testing.T) {
	const because = "no fault was injected: the broker's ordinary at-least-once redelivery caused this: it lost "
	code, stdout, stderr := runCLI(t, "run", "--strategy", "local-cache", "--faults", "none", "--seed", "1")
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stdout, "exactly-once     VIOLATED")
	assert.Contains(t, stdout, because+"2 acks (1-5% of acks are lost in every run) and delivered those events again\n")
	assert.Contains(t, stdout, "faults injected  lost-ack 2", "the count it names is the run's own")
	summary, _, _ := strings.Cut(stdout, "reproduce with:")
	assert.Contains(t, summary, because, "said before the replay command")

	for _, args := range [][]string{
		{"run", "--strategy", "local-cache", "--faults", "redeliver", "--seed", "1"},
		{"run", "--strategy", "db-unique", "--faults", "none", "--seed", "1"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		require.Equal(t, ExitOK, code, stderr)
		assert.NotContains(t, stdout, "no fault was injected", "%q", args)
	}
}

// clean's help names everything clean removes: the tables, the marks, and
// the key-value keys (values and sets) that strategies write.
func TestCleanHelpNamesEverythingItRemoves(t *testing.T) {
	code, stdout, stderr := runCLI(t, "clean", "-h")
	require.Equal(t, ExitOK, code, stderr)
	for _, want := range []string{
		"<prefix>_processed, <prefix>_accounts, <prefix>_ledger",
		"and <prefix>_offsets, in PostgreSQL",
		"the payment provider's <prefix>_provider_keys",
		"<prefix>_provider_charges",
		"<prefix>:run:<run id>:mark:<event id>",
		"<prefix>:run:<run id>:kv:<key>",
		"and sets that strategies keep in the key-value store",
	} {
		assert.Contains(t, stdout, want)
	}
}
