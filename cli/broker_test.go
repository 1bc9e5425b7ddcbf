package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

// brokerCases are broker flags and the model and parameters they set.
var brokerCases = []struct {
	flags []string
	model string
	p     run.BrokerParams
}{
	{nil, "queue", run.BrokerParams{}},
	{[]string{"--broker", "queue"}, "queue", run.BrokerParams{}},
	{[]string{"--ack-deadline", "none"}, "queue", run.BrokerParams{AckDeadline: run.NoAckDeadline}},
	{[]string{"--ack-deadline", "750ms"}, "queue", run.BrokerParams{AckDeadline: 750 * time.Millisecond}},
	{[]string{"--nack-retry", "1s"}, "queue", run.BrokerParams{NackRetry: time.Second}},
	{[]string{"--prefetch", "4"}, "queue", run.BrokerParams{Prefetch: 4}},
	{[]string{"--max-deliveries", "0"}, "queue", run.BrokerParams{}},
	{[]string{"--max-deliveries", "3"}, "queue", run.BrokerParams{MaxDeliveries: 3}},
	{[]string{"--broker", "queue", "--ack-deadline", "none", "--prefetch", "2", "--max-deliveries", "5", "--nack-retry", "50ms"}, "queue",
		run.BrokerParams{AckDeadline: run.NoAckDeadline, Prefetch: 2, MaxDeliveries: 5, NackRetry: 50 * time.Millisecond}},
}

func TestBrokerFlagsSetTheRunsAndTheComparison(t *testing.T) {
	for _, tt := range brokerCases {
		r := newRecordingEnv()
		args := append([]string{"run", "--strategy", "none", "--faults", "crash", "--seed", "1"}, tt.flags...)
		require.Equal(t, ExitOK, r.main(args), "%q: %s", args, r.errOut())
		require.Len(t, r.runs, 1)
		assert.Equal(t, tt.model, r.runs[0].BrokerModel, "%q", args)
		assert.Equal(t, tt.p, r.runs[0].Broker, "%q", args)

		r = newRecordingEnv()
		args = append([]string{"compare", "--seeds", "2"}, tt.flags...)
		require.Equal(t, ExitOK, r.main(args), "%q: %s", args, r.errOut())
		require.Len(t, r.compares, 1)
		assert.Equal(t, tt.model, r.compares[0].BrokerModel, "%q", args)
		assert.Equal(t, tt.p, r.compares[0].Broker, "%q", args)
	}
}

