package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// recordingEnv is an env whose simulator, search and sweeps are faked and
// record what they were asked.
type recordingEnv struct {
	*env
	runs     []sim.Config
	compares []sweep.CompareConfig
	searched []faults.Set
}

func newRecordingEnv() *recordingEnv {
	r := &recordingEnv{}
	e, _, _ := fakeEnv(func(cfg sim.Config) (*sim.Result, error) {
		r.runs = append(r.runs, cfg)
		return &sim.Result{Strategy: cfg.Strategy, Seed: cfg.Seed, Linearizable: boolPtr(true), AuditOK: true}, nil
	}, func(cc sweep.CompareConfig) (*sweep.Comparison, error) {
		r.compares = append(r.compares, cc)
		return &sweep.Comparison{Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events}, nil
	})
	e.search = func(strategy string, fs faults.Set, instances, seeds int, _ explain.SearchOptions) (sim.Config, bool, error) {
		r.searched = append(r.searched, fs)
		return sim.Config{}, false, nil
	}
	r.env = e
	return r
}

// out and errOut are the env's outputs so far.
func (r *recordingEnv) out() string    { return r.stdout.(interface{ String() string }).String() }
func (r *recordingEnv) errOut() string { return r.stderr.(interface{ String() string }).String() }

func TestFaultsNoneIsAcceptedAndDocumentedEverywhere(t *testing.T) {
	for _, cmd := range []string{"run", "compare", "explain"} {
		code, stdout, _ := runCLI(t, cmd, "-h")
		require.Equal(t, ExitOK, code)
		assert.Contains(t, stdout, "none, alone: "+faults.NoneMeaning, "%s -h says what none means", cmd)
	}
	_, overview, _ := runCLI(t, "help")
	assert.Contains(t, overview, "none, alone: "+faults.NoneMeaning)

	r := newRecordingEnv()
	require.Equal(t, ExitOK, r.main([]string{"run", "--strategy", "none", "--faults", "none", "--seed", "1"}), r.errOut())
	require.Len(t, r.runs, 1)
	assert.Equal(t, faults.Set(0), r.runs[0].Faults)
	assert.Equal(t, "idemsim run --strategy none --faults none --seed 1 --instances 3 --events 200 --broker queue", r.runs[0].Reproduce())

	code, stdout, stderr := runCLI(t, "run", "--strategy", "none", "--faults", "none", "--seed", "1", "--events", "3")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^faults +none$`, stdout, "the summary names the empty scenario")
}

func TestFaultsNoneInEachCommand(t *testing.T) {
	r := newRecordingEnv()
	require.Equal(t, ExitOK, r.main([]string{"compare", "--faults", "none,crash", "--strategies", "none"}), r.errOut())
	assert.Equal(t, []faults.Set{0, faults.Of(faults.Crash)}, r.compares[0].Scenarios, "compare: each name one scenario, none among them")

	require.Equal(t, ExitOK, r.main([]string{"explain", "--strategy", "none", "--faults", "none"}), r.errOut())
	assert.Equal(t, []faults.Set{0}, r.searched)
	assert.Contains(t, r.out(), "none with no injected fault")

	for _, args := range [][]string{
		{"run", "--strategy", "none", "--faults", "none,crash", "--seed", "1"},
		{"run", "--strategy", "none", "--faults", "all,none", "--seed", "1"},
		{"explain", "--strategy", "none", "--faults", "crash,none"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, ExitUsage, code, "%v", args)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, `"none" cannot be combined with other faults`, "%v", args)
		assert.NotContains(t, stderr, "unknown", "%v: none is not unknown, it is accepted alone", args)
	}
}

// unknownRE and acceptedRE find, in a message, the name it calls unknown
// and the list it says is accepted.
var (
	unknownRE  = regexp.MustCompile(`unknown [a-z]+ (?:--)?("(?:[^"\\]|\\.)*"|\S+?)[ :(]`)
	acceptedRE = regexp.MustCompile(`\(accepted: ([^)]*)\)`)
)

// refusesWhatItLists reports the name msg calls unknown while listing it
// as accepted, or "".
func refusesWhatItLists(msg string) string {
	u := unknownRE.FindStringSubmatch(msg)
	a := acceptedRE.FindStringSubmatch(msg)
	if u == nil || a == nil {
		return ""
	}
	name := strings.Trim(u[1], `"`)
	for _, n := range strings.Split(a[1], ", ") {
		if strings.TrimPrefix(n, "--") == strings.TrimPrefix(name, "--") {
			return name
		}
	}
	return ""
}

