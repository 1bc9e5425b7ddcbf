package plots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRatiosAreTakenWithinRounds checks that a ratio pairs the k-th line of
// each benchmark (round k), and gives the median over rounds and their
// range, whatever the order of the lines within a round.
func TestRatiosAreTakenWithinRounds(t *testing.T) {
	const in = `
BenchmarkStrategy/redis/real/consumers=1-2   100  1 ns/op  1000 events/s
BenchmarkStrategy/db-unique-fast/real/consumers=1-2  100  1 ns/op  2000 events/s
BenchmarkStrategy/db-unique-fast/real/consumers=1-2  100  1 ns/op  1500 events/s
BenchmarkStrategy/redis/real/consumers=1-2   100  1 ns/op  500 events/s
BenchmarkStrategy/redis/real/consumers=1-2   100  1 ns/op  1000 events/s
BenchmarkStrategy/db-unique-fast/real/consumers=1-2  100  1 ns/op  1200 events/s
`
	f, err := ParseBench(strings.NewReader(in))
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, RatiosTable(&b, f))
	lines := strings.Split(b.String(), "\n")
	require.Len(t, lines, 2+len(ratios)+1, b.String())
	// Rounds: 2000/1000, 1500/500, 1200/1000: 2.00, 3.00, 1.20.
	assert.Equal(t, "| db-unique-fast ÷ redis, real, events/s | ≥ 1.5 at 1 consumer | 2.00 (1.20–3.00) | – | – |", lines[2])
	assert.Equal(t, "| batch of 32: db-unique ÷ pipelined SET NX | – | – | – | – |", lines[5])
}

// TestRatiosWithoutDataWriteNothing checks that a file with none of the
// ratios' benchmarks is ErrNoData, and that WriteRatios then writes no file.
func TestRatiosWithoutDataWriteNothing(t *testing.T) {
	f, err := ParseBench(strings.NewReader("BenchmarkSimRun/x-2 10 1 ns/op 5 deliveries/s\n"))
	require.NoError(t, err)
	dir := t.TempDir()
	require.ErrorIs(t, WriteRatios(f, dir), ErrNoData)
	_, err = os.Stat(filepath.Join(dir, NameRatios+".md"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
