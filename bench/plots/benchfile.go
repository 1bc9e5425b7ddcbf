package plots

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BenchFile is the output of `go test -bench`, as scripts/bench writes it
// to results/bench.txt: its configuration lines ("cpu: ...") and its
// result lines, in file order. Other lines (PASS, ok, logs) are skipped.
type BenchFile struct {
	Config  map[string]string
	Results []BenchResult
}

// BenchResult is one result line.
type BenchResult struct {
	// Name is the benchmark's full name without its "-GOMAXPROCS" suffix,
	// e.g. "BenchmarkStrategy/redis/real/consumers=4".
	Name string
	// Procs is the GOMAXPROCS suffix, 0 when the name had none.
	Procs int
	// Iters is the number of iterations the figures are averaged over.
	Iters int64
	// Metrics maps each unit ("ns/op", "events/s", "p99-ms") to its value.
	Metrics map[string]float64
}

// ParseBench reads the Go benchmark format from r. It fails only when r
// does; a line it does not understand is skipped, as benchstat does.
func ParseBench(r io.Reader) (*BenchFile, error) {
	f := &BenchFile{Config: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if res, ok := parseResult(line); ok {
			f.Results = append(f.Results, res)
			continue
		}
		if k, v, ok := parseConfig(line); ok {
			f.Config[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("plots: reading benchmark results: %w", err)
	}
	return f, nil
}

// parseResult parses a result line: a name that starts with "Benchmark"
// (followed by nothing or a character that is not a lowercase letter),
// the iterations, then value and unit pairs.
func parseResult(line string) (BenchResult, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || len(fields)%2 != 0 || !isBenchName(fields[0]) {
		return BenchResult{}, false
	}
	iters, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || iters <= 0 {
		return BenchResult{}, false
	}
	res := BenchResult{Name: fields[0], Iters: iters, Metrics: map[string]float64{}}
	if i := strings.LastIndexByte(res.Name, '-'); i > 0 {
		if n, err := strconv.Atoi(res.Name[i+1:]); err == nil && n > 0 {
			res.Name, res.Procs = res.Name[:i], n
		}
	}
	for i := 2; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return BenchResult{}, false
		}
		res.Metrics[fields[i+1]] = v
	}
	return res, true
}

// isBenchName reports whether s names a benchmark.
func isBenchName(s string) bool {
	rest, ok := strings.CutPrefix(s, "Benchmark")
	if !ok {
		return false
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return rest == "" || !unicode.IsLower(r)
}

// parseConfig parses a configuration line "key: value", whose key starts
// with a lowercase letter and holds no space.
func parseConfig(line string) (key, value string, ok bool) {
	key, value, ok = strings.Cut(line, ":")
	if !ok || key == "" || strings.ContainsAny(key, " \t") {
		return "", "", false
	}
	r, _ := utf8.DecodeRuneInString(key)
	if !unicode.IsLower(r) {
		return "", "", false
	}
	return key, strings.TrimSpace(value), true
}