func TestBadBrokerFlagsExitTwoAndSayWhatIsAccepted(t *testing.T) {
	tests := []struct {
		flags []string
		want  string
	}{
		{[]string{"--broker", "Queue"}, `unknown broker "Queue": names are exact, did you mean "queue"? (accepted: queue, log)`},
		{[]string{"--broker", ""}, `empty broker name (accepted: queue, log)`},
		{[]string{"--partitions", "0"}, `--partitions "0": want a whole number from 1 to 64`},
		{[]string{"--partitions", "65"}, `--partitions "65": want a whole number from 1 to 64`},
		{[]string{"--broker", "log", "--batch", "0"}, `--batch "0": want a whole number from 1 to 1000`},
		{[]string{"--broker", "log", "--batch", "x"}, `--batch "x": want a whole number from 1 to 1000`},
		{[]string{"--broker", "log", "--commit", "sometimes"}, `--commit "sometimes": want batch (after each fetched batch), record (after each record) or auto (every 5s, of what was received)`},
		{[]string{"--broker", "log", "--session-timeout", "0s"}, `--session-timeout "0s": want a positive Go duration`},
		{[]string{"--broker", "log", "--max-poll-interval", "-1s"}, `--max-poll-interval "-1s": want a positive Go duration`},
		{[]string{"--broker", "log", "--max-poll-interval"}, `--max-poll-interval needs a value`},
		// A parameter of one model is refused on the other.
		{[]string{"--partitions", "3"}, `--partitions is a parameter of the log broker, not of the queue (--broker queue)`},
		{[]string{"--broker", "queue", "--commit", "record"}, `--commit is a parameter of the log broker, not of the queue (--broker queue)`},
		{[]string{"--broker", "log", "--prefetch", "2"}, `--prefetch is a parameter of the queue broker, not of the log (--broker log)`},
		{[]string{"--broker", "log", "--ack-deadline", "none"}, `--ack-deadline is a parameter of the queue broker, not of the log (--broker log)`},
		{[]string{"--ack-deadline", "0"}, `--ack-deadline "0": want a positive Go duration`},
		{[]string{"--ack-deadline", "-1s"}, `, or none (no deadline: RabbitMQ)`},
		{[]string{"--ack-deadline", "never"}, `--ack-deadline "never": want a positive Go duration`},
		{[]string{"--nack-retry", "0s"}, `--nack-retry "0s": want a positive Go duration`},
		{[]string{"--prefetch", "0"}, `--prefetch "0": want a whole number from 1 to 1000`},
		{[]string{"--prefetch", "1001"}, `--prefetch "1001": want a whole number from 1 to 1000`},
		{[]string{"--prefetch", "two"}, `--prefetch "two": want a whole number from 1 to 1000`},
		{[]string{"--max-deliveries", "-1"}, `--max-deliveries "-1": want a whole number, 1 or more, or 0 for unlimited`},
		{[]string{"--max-deliveries", "3.5"}, `--max-deliveries "3.5": want a whole number, 1 or more, or 0 for unlimited`},
		{[]string{"--max-deliveries"}, `--max-deliveries needs a value`},
	}
	bases := [][]string{
		{"run", "--strategy", "none", "--faults", "crash", "--seed", "1"},
		{"compare", "--seeds", "1"},
		{"explain", "--strategy", "local-cache"},
	}
	// run and explain take one model, compare a list of distinct ones.
	one := []struct {
		flags []string
		want  string
	}{{[]string{"--broker", "queue,log"}, `--broker "queue,log": one model at a time here; compare takes a list, such as queue,log (accepted: queue, log)`}}
	list := []struct {
		flags []string
		want  string
	}{
		{[]string{"--broker", "queue,queue"}, `--broker "queue,queue" names queue twice: name each once (accepted: a comma-separated list of queue, log)`},
		{[]string{"--broker", "queue,kafka"}, `--broker: unknown broker "kafka" (accepted: queue, log)`},
		{[]string{"--broker", "queue,"}, `--broker "queue," has an empty name`},
	}
	for _, base := range bases {
		tests := tests
		if base[0] == "run" {
			// run takes kafka with --backend real: it names what kafka needs.
			tests = append(tests, struct {
				flags []string
				want  string
			}{[]string{"--broker", "kafka"}, `--broker kafka is a real broker: it needs --backend real (the simulator's models: queue, log)`},
				struct {
					flags []string
					want  string
				}{[]string{"--broker", "rabbitmq"}, `--broker rabbitmq is a real broker: it needs --backend real (the simulator's models: queue, log)`})
		} else {
			tests = append(tests, struct {
				flags []string
				want  string
			}{[]string{"--broker", "kafka"}, `--broker: unknown broker "kafka" (accepted: queue, log)`},
				struct {
					flags []string
					want  string
				}{[]string{"--broker", "rabbitmq"}, `--broker: unknown broker "rabbitmq" (accepted: queue, log)`})
		}
		if base[0] == "compare" {
			tests = append(tests, list...)
		} else {
			tests = append(tests, one...)
		}
		for _, tt := range tests {
			args := append(append([]string(nil), base...), tt.flags...)
			r := newRecordingEnv()
			assert.Equal(t, ExitUsage, r.main(args), "%q", args)
			assert.Contains(t, r.errOut(), modelsIn(tt.want), "%q", args)
			assert.Empty(t, r.runs, "%q: nothing runs", args)
			assert.Empty(t, r.compares, "%q: nothing runs", args)
		}
	}
}

// explain searches, shrinks and tells runs of the queue with the
// parameters given: the story of redis under crash on a queue with no ack
// deadline tells the channel that closed, and its replay lines keep the
// parameter, so they replay the run told.
func TestExplainTellsRunsOfTheQueuesParameters(t *testing.T) {
	code, out, stderr := runCLI(t, "explain", "--strategy", "redis", "--faults", "crash", "--ack-deadline", "none")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, out, "channel closed")
	assert.NotContains(t, out, "ack deadline passed")
	assert.Contains(t, out, "--ack-deadline none\n", "the reproduce line keeps the parameter")
	assert.NotContains(t, stderr, "BUG", "the two checkers agree on the runs told")
}

func TestRealBackendRefusesBrokerParameters(t *testing.T) {
	for _, f := range [][]string{{"--ack-deadline", "none"}, {"--prefetch", "2"}, {"--max-deliveries", "2"}, {"--ack-deadline", "1s"}} {
		args := append([]string{"run", "--backend", "real", "--strategy", "db-unique", "--faults", "none", "--seed", "1"}, f...)
		code, _, stderr := runCLI(t, args...)
		assert.Equal(t, ExitUsage, code, "%q", args)
		assert.Contains(t, stderr, "--backend real models only the default queue for now", "%q", args)
	}
}

func TestBrokerHelpSaysWhichRealBrokerEachSettingMatches(t *testing.T) {
	for _, cmd := range []string{"run", "compare", "explain"} {
		code, out, _ := runCLI(t, cmd, "-h")
		require.Equal(t, ExitOK, code)
		for _, want := range []string{
			"--broker B", "queue: an at-least-once queue",
			"--ack-deadline D|none", "SQS's visibility timeout, JetStream's AckWait", "(RabbitMQ)",
			"--prefetch N", "basic.qos prefetch count",
			"--max-deliveries N", "JetStream's MaxDeliver", "maxReceiveCount", "delivery-limit N is N+1",
		} {
			assert.Contains(t, out, want, "%s -h", cmd)
		}
	}
}