func TestRefusesWhatItListsCanFail(t *testing.T) {
	assert.Equal(t, "none", refusesWhatItLists(`--faults: unknown fault "none" (accepted: crash, none)`))
	assert.Equal(t, "", refusesWhatItLists(`--faults: unknown fault "None": names are exact, did you mean "none"? (accepted: crash, none)`))
	assert.Equal(t, "seed", refusesWhatItLists(`unknown flag --seed (accepted: --seed, --help)`))
}

// TestNoMessageRefusesWhatItLists feeds every accepted name, and near
// misses of each, to every flag that takes names: an accepted name is
// never refused, and no message calls a name unknown while listing it.
func TestNoMessageRefusesWhatItLists(t *testing.T) {
	variants := func(n string) []string {
		return []string{n, strings.ToUpper(n), " " + n + " ", strings.ReplaceAll(n, "-", "_"), n + "," + n, n + ",", n + ",all", n + ",none"}
	}
	var cases [][]string
	for _, n := range strategies.Names() {
		for _, v := range variants(n) {
			cases = append(cases,
				[]string{"run", "--strategy", v, "--faults", "crash", "--seed", "1"},
				[]string{"compare", "--strategies", v},
				[]string{"explain", "--strategy", v})
		}
	}
	for _, n := range faults.AcceptedNames() {
		for _, v := range variants(n) {
			cases = append(cases,
				[]string{"run", "--strategy", "none", "--faults", v, "--seed", "1"},
				[]string{"compare", "--faults", v},
				[]string{"explain", "--strategy", "none", "--faults", v})
		}
	}
	for _, c := range commandList() {
		for _, v := range variants(c) {
			cases = append(cases, []string{v}, []string{"help", v})
		}
	}
	for _, f := range append(runFlags(), "--Seed", "--seeds", "---strategy", "-strategy") {
		cases = append(cases, []string{"run", f})
	}
	for _, args := range cases {
		r := newRecordingEnv()
		code := r.main(args)
		assert.Contains(t, []int{ExitOK, ExitError, ExitUsage}, code, "%q: %s", args, r.errOut())
		assert.Empty(t, refusesWhatItLists(r.errOut()), "%q: %s", args, r.errOut())
		if code == ExitUsage {
			assert.Regexp(t, `accepted: |needs a value: |: want `, r.errOut(), "%q: says what is accepted", args)
		}
	}
	for _, n := range strategies.NamesOn(run.DefaultBroker) {
		r := newRecordingEnv()
		assert.Equal(t, ExitOK, r.main([]string{"run", "--strategy", " " + n, "--faults", "crash", "--seed", "1"}), r.errOut())
		assert.Equal(t, n, r.runs[0].Strategy, "spaces around a name are ignored, as in lists")
	}
}

func TestNamesThatDifferOnlyInCaseGetAHint(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"Run"}, `unknown command "Run": names are exact, did you mean "run"?`},
		{[]string{"help", "COMPARE"}, `did you mean "compare"?`},
		{[]string{"run", "--strategy", "DB_Unique", "--faults", "crash", "--seed", "1"}, `unknown strategy "DB_Unique": names are exact, did you mean "db-unique"?`},
		{[]string{"compare", "--strategies", "none,Redis"}, `--strategies: unknown strategy "Redis": names are exact, did you mean "redis"?`},
		{[]string{"compare", "--faults", "Store_Loss"}, `unknown fault "Store_Loss": names are exact, did you mean "store-loss"?`},
		{[]string{"run", "--Strategy", "none"}, `unknown flag --Strategy: flag names are exact, did you mean --strategy?`},
		{[]string{"run", "---strategy", "none"}, `malformed flag "---strategy": write --name or --name=value (accepted: --ack-deadline, --amqp-url, --backend,`},
		{[]string{"run", "--strategy", "", "--faults", "crash", "--seed", "1"}, `empty strategy name (accepted: none, kafka-commit, local-cache`},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, tt.args...)
		assert.Equal(t, ExitUsage, code, "%q", tt.args)
		assert.Contains(t, stderr, tt.want, "%q", tt.args)
	}
}

