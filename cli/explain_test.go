package cli

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

func explainFlags() []string { var o explainOpts; return flagsOf(o.flagSet()) }

// explainStoryStep matches a numbered step of a story.
var explainStoryStep = regexp.MustCompile(`(?m)^ *(\d+)\. +\d+\.\d{3} ms  `)

func TestExplainLocalCacheTellsAShortStory(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "local-cache")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Empty(t, stderr)

	steps := explainStoryStep.FindAllStringSubmatch(stdout, -1)
	require.NotEmpty(t, steps)
	assert.LessOrEqual(t, len(steps), 12, "at most a dozen steps:\n%s", stdout)
	for i, m := range steps {
		assert.Equal(t, fmt.Sprint(i+1), m[1], "steps are numbered 1, 2, 3, ...")
	}
	for _, want := range []string{
		"under redeliver", // local-cache's default scenario
		"shrunk to 2 instances, 1 event",
		"local-cache under redeliver: 2 instances, 1 event",
		"instance 0", "instance 1", "ms  ",
		"caches: i0 {", // the state that matters: whose cache holds what
		"ledger: e1 ×2",
		"violation: event 1 was applied twice",
		"no other instance can read",                    // why the second instance could not know
		"its cache did not hold event 1 when it looked", // the lookup the trace records
		"reproduce with: idemsim run --strategy local-cache --faults redeliver --seed ",
	} {
		assert.Contains(t, stdout, want)
	}
	last := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	assert.True(t, strings.HasPrefix(last[len(last)-1], "reproduce with: idemsim run "), "the story ends with the command that replays it")

	// The command it prints replays a failing run.
	repro := strings.TrimPrefix(last[len(last)-1], "reproduce with: idemsim ")
	code, out, _ := runCLI(t, strings.Fields(repro)...)
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, "exactly-once     VIOLATED")
}

func TestExplainIsDeterministic(t *testing.T) {
	_, a, _ := runCLI(t, "explain", "--strategy", "redis", "--faults", "crash")
	_, b, _ := runCLI(t, "explain", "--strategy", "redis", "--faults", "crash")
	assert.Equal(t, a, b)
}

// explainBrokenCells is the queue's outcome table (each strategy's Expected row, which results/compare.md holds): each cell
// that is not "ok", with the kinds of violation seen.
var explainBrokenCells = func() map[string]string {
	cells := map[string]string{}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		d, _ := strategies.Lookup(st)
		for sc, v := range d.Expected {
			// dead is an outcome beside the table, not a violation:
			// there is nothing to explain in a cell of dead alone.
			if v != "ok" && v != "dead" {
				cells[st+" "+sc] = v
			}
		}
	}
	return cells
}()

// TestExplainEveryBrokenCell runs explain on every cell of the outcome table
// that is not "ok": it must find the violation, shrink it, and tell it.
func TestExplainEveryBrokenCell(t *testing.T) {
	short := map[string]bool{"local-cache redeliver": true, "redis crash": true, "redis-after ttl": true, "db-unique-split partition": true, "none all": true,
		"publish-after-commit crash": true, "publish-in-tx crash": true}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, sc := range faults.ScenarioNames() {
			kinds, broken := explainBrokenCells[st+" "+sc]
			if !broken || testing.Short() && !short[st+" "+sc] {
				continue
			}
			t.Run(st+"/"+sc, func(t *testing.T) {
				t.Parallel()
				code, stdout, stderr := runCLI(t, "explain", "--strategy", st, "--faults", sc)
				require.Equal(t, ExitOK, code, "stderr: %s", stderr)
				assert.Contains(t, stdout, "shrunk to ")
				assert.NotEmpty(t, explainStoryStep.FindAllString(stdout, -1), "a numbered story")
				assert.Contains(t, stdout, "why: ")
				assert.Regexp(t, `(?m)^reproduce with: idemsim run --strategy `+regexp.QuoteMeta(st)+` --faults \S+ --seed \d+ --instances \d+ --events \d+ --broker queue( --drop \S+)?$`, stdout)

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
				default:
					t.Errorf("no violation told: %q", violation)
				}
			})
		}
	}
}

func TestExplainCellWithoutViolation(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "redis", "--faults", "redeliver", "--seeds", "20")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "redis: no violation in 20 seeds x 1 scenario (redeliver)")
	assert.Contains(t, stdout, "nothing to explain")
	assert.NotContains(t, stdout, "reproduce with:")
}

// db-unique-payload: db-unique loses events under id-reuse; its
// payload-checking variant breaks under no scenario (a reused id is
// refused, dead, which is no violation), so explain tries them all.
func TestExplainDBUniqueSaysWhatWasTried(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "db-unique-payload", "--seeds", "8", "--instances", "2")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	want := fmt.Sprintf("db-unique-payload: no violation in 8 seeds x %d scenarios (%s), 2 instances and 200 events per run; nothing to explain",
		len(faults.ScenarioNames()), strings.Join(faults.ScenarioNames(), ", "))
	assert.Contains(t, stdout, want)
	for _, sc := range faults.ScenarioNames() {
		assert.Contains(t, stdout, "db-unique-payload under "+sc)
	}
}

