package playground_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/cli"
	"github.com/idemsim/idemsim/playground"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// cliRun runs `idemsim run ... --json` with the flags of f and returns
// its JSON.
func cliRun(t *testing.T, f playground.Flags) map[string]any {
	t.Helper()
	args := []string{"run", "--strategy", f.Strategy, "--faults", f.Faults, "--seed", fmt.Sprint(f.Seed),
		"--instances", fmt.Sprint(f.Instances), "--events", fmt.Sprint(f.Events), "--broker", f.Broker, "--json"}
	if f.Drop != "" {
		args = append(args, "--drop", f.Drop)
	}
	var out, errb bytes.Buffer
	code := cli.Main(args, &out, &errb)
	require.Equal(t, 0, code, "idemsim %s: %s", strings.Join(args, " "), errb.String())
	var m map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &m))
	return m
}

// call answers op on query as the browser's script gets it, decoded.
func call(t *testing.T, op, query string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(playground.Call(op, query)), &m))
	return m
}

// The browser's runs are the command line's: for every strategy, on every
// broker it runs on, and many seeds, the same flags give the same trace
// hash and the same counts, and the reproduce line is the command's.
func TestRunIsTheCommandLines(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 3
	}
	for _, st := range strategies.All() {
		for _, broker := range run.BrokerNames {
			if !st.RunsOn(broker) {
				continue
			}
			for seed := 1; seed <= seeds; seed++ {
				f := playground.Flags{Strategy: st.Name, Faults: "all", Seed: uint64(seed), Instances: 1 + seed%3, Events: 10 * seed, Broker: broker}
				if seed%2 == 0 {
					f.Faults = "crash,redeliver"
				}
				got := call(t, "run", f.Query())
				require.Empty(t, got["error"], f.Query())
				want := cliRun(t, f)
				name := f.Query()
				assert.Equal(t, want["trace_hash"], got["trace_hash"], name)
				assert.NotEmpty(t, got["trace_hash"], name)
				for _, k := range []string{"duplicates", "lost", "stuck"} {
					assert.Equal(t, want[k], got[k], name+": "+k)
				}
				assert.Equal(t, want["reproduce"], got["reproduce"], name)
				assert.Equal(t, "playground.html?"+f.Query(), got["link"], name)
			}
		}
	}
}

// The default run of the playground (3 instances, 200 events) is the
// command line's for many seeds of a strategy that breaks and one that
// holds.
func TestFullRunsAreTheCommandLines(t *testing.T) {
	if testing.Short() {
		t.Skip("200-event runs: not in -short")
	}
	for _, st := range []string{"local-cache", "redis", "db-unique"} {
		for seed := uint64(1); seed <= 20; seed++ {
			f := playground.Flags{Strategy: st, Faults: "redeliver", Seed: seed, Instances: 3, Events: 200, Broker: "queue"}
			o, err := playground.Run(f, false)
			require.NoError(t, err)
			assert.Equal(t, cliRun(t, f)["trace_hash"], o.TraceHash, f.Query())
		}
	}
}

