package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// Exit statuses, as the spec's "Command line" fixes them.
const (
	exitOK    = 0 // the command completed; violations are results, not errors
	exitError = 1 // any other error, a checker disagreement included
	exitUsage = 2 // bad usage: unknown name, malformed or impossible value
)

// main runs idemsim on its command line and exits with the status.
func main() { os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr)) }

// runMain runs the command line args (without the program name), writing
// results to stdout and messages to stderr, and returns the exit status.
func runMain(args []string, stdout, stderr io.Writer) int {
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
		search: explain.Search, sweeps: runSweeps, compareShard: sweep.CompareShard,
	}
	return e.main(args)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// env is what a command runs in: its two outputs, the two things that
// depend on the machine, and the simulator's two entry points, all
// injectable so that tests can fake them.
type env struct {
	stdout, stderr io.Writer
	// isTerminal reports whether w is a terminal; compare shows progress
	// on stderr only then.
	isTerminal func(w io.Writer) bool
	// now is the wall clock, read only for compare's progress line.
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
	// search is explain.Search, explain's search for a violating seed
	// (nil: explain.Search).
	search func(strategy string, fs faults.Set, instances, seeds int) (sim.Config, bool)
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

// command is one subcommand of idemsim.
type command struct {
	name     string
	summary  string // one line for `idemsim help`
	synopsis string // the usage line, naming every flag
}

// commands lists the subcommands in the order help shows them.
var commands = []command{
	{
		name:     "run",
		summary:  "simulate one run of one strategy under some faults, and judge it",
		synopsis: runSynopsis,
	},
	{
		name:     "compare",
		summary:  "run every strategy under every fault scenario over seeds 1..N; print the table",
		synopsis: compareSynopsis,
	},
	{
		name:     "merge",
		summary:  "join the slices of a sharded compare (--shard K/N) into the whole table",
		synopsis: mergeSynopsis,
	},
	{
		name:     "explain",
		summary:  "find a violation of one strategy, shrink it, and tell it step by step",
		synopsis: explainSynopsis,
	},
	{
		name:     "plot",
		summary:  "draw the comparison plots from saved results",
		synopsis: plotSynopsis,
	},
	{
		name:     "clean",
		summary:  "remove what real runs of a prefix left on the servers: idemsim's tables and keys",
		synopsis: cleanSynopsis,
	},
	{
		name:     "help",
		summary:  "list the commands, or describe every flag of one: idemsim help <command>",
		synopsis: "idemsim help [command]",
	},
}

// lookupCommand returns the command called name, or nil.
func lookupCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// commandNames lists the command names, comma-separated.
func commandNames() string { return strings.Join(commandList(), ", ") }

// commandList lists the command names in the order help shows them.
func commandList() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

// usageError is bad usage of a command: exit status 2, and a message that
// says what is wrong and what is accepted.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// checkerBugError reports that porcupine and the audit disagreed, or that
// porcupine could not decide: a bug in idemsim, exit status 1.
type checkerBugError struct{ msg string }

func (c *checkerBugError) Error() string { return "BUG in idemsim: " + c.msg }

// main dispatches args to a command and turns its error into a message on
// stderr and an exit status.
func (e *env) main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(e.stderr, "usage: idemsim <command> [flags]; commands: %s\nrun 'idemsim help' for help\n", commandNames())
		return exitUsage
	}
	name := args[0]
	if isHelpArg(name) {
		name = "help"
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		if strings.HasPrefix(name, "-") {
			fmt.Fprintf(e.stderr, "idemsim: flag %s before the command: flags come after it (commands: %s)\nrun 'idemsim help' for help\n", name, commandNames())
		} else {
			fmt.Fprintf(e.stderr, "idemsim: %v\nrun 'idemsim help' for help\n", unknownName("command", name, commandList()))
		}
		return exitUsage
	}
	return e.exit(cmd, e.dispatch(cmd.name, args[1:]))
}

// dispatch runs the command called name on its arguments.
func (e *env) dispatch(name string, args []string) error {
	switch name {
	case "run":
		return e.runCmd(args)
	case "compare":
		return e.compareCmd(args)
	case "merge":
		return e.mergeCmd(args)
	case "explain":
		return e.explainCmd(args)
	case "plot":
		return e.plotCmd(args)
	case "clean":
		return e.cleanCmd(args)
	case "help":
		return e.helpCmd(args)
	}
	panic("idemsim: dispatch of a command not in the commands table: " + name)
}

// exit reports err, if any, on stderr and returns the exit status for it.
func (e *env) exit(cmd *command, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, realrun.ErrRefused) {
		// The run refused to touch what is not its own: the message
		// says why and what to do.
		fmt.Fprintf(e.stderr, "idemsim %s: %s\n", cmd.name, userMessage(err))
		return exitUsage
	}
	var usage *usageError
	if errors.As(err, &usage) || errors.Is(err, sim.ErrBadConfig) {
		hint := fmt.Sprintf("idemsim %s -h", cmd.name)
		if cmd.name == "help" {
			hint = "idemsim help"
		}
		fmt.Fprintf(e.stderr, "idemsim %s: %s\nrun '%s' for help\n", cmd.name, userMessage(err), hint)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "idemsim %s: %s\n", cmd.name, userMessage(err))
	return exitError
}

// userMessage is err's text as its user reads it. An error made by
// wrapping sim.ErrBadConfig ("sim: bad config: bad URL ...") loses the
// sentinel's own text, which names a package, not the problem; sim's own
// errors (sim.BadConfigf) never carry it.
func userMessage(err error) string {
	msg := err.Error()
	if errors.Is(err, sim.ErrBadConfig) {
		msg = strings.TrimPrefix(msg, sim.ErrBadConfig.Error()+": ")
	}
	return msg
}

// helpCmd prints the overview, or one command's help.
func (e *env) helpCmd(args []string) error {
	switch {
	case len(args) == 0 || isHelpArg(args[0]) || args[0] == "help":
		return e.printOverview()
	case len(args) > 1:
		return usagef("too many arguments %q: help takes at most one command (accepted: %s)", args, commandNames())
	}
	cmd := lookupCommand(args[0])
	if cmd == nil {
		return unknownName("command", args[0], commandList())
	}
	// A command prints its own help when asked with -h.
	return e.dispatch(cmd.name, []string{"-h"})
}

// printOverview prints `idemsim help`: the commands, one line each, their
// usage lines, and the names a user can choose from.
func (e *env) printOverview() error {
	w := e.stdout
	fmt.Fprint(w, `idemsim simulates idempotent event consumers under at-least-once delivery,
injects faults, and checks with two checkers that every event's effect is
applied exactly once.

usage: idemsim <command> [flags]

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nusage of each command:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n", c.synopsis)
	}
	_, err := fmt.Fprintf(w, `
strategies: %s
faults:     %s
            (all: every fault at once; none, alone: %s)

exit status: 0 when the command completed (a violation of exactly-once is a
result, not an error), 2 on bad usage, 1 on any other error.
run 'idemsim <command> -h' (or 'idemsim help <command>') for every flag of a command.
`, strings.Join(strategies.Names(), ", "), acceptedFaults(), faults.NoneMeaning)
	return err
}
