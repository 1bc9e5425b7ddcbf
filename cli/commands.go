package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

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
		name:     "site",
		summary:  "write a static site: the outcome tables, the stories of broken cells, the plots and the playground",
		synopsis: siteSynopsis,
	},
	{
		name:     "clean",
		summary:  "remove what real runs of a prefix left on the servers: idemsim's tables and keys",
		synopsis: cleanSynopsis,
	},
	{
		name:     "provider",
		summary:  "serve idemsim's payment provider over HTTP (idempotency keys, charges in PostgreSQL)",
		synopsis: providerSynopsis,
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
		return ExitUsage
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
		return ExitUsage
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
	case "site":
		return e.siteCmd(args)
	case "clean":
		return e.cleanCmd(args)
	case "provider":
		return e.providerCmd(args)
	case "help":
		return e.helpCmd(args)
	}
	panic("idemsim: dispatch of a command not in the commands table: " + name)
}

// exit reports err, if any, on stderr and returns the exit status for it.
func (e *env) exit(cmd *command, err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, realrun.ErrRefused) {
		// The run refused to touch what is not its own: the message
		// says why and what to do.
		fmt.Fprintf(e.stderr, "idemsim %s: %s\n", cmd.name, userMessage(err))
		return ExitUsage
	}
	var usage *usageError
	if errors.As(err, &usage) || errors.Is(err, sim.ErrBadConfig) {
		hint := fmt.Sprintf("idemsim %s -h", cmd.name)
		if cmd.name == "help" {
			hint = "idemsim help"
		}
		fmt.Fprintf(e.stderr, "idemsim %s: %s\nrun '%s' for help\n", cmd.name, userMessage(err), hint)
		return ExitUsage
	}
	fmt.Fprintf(e.stderr, "idemsim %s: %s\n", cmd.name, userMessage(err))
	return ExitError
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
