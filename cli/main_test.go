package cli

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// runCLI runs the command line in-process and returns its exit status and
// outputs.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// run's and compare's flags, straight from their FlagSets, so that a flag
// added later is covered without touching the tests.
func flagsOf(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	return names
}

func runFlags() []string     { var o runOpts; return flagsOf(o.flagSet()) }
func compareFlags() []string { var o compareOpts; return flagsOf(o.flagSet()) }

func TestBadUsageExitsTwoAndSaysWhatIsAccepted(t *testing.T) {
	runBase := []string{"run", "--strategy", "none", "--faults", "crash", "--seed", "1"}
	withRun := func(extra ...string) []string { return append(append([]string(nil), runBase...), extra...) }
	maxSeed := fmt.Sprint(uint64(math.MaxUint64))
	instRange := fmt.Sprintf("1 to %d", sim.MaxInstances)
	eventRange := fmt.Sprintf("1 to %d", sim.MaxEvents)
	seedsRange := fmt.Sprintf("1 to %d", sweep.MaxSeeds)
	strategyNames := strategies.Names()
	faultNames := faults.ScenarioNames()
	commandList := []string{"run", "compare", "explain", "plot", "help"}

	tests := []struct {
		name string
		args []string
		want []string // each must appear on stderr
	}{
		{"no command", nil, commandList},
		{"unknown command", []string{"frobnicate"}, append([]string{`"frobnicate"`}, commandList...)},
		{"flag before command", []string{"--json", "run"}, append([]string{"--json"}, commandList...)},

		{"run: unknown flag", withRun("--bogus"), append([]string{"--bogus"}, runFlags()...)},
		{"run: unknown backend", withRun("--backend", "mysql"), []string{`"mysql"`, "sim", "real"}},
		{"run: redis-url without real backend", withRun("--redis-url", "redis://127.0.0.1:6379/0"), []string{"--redis-url", "--backend real"}},
		{"run: bad prefix", withRun("--backend", "real", "--prefix", "Robert'); DROP TABLE"), []string{"bad prefix", "lowercase letter"}},
		{"run: bad redis URL", withRun("--backend", "real", "--redis-url", "http://127.0.0.1:6379"), []string{"URL", "redis://"}},
		{"run: bad postgres URL", withRun("--backend", "real", "--postgres-url", "127.0.0.1:5432"), []string{"URL", "postgres://"}},
		{"run: unknown strategy", []string{"run", "--strategy", "memcached", "--faults", "crash", "--seed", "1"}, append([]string{`"memcached"`}, strategyNames...)},
		{"run: unknown fault", []string{"run", "--strategy", "none", "--faults", "crash,flood", "--seed", "1"}, append([]string{`"flood"`}, faultNames...)},
		{"run: empty fault name", []string{"run", "--strategy", "none", "--faults", "crash,", "--seed", "1"}, append([]string{"empty name"}, faultNames...)},
		{"run: missing strategy", []string{"run", "--faults", "crash", "--seed", "1"}, append([]string{"missing --strategy"}, strategyNames...)},
		{"run: missing faults", []string{"run", "--strategy", "none", "--seed", "1"}, append([]string{"missing --faults"}, faultNames...)},
		{"run: missing seed", []string{"run", "--strategy", "none", "--faults", "crash"}, []string{"missing --seed", maxSeed}},
		{"run: seed not a number", withRun("--seed", "abc"), []string{"--seed", `"abc"`, maxSeed}},
		{"run: seed negative", withRun("--seed", "-1"), []string{"--seed", `"-1"`, maxSeed}},
		{"run: seed fraction", withRun("--seed", "1.5"), []string{"--seed", maxSeed}},
		{"run: seed too big", withRun("--seed", "18446744073709551616"), []string{"--seed", maxSeed}},
		{"run: seed without value", []string{"run", "--strategy", "none", "--faults", "crash", "--seed"}, []string{"--seed needs a value", maxSeed}},
		{"run: zero instances", withRun("--instances", "0"), []string{"--instances", instRange}},
		{"run: negative instances", withRun("--instances", "-3"), []string{"--instances", instRange}},
		{"run: too many instances", withRun("--instances", fmt.Sprint(sim.MaxInstances+1)), []string{"--instances", instRange}},
		{"run: zero events", withRun("--events", "0"), []string{"--events", eventRange}},
		{"run: too many events", withRun("--events", fmt.Sprint(sim.MaxEvents+1)), []string{"--events", eventRange}},
		{"run: events not a number", withRun("--events", "lots"), []string{"--events", eventRange}},
		{"run: positional argument", withRun("extra"), append([]string{`"extra"`}, runFlags()...)},
		{"run: malformed bool", withRun("--json=maybe"), []string{"--json", "true or false"}},
		{"run: trace with json", withRun("--trace", "--json"), []string{"--trace", "--json"}},

		{"compare: unknown flag", []string{"compare", "--seed", "3"}, append([]string{"--seed"}, compareFlags()...)},
		{"compare: zero seeds", []string{"compare", "--seeds", "0"}, []string{"--seeds", seedsRange}},
		{"compare: too many seeds", []string{"compare", "--seeds", fmt.Sprint(sweep.MaxSeeds + 1)}, []string{"--seeds", seedsRange}},
		{"compare: seeds not a number", []string{"compare", "--seeds", "1e3"}, []string{"--seeds", seedsRange}},
		{"compare: zero instances", []string{"compare", "--instances", "0"}, []string{"--instances", instRange}},
		{"compare: zero events", []string{"compare", "--events", "0"}, []string{"--events", eventRange}},
		{"compare: too many events", []string{"compare", "--events", fmt.Sprint(sim.MaxEvents + 1)}, []string{"--events", eventRange}},
		{"compare: negative workers", []string{"compare", "--workers", "-1"}, []string{"--workers", "0 to"}},
		{"compare: unknown strategy", []string{"compare", "--strategies", "none,memcached"}, append([]string{`"memcached"`}, strategyNames...)},
		{"compare: empty strategies", []string{"compare", "--strategies", ""}, append([]string{"empty name"}, strategyNames...)},
		{"compare: unknown scenario", []string{"compare", "--faults", "crash,flood"}, append([]string{`"flood"`}, faultNames...)},
		{"compare: combined scenario is not a name", []string{"compare", "--faults", "crash+slow"}, append([]string{`"crash+slow"`}, faultNames...)},
		{"compare: positional argument", []string{"compare", "now"}, append([]string{`"now"`}, compareFlags()...)},

		{"help: unknown command", []string{"help", "frobnicate"}, append([]string{`"frobnicate"`}, commandList...)},
		{"help: two commands", []string{"help", "run", "compare"}, commandList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			assert.Equal(t, ExitUsage, code, "stderr: %s", stderr)
			assert.Empty(t, stdout, "bad usage prints nothing on stdout")
			for _, w := range tt.want {
				assert.Contains(t, stderr, w)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			assert.LessOrEqual(t, len(lines), 2, "a one-or-two line message, not a usage dump:\n%s", stderr)
			assert.Contains(t, stderr, "idemsim", "the message names the tool")
		})
	}
}

