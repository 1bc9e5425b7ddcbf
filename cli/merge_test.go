package cli

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shardedCompare is a small comparison with violating and clean cells,
// flags given as a user would.
var shardedCompare = []string{"compare", "--seeds", "7", "--events", "30", "--strategies", "none,redis,db-unique", "--faults", "crash,all"}

// runOK runs a command line that must succeed and returns its outputs.
func runOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	require.Equal(t, ExitOK, code, "%q: %s", args, stderr)
	return stdout, stderr
}

// readDir returns every file of dir by name.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = string(b)
	}
	return files
}

// writeShards runs slices 1/n..n/n of args with --out dir and returns the
// files written, in order.
func writeShards(t *testing.T, dir string, n int, args ...string) []string {
	t.Helper()
	var files []string
	for k := 1; k <= n; k++ {
		stdout, stderr := runOK(t, append(args, "--shard", fmt.Sprintf("%d/%d", k, n), "--out", dir)...)
		path := filepath.Join(dir, fmt.Sprintf("compare-shard-%d-of-%d.json", k, n))
		assert.Equal(t, "wrote "+path+"\n", stderr)
		written, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, string(written), stdout, "the slice's JSON is printed and written")
		files = append(files, path)
	}
	return files
}

// TestMergeOfTheSlicesIsOneCompareByteForByte runs a comparison whole, and
// as three slices that merge joins, given in another order: the table, the
// JSON, and every file of --out (tables and figure) are the same bytes,
// and so is what stderr says.
func TestMergeOfTheSlicesIsOneCompareByteForByte(t *testing.T) {
	parts := writeShards(t, t.TempDir(), 3, shardedCompare...)
	files := []string{parts[2], parts[0], parts[1]}

	table, _ := runOK(t, shardedCompare...)
	merged, mergedErr := runOK(t, append([]string{"merge"}, files...)...)
	assert.Equal(t, table, merged, "the table")
	assert.Empty(t, mergedErr)
	assert.Contains(t, table, "reproduce with:", "the comparison has violating cells")

	jsonOut, _ := runOK(t, append(shardedCompare, "--json")...)
	// Flags may come after the files.
	mergedJSON, _ := runOK(t, append(append([]string{"merge"}, files...), "--json")...)
	assert.Equal(t, jsonOut, mergedJSON, "the JSON")

	out := filepath.Join(t.TempDir(), "results")
	_, wrote := runOK(t, append(shardedCompare, "--out", out)...)
	want := readDir(t, out)
	require.NoError(t, os.RemoveAll(out))
	_, mergeWrote := runOK(t, append([]string{"merge", "--out", out}, files...)...)
	got := readDir(t, out)
	assert.Equal(t, wrote, mergeWrote, "the same files named on stderr")
	require.Equal(t, []string{"compare.csv", "compare.json", "compare.md", "violations.png", "violations.svg"}, slices.Sorted(maps.Keys(want)))
	for name, data := range want {
		assert.Equal(t, data, got[name], "%s", name)
	}
	assert.Contains(t, got["compare.md"], "`idemsim compare --seeds 7 --instances 3 --events 30 --strategies none,redis,db-unique --faults crash,all --out "+out+"`",
		"compare.md names the one compare that makes it")
}

