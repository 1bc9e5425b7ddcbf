package consumers_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/cli"

	"example.com/consumers"
)

// compareArgs is the comparison whose files results/ holds: the three
// consumers over seeds 1..200 of every scenario, as the outcome table.
var compareArgs = []string{"compare", "--seeds", "200", "--strategies", "masstransit-inbox,camel-jdbc,redsync-lock", "--broker", "queue,log"}

// TestMeasuredRowsAreCommittedAndExpected measures the three consumers'
// rows again, checks that results/ holds exactly what the measurement
// writes, and that each measured row is the row its description expected
// before it was first measured. Regenerate results/ with
//
//	go run ./cmd/idemsim compare --seeds 200 --strategies masstransit-inbox,camel-jdbc,redsync-lock --broker queue,log --out results
func TestMeasuredRowsAreCommittedAndExpected(t *testing.T) {
	require.NoError(t, consumers.Register())
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := cli.Main(append(compareArgs, "--out", dir), &stdout, &stderr)
	require.Equal(t, 0, code, "compare failed: %s", stderr.String())

	for _, name := range []string{"compare.json", "compare.md", "compare.csv", "compare-log.json", "compare-log.md", "compare-log.csv"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join("results", name))
		require.NoError(t, err)
		// The regenerate line names the --out directory given.
		got = bytes.ReplaceAll(got, []byte("--out "+dir), []byte("--out results"))
		require.Equal(t, string(want), string(got), "results/%s is not what the measurement writes: regenerate it (see this test's comment)", name)
	}

	for broker, file := range map[string]string{"queue": "compare.json", "log": "compare-log.json"} {
		measured := measuredRows(t, filepath.Join(dir, file))
		for _, s := range consumers.All {
			require.Equal(t, s.ExpectedRow(broker), measured[s.Name], "%s on the %s: the measured row (right) is not the expected one (left)", s.Name, broker)
		}
	}
}

// measuredRows reads the rows of a comparison's JSON file as kinds of
// violation per strategy and scenario.
func measuredRows(t *testing.T, path string) map[string]map[string]string {
	var table struct {
		Results []struct {
			Strategy, Scenario      string
			Duplicates, Lost, Stuck int
		}
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &table))
	measured := map[string]map[string]string{}
	for _, r := range table.Results {
		var kinds []string
		for _, k := range []struct {
			n    int
			name string
		}{{r.Duplicates, "dup"}, {r.Lost, "lost"}, {r.Stuck, "stuck"}} {
			if k.n > 0 {
				kinds = append(kinds, k.name)
			}
		}
		row := "ok"
		if kinds != nil {
			row = strings.Join(kinds, "+")
		}
		if measured[r.Strategy] == nil {
			measured[r.Strategy] = map[string]string{}
		}
		measured[r.Strategy][r.Scenario] = row
	}
	return measured
}

// TestReadmeShowsTheMeasuredRows holds the README's table of the three
// consumers to results/compare.md.
func TestReadmeShowsTheMeasuredRows(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "<!-- consumers-table:start -->\n")
	require.True(t, ok, "the README has no consumers-table block")
	block, _, ok := strings.Cut(rest, "<!-- consumers-table:end -->")
	require.True(t, ok, "the README's consumers-table block has no end")
	md, err := os.ReadFile(filepath.Join("results", "compare.md"))
	require.NoError(t, err)
	table, _, _ := strings.Cut(string(md), "## First failing seeds")
	var rows []string
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "|") {
			rows = append(rows, line)
		}
	}
	require.Equal(t, strings.Join(rows, "\n")+"\n", block, "the README's consumers table is not results/compare.md's")
}