func TestHelpMentionsEveryFlag(t *testing.T) {
	all := append(runFlags(), compareFlags()...)
	commandList := []string{"run", "compare", "explain", "plot", "help"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"help", []string{"help"}, append(commandList, all...)},
		{"-h", []string{"-h"}, append(commandList, all...)},
		{"--help", []string{"--help"}, append(commandList, all...)},
		{"help help", []string{"help", "help"}, append(commandList, all...)},
		{"help run", []string{"help", "run"}, runFlags()},
		{"run -h", []string{"run", "-h"}, runFlags()},
		{"run --help", []string{"run", "--help"}, runFlags()},
		{"run -help", []string{"run", "-help"}, runFlags()},
		{"run -h after flags", []string{"run", "--strategy", "none", "-h"}, runFlags()},
		{"run -h after an argument", []string{"run", "--strategy", "none", "stray", "--help"}, runFlags()},
		{"run -h with a bad value", []string{"run", "--strategy", "memcached", "-h"}, runFlags()},
		{"help compare", []string{"help", "compare"}, compareFlags()},
		{"compare -h", []string{"compare", "-h"}, compareFlags()},
		{"compare --help", []string{"compare", "--seeds", "3", "--help"}, compareFlags()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			assert.Equal(t, ExitOK, code, "stderr: %s", stderr)
			assert.Empty(t, stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			assert.Contains(t, stdout, "usage: idemsim")
		})
	}
}

