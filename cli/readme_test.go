package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/bench/plots"
	"github.com/idemsim/idemsim/strategies"
)

// readmeText returns README.md.
func readmeText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	return string(b)
}

// TestReadmeAndScriptsNameGoModsGoVersion: the Go version the README and
// scripts/test ask for is go.mod's, not an older one that go.mod refuses.
func TestReadmeAndScriptsNameGoModsGoVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	require.NotNil(t, m, "go.mod has a go line")
	want := "Go " + string(m[1]) + " or later"
	script, err := os.ReadFile(filepath.Join("..", "scripts", "test"))
	require.NoError(t, err)
	for name, text := range map[string]string{"README.md": readmeText(t), "scripts/test": string(script)} {
		assert.True(t, strings.Contains(text, want), "%s does not say %q", name, want)
		for _, found := range regexp.MustCompile(`Go (\d+\.\d+(?:\.\d+)?) or later`).FindAllStringSubmatch(text, -1) {
			assert.Equal(t, string(m[1]), found[1], "%s asks for Go %s; go.mod wants %s", name, found[1], m[1])
		}
	}
}

// githubSlug is the anchor GitHub gives a heading: lower case, spaces as
// '-', and no punctuation but '-' and '_'.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestReadmeLinksReachTheirSections: every link to a section of the README
// (the "Read this first" list among them) names a heading it has.
func TestReadmeLinksReachTheirSections(t *testing.T) {
	readme := readmeText(t)
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if h, ok := strings.CutPrefix(line, "#"); ok && !inFence {
			anchors[githubSlug(strings.TrimLeft(h, "#"))] = true
		}
	}
	assert.True(t, anchors["read-this-first"], "the README has a Read this first section")
	links := regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(readme, -1)
	require.GreaterOrEqual(t, len(links), 5, "Read this first links its sections")
	for _, l := range links {
		assert.True(t, anchors[l[1]], "README links to #%s, which is no heading of it", l[1])
	}
	first, _, _ := strings.Cut(readme, "## Quick start")
	assert.True(t, strings.Contains(first, "## Read this first"), "Read this first comes before everything else")
}

// TestReadmeBenchmarkRegexRunsTheRatioBenchmarks runs the README's -bench
// pattern for the ratios through go test's own matcher, on benchmarks of
// the names package bench gives its sub-benchmarks (which do nothing), and
// requires it to select the benchmarks the ratios table reads
// (plots.RatioBenchmarks) and no other: not redis-after, redis-lease and
// redis-release, which an unanchored (redis|db-unique-fast) also matches,
// nor a strategy's runs through NATS, RabbitMQ or Kafka
// (.../real/broker=B/...), which a pattern of three levels lets through.
func TestReadmeBenchmarkRegexRunsTheRatioBenchmarks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package of its own and runs go test -bench in it")
	}
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to run the pattern")
	m := regexp.MustCompile(`BENCH_ROUNDS=\d+ scripts/bench \\\n  -bench '([^']+)'`).FindStringSubmatch(readmeText(t))
	require.NotNil(t, m, "the README gives the command that measures the ratios")
	pattern := m[1]
	script, err := os.ReadFile(filepath.Join("..", "scripts", "bench"))
	require.NoError(t, err)
	assert.Contains(t, string(script), "-bench '"+pattern+"'", "scripts/bench's comment gives the README's pattern")

	// The names of bench's benchmarks (bench/*_test.go).
	consumers := []int{1, 4, 16}
	names := map[string][]string{}
	add := func(bench, format string, args ...any) {
		names[bench] = append(names[bench], fmt.Sprintf(format, args...))
	}
	for _, st := range strategies.Names() {
		for _, n := range consumers {
			for _, variant := range []string{"sim", "real", "real/broker=nats", "real/broker=rabbitmq", "real/broker=kafka"} {
				add("Strategy", "%s/%s/consumers=%d", st, variant, n)
			}
		}
	}
	for _, n := range consumers {
		add("Strategy", "redis/real-marks/consumers=%d", n)
		for _, broker := range []string{"nats", "rabbitmq", "kafka"} {
			add("Strategy", "none/real-broker-only/broker=%s/consumers=%d", broker, n)
		}
		for _, op := range []string{"redis-setnx", "pg-apply-tx", "setnx-then-apply-tx", "exists-then-apply-tx-then-set", "pg-mark-and-apply-tx", "pg-mark-tx-then-apply-tx", "pg-insert-apply", "provider-charge"} {
			add("Raw", "%s/consumers=%d", op, n)
		}
		add("Raw", "redis-setnx-pipelined/batch=32/consumers=%d", n)
		for _, h := range []string{"redis", "db-unique", "db-unique-fast"} {
			add("Batch", "%s/real/batch=32/consumers=%d", h, n)
		}
		add("RawNATS", "publish-fetch-acksync/consumers=%d", n)
		add("RawNATS", "publish-fetch-pg-apply-tx-acksync/consumers=%d", n)
		for _, loop := range []string{"rabbitmq", "rabbitmq-pg-apply-tx", "kafka", "kafka-pg-apply-tx"} {
			add("RawBroker", "%s/consumers=%d", loop, n)
		}
	}
	var src strings.Builder
	src.WriteString("package fake\n\nimport \"testing\"\n\nfunc run(b *testing.B, names []string) {\n\tfor _, n := range names {\n\t\tb.Run(n, func(b *testing.B) {})\n\t}\n}\n")
	for name, subs := range names {
		fmt.Fprintf(&src, "\nfunc Benchmark%s(b *testing.B) { run(b, %#v) }\n", name, subs)
	}
	src.WriteString("\nfunc BenchmarkSimRun(b *testing.B) { run(b, []string{\"strategy=redis/faults=all/instances=3/events=200\"}) }\n")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fake_test.go"), []byte(src.String()), 0o644))
	cmd := exec.Command(goCmd, "test", "-run", "^$", "-bench", pattern, "-benchtime", "1x", "-cpu", "1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var ran []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[0], "Benchmark") {
			ran = append(ran, f[0])
		}
	}
	want := plots.RatioBenchmarks()
	for _, w := range want {
		bench, sub, _ := strings.Cut(strings.TrimPrefix(w, "Benchmark"), "/")
		require.Contains(t, names[bench], sub, "the ratios table reads %s, which this test's names of bench's benchmarks lack", w)
	}
	slices.Sort(ran)
	slices.Sort(want)
	assert.Equal(t, want, ran, "the README's -bench %q", pattern)
}

