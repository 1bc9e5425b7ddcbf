package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

// small keeps the runs of these tests fast.
var small = []string{"--instances", "3", "--events", "30"}

func runArgs(strategy, faultList string, seed int, extra ...string) []string {
	args := []string{"run", "--strategy", strategy, "--faults", faultList, "--seed", fmt.Sprint(seed)}
	args = append(args, small...)
	return append(args, extra...)
}

// specRunFields are the fields the spec requires of `run --json`.
var specRunFields = []string{"strategy", "faults", "seed", "instances", "events", "deliveries", "duplicates", "lost", "stuck", "linearizable", "audit_ok", "trace_hash", "sim_time_ms", "faults_injected"}

func TestRunJSONHasEverySpecField(t *testing.T) {
	code, stdout, stderr := runCLI(t, runArgs("redis", "partition,crash", 4, "--json")...)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	assert.Empty(t, stderr)

	var fields map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(stdout))
	require.NoError(t, dec.Decode(&fields))
	assert.False(t, dec.More(), "exactly one JSON object on stdout")
	for _, f := range specRunFields {
		assert.Contains(t, fields, f)
	}

	var r struct {
		Strategy       string         `json:"strategy"`
		Faults         []string       `json:"faults"`
		Seed           uint64         `json:"seed"`
		Instances      int            `json:"instances"`
		Events         int            `json:"events"`
		Deliveries     int            `json:"deliveries"`
		Linearizable   *bool          `json:"linearizable"`
		TraceHash      string         `json:"trace_hash"`
		SimTimeMS      float64        `json:"sim_time_ms"`
		FaultsInjected map[string]int `json:"faults_injected"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &r))
	assert.Equal(t, "redis", r.Strategy)
	assert.Equal(t, []string{"crash", "partition"}, r.Faults, "faults is a sorted list")
	assert.True(t, sort.StringsAreSorted(r.Faults))
	assert.Equal(t, uint64(4), r.Seed)
	assert.Equal(t, 3, r.Instances)
	assert.Equal(t, 30, r.Events)
	assert.GreaterOrEqual(t, r.Deliveries, r.Events, "at least once: every event delivered")
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]+$`), r.TraceHash)
	assert.Positive(t, r.SimTimeMS)
	assert.NotNil(t, r.FaultsInjected)
	switch string(fields["linearizable"]) {
	case "true", "false", "null":
	default:
		t.Errorf("linearizable is %s, want true, false or null", fields["linearizable"])
	}
}

func TestRunIsDeterministic(t *testing.T) {
	for _, mode := range [][]string{{"--json"}, {"--trace"}, nil} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			args := runArgs("local-cache", "all", 11, mode...)
			code1, out1, _ := runCLI(t, args...)
			code2, out2, _ := runCLI(t, args...)
			require.Equal(t, ExitOK, code1)
			require.Equal(t, ExitOK, code2)
			assert.Equal(t, out1, out2, "same flags and seed: same bytes")
		})
	}
}

func TestRunSummary(t *testing.T) {
	violated := 0
	for seed := 1; seed <= 8; seed++ {
		args := runArgs("none", "redeliver", seed)
		code, jsonOut, _ := runCLI(t, append(args, "--json")...)
		require.Equal(t, ExitOK, code)
		var res sim.Result
		require.NoError(t, json.Unmarshal([]byte(jsonOut), &res))

		code, stdout, stderr := runCLI(t, args...)
		require.Equal(t, ExitOK, code, "a violation is a result, not an error: %s", stderr)
		assert.Empty(t, stderr)
		for _, w := range []string{"strategy", "none", "deliveries", "duplicates", "lost", "stuck", "porcupine", "audit", res.TraceHash, "sim time", "faults injected"} {
			assert.Contains(t, stdout, w)
		}
		assert.Contains(t, stdout, verdictText(res.Linearizable))
		if res.Violating() {
			violated++
			lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
			assert.Equal(t, "reproduce with: "+res.Reproduce, lines[len(lines)-1], "the last line replays the run")
			assert.Contains(t, res.Reproduce, fmt.Sprintf("--seed %d", seed))
		} else {
			assert.NotContains(t, stdout, "reproduce with:")
		}
	}
	assert.Positive(t, violated, "none under redeliver should violate in some seed, so the reproduce line is tested")
}

