package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

// The exit statuses of Main.
const (
	ExitOK    = 0 // the command completed; violations are results, not errors
	ExitError = 1 // any other error, a checker disagreement included
	ExitUsage = 2 // bad usage: unknown name, malformed or impossible value
)

// Main runs the idemsim command line args, without the program name
// (os.Args[1:]), writes results to stdout and messages to stderr, and
// returns the exit status: ExitOK, ExitUsage or ExitError. The strategies
// it accepts are those registered when it is called, built-in and
// strategies.Register'ed alike. A program's main is
//
//	func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
//
// Main reads the wall clock only for progress lines on a terminal, and
// catches Ctrl-C (SIGINT, SIGTERM) only while it works on real servers
// (run --backend real, clean, provider), to end cleanly. It sets go-redis's logger
// to one that says nothing: idemsim reports a failed connection itself,
// once.
func Main(args []string, stdout, stderr io.Writer) int {
	// go-redis logs failed dials itself; idemsim reports them once, with
	// the address and how to start a server.
	redis.SetLogger(quietLogger{})
	e := &env{
		stdout: stdout, stderr: stderr,
		isTerminal: isTerminal, now: time.Now,
		simRun: sim.Run, simCompare: sweep.Compare,
		realRun: func(cfg realrun.Config) (*sim.Result, error) {
			// Ctrl-C ends a real run cleanly: its keys deleted, its
			// prefix released.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return realrun.Run(ctx, cfg)
		},
		realClean: func(cfg realrun.Config) (*realrun.Cleaned, error) {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return realrun.Clean(ctx, cfg)
		},
		search: explain.SearchWith, sweeps: runSweeps, compareShard: sweep.CompareShard,
	}
	return e.main(args)
}

// quietLogger is a go-redis logger that says nothing.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// env is what a command runs in: its two outputs, the two things that
// depend on the machine, and the simulator's two entry points, all
// injectable so that tests can fake them.
type env struct {
	stdout, stderr io.Writer
	// isTerminal reports whether w is a terminal; compare and explain
	// show progress on stderr only then.
	isTerminal func(w io.Writer) bool
	// now is the wall clock, read only for the progress lines of compare
	// and explain.
	now func() time.Time
	// simRun and simCompare are sim.Run and sweep.Compare.
	simRun     func(sim.Config) (*sim.Result, error)
	simCompare func(sweep.CompareConfig) (*sweep.Comparison, error)
	// compareShard is sweep.CompareShard, compare --shard's sweep (nil:
	// sweep.CompareShard).
	compareShard func(sweep.CompareConfig, sweep.Shard) (*sweep.Part, error)
	// realRun is realrun.Run: `run --backend real`.
	realRun func(realrun.Config) (*sim.Result, error)
	// realClean is realrun.Clean: `clean`.
	realClean func(realrun.Config) (*realrun.Cleaned, error)
	// search is explain.SearchWith, explain's search for a violating seed
	// (nil: explain.SearchWith).
	search func(strategy string, fs faults.Set, instances, seeds int, o explain.SearchOptions) (sim.Config, bool, error)
	// serveProvider serves `idemsim provider` (nil: the flags' Run, on
	// stdin, stdout and stderr).
	serveProvider func(*provider.Flags) error
	// sweeps is runSweeps: plot --sweep's two sweeps (nil: runSweeps).
	sweeps func(sweep.SeriesConfig) (*sweep.InstancesData, *sweep.TTLData, error)
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
