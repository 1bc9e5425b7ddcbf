package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExplainTellsTheLog: `explain --broker log --strategy local-cache
// --faults zombie` tells the course's favourite bug in its modern form, a
// partition that moves to an instance whose cache is empty, and every
// line that replays a run keeps the log.
func TestExplainTellsTheLog(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--broker", "log", "--strategy", "local-cache", "--faults", "zombie")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	for _, want := range []string{
		"local-cache under zombie",
		"of partition",                     // records are placed by partition and offset
		"fetched in generation",            // a delivery's tag is its generation
		"ends a rebalance with generation", // the assignment that moves the partition
		"moves from instance",
		"violation: event 1 was applied twice",
		"The second copy reached instance",
		"began reading it at the group's committed offset",
		"replay it with: idemsim run --strategy db-unique --faults zombie --seed ",
	} {
		assert.Contains(t, stdout, want)
	}
	assert.NotContains(t, stdout, "ack deadline", "the log has none")
	last := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	repro := strings.TrimPrefix(last[len(last)-1], "reproduce with: idemsim ")
	require.Contains(t, repro, "--broker log")
	code, out, _ := runCLI(t, strings.Fields(repro)...)
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, "exactly-once     VIOLATED")
}

// TestExplainTellsAZombieOnTheLog: the zombie's fenced commit beside its
// effect, which the fence does not undo.
func TestExplainTellsAZombieOnTheLog(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--broker", "log", "--strategy", "local-cache", "--faults", "zombie")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	for _, want := range []string{"pauses whole for", "evicts instance", "refuses instance", "a fence stops offsets, not effects", "--broker log"} {
		assert.Contains(t, stdout, want)
	}
}

// TestExplainTellsARebalanceOnTheLog: a graceful rebalance replays
// nothing on the log, but a producer's duplicate that reaches an owner
// that is a new process since applies the event again.
func TestExplainTellsARebalanceOnTheLog(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--broker", "log", "--strategy", "local-cache", "--faults", "redeliver,rebalance")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	for _, want := range []string{"stops gracefully (a rebalance)", "comes back as a new process", "the same partition, a new offset", "--broker log"} {
		assert.Contains(t, stdout, want)
	}
}
