package cli

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

// fuzzEnv is an env in which nothing heavy runs: the simulator, the real
// backend, explain's search and plot's sweeps are fakes that answer at
// once, after checking what sim itself would refuse.
func fuzzEnv(stdout, stderr io.Writer) *env {
	result := func(cfg sim.Config) *sim.Result {
		return &sim.Result{Strategy: cfg.Strategy, Faults: cfg.Faults.Names(), Seed: cfg.Seed, Instances: cfg.Instances,
			Events: cfg.Events, Duplicates: 1, Linearizable: boolPtr(false), AuditOK: false, Reproduce: cfg.Reproduce()}
	}
	fakeCompare := func(cc sweep.CompareConfig) (*sweep.Comparison, error) {
		c := &sweep.Comparison{Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events}
		seed := uint64(1)
		for _, st := range cc.Strategies {
			for _, sc := range cc.Scenarios {
				c.Results = append(c.Results, sweep.Cell{Strategy: st, Faults: sc.Names(), Scenario: sc.String(),
					Stats: sweep.Stats{Runs: cc.Seeds, ViolatingRuns: 1, Duplicates: 1}, FirstFailingSeed: &seed, Instances: cc.Instances, Events: cc.Events})
			}
		}
		return c, nil
	}
	return &env{
		stdout: stdout, stderr: stderr,
		isTerminal: func(io.Writer) bool { return false },
		now:        func() time.Time { return time.Unix(0, 0) },
		simRun: func(cfg sim.Config) (*sim.Result, error) {
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			return result(cfg), nil
		},
		simCompare: fakeCompare,
		compareShard: func(cc sweep.CompareConfig, s sweep.Shard) (*sweep.Part, error) {
			c, _ := fakeCompare(cc)
			first, last := s.Seeds(cc.Seeds)
			return &sweep.Part{Shard: s, FirstSeed: first, LastSeed: last, Seeds: cc.Seeds, Instances: cc.Instances,
				Events: cc.Events, Strategies: cc.Strategies, Results: c.Results}, nil
		},
		realRun: func(rc realrun.Config) (*sim.Result, error) { return result(rc.Config), nil },
		realClean: func(rc realrun.Config) (*realrun.Cleaned, error) {
			return &realrun.Cleaned{Tables: []string{"public." + rc.Prefix + "_ledger"}}, nil
		},
		search: func(strategy string, fs faults.Set, instances, seeds int, _ explain.SearchOptions) (sim.Config, bool, error) {
			return sim.Config{}, false, nil
		},
		sweeps: func(sweep.SeriesConfig) (*sweep.InstancesData, *sweep.TTLData, error) {
			return nil, nil, errors.New("sweeps are not run while fuzzing")
		},
	}
}

// packagePrefixRE matches an internal package's prefix in a message, as
// in "sim: bad config" (not "--faults:"); toolPrefixRE matches the tool's
// own, "idemsim explain: ", which internalPrefix skips.
var (
	packagePrefixRE = regexp.MustCompile(`(?:^|[^-\w])(?:sim|faults|explain|strategies|realrun|check|plots|pgstore|sweep|run): `)
	toolPrefixRE    = regexp.MustCompile(`^idemsim(?: [a-z]+)?: `)
)

// internalPrefix returns the first internal package prefix in msg, or "".
func internalPrefix(msg string) string {
	for _, line := range strings.Split(msg, "\n") {
		if m := packagePrefixRE.FindString(toolPrefixRE.ReplaceAllString(line, "")); m != "" {
			return m
		}
	}
	return ""
}