func TestExplainWritesTheVisualizations(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "out")
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "redis", "--faults", "crash", "--out", dir)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	var files []string
	for _, name := range []string{"index.html", "history.html", "timeline.png", "timeline.svg"} {
		files = append(files, filepath.Join(dir, name))
	}
	assert.Equal(t, "wrote "+strings.Join(files, ", ")+"\n", stderr, "says what it wrote, on stderr, on one line")
	assert.NotContains(t, stdout, "wrote", "stdout is the story alone")

	story, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	assert.Regexp(t, `<title>redis under crash, seed \d+: 1 instance, 1 event \(idemsim\)</title>`, string(story),
		"the story page, titled with the strategy, the scenario and the seed")
	assert.Contains(t, string(story), `<script type="application/json" id="story-data">`, "its document inlined")
	assert.Contains(t, string(story), `"history":"history.html"`, "porcupine's page linked")

	html, err := os.ReadFile(filepath.Join(dir, "history.html"))
	require.NoError(t, err)
	assert.Regexp(t, `<title>redis under crash, seed \d+: 1 instance, 1 event \(idemsim, porcupine\)</title>`, string(html),
		"porcupine's visualization, titled with the strategy, the scenario and the seed")
	assert.Contains(t, string(html), `"Description":"crash"`, "the crash is annotated")

	pngBytes, err := os.ReadFile(filepath.Join(dir, "timeline.png"))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(pngBytes))
	require.NoError(t, err, "timeline.png is a PNG")
	assert.Greater(t, img.Bounds().Dx(), 0)

	svg, err := os.ReadFile(filepath.Join(dir, "timeline.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
	assert.Contains(t, string(svg), "crash")
}

// TestExplainAgainstWritesTheStoryPage: with --against, the story of how
// the strategy came through the other's broken run is written to a new
// --out directory too, its page saying what happened rather than what
// went wrong.
func TestExplainAgainstWritesTheStoryPage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "db-unique", "--against", "local-cache", "--faults", "redeliver", "--seeds", "5", "--out", dir)
	require.Equal(t, ExitOK, code, "stdout: %s\nstderr: %s", stdout, stderr)
	story, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	assert.Contains(t, string(story), `"heading":"How db-unique under redeliver handles event`)
	assert.Contains(t, string(story), `"kind":"ok"`)
}

func TestExplainWithoutOutWritesNothing(t *testing.T) {
	dir := t.TempDir()
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(dir))
	defer func() { require.NoError(t, os.Chdir(wd)) }()
	code, stdout, _ := runCLI(t, "explain", "--strategy", "none", "--faults", "redeliver")
	require.Equal(t, ExitOK, code)
	assert.NotContains(t, stdout, "wrote")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestExplainUnwritableOutIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "none", "--out", file)
	assert.Equal(t, ExitError, code)
	assert.Empty(t, stdout, "it fails before searching")
	assert.Contains(t, stderr, "--out")
}

func TestExplainBadUsageExitsTwo(t *testing.T) {
	instRange := fmt.Sprintf("1 to %d", sim.MaxInstances)
	seedsRange := fmt.Sprintf("1 to %d", sweep.MaxSeeds)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing strategy", []string{"explain"}, append([]string{"missing --strategy"}, strategies.NamesOn(run.DefaultBroker)...)},
		{"unknown strategy", []string{"explain", "--strategy", "memcached"}, append([]string{`"memcached"`}, strategies.NamesOn(run.DefaultBroker)...)},
		{"unknown fault", []string{"explain", "--strategy", "redis", "--faults", "crash,flood"}, append([]string{`"flood"`}, faults.ScenarioNames()...)},
		{"empty fault name", []string{"explain", "--strategy", "redis", "--faults", ""}, append([]string{"empty name"}, faults.ScenarioNames()...)},
		{"zero instances", []string{"explain", "--strategy", "redis", "--instances", "0"}, []string{"--instances", instRange}},
		{"too many instances", []string{"explain", "--strategy", "redis", "--instances", fmt.Sprint(sim.MaxInstances + 1)}, []string{"--instances", instRange}},
		{"zero seeds", []string{"explain", "--strategy", "redis", "--seeds", "0"}, []string{"--seeds", seedsRange}},
		{"seeds not a number", []string{"explain", "--strategy", "redis", "--seeds", "many"}, []string{"--seeds", seedsRange}},
		{"unknown flag", []string{"explain", "--strategy", "redis", "--seed", "3"}, append([]string{"--seed"}, explainFlags()...)},
		{"positional argument", []string{"explain", "--strategy", "redis", "now"}, append([]string{`"now"`}, explainFlags()...)},
		{"out without value", []string{"explain", "--strategy", "redis", "--out"}, []string{"--out needs a value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			assert.Equal(t, ExitUsage, code, "stderr: %s", stderr)
			assert.Empty(t, stdout, "bad usage prints nothing on stdout")
			for _, w := range tt.want {
				assert.Contains(t, stderr, w)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			assert.LessOrEqual(t, len(lines), 2, "a one-or-two line message:\n%s", stderr)
			assert.Contains(t, stderr, "idemsim explain")
		})
	}
}

func TestExplainHelpMentionsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"explain", "-h"}, {"explain", "--help"}, {"help", "explain"}, {"explain", "--strategy", "bogus", "-h"}} {
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, ExitOK, code, "%v: %s", args, stderr)
		assert.Contains(t, stdout, "usage: "+explainSynopsis)
		for _, f := range explainFlags() {
			assert.Contains(t, stdout, f, "%v", args)
		}
		assert.Contains(t, stdout, "(default 3)", "--instances")
		assert.Contains(t, stdout, "(default 200)", "--seeds")
		assert.Contains(t, stdout, "write no file", "--out's default")
		for _, n := range strategies.NamesOn(run.DefaultBroker) {
			assert.Contains(t, stdout, n)
		}
	}
	_, overview, _ := runCLI(t, "help")
	for _, f := range explainFlags() {
		assert.Contains(t, overview, f, "the overview's usage line names every flag of explain")
	}
}

// TestExplainKindTellsTheKindAskedFor: redis-release under partition both
// duplicates and loses events; --kind picks which one the story tells.
func TestExplainKindTellsTheKindAskedFor(t *testing.T) {
	for kind, want := range map[string]string{"lost": "is lost", "dup": "was applied"} {
		code, stdout, stderr := runCLI(t, "explain", "--strategy", "redis-release", "--faults", "partition", "--kind", kind)
		require.Equal(t, ExitOK, code, "stderr: %s", stderr)
		assert.Contains(t, stdout, "a violation of kind "+kind)
		assert.Regexp(t, `(?m)^violation: event \d+ `+want, stdout, "--kind %s", kind)
	}
	// A kind the scenario never shows: nothing to explain, and it says
	// which kind it looked for.
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "redis", "--faults", "crash", "--kind", "dup", "--seeds", "10")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "redis: no violation of kind dup in 10 seeds x 1 scenario (crash)")

	code, stdout, stderr = runCLI(t, "explain", "--strategy", "redis", "--kind", "twice")
	assert.Equal(t, ExitUsage, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `--kind: unknown kind of violation "twice" (accepted: dup, lost, stuck, ghost)`)
}

// TestExplainSearchesEveryScenarioThatCanFail: local-cache with one
// instance never duplicates under its lesson (redeliver needs two), but
// does under crash; explain goes on to the scenarios that can fail.
func TestExplainSearchesEveryScenarioThatCanFail(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "local-cache", "--instances", "1")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "searching seeds 1..200 of local-cache under redeliver (1 instance, 200 events): no violation\n")
	assert.Contains(t, stdout, "local-cache under crash")
	assert.NotContains(t, stdout, "nothing to explain")
	assert.Contains(t, stdout, "violation: event 1 was applied twice")
}

// TestExplainSaysWhyTheSeedChanged: the shrunk run's seed differs from
// the seed found, and the line that says so says why.
func TestExplainSaysWhyTheSeedChanged(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "local-cache")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "seed 1 fails")
	assert.Contains(t, stdout, "shrunk to 2 instances, 1 event, faults redeliver, seed 2 (the seed draws a run's faults and timings, so a smaller run draws them anew: seed 2 is, of seeds 1..200 of this smaller run that fail the same way, the one whose story has the fewest steps)")
}

// TestExplainAgainstShowsTheSurvivorInTheRunThatBreaksAnother:
// db-unique never fails; explain says how to see it come through a run
// that breaks another strategy, and --against shows it.
func TestExplainAgainstShowsTheSurvivorInTheRunThatBreaksAnother(t *testing.T) {
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "db-unique", "--faults", "crash", "--seeds", "5")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "nothing to explain\nto see db-unique come through a run that breaks another strategy, name it with --against, as: idemsim explain --strategy db-unique --against none --faults crash\n(none is the first strategy in table order that breaks)\n")

	code, stdout, stderr = runCLI(t, "explain", "--strategy", "db-unique", "--faults", "crash", "--against", "redis", "--seeds", "50")
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	for _, want := range []string{
		"db-unique: no violation in 50 seeds x 1 scenario (crash)",
		"searching seeds 1..50 of redis under crash (3 instances, 200 events): seed 1 fails\n",
		"redis loses event 1\nthe same run (same seed, instances, events and faults) under db-unique, event 1:",
		"db-unique under crash: 1 instance, 1 event, seed 182.",
		"violation: none: event 1 was applied exactly once.",
		"why: event 1 was applied once, by instance 0 at 5052.629 ms. Every other handling of it: instance 0 crashed with its insert of the id in flight.",
		"reproduce with: idemsim run --strategy db-unique --faults crash --seed 182 --instances 1 --events 1",
	} {
		assert.Contains(t, stdout, want)
	}

	for _, args := range [][]string{
		{"explain", "--strategy", "db-unique", "--against", "db-unique"},
		{"explain", "--strategy", "db-unique", "--against", "memcached"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, ExitUsage, code, "%v", args)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "redis-lease", "lists the strategies accepted")
	}
}
