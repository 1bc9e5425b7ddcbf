package cli

import (
	"encoding/json"
	"regexp"
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

	code, stdout, stderr := runCLI(t, runArgs("redis", "crash,slow", 18)...)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "fault decisions  "+strings.Join(base, ","), "the summary lists the schedule as --drop takes it")
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

// TestExplainDropsDecisions: explain shrinks the fault schedule too. The
// story of db-unique-split under partition drops a partition the lost
// event survives without, says so, and its reproduce line, --drop
// included, replays a run that loses an event; without the --drop the
// same seed and shape is another run.
func TestExplainDropsDecisions(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "db-unique-split", "--faults", "partition")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	require.Regexp(t, `(?m)^shrunk to .*, \d+ fault decisions? dropped \(--drop partition@\d+`, stdout)
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	repro := strings.TrimPrefix(lines[len(lines)-1], "reproduce with: idemsim ")
	require.Contains(t, repro, " --drop partition@")
	replay := func(args []string) (lost int, decisions []string) {
		code, out, stderr := runCLI(t, append(args, "--json")...)
		require.Equal(t, ExitOK, code, "stderr: %s", stderr)
		var r struct {
			Lost      int      `json:"lost"`
			Decisions []string `json:"decisions"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		return r.Lost, r.Decisions
	}
	args := strings.Fields(repro)
	lost, kept := replay(args)
	require.Positive(t, lost, "the reproduce line replays the lost event")
	dropped := args[len(args)-1]
	for _, d := range strings.Split(dropped, ",") {
		require.NotContains(t, kept, d)
	}
	_, all := replay(args[:len(args)-2])
	require.Subset(t, all, strings.Split(dropped, ","), "without --drop the run makes the dropped decisions")
}

// TestExplainNoteSaysWhereIdleFaultsStruck: the note on a fault that plays
// no direct part in the story says, from the run's decisions, where it
// struck; its reproduce line's run makes those decisions.
func TestExplainNoteSaysWhereIdleFaultsStruck(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "local-cache", "--faults", "all")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	m := regexp.MustCompile(`(?m)^note: .*In this run's fault schedule, (\S+) struck at ([^;.]+)[;.]`).FindStringSubmatch(stdout)
	require.NotNil(t, m, "no note from the decisions in:\n%s", stdout)
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	repro := strings.TrimPrefix(lines[len(lines)-1], "reproduce with: idemsim ")
	made, _ := runDecisions(t, strings.Fields(repro)...)
	for _, d := range strings.Split(m[2], ", ") {
		require.True(t, strings.HasPrefix(d, m[1]+"@"), "%s is not a decision of %s", d, m[1])
		require.Contains(t, made, d)
	}
}
