package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

// smallCompare is a fast sweep: 2 strategies x 1 scenario x 3 seeds.
var smallCompare = []string{"compare", "--seeds", "3", "--events", "30", "--strategies", "none,db-unique", "--faults", "crash"}

// specCellFields are the fields the spec requires of each result of
// `compare --json`.
var specCellFields = []string{"strategy", "faults", "runs", "violating_runs", "duplicates", "lost", "stuck", "first_failing_seed"}

func TestCompareJSONHasTheSpecShape(t *testing.T) {
	code, stdout, stderr := runCLI(t, append(smallCompare, "--json")...)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Empty(t, stderr, "no progress when stderr is not a terminal")

	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(stdout))
	require.NoError(t, dec.Decode(&top))
	assert.False(t, dec.More(), "exactly one JSON object on stdout")
	for _, f := range []string{"seeds", "instances", "events", "results"} {
		assert.Contains(t, top, f)
	}
	var results []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(top["results"], &results))
	require.Len(t, results, 2)
	for _, r := range results {
		for _, f := range specCellFields {
			assert.Contains(t, r, f)
		}
	}

	var cmp sweep.Comparison
	require.NoError(t, json.Unmarshal([]byte(stdout), &cmp))
	assert.Equal(t, 3, cmp.Seeds)
	assert.Equal(t, 3, cmp.Instances)
	assert.Equal(t, 30, cmp.Events)
	assert.Equal(t, "none", cmp.Results[0].Strategy, "rows in the order given")
	assert.Equal(t, "db-unique", cmp.Results[1].Strategy)
	for _, c := range cmp.Results {
		assert.Equal(t, []string{"crash"}, c.Faults)
		assert.Equal(t, 3, c.Runs)
		assert.Equal(t, c.ViolatingRuns > 0, c.FirstFailingSeed != nil)
	}
}

func TestCompareDoesNotDependOnWorkers(t *testing.T) {
	_, one, _ := runCLI(t, append(smallCompare, "--json", "--workers", "1")...)
	_, four, _ := runCLI(t, append(smallCompare, "--json", "--workers", "4")...)
	require.NotEmpty(t, one)
	assert.Equal(t, one, four)
}

func TestCompareTable(t *testing.T) {
	args := []string{"compare", "--seeds", "4", "--events", "30", "--strategies", "none,db-unique", "--faults", "crash,all"}
	code, jsonOut, _ := runCLI(t, append(args, "--json")...)
	require.Equal(t, ExitOK, code)
	var cmp sweep.Comparison
	require.NoError(t, json.Unmarshal([]byte(jsonOut), &cmp))
	require.Len(t, cmp.Results, 4, "2 strategies x 2 scenarios: crash, and all")

	code, stdout, stderr := runCLI(t, args...)
	require.Equal(t, ExitOK, code, "violations are results, not errors: %s", stderr)
	lines := strings.Split(stdout, "\n")
	var header, noneRow, dbRow []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			if header != nil {
				break // the table ends at the first blank line after its header
			}
			continue
		}
		switch f[0] {
		case "strategy":
			header = f
		case "none":
			noneRow = f
		case "db-unique":
			dbRow = f
		}
	}
	assert.Equal(t, []string{"strategy", "crash", "all"}, header)
	require.Len(t, noneRow, 3)
	require.Len(t, dbRow, 3)
	for _, c := range cmp.Results {
		row := noneRow
		if c.Strategy == "db-unique" {
			row = dbRow
		}
		col := 1
		if c.Scenario == "all" {
			col = 2
		}
		assert.Equal(t, c.Verdict(), row[col], "%s/%s", c.Strategy, c.Scenario)
		if c.FirstFailingSeed != nil {
			// Instances and Events are not in a cell's JSON.
			c.Instances, c.Events = cmp.Instances, cmp.Events
			assert.Contains(t, stdout, "reproduce with: "+c.Reproduce())
		}
	}
}

func TestCompareOutWritesTablesAndViolationsFigure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results", "nested")
	code, stdout, stderr := runCLI(t, append(smallCompare, "--out", dir)...)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	_, table, _ := runCLI(t, smallCompare...)
	assert.Equal(t, table, stdout, "the table is printed, as without --out")
	var wrote []string
	for _, name := range []string{"compare.json", "compare.csv", "compare.md", "violations.png", "violations.svg"} {
		wrote = append(wrote, filepath.Join(dir, name))
	}
	assert.Equal(t, "wrote "+strings.Join(wrote, ", ")+"\n", stderr, "one line on stderr names the files written")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"compare.csv", "compare.json", "compare.md", "violations.png", "violations.svg"}, names, "nothing else, no probe file left")
	requirePNGAndSVG(t, dir, plots.NameViolations)

	_, jsonOut, _ := runCLI(t, append(smallCompare, "--json")...)
	js, err := os.ReadFile(filepath.Join(dir, "compare.json"))
	require.NoError(t, err)
	assert.Equal(t, jsonOut, string(js), "compare.json is the --json output")

	f, err := os.Open(filepath.Join(dir, "compare.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3, "header and one row per cell")
	assert.Equal(t, csvHeader, rows[0])
	assert.Equal(t, []string{"none", "crash", "crash", "3"}, rows[1][:4])
	assert.Equal(t, "db-unique", rows[2][0])

	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| strategy | crash |")
	assert.Contains(t, string(md), "| --- | --- |")
	assert.Contains(t, string(md), "Seeds 1..3, 3 instances, 30 events")
	assert.Contains(t, string(md), "`idemsim compare --seeds 3 --instances 3 --events 30 --strategies none,db-unique --faults crash --out "+dir+"`")
}

func TestCompareOutUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	called := false
	e, out, errOut := fakeEnv(nil, func(sweep.CompareConfig) (*sweep.Comparison, error) {
		called = true
		return nil, nil
	})
	code := e.main([]string{"compare", "--out", filepath.Join(file, "results")})
	assert.Equal(t, ExitError, code)
	assert.False(t, called, "a bad --out fails before the sweep")
	assert.Empty(t, out.String())
	assert.Contains(t, errOut.String(), "--out")
}

