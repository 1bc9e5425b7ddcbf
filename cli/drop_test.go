package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runDecisions runs args with --json and returns the result's decisions
// and its reproduce line.
func runDecisions(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append(args, "--json")...)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	var r struct {
		Decisions []string `json:"decisions"`
		Reproduce string   `json:"reproduce"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	return r.Decisions, r.Reproduce
}

// TestRunDrop: run --drop leaves the named decision out of the run, says
// so in its reproduce line, and that line gives the same run.
func TestRunDrop(t *testing.T) {
	base, _ := runDecisions(t, runArgs("redis", "crash,slow", 18)...)
	require.NotEmpty(t, base, "the run makes no decision to drop")
	drop := base[0]
	got, repro := runDecisions(t, runArgs("redis", "crash,slow", 18, "--drop", drop)...)
	require.NotContains(t, got, drop)
	require.Contains(t, repro, "--drop "+drop)
	again, _ := runDecisions(t, strings.Fields(strings.TrimPrefix(repro, "idemsim "))...)
	require.Equal(t, got, again, "the reproduce line replays the run")
}

// TestRunDropRefusesBadInput: a malformed decision, one of a fault outside
// the scenario, and one given twice are usage errors.
func TestRunDropRefusesBadInput(t *testing.T) {
	for bad, want := range map[string]string{
		"crash3":          "want fault@point",
		"flood@1":         "unknown fault",
		"slow@1":          "not a fault of the scenario",
		"crash@1,crash@1": "twice",
		"":                "at least one decision",
	} {
		code, _, stderr := runCLI(t, runArgs("redis", "crash", 1, "--drop", bad)...)
		require.Equal(t, ExitUsage, code, "--drop %q", bad)
		require.Contains(t, stderr, want, "--drop %q", bad)
	}
}