func TestMergeRefusesWhatIsNotOneWholeComparison(t *testing.T) {
	tiny := []string{"compare", "--seeds", "4", "--events", "10", "--strategies", "none", "--faults", "crash"}
	dir := t.TempDir()
	three := writeShards(t, filepath.Join(dir, "three"), 3, tiny...)
	two := writeShards(t, filepath.Join(dir, "two"), 2, tiny...)
	otherEvents := writeShards(t, filepath.Join(dir, "events"), 3, append(tiny, "--events", "11")...)
	compareOut := filepath.Join(dir, "whole")
	runOK(t, append(tiny, "--out", compareOut)...)
	missingFile := filepath.Join(dir, "nope.json")
	slice, err := os.ReadFile(three[1])
	require.NoError(t, err)
	cut := filepath.Join(dir, "cut.json")
	require.NoError(t, os.WriteFile(cut, slice[:len(slice)-20], 0o644))
	garbage := filepath.Join(dir, "garbage.json")
	require.NoError(t, os.WriteFile(garbage, []byte("{\n  \"shard\": \"2/3\",\n  oops\n}\n"), 0o644))
	cutLines := strings.Count(string(slice[:len(slice)-20]), "\n") + 1
	cutCol := len(slice) - 20 - strings.LastIndex(string(slice[:len(slice)-20]), "\n")
	const notSlice = " is not a compare JSON of a slice (accepted: the JSON files that 'idemsim compare --shard K/N' writes, one per slice): "

	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"no file", nil, "idemsim merge: no file to merge (accepted: the JSON files that 'idemsim compare --shard K/N' writes, one per slice; usage: idemsim merge [--out DIR] [--json] FILE...)"},
		{"a slice missing", []string{three[0], three[2]},
			"idemsim merge: cannot merge: slice missing: 2/3 (seeds 2..2); give each slice 1/3 to 3/3 once"},
		{"a slice twice", []string{three[0], three[1], three[0], three[2]},
			"idemsim merge: cannot merge: slice 1/3 is given 2 times: " + three[0] + ", " + three[0] + "; give each slice 1/3 to 3/3 once"},
		{"slices of another cut", []string{three[0], three[1], two[1]},
			"idemsim merge: " + three[0] + " and " + two[1] + " are slices of different comparisons: cut into 3 and 2 slices; give the slices of one comparison"},
		{"slices of another comparison", []string{three[0], otherEvents[1], three[2]},
			"idemsim merge: " + three[0] + " and " + otherEvents[1] + " are slices of different comparisons: 10 and 11 events; give the slices of one comparison"},
		{"compare.json", []string{filepath.Join(compareOut, "compare.json")},
			"idemsim merge: " + filepath.Join(compareOut, "compare.json") + " is a whole comparison (a compare.json), not a slice: merge joins the JSON files that 'idemsim compare --shard K/N' writes, one per slice; there is nothing to merge"},
		{"a slice cut short", []string{three[0], cut, three[2]},
			"idemsim merge: " + cut + notSlice + fmt.Sprintf("it ends at line %d, column %d before its JSON is complete: the file is cut short", cutLines, cutCol)},
		{"a slice that is not JSON", []string{three[0], garbage, three[2]},
			"idemsim merge: " + garbage + notSlice + "it breaks at line 3, column 3: invalid character 'o' looking for beginning of object key string"},
		{"no such file", []string{three[0], missingFile}, "idemsim merge: cannot read " + missingFile + ": no such file or directory (accepted: the JSON files that 'idemsim compare --shard K/N' writes, one per slice)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := runCLI(t, append([]string{"merge", "--out", out}, tt.files...)...)
			assert.Equal(t, ExitUsage, code)
			assert.Empty(t, stdout)
			first, _, _ := strings.Cut(stderr, "\n")
			assert.Equal(t, tt.want, first)
			assert.Contains(t, stderr, "run 'idemsim merge -h' for help")
			assert.NoDirExists(t, out, "a refused merge writes nothing")
		})
	}

	code, _, stderr := runCLI(t, "merge", "--out", "", three[0])
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "--out needs a directory (default: write nothing)")
	code, _, stderr = runCLI(t, "merge", "--frobnicate", three[0])
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "unknown flag --frobnicate (accepted: --json, --out, --help)")
}

func TestMergeHelp(t *testing.T) {
	for _, args := range [][]string{{"merge", "-h"}, {"help", "merge"}, {"merge", "a.json", "--help"}} {
		stdout, _ := runOK(t, args...)
		assert.True(t, strings.HasPrefix(stdout, "usage: idemsim merge [--out DIR] [--json] FILE...\n"), "%q: %s", args, stdout)
		assert.Contains(t, stdout, "--out DIR")
		assert.Contains(t, stdout, "--json")
		assert.Contains(t, stdout, "idemsim merge --out results parts/compare-shard-*-of-2.json")
	}
	overview, _ := runOK(t, "help")
	assert.Contains(t, overview, "  merge ")
	assert.Contains(t, overview, mergeSynopsis)
}

func TestMergeArgumentsAfterDoubleDashAreFiles(t *testing.T) {
	code, _, stderr := runCLI(t, "merge", "--", "--json")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "cannot read --json: no such file or directory", "--json after -- is a file")
}
