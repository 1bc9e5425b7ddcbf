package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCommittedResultsAreCurrent regenerates results/ with the command the
// README names and requires the committed files to be identical, so that
// nothing in results/ is edited by hand or left stale.
func TestCommittedResultsAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full default sweep")
	}
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "compare", "--out", dir)
	require.Equal(t, ExitOK, code, stderr)
	for _, name := range []string{"compare.json", "compare.csv", "compare.md"} {
		want, err := os.ReadFile(filepath.Join("..", "results", name))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		// compare.md names the directory it was written to.
		regenerated := strings.ReplaceAll(string(got), "--out "+dir, "--out results")
		assert.Equal(t, string(want), regenerated, "results/%s is stale: run `go run ./cmd/idemsim compare --out results`", name)
	}
}

// TestReadmeShowsTheCommittedTable keeps the README's outcome table equal to
// the one in results/compare.md.
func TestReadmeShowsTheCommittedTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	md, err := os.ReadFile(filepath.Join("..", "results", "compare.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "<!-- outcome-table:start -->\n")
	require.True(t, ok, "README has no outcome-table:start marker")
	table, _, ok := strings.Cut(rest, "<!-- outcome-table:end -->")
	require.True(t, ok, "README has no outcome-table:end marker")
	// The table is the first run of lines that start with "|".
	_, mdTable, _ := strings.Cut(string(md), "\n|")
	mdTable, _, _ = strings.Cut("|"+mdTable, "\n\n")
	assert.Equal(t, mdTable+"\n", table, "README's outcome table differs from results/compare.md: copy the table from it")
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
