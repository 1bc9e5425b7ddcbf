package plots

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// NameRatios is the name, without extension, of the ratios table's file
// (bench-ratios.md).
const NameRatios = "bench-ratios"

// A ratio compares two benchmarks measured in the same file: the
// numerator's metric over the denominator's, at each consumer count.
type ratio struct {
	label    string // what is compared, in words
	target   string // the figure to reach, "" when there is none
	num, den string // benchmark names, with %d for the consumer count
	numUnit  string
	denUnit  string
}

// ratios are the comparisons the README's Benchmarks section shows: the
// speed of db-unique-fast against the redis strategy and against the raw
// statement it is built on, of api-key against the one HTTP call to the
// payment provider it makes, and of the batched database modes against
// Redis's pipelined limit. The strategies through real brokers follow
// (brokerRatios).
var ratios = []ratio{
	{
		label:  "db-unique-fast ÷ redis, real, events/s",
		target: "≥ 1.5 at 1 consumer",
		num:    "BenchmarkStrategy/db-unique-fast/real/consumers=%d", numUnit: unitThroughput,
		den: "BenchmarkStrategy/redis/real/consumers=%d", denUnit: unitThroughput,
	},
	{
		label:  "db-unique-fast ÷ its raw statement (Raw/pg-insert-apply)",
		target: "≥ 0.8",
		num:    "BenchmarkStrategy/db-unique-fast/real/consumers=%d", numUnit: unitThroughput,
		den: "BenchmarkRaw/pg-insert-apply/consumers=%d", denUnit: unitOps,
	},
	{
		label:  "batch of 32: db-unique-fast ÷ pipelined SET NX",
		target: "≥ 0.5",
		num:    "BenchmarkBatch/db-unique-fast/real/batch=32/consumers=%d", numUnit: unitThroughput,
		den: "BenchmarkRaw/redis-setnx-pipelined/batch=32/consumers=%d", denUnit: unitOps,
	},
	{
		label: "batch of 32: db-unique ÷ pipelined SET NX",
		num:   "BenchmarkBatch/db-unique/real/batch=32/consumers=%d", numUnit: unitThroughput,
		den: "BenchmarkRaw/redis-setnx-pipelined/batch=32/consumers=%d", denUnit: unitOps,
	},
	{
		label: "outbox end to end (to the downstream effect) ÷ db-unique upstream alone, real, events/s",
		num:   "BenchmarkStrategy/outbox/real/consumers=%d", numUnit: unitThroughput,
		den: "BenchmarkStrategy/db-unique/real/consumers=%d", denUnit: unitThroughput,
	},
	{
		label: "api-key ÷ one charge with its key, sent with net/http alone (Raw/provider-charge)",
		num:   "BenchmarkStrategy/api-key/real/consumers=%d", numUnit: unitThroughput,
		den: "BenchmarkRaw/provider-charge/consumers=%d", denUnit: unitOps,
	},
}

// brokerLoop is one broker's raw loops in BenchmarkRawNATS or
// BenchmarkRawBroker: the loop alone and the loop with the none
// strategy's effect written against pgx, each with %d for the consumer
// count, in unit.
type brokerLoop struct {
	name, key     string // the broker's name in words, and in broker=<key>
	alone, withTx string
	unit          string
}

// brokerLoops are the brokers whose strategies BenchmarkStrategy measures
// in their raw loops (broker=<key>).
var brokerLoops = []brokerLoop{
	{"NATS", "nats", "BenchmarkRawNATS/publish-fetch-acksync/consumers=%d", "BenchmarkRawNATS/publish-fetch-pg-apply-tx-acksync/consumers=%d", unitOps},
	{"RabbitMQ", "rabbitmq", "BenchmarkRawBroker/rabbitmq/consumers=%d", "BenchmarkRawBroker/rabbitmq-pg-apply-tx/consumers=%d", unitMsgs},
	{"Kafka", "kafka", "BenchmarkRawBroker/kafka/consumers=%d", "BenchmarkRawBroker/kafka-pg-apply-tx/consumers=%d", unitMsgs},
}

// brokerRatios are, for each broker, none through it over its raw loop
// with none's PostgreSQL transaction, and none with its effect in process
// over the loop alone (two measures of idemsim's own cost in the loop);
// none over the loop alone (PostgreSQL's cost too, no target: a database
// commit per message is no part of the broker's loop), and db-unique-fast
// over the loop alone.
func brokerRatios() []ratio {
	var out []ratio
	for _, l := range brokerLoops {
		strategy := func(st string) string {
			return "BenchmarkStrategy/" + st + "/real/broker=" + l.key + "/consumers=%d"
		}
		dbTarget := "–"
		if l.key == "nats" {
			dbTarget = "≥ 0.5 at 16 consumers"
		}
		out = append(out,
			ratio{
				label:  fmt.Sprintf("none through %s ÷ the raw %s loop with the same PostgreSQL transaction (%s)", l.name, l.name, benchLabel(l.withTx)),
				target: "≥ 0.8",
				num:    strategy("none"), numUnit: unitThroughput,
				den: l.withTx, denUnit: l.unit,
			},
			ratio{
				label:  fmt.Sprintf("none through %s, its effect in process ÷ the raw %s loop alone (%s)", l.name, l.name, benchLabel(l.alone)),
				target: "≥ 0.8",
				num:    "BenchmarkStrategy/none/real-broker-only/broker=" + l.key + "/consumers=%d", numUnit: unitThroughput,
				den: l.alone, denUnit: l.unit,
			},
			ratio{
				label: fmt.Sprintf("none through %s ÷ the raw %s loop alone (%s)", l.name, l.name, benchLabel(l.alone)),
				num:   strategy("none"), numUnit: unitThroughput,
				den: l.alone, denUnit: l.unit,
			},
			ratio{
				label:  fmt.Sprintf("db-unique-fast through %s ÷ the raw %s loop alone (%s)", l.name, l.name, benchLabel(l.alone)),
				target: dbTarget,
				num:    strategy("db-unique-fast"), numUnit: unitThroughput,
				den: l.alone, denUnit: l.unit,
			},
		)
	}
	return out
}

