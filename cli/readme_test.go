package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// TestReadmeBenchmarkRegexRunsTheRatioBenchmarks runs the README's two
// -bench patterns for the ratios (the stores' and the brokers') through go
// test's own matcher, on benchmarks of the names package bench gives its
// sub-benchmarks (which do nothing), and requires each to select those of
// its rows of the ratios table and no other: not redis-after, redis-lease
// and redis-release, which an unanchored (redis|db-unique-fast) also
// matches, and, for the stores, not the strategies through brokers, whose
// names go a level deeper.
func TestReadmeBenchmarkRegexRunsTheRatioBenchmarks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package of its own and runs go test -bench in it")
	}
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to run the pattern")
	ms := regexp.MustCompile(`BENCH_ROUNDS=\d+ scripts/bench \\\n  -bench '([^']+)'`).FindAllStringSubmatch(readmeText(t), -1)
	require.Len(t, ms, 2, "the README gives the commands that measure the brokers' ratios and the stores' ratios")
	brokerPattern, storePattern := ms[0][1], ms[1][1]

	consumers := []int{1, 4, 16}
	brokers := []string{"nats", "rabbitmq", "kafka"}
	var strategy, raw, batch, rawNATS, rawBroker []string
	for _, st := range strategies.Names() {
		for _, backend := range []string{"sim", "real"} {
			for _, n := range consumers {
				strategy = append(strategy, fmt.Sprintf("%s/%s/consumers=%d", st, backend, n))
			}
		}
		for _, br := range brokers {
			for _, n := range consumers {
				strategy = append(strategy, fmt.Sprintf("%s/real/broker=%s/consumers=%d", st, br, n))
			}
		}
	}
	for _, n := range consumers {
		strategy = append(strategy, fmt.Sprintf("redis/real-marks/consumers=%d", n))
		for _, op := range []string{"redis-setnx", "pg-apply-tx", "setnx-then-apply-tx", "exists-then-apply-tx-then-set", "pg-mark-and-apply-tx", "pg-mark-tx-then-apply-tx", "pg-insert-apply"} {
			raw = append(raw, fmt.Sprintf("%s/consumers=%d", op, n))
		}
		raw = append(raw, fmt.Sprintf("redis-setnx-pipelined/batch=32/consumers=%d", n))
		for _, h := range []string{"redis", "db-unique", "db-unique-fast"} {
			batch = append(batch, fmt.Sprintf("%s/real/batch=32/consumers=%d", h, n))
		}
		for _, loop := range []string{"publish-fetch-acksync", "publish-fetch-pg-apply-tx-acksync"} {
			rawNATS = append(rawNATS, fmt.Sprintf("%s/consumers=%d", loop, n))
		}
		for _, loop := range []string{"rabbitmq", "rabbitmq-pg-apply-tx", "kafka", "kafka-pg-apply-tx"} {
			rawBroker = append(rawBroker, fmt.Sprintf("%s/consumers=%d", loop, n))
		}
	}
	var src strings.Builder
	src.WriteString("package fake\n\nimport \"testing\"\n\nfunc run(b *testing.B, names []string) {\n\tfor _, n := range names {\n\t\tb.Run(n, func(b *testing.B) {})\n\t}\n}\n")
	for name, subs := range map[string][]string{"Strategy": strategy, "Raw": raw, "Batch": batch, "RawNATS": rawNATS, "RawBroker": rawBroker} {
		fmt.Fprintf(&src, "\nfunc Benchmark%s(b *testing.B) { run(b, %#v) }\n", name, subs)
	}
	src.WriteString("\nfunc BenchmarkSimRun(b *testing.B) { run(b, []string{\"strategy=redis/faults=all/instances=3/events=200\"}) }\n")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fake_test.go"), []byte(src.String()), 0o644))
	selected := func(pattern string) []string {
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
		slices.Sort(ran)
		return ran
	}

	var want []string
	for _, n := range consumers {
		for _, st := range []string{"redis", "db-unique-fast"} {
			want = append(want, fmt.Sprintf("Strategy/%s/real/consumers=%d", st, n))
		}
		want = append(want, fmt.Sprintf("Raw/pg-insert-apply/consumers=%d", n), fmt.Sprintf("Raw/redis-setnx-pipelined/batch=32/consumers=%d", n))
		for _, h := range []string{"redis", "db-unique", "db-unique-fast"} {
			want = append(want, fmt.Sprintf("Batch/%s/real/batch=32/consumers=%d", h, n))
		}
	}
	slices.Sort(want)
	assert.Equal(t, want, selected(storePattern), "the README's -bench %q", storePattern)

	want = nil
	for _, n := range consumers {
		for _, st := range []string{"none", "db-unique-fast"} {
			for _, br := range brokers {
				want = append(want, fmt.Sprintf("Strategy/%s/real/broker=%s/consumers=%d", st, br, n))
			}
		}
	}
	for _, sub := range rawNATS {
		want = append(want, "RawNATS/"+sub)
	}
	for _, sub := range rawBroker {
		want = append(want, "RawBroker/"+sub)
	}
	slices.Sort(want)
	assert.Equal(t, want, selected(brokerPattern), "the README's -bench %q", brokerPattern)
}
