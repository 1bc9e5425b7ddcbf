package sim

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ instead of comparing")

// TestGoldenTraces replays the scripts in testdata/traces: each block is a
// command line ("run strategy=... faults=... seed=N instances=N events=N")
// and, below "----", the full trace and summary it must print, byte for byte.
// These files pin the trace across machines and Go versions; regenerate
// them with `go test ./sim -run Golden -update` and review the diff.
func TestGoldenTraces(t *testing.T) {
	files, err := filepath.Glob("testdata/traces/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			blocks := parseScript(t, string(data))
			var out strings.Builder
			for i, b := range blocks {
				got := runScriptCommand(t, b.cmd)
				if *update {
					if i > 0 {
						out.WriteString("\n")
					}
					fmt.Fprintf(&out, "%s%s\n----\n%s\n", b.comment, b.cmd, got)
					continue
				}
				require.Equal(t, b.want, got, "%s: %s", file, b.cmd)
			}
			if *update {
				require.NoError(t, os.WriteFile(file, []byte(out.String()), 0o644))
			}
		})
	}
}

type scriptBlock struct{ comment, cmd, want string }

// parseScript splits a datadriven-style file into blocks: a command line,
// "----", then the expected output up to a blank line.
func parseScript(t *testing.T, s string) []scriptBlock {
	var blocks []scriptBlock
	var comment strings.Builder
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		cmd := strings.TrimSpace(lines[i])
		if cmd == "" {
			continue
		}
		if strings.HasPrefix(cmd, "#") {
			comment.WriteString(cmd + "\n")
			continue
		}
		require.Less(t, i+1, len(lines), "command %q has no ---- line", cmd)
		require.Equal(t, "----", lines[i+1], "command %q must be followed by ----", cmd)
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		blocks = append(blocks, scriptBlock{comment.String(), cmd, strings.Join(want, "\n")})
		comment.Reset()
	}
	return blocks
}

func runScriptCommand(t *testing.T, cmd string) string {
	fields := strings.Fields(cmd)
	require.NotEmpty(t, fields)
	cfg := Config{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		require.True(t, ok, "argument %q is not key=value", f)
		switch k {
		case "strategy":
			cfg.Strategy = v
		case "broker":
			cfg.BrokerModel = v
		case "faults":
			s, err := faults.Parse(v)
			require.NoError(t, err)
			cfg.Faults = s
		case "seed", "instances", "events":
			n, err := strconv.Atoi(v)
			require.NoError(t, err)
			switch k {
			case "seed":
				cfg.Seed = uint64(n)
			case "instances":
				cfg.Instances = n
			default:
				cfg.Events = n
			}
		default:
			t.Fatalf("unknown argument %q", k)
		}
	}
	var buf bytes.Buffer
	switch fields[0] {
	case "run":
		cfg.KeepTrace = true
		r, err := Run(cfg)
		require.NoError(t, err)
		require.NoError(t, run.WriteTrace(&buf, r.Trace))
		fmt.Fprintf(&buf, "deliveries=%d duplicates=%d lost=%d stuck=%d linearizable=%v audit_ok=%v hash=%s",
			r.Deliveries, r.Duplicates, r.Lost, r.Stuck, *r.Linearizable, r.AuditOK, r.TraceHash)
		if st, _ := strategies.Lookup(cfg.Strategy); st.Needs.Has(strategies.NeedsPublisher) {
			// A strategy that sends events on: its downstream's counts.
			fmt.Fprintf(&buf, " ghosts=%d downstream_lost=%d downstream_duplicates=%d", r.Ghosts, r.DownstreamLost, r.DownstreamDuplicates)
		}
	case "hashes":
		// one line per strategy and scenario: the trace hash of cfg's seed
		var lines []string
		for _, st := range strategies.NamesOn(run.DefaultBroker) {
			for _, sc := range faults.Scenarios() {
				c := cfg
				c.Strategy, c.Faults = st, sc
				r, err := Run(c)
				require.NoError(t, err)
				lines = append(lines, fmt.Sprintf("%-16s %-10s %s", st, sc, r.TraceHash))
			}
		}
		buf.WriteString(strings.Join(lines, "\n"))
	default:
		t.Fatalf("unknown command %q", fields[0])
	}
	return strings.TrimRight(buf.String(), "\n")
}