func TestMarkTTLErrorsNameTheFormat(t *testing.T) {
	for _, v := range []string{"5", "-5s", "0", "0s", "abc", "1.5", "", "2 s"} {
		code, stdout, stderr := runCLI(t, "run", "--strategy", "redis", "--faults", "ttl", "--seed", "1", "--mark-ttl", v)
		assert.Equal(t, ExitUsage, code, "%q", v)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, fmt.Sprintf(`idemsim run: --mark-ttl %q: want a positive Go duration`, v))
		assert.Contains(t, stderr, "e.g. 500ms, 2s or 1h", "%q", v)
		assert.NotContains(t, stderr, "parse error", "not Go's raw error")
	}
	r := newRecordingEnv()
	require.Equal(t, ExitOK, r.main([]string{"run", "--strategy", "redis", "--faults", "ttl", "--seed", "1", "--mark-ttl", "1h30m"}), r.errOut())
	assert.Equal(t, 90*time.Minute, r.runs[0].MarkTTL)
	_, help, _ := runCLI(t, "run", "-h")
	assert.Contains(t, help, "e.g. 500ms, 2s or 1h")
	assert.NotContains(t, help, "(default 0", "no meaningless default for --mark-ttl")
}

func TestMaxMemory(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: refused
	}{
		{"512MiB", 512 << 20}, {"2GiB", 2 << 30}, {"1gib", 1 << 30}, {"1500MB", 1500e6},
		{"1TiB", 1 << 40}, {"1MiB", 1 << 20}, {"1048576B", 1 << 20}, {" 64 MiB ", 64 << 20},
		{"5", 0}, {"1.5GiB", 0}, {"0MiB", 0}, {"1023KiB", 0}, {"2TiB", 0}, {"-1GiB", 0},
		{"GiB", 0}, {"", 0}, {"1PiB", 0}, {"99999999999999999999GiB", 0},
	}
	for _, tt := range tests {
		r := newRecordingEnv()
		code := r.main([]string{"compare", "--max-memory", tt.in})
		if tt.want == 0 {
			assert.Equal(t, ExitUsage, code, "%q", tt.in)
			assert.Contains(t, r.errOut(), fmt.Sprintf("--max-memory %q: want a whole number and a unit, from 1MiB to 1TiB, e.g. 512MiB or 2GiB (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", tt.in))
			continue
		}
		require.Equal(t, ExitOK, code, "%q: %s", tt.in, r.errOut())
		assert.Equal(t, tt.want, r.compares[0].MaxMemory, "%q", tt.in)
	}
	_, help, _ := runCLI(t, "compare", "-h")
	assert.Contains(t, help, "--max-memory SIZE")
	assert.Contains(t, help, "(default 1GiB)")
}

func TestCompareSaysWhenMemoryLimitsTheRunsAtOnce(t *testing.T) {
	r := newRecordingEnv()
	require.Equal(t, ExitOK, r.main([]string{"compare", "--events", "100000", "--instances", "64", "--workers", "64"}))
	want := fmt.Sprintf("compare: 2 runs at a time, not 64: a run of 100000 events and 64 instances may hold %d MiB, and --max-memory is 1GiB\n",
		(sweep.EstimateRunMemory(100000, 64)+1<<20-1)>>20)
	assert.Equal(t, want, r.errOut())
	assert.Equal(t, 2, r.compares[0].InFlight())

	r = newRecordingEnv()
	require.Equal(t, ExitOK, r.main([]string{"compare", "--events", "100000", "--instances", "64", "--workers", "64", "--max-memory", "10MiB"}))
	assert.Contains(t, r.errOut(), "compare: 1 run at a time, not 64")

	r = newRecordingEnv()
	require.Equal(t, ExitOK, r.main([]string{"compare", "--workers", "64"}))
	assert.Empty(t, r.errOut(), "the default sweep is not limited, and says nothing")
}

func TestNoPackagePrefixInMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"sim's own", sim.BadConfigf("instances must be 1 to 64, not 0"), "idemsim run: instances must be 1 to 64, not 0\n"},
		{"wrapped sentinel", fmt.Errorf("%w: bad URL %q", sim.ErrBadConfig, "x"), "idemsim run: bad URL \"x\"\n"},
	}
	for _, tt := range tests {
		e, _, errOut := fakeEnv(func(sim.Config) (*sim.Result, error) { return nil, tt.err }, nil)
		assert.Equal(t, ExitUsage, e.main(runArgs("none", "crash", 1)), tt.name)
		first, _, _ := strings.Cut(errOut.String(), "run 'idemsim")
		assert.Equal(t, tt.want, first, tt.name)
	}
	_, err := sweep.Compare(sweep.CompareConfig{Seeds: -1})
	assert.NotContains(t, err.Error(), "sim:", "sim's errors carry no package prefix")
}