func TestCompareDefaultsAndFlagsReachSim(t *testing.T) {
	var got sweep.CompareConfig
	e, _, _ := fakeEnv(nil, func(cc sweep.CompareConfig) (*sweep.Comparison, error) {
		got = cc
		return &sweep.Comparison{Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events}, nil
	})
	require.Equal(t, ExitOK, e.main([]string{"compare"}))
	assert.Equal(t, 200, got.Seeds)
	assert.Equal(t, 3, got.Instances)
	assert.Equal(t, 200, got.Events)
	assert.Equal(t, 0, got.Workers)
	assert.Equal(t, sweep.DefaultMaxMemory, got.MaxMemory)
	assert.Nil(t, got.Progress, "no progress when stderr is not a terminal")

	require.Equal(t, ExitOK, e.main([]string{"compare", "-seeds=7", "--workers", "2", "--faults", "ttl,all", "--strategies", "redis", "--max-memory", "512MiB"}))
	assert.Equal(t, 7, got.Seeds)
	assert.Equal(t, 2, got.Workers)
	assert.Equal(t, int64(512<<20), got.MaxMemory)
	assert.Equal(t, []string{"redis"}, got.Strategies)
	assert.Equal(t, []faults.Set{faults.Of(faults.TTL), faults.AllFaults}, got.Scenarios)
}

// sampleComparison is a comparison with a clean cell, a violating cell and
// a cell where the checkers disagreed.
func sampleComparison() *sweep.Comparison {
	seven := uint64(7)
	crash := faults.Of(faults.Crash)
	return &sweep.Comparison{Seeds: 10, Instances: 3, Events: 50, Results: []sweep.Cell{
		{Strategy: "redis", Faults: crash.Names(), Scenario: crash.String(), Stats: sweep.Stats{Runs: 10, ViolatingRuns: 2, Lost: 3}, FirstFailingSeed: &seven, Instances: 3, Events: 50},
		{Strategy: "redis", Faults: faults.AllFaults.Names(), Scenario: "all", Stats: sweep.Stats{Runs: 10}, Disagreements: 1, Instances: 3, Events: 50},
		{Strategy: "db-unique", Faults: crash.Names(), Scenario: crash.String(), Stats: sweep.Stats{Runs: 10}, Instances: 3, Events: 50},
		{Strategy: "db-unique", Faults: faults.AllFaults.Names(), Scenario: "all", Stats: sweep.Stats{Runs: 10}, Instances: 3, Events: 50},
	}}
}

func TestCompareCSV(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeCompareCSV(&buf, sampleComparison()))
	all := strings.Join(faults.AllFaults.Names(), ";")
	want := `strategy,scenario,faults,runs,violating_runs,duplicates,lost,stuck,first_failing_seed,checker_disagreements
redis,crash,crash,10,2,0,3,0,7,0
redis,all,` + all + `,10,0,0,0,0,,1
db-unique,crash,crash,10,0,0,0,0,,0
db-unique,all,` + all + `,10,0,0,0,0,,0
`
	assert.Equal(t, want, buf.String())
}

func TestCompareMarkdown(t *testing.T) {
	var buf bytes.Buffer
	cols := []faults.Set{faults.Of(faults.Crash), faults.AllFaults}
	writeCompareMarkdown(&buf, sampleComparison(), []string{"redis", "db-unique"}, cols, "idemsim compare --seeds 10 --out results")
	want := "# Outcome table\n\n" +
		"Seeds 1..10, 3 instances, 50 events per run. `ok`: no violation in any seed;\n" +
		"otherwise the kinds of violation seen in some seeds (`dup`, `lost`, `stuck`).\n\n" +
		"| strategy | crash | all |\n" +
		"| --- | --- | --- |\n" +
		"| redis | lost | ok |\n" +
		"| db-unique | ok | ok |\n\n" +
		"Regenerate with `idemsim compare --seeds 10 --out results`.\n\n" +
		"**Bug in idemsim:** the two checkers disagreed, or porcupine could not decide, in: redis/all (1 of 10 runs).\n\n" +
		"## First failing seeds\n\n" +
		"| strategy | scenario | violating runs | reproduce with |\n" +
		"| --- | --- | --- | --- |\n" +
		"| redis | crash | 2/10 | `idemsim run --strategy redis --faults crash --seed 7 --instances 3 --events 50 --broker queue` |\n"
	assert.Equal(t, want, buf.String())
}

