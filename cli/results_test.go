package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/run"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// updateReadme makes TestReadmeShowsTheCommittedTable write the README's
// outcome tables from results/ instead of checking them: after
// regenerating results/, run
//
//	go test ./cli -run TestReadmeShowsTheCommittedTable -update-readme
var updateReadme = flag.Bool("update-readme", false, "rewrite the README's outcome tables from results/compare*.md instead of checking them")

// regenerateCommand returns the arguments, without "idemsim" and with
// --out dir, of the command that results/compare.md says regenerates
// results/.
func regenerateCommand(t *testing.T, dir string) []string {
	t.Helper()
	md, err := os.ReadFile(filepath.Join("..", "results", "compare.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("Regenerate with `idemsim ([^`]+) --out results`").FindSubmatch(md)
	require.NotNil(t, m, "results/compare.md names the command that regenerates it")
	return append(strings.Fields(string(m[1])), "--out", dir)
}

// committedComparisons lists the comparison files of results/, every
// broker's: compare.json, compare.csv, compare.md, compare-log.json, ...
func committedComparisons(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, model := range run.BrokerNames {
		for _, ext := range []string{"json", "csv", "md"} {
			name := compareFile(model, ext)
			if _, err := os.Stat(filepath.Join("..", "results", name)); err == nil {
				names = append(names, name)
			}
		}
	}
	require.Contains(t, names, "compare.md")
	return names
}

// TestCommittedResultsAreCurrent regenerates results/ with the command
// that results/compare.md names (the README's; with --broker queue,log it
// writes the log's files too) and requires the committed files to be
// identical, every broker's, so that nothing in results/ is edited by hand
// or left stale.
func TestCommittedResultsAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full default sweep")
	}
	dir := t.TempDir()
	code, _, stderr := runCLI(t, regenerateCommand(t, dir)...)
	require.Equal(t, ExitOK, code, stderr)
	committed := committedComparisons(t)
	for _, model := range run.BrokerNames {
		if _, err := os.Stat(filepath.Join(dir, compareFile(model, "md"))); err == nil {
			assert.Contains(t, committed, compareFile(model, "md"), "the command writes the %s's table, which results/ lacks", model)
		}
	}
	for _, name := range committed {
		want, err := os.ReadFile(filepath.Join("..", "results", name))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, "results/%s is not written by its command", name)
		// The Markdown names the directory it was written to.
		regenerated := strings.ReplaceAll(string(got), "--out "+dir, "--out results")
		assert.Equal(t, string(want), regenerated, "results/%s is stale: run `go run ./cmd/idemsim %s`", name, strings.Join(regenerateCommand(t, "results"), " "))
	}
}

// TestRegenerateCommandIsTheReadmes: the command that results/compare.md
// names is the one the README's Quick start gives.
func TestRegenerateCommandIsTheReadmes(t *testing.T) {
	cmd := strings.Join(regenerateCommand(t, "results"), " ")
	readme := readmeText(t)
	short := strings.Replace(cmd, "compare --seeds 200 --instances 3 --events 200", "compare", 1)
	assert.True(t, strings.Contains(readme, "go run ./cmd/idemsim "+short) || strings.Contains(readme, "go run ./cmd/idemsim "+cmd),
		"the README tells how to regenerate results/: go run ./cmd/idemsim %s", short)
}

// readmeTableMarker is the name of the README's markers around the
// outcome table of the broker model: outcome-table for the queue, as it
// has always been, outcome-table-log for the log.
func readmeTableMarker(model string) string {
	if model == run.DefaultBroker {
		return "outcome-table"
	}
	return "outcome-table-" + model
}

// notMeasured is what the README's table of a model says while results/
// has none.
func notMeasured(model string) string {
	return fmt.Sprintf("Not measured yet: `go run ./cmd/idemsim compare --broker queue,%s --out results` writes results/%s.\n", model, compareFile(model, "md"))
}

// markdownTable is the outcome table of a compare Markdown file: its first
// run of lines that start with "|".
func markdownTable(md string) string {
	_, table, _ := strings.Cut(md, "\n|")
	table, _, _ = strings.Cut("|"+table, "\n\n")
	return table + "\n"
}

// TestReadmeShowsTheCommittedTable keeps the README's outcome table of
// each broker model equal to the one in results/ (compare.md for the
// queue, compare-log.md for the log), and says, while results/ has no
// table of a model, that it is not measured yet. With -update-readme it
// writes them instead.
func TestReadmeShowsTheCommittedTable(t *testing.T) {
	path := filepath.Join("..", "README.md")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	readme := string(b)
	for _, model := range run.BrokerNames {
		want := notMeasured(model)
		md, err := os.ReadFile(filepath.Join("..", "results", compareFile(model, "md")))
		if err == nil {
			want = markdownTable(string(md))
		} else {
			require.NotEqual(t, run.DefaultBroker, model, "results/compare.md is missing")
		}
		start, end := "<!-- "+readmeTableMarker(model)+":start -->\n", "<!-- "+readmeTableMarker(model)+":end -->"
		before, rest, ok := strings.Cut(readme, start)
		require.True(t, ok, "README has no %s marker", start)
		table, after, ok := strings.Cut(rest, end)
		require.True(t, ok, "README has no %s marker", end)
		if *updateReadme {
			readme = before + start + want + end + after
			continue
		}
		assert.Equal(t, want, table, "README's outcome table of the %s differs from results/%s: run `go test ./cli -run TestReadmeShowsTheCommittedTable -update-readme`", model, compareFile(model, "md"))
	}
	if *updateReadme {
		require.NoError(t, os.WriteFile(path, []byte(readme), 0o644))
	}
}

// readmeBlock returns the fenced lines between the README's markers
// <!-- name:start --> and <!-- name:end -->, without elisions ("...").
func readmeBlock(t *testing.T, name string) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "<!-- "+name+":start -->\n")
	require.True(t, ok, "README has no %s:start marker", name)
	block, _, ok := strings.Cut(rest, "<!-- "+name+":end -->")
	require.True(t, ok, "README has no %s:end marker", name)
	var lines []string
	inFence := false
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence && strings.TrimSpace(line) != "..." {
			lines = append(lines, line)
		}
	}
	return lines
}

// TestReadmeExplainExampleIsTrue reruns the README's explain example: the
// story it shows is what explain prints.
func TestReadmeExplainExampleIsTrue(t *testing.T) {
	lines := readmeBlock(t, "explain-example")
	require.Greater(t, len(lines), 15)
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "local-cache")
	require.Equal(t, ExitOK, code, stderr)
	for _, line := range lines {
		assert.Contains(t, stdout, line)
	}
}

// TestReadmeRunExampleIsTrue reruns the README's example run and requires
// every line it shows (all but the "..." elisions) to be in the output.
func TestReadmeRunExampleIsTrue(t *testing.T) {
	lines := readmeBlock(t, "run-example")
	require.Greater(t, len(lines), 15, "the example shows the trace and the summary")
	code, stdout, stderr := runCLI(t, "run", "--strategy", "local-cache", "--faults", "redeliver", "--seed", "4", "--instances", "2", "--events", "3", "--trace")
	require.Equal(t, ExitOK, code, stderr)
	for _, line := range lines {
		assert.Contains(t, stdout, line)
	}
}

// TestReadmeShowsTheBenchmarkRatios keeps results/bench-ratios.md equal to
// what `idemsim plot` computes from results/bench.txt, and the README's
// ratios table equal to it, so that no benchmark figure is typed by hand.
func TestReadmeShowsTheBenchmarkRatios(t *testing.T) {
	bench, err := os.Open(filepath.Join("..", "results", "bench.txt"))
	require.NoError(t, err)
	defer bench.Close()
	f, err := plots.ParseBench(bench)
	require.NoError(t, err)
	var want strings.Builder
	require.NoError(t, plots.RatiosTable(&want, f))
	committed, err := os.ReadFile(filepath.Join("..", "results", plots.NameRatios+".md"))
	require.NoError(t, err)
	assert.Equal(t, want.String(), string(committed), "results/bench-ratios.md is stale: run `go run ./cmd/idemsim plot`")

	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "<!-- bench-ratios:start -->\n")
	require.True(t, ok, "README has no bench-ratios:start marker")
	table, _, ok := strings.Cut(rest, "<!-- bench-ratios:end -->")
	require.True(t, ok, "README has no bench-ratios:end marker")
	assert.Equal(t, want.String(), table, "README's benchmark ratios differ from results/bench-ratios.md: copy the table from it")
}