// benchLabel is a benchmark name of brokerLoops as a row names it, without
// "Benchmark" and the consumer count: RawNATS/publish-fetch-acksync.
func benchLabel(name string) string {
	name = strings.TrimPrefix(name, "Benchmark")
	name, _, _ = strings.Cut(name, "/consumers=")
	return name
}

// allRatios are the table's rows: ratios, then the brokers'.
func allRatios() []ratio { return append(slices.Clone(ratios), brokerRatios()...) }

// unitMsgs is the throughput unit of BenchmarkRawBroker.
const unitMsgs = "msgs/s"

// unitOps is the throughput unit of BenchmarkRaw.
const unitOps = "ops/s"

// ratioConsumers are the consumer counts of the table's columns.
var ratioConsumers = []int{1, 4, 16}

// RatiosTable writes, as a Markdown table, each ratio of the benchmarks in
// f at 1, 4 and 16 consumers. A file of several rounds (scripts/bench
// runs the suite BENCH_ROUNDS times, or -count) holds each benchmark
// several times: the k-th line of a name belongs to round k, a ratio is
// taken within each round, whose two figures were measured minutes apart
// at most, and the cell gives the median over rounds and the range. A
// cell whose benchmarks are missing is "–". It returns an error wrapping
// ErrNoData when no cell can be computed.
func RatiosTable(w io.Writer, f *BenchFile) error {
	rounds := roundsByName(f)
	var b strings.Builder
	b.WriteString("| same `go test -bench` run, median over rounds (range) | target |")
	for _, n := range ratioConsumers {
		fmt.Fprintf(&b, " %s |", plural(n, "consumer"))
	}
	b.WriteString("\n| --- | --- |" + strings.Repeat(" --- |", len(ratioConsumers)) + "\n")
	cells := 0
	for _, r := range allRatios() {
		target := r.target
		if target == "" {
			target = "–"
		}
		fmt.Fprintf(&b, "| %s | %s |", r.label, target)
		for _, n := range ratioConsumers {
			per := perRound(rounds[fmt.Sprintf(r.num, n)], rounds[fmt.Sprintf(r.den, n)], r.numUnit, r.denUnit)
			if len(per) == 0 {
				b.WriteString(" – |")
				continue
			}
			cells++
			med, lo, hi := spread(per)
			if len(per) == 1 {
				fmt.Fprintf(&b, " %.2f |", med)
			} else {
				fmt.Fprintf(&b, " %.2f (%.2f–%.2f) |", med, lo, hi)
			}
		}
		b.WriteString("\n")
	}
	if cells == 0 {
		return fmt.Errorf("%w: no BenchmarkStrategy/db-unique-fast/real, BenchmarkRaw, BenchmarkBatch or raw broker loop results to compare", ErrNoData)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RatioBenchmarks are the names of the benchmarks the ratios table reads,
// at each of its consumer counts, each once, in the table's order: what a
// run must measure to fill the table (the README's -bench pattern for it
// is held to them).
func RatioBenchmarks() []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range allRatios() {
		for _, n := range ratioConsumers {
			for _, name := range []string{fmt.Sprintf(r.num, n), fmt.Sprintf(r.den, n)} {
				if !seen[name] {
					seen[name] = true
					names = append(names, name)
				}
			}
		}
	}
	return names
}

// WriteRatios writes RatiosTable(f) to dir/bench-ratios.md.
func WriteRatios(f *BenchFile, dir string) error {
	var b strings.Builder
	if err := RatiosTable(&b, f); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, NameRatios+".md"), []byte(b.String()), 0o644)
}

// roundsByName groups f's results by name, in file order.
func roundsByName(f *BenchFile) map[string][]BenchResult {
	m := map[string][]BenchResult{}
	for _, res := range f.Results {
		name, _, _ := strings.Cut(res.Name, "#") // go test's "#01" for repeated names
		m[name] = append(m[name], res)
	}
	return m
}

// perRound is num's metric over den's, round by round, for the rounds
// both have with a positive denominator.
func perRound(num, den []BenchResult, numUnit, denUnit string) []float64 {
	var out []float64
	for k := 0; k < len(num) && k < len(den); k++ {
		n, okN := num[k].Metrics[numUnit]
		d, okD := den[k].Metrics[denUnit]
		if okN && okD && d > 0 {
			out = append(out, n/d)
		}
	}
	return out
}