func TestCompareCheckerDisagreementExitsOneAfterWriting(t *testing.T) {
	e, out, errOut := fakeEnv(nil, func(sweep.CompareConfig) (*sweep.Comparison, error) {
		return sampleComparison(), nil
	})
	dir := t.TempDir()
	code := e.main([]string{"compare", "--strategies", "redis,db-unique", "--faults", "crash,all", "--out", dir})
	assert.Equal(t, ExitError, code)
	assert.Contains(t, out.String(), "redis", "the table is printed")
	assert.Contains(t, out.String(), "reproduce with: idemsim run --strategy redis --faults crash --seed 7")
	assert.Contains(t, errOut.String(), "BUG in idemsim")
	assert.Contains(t, errOut.String(), "redis/all")
	for _, f := range []string{"compare.json", "compare.csv", "compare.md", "violations.png", "violations.svg"} {
		assert.FileExists(t, filepath.Join(dir, f), "outputs are written before the exit")
	}
}

func TestCompareProgressOnATerminal(t *testing.T) {
	var out, errOut bytes.Buffer
	clock := time.Unix(1000, 0)
	e := &env{
		stdout: &out, stderr: &errOut,
		isTerminal: func(w io.Writer) bool { return w == &errOut },
		now:        func() time.Time { clock = clock.Add(30 * time.Millisecond); return clock },
		simRun:     sim.Run, simCompare: sweep.Compare,
	}
	require.Equal(t, ExitOK, e.main(smallCompare))
	progress := errOut.String()
	assert.True(t, strings.HasPrefix(progress, "\rcompare: "), "%q", progress)
	assert.True(t, strings.HasSuffix(progress, "\n"), "the progress line is ended before the table")
	assert.Contains(t, progress, "6/6 runs (100%)", "the last run is always shown")
	assert.Less(t, strings.Count(progress, "\r"), 6, "updates are throttled")
	assert.NotContains(t, out.String(), "\r", "progress never goes to stdout")
}

func TestCompareShardPrintsItsSlice(t *testing.T) {
	args := append(smallCompare[:len(smallCompare):len(smallCompare)], "--seeds", "7", "--shard", "2/3")
	code, stdout, stderr := runCLI(t, args...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Empty(t, stderr)
	var part map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(stdout))
	require.NoError(t, dec.Decode(&part))
	assert.False(t, dec.More(), "exactly one JSON object on stdout")
	for field, want := range map[string]string{
		"shard": `"2/3"`, "first_seed": "3", "last_seed": "4", "seeds": "7", "instances": "3", "events": "30",
		"strategies": `["none","db-unique"]`, "scenarios": `["crash"]`,
		"command": `"idemsim compare --seeds 7 --instances 3 --events 30 --strategies none,db-unique --faults crash"`,
	} {
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, part[field]), field)
		assert.Equal(t, want, compact.String(), field)
	}
	var cells []sweep.Cell
	require.NoError(t, json.Unmarshal(part["results"], &cells))
	require.Len(t, cells, 2)
	for _, c := range cells {
		assert.Equal(t, 2, c.Runs, "seeds 3 and 4 only")
	}
	_, withJSON, _ := runCLI(t, append(args, "--json")...)
	assert.Equal(t, stdout, withJSON, "--json changes nothing")
}

func TestCompareShardRefusesBadSlices(t *testing.T) {
	for _, shard := range []string{"0/3", "4/3", "x", "3", "1/0", "-1/3", "", "1/3/3", "1 /3"} {
		called := false
		e, out, errOut := fakeEnv(nil, nil)
		e.compareShard = func(sweep.CompareConfig, sweep.Shard) (*sweep.Part, error) { called = true; return nil, nil }
		dir := filepath.Join(t.TempDir(), "out")
		code := e.main([]string{"compare", "--shard", shard, "--out", dir})
		assert.Equal(t, ExitUsage, code, "%q", shard)
		assert.Contains(t, errOut.String(), fmt.Sprintf("--shard %q: want K/N, slice K of N of the seeds, two whole numbers with K from 1 to N, e.g. 3/16", shard))
		assert.Empty(t, out.String())
		assert.False(t, called, "%q: nothing runs", shard)
		assert.NoDirExists(t, dir, "%q: nothing is written", shard)
	}
	code, stdout, stderr := runCLI(t, "compare", "--seeds", "2", "--shard", "1/3")
	assert.Equal(t, ExitUsage, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "idemsim compare: --shard 1/3: seeds 1..2 cannot be cut into 3 slices: N must be 1 to 2, the number of --seeds\n")

	_, help, _ := runCLI(t, "compare", "-h")
	assert.Contains(t, help, "--shard K/N")
	assert.Contains(t, help, "[--shard K/N]")
}