// reproduceArgs returns the arguments of a reproduce line, without
// "idemsim".
func reproduceArgs(t *testing.T, line string) []string {
	t.Helper()
	f := strings.Fields(line)
	require.Greater(t, len(f), 2, line)
	require.Equal(t, "idemsim", f[0], line)
	return f[1:]
}

func TestReproduceLineParsesBackToTheSameConfig(t *testing.T) {
	for _, tt := range brokerCases {
		cfg := run.Config{Strategy: "redis", Faults: faults.Of(faults.Slow, faults.Crash), Seed: 42, Instances: 4, Events: 30,
			MarkTTL: 3 * time.Second, BrokerModel: tt.model, Broker: tt.p}
		line := cfg.Reproduce()
		assert.Contains(t, line, " --broker queue", "every line names its broker")
		r := newRecordingEnv()
		require.Equal(t, ExitOK, r.main(reproduceArgs(t, line)), "%s: %s", line, r.errOut())
		require.Len(t, r.runs, 1)
		assert.Equal(t, cfg, r.runs[0], line)
		assert.Equal(t, line, r.runs[0].Reproduce(), "and gives the same line")
	}
}

// runJSON runs args with --json through Main and returns the result.
func runJSON(t *testing.T, args ...string) (map[string]json.RawMessage, *sim.Result) {
	t.Helper()
	code, out, stderr := runCLI(t, append(args, "--json")...)
	require.Equal(t, ExitOK, code, "%q: %s", args, stderr)
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &top))
	var res sim.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	return top, &res
}

func TestNonDefaultRunIsReplayedByItsReproduceLine(t *testing.T) {
	base := []string{"run", "--strategy", "redis", "--faults", "slow,crash", "--seed", "3", "--events", "40"}
	_, def := runJSON(t, base...)
	for _, tt := range brokerCases[2:] {
		_, res := runJSON(t, append(append([]string(nil), base...), tt.flags...)...)
		_, again := runJSON(t, reproduceArgs(t, res.Reproduce)...)
		assert.Equal(t, res.TraceHash, again.TraceHash, "%s replays the run", res.Reproduce)
		assert.Equal(t, res.Reproduce, again.Reproduce)
		if tt.p.AckDeadline != 0 || tt.p.Prefetch != 0 {
			// Under slow and crash these change which instance gets what
			// (a limit or a retry delay that no run reaches need not).
			assert.NotEqual(t, def.TraceHash, res.TraceHash, "%q make another run than the default's", tt.flags)
		}
	}
}

func TestJSONNamesTheBrokerAndItsParameters(t *testing.T) {
	base := []string{"run", "--strategy", "none", "--faults", "crash", "--seed", "1", "--events", "20"}
	top, _ := runJSON(t, base...)
	assert.Equal(t, `"queue"`, string(top["broker"]))
	for _, k := range []string{"ack_deadline", "nack_retry", "prefetch", "max_deliveries", "dead"} {
		assert.NotContains(t, top, k, "a default parameter is left out")
	}
	top, _ = runJSON(t, append(base, "--ack-deadline", "none", "--nack-retry", "1s", "--prefetch", "3", "--max-deliveries", "4")...)
	want := map[string]string{"broker": `"queue"`, "ack_deadline": `"none"`, "nack_retry": `"1s"`, "prefetch": "3", "max_deliveries": "4"}
	for k, v := range want {
		assert.Equal(t, v, string(top[k]), k)
	}
	top, _ = runJSON(t, append(base, "--ack-deadline", "2s")...)
	assert.Equal(t, `"2s"`, string(top["ack_deadline"]))

	code, out, stderr := runCLI(t, "compare", "--seeds", "2", "--events", "20", "--strategies", "none", "--faults", "crash", "--max-deliveries", "2", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var cmp struct {
		Broker        string `json:"broker"`
		MaxDeliveries int    `json:"max_deliveries"`
		Results       []map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(out), &cmp))
	assert.Equal(t, "queue", cmp.Broker)
	assert.Equal(t, 2, cmp.MaxDeliveries)
	require.Len(t, cmp.Results, 1)
	assert.Equal(t, `"queue"`, string(cmp.Results[0]["broker"]))
	assert.Equal(t, "2", string(cmp.Results[0]["max_deliveries"]))
	assert.Contains(t, string(cmp.Results[0]["reproduce"]), "--broker queue --max-deliveries 2")

	code, out, _ = runCLI(t, "compare", "--seeds", "2", "--events", "20", "--strategies", "none", "--faults", "crash", "--json")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, `"broker": "queue",`)
	assert.NotContains(t, out, "max_deliveries")
}