// TestReadmeListsEveryStoreCall: "Test your own consumer" has a row for
// every method of the store interfaces a strategy is given (MarkStore,
// KV, Ledger and Tx), in the tables that say what each does in the
// simulator, in memstore and on Redis or PostgreSQL, and names the calls
// of an instance's Memory and of the payment provider in the table of
// Deps. A call added to an interface and not to the README fails here.
func TestReadmeListsEveryStoreCall(t *testing.T) {
	readme := readmeText(t)
	_, section, ok := strings.Cut(readme, "\n## Test your own consumer\n")
	require.True(t, ok, "the README has a Test your own consumer section")
	section, _, _ = strings.Cut(section, "\n## ")
	rows := 0
	for _, it := range []reflect.Type{
		reflect.TypeFor[strategies.MarkStore](),
		reflect.TypeFor[strategies.KV](),
		reflect.TypeFor[strategies.Ledger](),
		reflect.TypeFor[strategies.Tx](),
	} {
		for m := range it.Methods() {
			row := "\n| `" + it.Name() + "." + m.Name + "("
			if assert.True(t, strings.Contains(section, row), "no row for %s.%s in the store calls' tables", it.Name(), m.Name) {
				line, _, _ := strings.Cut(section[strings.Index(section, row)+1:], "\n")
				assert.Equal(t, 5, strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")-1,
					"%s.%s's row has a column for what it does, the simulator, memstore and the real server: %s", it.Name(), m.Name, line)
				rows++
			}
		}
	}
	assert.Equal(t, 3+8+2+9, rows, "the store calls' rows")
	_, deps, ok := strings.Cut(section, "\n| `Memory` |")
	require.True(t, ok, "the Deps table has a row for Memory")
	deps, _, _ = strings.Cut(deps, "\n")
	for m := range reflect.TypeFor[strategies.Memory]().Methods() {
		assert.Contains(t, deps, "`"+m.Name+"`", "the Memory row names Memory.%s", m.Name)
	}
	_, prov, ok := strings.Cut(section, "\n| `Provider` |")
	require.True(t, ok, "the Deps table has a row for Provider")
	prov, _, _ = strings.Cut(prov, "\n")
	for m := range reflect.TypeFor[strategies.Provider]().Methods() {
		assert.Contains(t, prov, "`"+m.Name+"(", "the Provider row names Provider.%s", m.Name)
	}
}

// runFakeBenchmarks runs go test -bench pattern in a package of its own
// whose benchmarks (Benchmark<key>) have the sub-benchmarks of subs, which
// do nothing, and returns the names of those that ran, without
// "Benchmark".
func runFakeBenchmarks(t *testing.T, goCmd, pattern string, subs map[string][]string) []string {
	t.Helper()
	var src strings.Builder
	src.WriteString("package fake\n\nimport \"testing\"\n\nfunc run(b *testing.B, names []string) {\n\tfor _, n := range names {\n\t\tb.Run(n, func(b *testing.B) {})\n\t}\n}\n")
	for name, s := range subs {
		fmt.Fprintf(&src, "\nfunc Benchmark%s(b *testing.B) { run(b, %#v) }\n", name, s)
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fake_test.go"), []byte(src.String()), 0o644))
	cmd := exec.Command(goCmd, "test", "-run", "^$", "-bench", pattern, "-benchtime", "1x", "-cpu", "1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var ran []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[0], "Benchmark") {
			ran = append(ran, strings.TrimPrefix(f[0], "Benchmark"))
		}
	}
	return ran
}

// TestReadmeProviderBenchmarkRegex: the README's command that measures
// api-key beside the raw call to the provider runs exactly
// Strategy/api-key/real and Raw/provider-charge, at every consumer count:
// not api-key-db, and not api-key through a broker.
func TestReadmeProviderBenchmarkRegex(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package of its own and runs go test -bench in it")
	}
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to run the pattern")
	m := regexp.MustCompile(`go test ./bench -run '\^\$' -bench '([^']+)'`).FindStringSubmatch(readmeText(t))
	require.NotNil(t, m, "the README gives the command that measures api-key beside the provider")
	var strategy, raw, want []string
	for _, n := range []int{1, 4, 16} {
		for _, st := range strategies.Names() {
			for _, backend := range []string{"sim", "real", "real/broker=nats"} {
				strategy = append(strategy, fmt.Sprintf("%s/%s/consumers=%d", st, backend, n))
			}
		}
		for _, op := range []string{"pg-insert-apply", "provider-charge"} {
			raw = append(raw, fmt.Sprintf("%s/consumers=%d", op, n))
		}
		want = append(want, fmt.Sprintf("Strategy/api-key/real/consumers=%d", n), fmt.Sprintf("Raw/provider-charge/consumers=%d", n))
	}
	ran := runFakeBenchmarks(t, goCmd, m[1], map[string][]string{"Strategy": strategy, "Raw": raw})
	slices.Sort(ran)
	slices.Sort(want)
	assert.Equal(t, want, ran, "the README's -bench %q", m[1])
}