func TestRunTraceComesBeforeTheSummary(t *testing.T) {
	code, stdout, _ := runCLI(t, runArgs("db-unique", "crash", 2, "--trace")...)
	require.Equal(t, ExitOK, code)
	publish := strings.Index(stdout, " publish\n") // a trace line, not "published"
	strategy := strings.Index(stdout, "strategy ")
	require.GreaterOrEqual(t, publish, 0, "the trace is printed")
	assert.Less(t, publish, strategy, "the trace comes before the summary")

	_, plain, _ := runCLI(t, runArgs("db-unique", "crash", 2)...)
	assert.True(t, strings.HasSuffix(stdout, plain), "the summary is unchanged by --trace")
	assert.NotContains(t, plain, " publish ")
}

func TestRunHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.json")
	code, _, stderr := runCLI(t, runArgs("redis", "crash", 1, "--history", path)...)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var ops []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &ops))
	require.NotEmpty(t, ops)
	kinds := map[string]int{}
	for _, op := range ops {
		for _, f := range []string{"client", "input", "output", "call", "return"} {
			assert.Contains(t, op, f)
		}
		var in struct {
			Kind  string `json:"kind"`
			Event uint64 `json:"event"`
		}
		require.NoError(t, json.Unmarshal(op["input"], &in))
		assert.Positive(t, in.Event)
		kinds[in.Kind]++
	}
	assert.Positive(t, kinds["attempt"])
	assert.Positive(t, kinds["ack"])
	assert.Equal(t, 30, kinds["read"], "one final read per event")

	// The same run again writes the same history.
	path2 := filepath.Join(t.TempDir(), "history.json")
	code, _, _ = runCLI(t, runArgs("redis", "crash", 1, "--history", path2)...)
	require.Equal(t, ExitOK, code)
	data2, err := os.ReadFile(path2)
	require.NoError(t, err)
	assert.Equal(t, data, data2)
}

func TestRunHistoryUnwritable(t *testing.T) {
	dir := t.TempDir()
	for name, path := range map[string]string{
		"missing directory": filepath.Join(dir, "no", "such", "dir", "h.json"),
		"a directory":       dir,
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, runArgs("none", "crash", 1, "--history", path)...)
			assert.Equal(t, ExitError, code)
			assert.Empty(t, stdout, "fails before the run")
			assert.Contains(t, stderr, "--history")
			assert.Contains(t, stderr, path)
		})
	}
}

// fakeEnv is an env whose simulator is faked.
func fakeEnv(run func(sim.Config) (*sim.Result, error), cmp func(sweep.CompareConfig) (*sweep.Comparison, error)) (*env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &env{
		stdout: &out, stderr: &errOut,
		isTerminal: func(w io.Writer) bool { return false },
		now:        func() time.Time { return time.Unix(0, 0) },
		simRun:     run, simCompare: cmp,
		realRun: func(realrun.Config) (*sim.Result, error) {
			return nil, errors.New("real runs are not made by this test")
		},
		realClean: func(rc realrun.Config) (*realrun.Cleaned, error) { return &realrun.Cleaned{}, nil },
	}, &out, &errOut
}

func boolPtr(b bool) *bool { return &b }

func TestRunCheckerDisagreementIsABug(t *testing.T) {
	tests := []struct {
		name         string
		linearizable *bool
		auditOK      bool
		verdict      string
	}{
		{"porcupine fails, audit passes", boolPtr(false), true, "NOT linearizable"},
		{"porcupine passes, audit fails", boolPtr(true), false, "linearizable"},
		{"porcupine timed out", nil, true, "unknown (timed out)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sim.Config
			e, out, errOut := fakeEnv(func(cfg sim.Config) (*sim.Result, error) {
				got = cfg
				return &sim.Result{Strategy: cfg.Strategy, Faults: cfg.Faults.Names(), Seed: cfg.Seed,
					Linearizable: tt.linearizable, AuditOK: tt.auditOK, Reproduce: cfg.Reproduce(),
					FaultsInjected: map[string]int{"lost-ack": 1}}, nil
			}, nil)
			code := e.main([]string{"run", "--strategy", "redis", "--faults", "ttl", "--seed", "9"})
			assert.Equal(t, ExitError, code)
			assert.Equal(t, "redis", got.Strategy)
			assert.Equal(t, uint64(9), got.Seed)
			assert.Contains(t, out.String(), tt.verdict, "the summary is still printed")
			assert.Contains(t, errOut.String(), "BUG in idemsim")
			assert.Contains(t, errOut.String(), "idemsim run --strategy redis --faults ttl --seed 9")
		})
	}
}

