package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
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

// TestExplainEveryBrokenLogCell runs explain --broker log on every cell of
// the log's outcome table (each strategy's expected row on the log) that
// is not "ok": it must find the violation, shrink it, tell it, and the
// kind it tells must be one the table names. (All of them take about a
// second, short or not.)
func TestExplainEveryBrokenLogCell(t *testing.T) {
	for _, st := range strategies.NamesOn("log") {
		d, _ := strategies.Lookup(st)
		row := d.ExpectedRow("log")
		for _, sc := range faults.ScenarioNames() {
			kinds, broken := row[sc]
			if !broken || kinds == "ok" || kinds == "dead" {
				// dead: refused or dead-lettered, no violation to tell.
				continue
			}
			t.Run(st+"/"+sc, func(t *testing.T) {
				t.Parallel()
				code, stdout, stderr := runCLI(t, "explain", "--broker", "log", "--strategy", st, "--faults", sc)
				require.Equal(t, ExitOK, code, "stderr: %s", stderr)
				if strings.Contains(stdout, "nothing to explain") {
					// "ok or lost": a cell that may hold.
					require.Contains(t, kinds, "ok", "the table expects a violation here:\n%s", stdout)
					return
				}
				assert.Contains(t, stdout, "shrunk to ")
				assert.NotEmpty(t, explainStoryStep.FindAllString(stdout, -1), "a numbered story")
				assert.Contains(t, stdout, "why: ")
				assert.Regexp(t, `(?m)^reproduce with: idemsim run --strategy `+regexp.QuoteMeta(st)+` --faults \S+ --seed \d+ --instances \d+ --events \d+ --broker log( --drop \S+)?$`, stdout)
				var violation string
				for _, l := range strings.Split(stdout, "\n") {
					if strings.HasPrefix(l, "violation: ") {
						violation = l
					}
				}
				switch {
				case strings.Contains(violation, "applied twice") || strings.Contains(violation, "times ("):
					assert.Contains(t, kinds, "dup", "the table sees no duplicate here: %s", violation)
				case strings.Contains(violation, "is lost"):
					assert.Contains(t, kinds, "lost", "the table sees nothing lost here: %s", violation)
				case strings.Contains(violation, "is a ghost"):
					assert.Contains(t, kinds, "ghost", "the table sees no ghost here: %s", violation)
				case strings.Contains(violation, "never settled"):
					assert.Contains(t, kinds, "stuck", "the table sees nothing stuck here: %s", violation)
				default:
					t.Errorf("no violation told: %q", violation)
				}
			})
		}
	}
}