// deadlineRequeue matches a trace's requeue of a delivery whose ack
// deadline passed.
var deadlineRequeue = regexp.MustCompile(`(?m) requeue +ack deadline passed$`)

// TestNoAckDeadlineUnderSlowIsRabbitMQsLesson: with no ack deadline
// (RabbitMQ), a stalled instance keeps its delivery, so the broker never
// sends it to a second instance while the first is slow; with the default
// deadline it does. Under slow, redis is "ok or lost" either way (its mark
// is set before the effect, so a nack after the mark loses the event),
// and never duplicates: that much is the mechanism's, whatever the seed.
func TestNoAckDeadlineUnderSlowIsRabbitMQsLesson(t *testing.T) {
	const seeds = 10
	cells := map[string]*sweep.Cell{}
	for _, name := range []string{"default", "none"} {
		args := []string{"compare", "--seeds", fmt.Sprint(seeds), "--events", "50", "--faults", "slow", "--strategies", "redis", "--json"}
		if name == "none" {
			args = append(args, "--ack-deadline", "none")
		}
		code, out, stderr := runCLI(t, args...)
		require.Equal(t, ExitOK, code, stderr)
		var cmp sweep.Comparison
		require.NoError(t, json.Unmarshal([]byte(out), &cmp))
		require.Len(t, cmp.Results, 1)
		c := cmp.Results[0]
		cells[name] = &c
		assert.Contains(t, []string{"ok", "lost"}, c.Verdict(), "%s: redis under slow is ok or lost", name)
		assert.Zero(t, c.Duplicates, name)
		assert.Zero(t, c.Dead, name)
	}
	assert.Equal(t, "none", cells["none"].AckDeadline)
	assert.Empty(t, cells["default"].AckDeadline)

	deadlineRuns := 0
	for seed := 1; seed <= seeds; seed++ {
		args := []string{"run", "--strategy", "redis", "--faults", "slow", "--seed", fmt.Sprint(seed), "--events", "50", "--trace"}
		code, out, stderr := runCLI(t, args...)
		require.Equal(t, ExitOK, code, stderr)
		if deadlineRequeue.MatchString(out) {
			deadlineRuns++
		}
		code, out, stderr = runCLI(t, append(args, "--ack-deadline", "none")...)
		require.Equal(t, ExitOK, code, stderr)
		assert.NotRegexp(t, deadlineRequeue, out, "seed %d: with no ack deadline, no delivery goes back for its deadline", seed)
		assert.Contains(t, out, "broker           queue, ack deadline none")
	}
	assert.Positive(t, deadlineRuns, "with the default deadline, a stall longer than it sends the delivery back")
}

func TestMaxDeliveriesShowsDeadInTheTable(t *testing.T) {
	args := []string{"compare", "--seeds", "5", "--events", "50", "--strategies", "none,db-unique", "--faults", "slow"}
	code, out, stderr := runCLI(t, append(args, "--max-deliveries", "2")...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, out, "seeds 1..5, 3 instances, 50 events per run, broker queue (max deliveries 2)\n")
	assert.Regexp(t, `(?m)^none +dup\+dead$`, out, "a cell with dead events says dead, beside its violations")
	assert.Regexp(t, `(?m)^db-unique +dead$`, out, "and alone when it has none")
	assert.Regexp(t, `(?m)^dead \(dead-lettered after the last delivery, or refused by a handler as a conflict, never applied; not a violation\): none/slow \d+ events?, db-unique/slow \d+ events?$`, out)
	assert.Regexp(t, `(?m)^  none +slow .*reproduce with: idemsim run --strategy none --faults slow --seed \d+ --instances 3 --events 50 --broker queue --max-deliveries 2$`, out,
		"the reproduce lines carry the limit")

	code, out, stderr = runCLI(t, args...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, out, "seeds 1..5, 3 instances, 50 events per run\n", "the default broker is not named in the table")
	assert.NotContains(t, out, "dead")

	_, res := runJSON(t, "run", "--strategy", "db-unique", "--faults", "slow", "--seed", "1", "--events", "50", "--max-deliveries", "1")
	require.Positive(t, res.Dead, "a stall past the deadline with one delivery allowed dead-letters")
	code, out, _ = runCLI(t, "run", "--strategy", "db-unique", "--faults", "slow", "--seed", "1", "--events", "50", "--max-deliveries", "1")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, fmt.Sprintf("dead             %d (dead-lettered", res.Dead))
}

// modelsIn puts the simulator's models, as the messages list them, in
// place of "queue, log" in want: a model added to run.BrokerNames changes
// the list, not the tests.
func modelsIn(want string) string {
	return strings.ReplaceAll(want, "queue, log", strings.Join(run.BrokerNames, ", "))
}