func TestRunSimErrors(t *testing.T) {
	e, out, errOut := fakeEnv(func(sim.Config) (*sim.Result, error) {
		return nil, errors.New("sim: the world ended")
	}, nil)
	dir := t.TempDir()
	hist := filepath.Join(dir, "h.json")
	assert.Equal(t, ExitError, e.main(runArgs("none", "crash", 1, "--history", hist)))
	assert.Empty(t, out.String())
	assert.Contains(t, errOut.String(), "the world ended")
	assert.NoFileExists(t, hist, "no empty history file is left behind")

	e, _, errOut = fakeEnv(func(sim.Config) (*sim.Result, error) {
		return nil, fmt.Errorf("%w: no such thing", sim.ErrBadConfig)
	}, nil)
	assert.Equal(t, ExitUsage, e.main(runArgs("none", "crash", 1)), "a config sim refuses is bad usage")
	assert.Contains(t, errOut.String(), "no such thing")
}

func TestRunPassesTraceAndHistoryRequests(t *testing.T) {
	var got sim.Config
	e, out, _ := fakeEnv(func(cfg sim.Config) (*sim.Result, error) {
		got = cfg
		return &sim.Result{Linearizable: boolPtr(true), AuditOK: true,
			Trace:   []run.Record{{At: 1, Kind: run.Publish, Inst: -1, Event: 1}},
			History: []check.Op{{Kind: check.Read, Client: 3, Event: 1, Call: 5, Return: 6, Count: 1}},
		}, nil
	}, nil)
	hist := filepath.Join(t.TempDir(), "h.json")
	require.Equal(t, ExitOK, e.main(runArgs("db-unique", "all", 5, "--trace", "--history", hist)))
	assert.True(t, got.KeepTrace)
	assert.True(t, got.KeepHistory)
	assert.Equal(t, 3, got.Instances)
	assert.Equal(t, 30, got.Events)
	assert.Contains(t, out.String(), " publish\n")
	data, err := os.ReadFile(hist)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"kind":"read"`)
	assert.NotContains(t, out.String(), "reproduce with:", "no reproduce line for a passing run")
}

func TestRealBackendIsPassedItsSettings(t *testing.T) {
	var got realrun.Config
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, isTerminal: func(io.Writer) bool { return false }, now: time.Now,
		realRun: func(cfg realrun.Config) (*sim.Result, error) {
			got = cfg
			return sim.Run(cfg.Config) // stands in for the servers
		}}
	code := e.main([]string{"run", "--strategy", "db-unique", "--faults", "crash", "--seed", "3", "--events", "20",
		"--backend", "real", "--redis-url", "redis://:secret@127.0.0.1:7000/1", "--postgres-url", "postgres://u@127.0.0.1:7001/db", "--prefix", "idem_test"})
	require.Equal(t, ExitOK, code, errOut.String())
	assert.Equal(t, "redis://:secret@127.0.0.1:7000/1", got.RedisURL)
	assert.Equal(t, "postgres://u@127.0.0.1:7001/db", got.PostgresURL)
	assert.Equal(t, "idem_test", got.Prefix)
	assert.Equal(t, 20, got.Events)
	assert.Contains(t, out.String(), "(wall clock)", "a real run's time is labelled as wall-clock time")
	assert.NotContains(t, out.String(), "sim time")
}

func TestUnreachableServerIsReportedQuickly(t *testing.T) {
	start := time.Now()
	code, _, stderr := runCLI(t, "run", "--strategy", "redis", "--faults", "crash", "--seed", "1", "--events", "5",
		"--backend", "real", "--redis-url", "redis://:hunter2@127.0.0.1:1/0")
	assert.Equal(t, ExitError, code)
	assert.Less(t, time.Since(start), 5*time.Second, "an unreachable server is reported within seconds")
	assert.Contains(t, stderr, "127.0.0.1:1", "the address tried")
	assert.Contains(t, stderr, "redis-server", "how to start one")
	assert.NotContains(t, stderr, "hunter2", "passwords are never printed")
}