// plural1RE matches a count of one with a plural noun.
var plural1RE = regexp.MustCompile(`\b1 (instances|events|seeds|runs|scenarios|steps|trace records|duplicates)\b`)

func TestNoOneWithAPlural(t *testing.T) {
	seed := uint64(1)
	one := &sweep.Comparison{Seeds: 1, Instances: 1, Events: 1, Results: []sweep.Cell{{
		Strategy: "none", Faults: []string{"crash"}, Scenario: "crash", Stats: sweep.Stats{Runs: 1, ViolatingRuns: 1, Duplicates: 1},
		FirstFailingSeed: &seed, Instances: 1, Events: 1, Disagreements: 1,
	}}}
	e, out, errOut := fakeEnv(nil, func(sweep.CompareConfig) (*sweep.Comparison, error) { return one, nil })
	dir := t.TempDir()
	e.main([]string{"compare", "--seeds", "1", "--instances", "1", "--events", "1", "--strategies", "none", "--faults", "crash", "--out", dir})
	md, err := os.ReadFile(filepath.Join(dir, "compare.md"))
	require.NoError(t, err)
	texts := map[string]string{"compare stdout": out.String(), "compare stderr": errOut.String(), "compare.md": string(md)}
	assert.Contains(t, out.String(), "seeds 1..1, 1 instance, 1 event per run")
	assert.Contains(t, out.String(), "1/1 run")
	assert.Contains(t, errOut.String(), "(1 of 1 run)")

	r := newRecordingEnv()
	r.main([]string{"explain", "--strategy", "none", "--faults", "crash", "--seeds", "1", "--instances", "1"})
	texts["explain"] = r.out()
	assert.Contains(t, r.out(), "no violation in 1 seed x 1 scenario (crash), 1 instance and 200 events per run")

	var prog strings.Builder
	p := newProgress(&prog, func() time.Time { return time.Unix(0, 0) })
	p.update(1, 1)
	texts["progress"] = prog.String()
	assert.Contains(t, prog.String(), "1/1 run (100%)")

	for _, cmd := range commandList() {
		_, help, _ := runCLI(t, "help", cmd)
		texts["help "+cmd] = help
	}
	for name, text := range texts {
		assert.Empty(t, plural1RE.FindAllString(text, -1), "%s:\n%s", name, text)
	}
}

func TestAnEmptyFileFlagIsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"compare", "--out", ""},
		{"explain", "--strategy", "none", "--out="},
		{"run", "--strategy", "none", "--faults", "crash", "--seed", "1", "--history", ""},
		{"plot", "--out", ""},
		{"plot", "--in", ""},
	} {
		code, stdout, stderr := runCLI(t, args...)
		assert.Equal(t, ExitUsage, code, "%q", args)
		assert.Empty(t, stdout, "%q", args)
		assert.Regexp(t, `--(out|in|history) needs a (directory|file name) \(default`, stderr, "%q", args)
	}
}

func TestRunHistorySaysWhatItWrote(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.json")
	code, stdout, stderr := runCLI(t, runArgs("redis", "crash", 1, "--history", path)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "wrote "+path+"\n", stderr)
	_, plain, _ := runCLI(t, runArgs("redis", "crash", 1)...)
	assert.Equal(t, plain, stdout, "stdout is unchanged by --history")

	code, _, stderr = runCLI(t, runArgs("redis", "crash", 1, "--history", "")...)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "--history needs a file name")
}

func TestExplainOutWithNothingToExplainWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI(t, "explain", "--strategy", "db-unique", "--faults", "crash", "--seeds", "3", "--out", dir)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "nothing to explain")
	assert.Empty(t, stderr, "no file written, none named")
	assert.NoDirExists(t, dir, "--out is not even created")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	code, stdout, stderr = runCLI(t, "explain", "--strategy", "db-unique", "--out", filepath.Join(file, "sub"))
	assert.Equal(t, ExitError, code)
	assert.Empty(t, stdout, "a --out under a file fails before the search")
	assert.Contains(t, stderr, "is not a directory")
}