func TestHelpListsNamesAndNoFutureCommands(t *testing.T) {
	code, stdout, _ := runCLI(t, "help")
	require.Equal(t, ExitOK, code)
	for _, n := range strategies.Names() {
		assert.Contains(t, stdout, n)
	}
	for _, n := range faults.ScenarioNames() {
		assert.Contains(t, stdout, n)
	}
}

func TestFlagHelpShowsDefaultsAndRanges(t *testing.T) {
	_, stdout, _ := runCLI(t, "run", "-h")
	assert.Contains(t, stdout, "(default 3)")
	assert.Contains(t, stdout, "(default 200)")
	assert.Contains(t, stdout, fmt.Sprintf("1 to %d", sim.MaxInstances))
	assert.Contains(t, stdout, fmt.Sprintf("1 to %d", sim.MaxEvents))

	_, stdout, _ = runCLI(t, "compare", "-h")
	assert.Contains(t, stdout, "--out results", "documents how to regenerate results/")
	assert.Contains(t, stdout, fmt.Sprintf("1 to %d", sweep.MaxSeeds))
}

func TestParseScenariosEachNameIsOneScenario(t *testing.T) {
	got, err := parseScenarios("crash, all", true)
	require.NoError(t, err)
	assert.Equal(t, []faults.Set{faults.Of(faults.Crash), faults.AllFaults}, got, "two scenarios, in the order given")

	_, err = parseScenarios("crash, all,crash", true)
	require.Error(t, err, "a repeated scenario is a slip, not a wish")
	assert.Contains(t, err.Error(), `--faults "crash, all,crash" names crash twice`)

	got, err = parseScenarios("", false)
	require.NoError(t, err)
	assert.Equal(t, faults.Scenarios(), got, "not given: every named scenario")
}

func TestParseStrategies(t *testing.T) {
	got, err := parseStrategies("db-unique, none", true, []string{"queue"})
	require.NoError(t, err)
	assert.Equal(t, []string{"db-unique", "none"}, got, "user order kept")

	_, err = parseStrategies("db-unique, none,db-unique", true, []string{"queue"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `names db-unique twice`)

	got, err = parseStrategies("", false, []string{"queue"})
	require.NoError(t, err)
	assert.Equal(t, strategies.NamesOn("queue"), got, "not given: those that run on the broker")
	got, err = parseStrategies("", false, []string{"queue", "log"})
	require.NoError(t, err)
	assert.Equal(t, strategies.Names(), got, "on both brokers: every strategy, in table order")
	got, err = parseStrategies("", false, []string{"log"})
	require.NoError(t, err)
	assert.Equal(t, strategies.NamesOn("log"), got)
}

func TestIntValue(t *testing.T) {
	var n int
	v := newIntValue(&n, 7, 1, 10)
	assert.Equal(t, 7, n, "the default is set")
	for _, s := range []string{"0", "11", "-1", "x", "", "3.0", "0x5"} {
		assert.Error(t, v.Set(s), "%q", s)
	}
	assert.Equal(t, 7, n, "a refused value leaves the flag unchanged")
	require.NoError(t, v.Set("10"))
	assert.Equal(t, 10, n)
}

func TestFormatCountsIsSorted(t *testing.T) {
	assert.Equal(t, "crash 2, lost-ack 5, ttl 1", formatCounts(map[string]int{"ttl": 1, "lost-ack": 5, "crash": 2}))
	assert.Equal(t, "none", formatCounts(nil))
}