// confine rewrites an argument so that, as a path, it names something in
// the current directory: no separator, no parent.
func confine(arg string) string {
	arg = strings.NewReplacer("/", "_", `\`, "_").Replace(arg)
	return strings.ReplaceAll(arg, "..", "__")
}

// FuzzCommandLine runs random command lines, one argument per line, in a
// directory of their own: the command must not panic or hang, must exit 0,
// 1 or 2, must say why on stderr when it does not exit 0, and a usage
// error (2) prints nothing on stdout. No message calls a name unknown
// while listing it as accepted, or shows an internal package's prefix.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"", "help", "-h", "help\nrun", "help\nnope", "frobnicate", "--json\nrun",
		"run\n--strategy\nnone\n--faults\ncrash\n--seed\n1",
		"run\n--strategy\nredis\n--faults\nnone\n--seed\n1\n--json\n--history\nh.json",
		"run\n--strategy\nredis\n--faults\nttl\n--seed\n1\n--mark-ttl\n5",
		"run\n--strategy\nDB_unique\n--faults\ncrash,none\n--seed\n-1\n--trace",
		"run\n--strategy\nnone\n--faults\ncrash\n--seed\n1\n--backend\nreal\n--prefix\nx_1",
		"compare", "compare\n--seeds\n1\n--instances\n1\n--events\n1\n--out\nout",
		"compare\n--faults\nnone,crash,all\n--strategies\nredis,none\n--max-memory\n1GiB\n--json",
		"compare\n--events\n100000\n--instances\n64\n--workers\n64",
		"compare\n--max-memory=5",
		"compare\n--shard\n2/3\n--seeds\n3\n--out\nparts", "compare\n--shard\n0/3", "compare\n--seeds\n2\n--shard\n3/3",
		"merge", "merge\nparts/compare-shard-2-of-3.json\n--json", "merge\n--out\nx\n--\n-h",
		"explain\n--strategy\nlocal-cache\n--out\nx",
		"explain\n--strategy\nredis\n--faults\nnone\n--seeds\n1",
		"plot", "plot\n--in\n.\n--out\nfigs", "plot\n--sweep\n--seeds\n3\n--workers\n2",
		"run\n---strategy=none", "run\n--Strategy\nnone",
		"clean", "clean\n--prefix\n", "clean\n--redis-url\n\n--prefix\nx", "clean\n--postgres-url\nhost=x password=s3cr3tPW",
		"run\n--strategy\nnone\n--faults\ncrash\n--seed\n1\n--backend\nreal\n--redis-url\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\n")
		}
		for i := range args {
			args[i] = confine(args[i])
		}
		t.Chdir(t.TempDir())
		var out, errOut bytes.Buffer
		code := make(chan int, 1)
		go func() { code <- fuzzEnv(&out, &errOut).main(args) }()
		var c int
		select {
		case c = <-code:
		case <-time.After(20 * time.Second):
			t.Fatalf("%q: no exit after 20 s", args)
		}
		stderr := errOut.String()
		switch c {
		case ExitOK:
		case ExitError, ExitUsage:
			if strings.TrimSpace(stderr) == "" {
				t.Fatalf("%q: exit %d with nothing on stderr", args, c)
			}
		default:
			t.Fatalf("%q: exit %d", args, c)
		}
		if c == ExitUsage && out.Len() > 0 {
			t.Fatalf("%q: bad usage printed on stdout: %s", args, out.String())
		}
		if name := refusesWhatItLists(stderr); name != "" {
			t.Fatalf("%q: %q called unknown and listed as accepted: %s", args, name, stderr)
		}
		if m := internalPrefix(stderr); m != "" {
			t.Fatalf("%q: internal prefix %q in %s", args, m, stderr)
		}
	})
}

func TestInternalPrefix(t *testing.T) {
	for msg, want := range map[string]string{
		"idemsim run: sim: bad config: x":             "sim: ",
		"faults: unknown fault":                       "faults: ",
		"idemsim explain: explain: x":                 "explain: ",
		"idemsim compare: --faults: unknown fault":    "",
		"idemsim run: bad prefix: strategies: x":      " strategies: ",
		"idemsim explain: no violation; nothing more": "",
	} {
		if got := internalPrefix(msg); got != want {
			t.Errorf("%q: got %q, want %q", msg, got, want)
		}
	}
}
