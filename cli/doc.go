// Package cli is the idemsim command line, as a library: Main runs it on a
// list of arguments and returns its exit status. The idemsim command
// (cmd/idemsim) is Main and nothing else, so that a program of your own
// can be the same command with strategies of your own:
//
//	package main
//
//	import (
//		"os"
//
//		"github.com/idemsim/idemsim/cli"
//		"github.com/idemsim/idemsim/strategies"
//	)
//
//	func main() {
//		strategies.MustRegister(strategies.Strategy{Name: "my-dedup", New: newMyDedup})
//		os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
//	}
//
// Every command then accepts my-dedup wherever it accepts a built-in
// strategy: run, compare, explain, plot --sweep, and run --backend real.
// The commands describe a run to replay as "idemsim run ...", so build the
// program as idemsim (go build -o idemsim) and those lines replay it as
// they stand.
//
// Register before calling Main: a strategy registered later is unknown to
// it. The command's usage, flags and exit statuses are described in the
// documentation of cmd/idemsim, and by `idemsim help`.
//
// # The code
//
// main.go holds Main and env, the outside world a command runs in (its two
// outputs, the wall clock, the simulator's entry points), which tests
// replace with fakes; commands.go the command table, the dispatch and how
// an error becomes a message and an exit status. Each command is a file:
// runcmd.go (run), compare.go, merge.go, explain.go, plot.go, site.go
// (idemsim site: the static site, its story pages told by package explain
// and drawn by package playground), clean.go,
// provider.go (idemsim provider, which serves package internal/provider);
// flags.go parses and checks the values every command shares,
// brokerflags.go the broker flags of run, compare and explain (--broker, a
// list on compare, and each model's parameters, their help from package
// broker's descriptions; each model takes its own), and
// progress.go draws the progress line of compare's runs and of explain's
// search.
package cli