func TestParseQuery(t *testing.T) {
	f, err := playground.ParseQuery("?strategy=local-cache&faults=redeliver&seed=1&instances=2&events=1")
	require.NoError(t, err)
	assert.Equal(t, playground.Flags{Strategy: "local-cache", Faults: "redeliver", Seed: 1, Instances: 2, Events: 1, Broker: "queue"}, f)
	assert.Equal(t, "strategy=local-cache&faults=redeliver&seed=1&instances=2&events=1&broker=queue", f.Query())
	back, err := playground.ParseQuery(f.Query())
	require.NoError(t, err)
	assert.Equal(t, f, back)

	f, err = playground.ParseQuery("strategy=redis&faults=crash,slow&seed=7")
	require.NoError(t, err)
	assert.Equal(t, 3, f.Instances)
	assert.Equal(t, 200, f.Events)
	assert.Equal(t, "strategy=redis&faults=crash,slow&seed=7&instances=3&events=200&broker=queue", f.Query())

	for q, want := range map[string]string{
		"faults=redeliver&seed=1":                                  "no strategy",
		"strategy=nope&faults=redeliver&seed=1":                    "nope",
		"strategy=redis&seed=1":                                    "no faults",
		"strategy=redis&faults=bogus&seed=1":                       "bogus",
		"strategy=redis&faults=crash":                              "no seed",
		"strategy=redis&faults=crash&seed=-1":                      "seed",
		"strategy=redis&faults=crash&seed=1&instances=0":           "instances",
		"strategy=redis&faults=crash&seed=1&events=x":              "events",
		"strategy=redis&faults=crash&seed=1&broker=kafka":          "kafka",
		"strategy=offset-in-db&faults=crash&seed=1":                "offset-in-db",
		"strategy=redis&faults=crash&seed=1&drop=what":             "drop",
		"strategy=redis&faults=crash&seed=1&instances=99999999999": "instances",
	} {
		_, err := playground.ParseQuery(q)
		if assert.Error(t, err, q) {
			assert.Contains(t, err.Error(), want, q)
		}
		got := call(t, "run", q)
		assert.Contains(t, got["error"], want, q)
	}
	assert.Contains(t, call(t, "fly", "strategy=redis&faults=crash&seed=1")["error"], "unknown call")
}

// The story of a run is the story page's document of it, whose trace
// hash is the run's; a broken run shrinks as explain shrinks it.
func TestStoryAndShrink(t *testing.T) {
	q := "strategy=local-cache&faults=redeliver&seed=1&instances=3&events=20"
	o, err := playground.Run(mustParse(t, q), true)
	require.NoError(t, err)
	require.NotNil(t, o.Story)
	assert.Equal(t, "VIOLATED", o.ExactlyOnce)
	assert.Equal(t, "dup", o.Verdict)
	assert.Equal(t, o.TraceHash, o.Story.TraceHash)
	assert.Equal(t, o.Reproduce, o.Story.Reproduce)
	assert.NotEmpty(t, o.Story.Steps)

	s, err := playground.Shrink(mustParse(t, q))
	require.NoError(t, err)
	assert.Equal(t, "VIOLATED", s.ExactlyOnce)
	assert.Contains(t, s.Shrunk, "shrunk to")
	assert.LessOrEqual(t, s.Flags.Events, 20)
	require.NotNil(t, s.Story)
	assert.Equal(t, s.TraceHash, s.Story.TraceHash)
	// The shrunk run's link replays it: same hash.
	again := call(t, "run", strings.TrimPrefix(s.Link, "playground.html?"))
	assert.Equal(t, s.TraceHash, again["trace_hash"])
	assert.Equal(t, cliRun(t, s.Flags)["trace_hash"], s.TraceHash)

	// A run that holds tells its story too, and has nothing to shrink.
	held, err := playground.Shrink(mustParse(t, "strategy=db-unique&faults=redeliver&seed=1&instances=2&events=5"))
	require.NoError(t, err)
	assert.Equal(t, "held", held.ExactlyOnce)
	assert.Equal(t, "ok", held.Verdict)
	assert.Contains(t, held.Shrunk, "nothing to shrink")
}

// A sweep is one cell of compare.
func TestSweepIsACompareCell(t *testing.T) {
	f := mustParse(t, "strategy=local-cache&faults=slow&seed=1&instances=3&events=30")
	c, err := playground.Sweep(f, 20, nil)
	require.NoError(t, err)
	var out, errb bytes.Buffer
	require.Equal(t, 0, cli.Main([]string{"compare", "--strategies", "local-cache", "--faults", "slow", "--seeds", "20", "--instances", "3", "--events", "30", "--json"}, &out, &errb), errb.String())
	var cmp struct {
		Results []map[string]any `json:"results"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &cmp))
	require.Len(t, cmp.Results, 1)
	b, _ := json.Marshal(c)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, cmp.Results[0], got)
	assert.Contains(t, call(t, "sweep", f.Query()+"&seeds=0")["error"], "seeds")
}

func mustParse(t *testing.T, q string) playground.Flags {
	t.Helper()
	f, err := playground.ParseQuery(q)
	require.NoError(t, err)
	return f
}
