package provider

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/idemsim/idemsim/strategies"
)

// Flags are the flags of `idemsim provider`, as the command line and a
// test binary standing in for idemsim (ChildMain) read them.
type Flags struct {
	Config
	// ExitWithStdin: stop when standard input ends (UntilEOF).
	ExitWithStdin bool
}

// Define defines the flags on fs, into f. --postgres-url has no default
// here: the caller fills it in when it is not given.
func (f *Flags) Define(fs *flag.FlagSet) {
	fs.StringVar(&f.Listen, "listen", "", "the address to serve on, host:port (required; port 0 picks a free one,\nwhich the line it prints when it serves names)")
	fs.StringVar(&f.PostgresURL, "postgres-url", "", "the PostgreSQL that keeps the keys and the charges, a URL or key=value pairs\n(default $IDEMSIM_POSTGRES_URL, else the local server)")
	fs.StringVar(&f.Prefix, "prefix", "idemsim", "the tables are <prefix>_provider_keys and <prefix>_provider_charges;\na lowercase letter, then up to 39 lowercase letters, digits or underscores")
	fs.DurationVar(&f.Retention, "key-retention", strategies.DefaultKeyRetention, "how long an idempotency key is kept after its first request finished\n(a request's "+HeaderRetention+" header overrides it)")
	fs.DurationVar(&f.Processing, "processing", 0, "how long each charge runs at the provider, holding its key, between its\nclaim and its charge (a second request with the key meanwhile gets 409)")
	fs.DurationVar(&f.DBTimeout, "db-timeout", DefaultDBTimeout, "the deadline of each round trip to PostgreSQL")
	fs.DurationVar(&f.Stale, "stale", DefaultStale, "a key whose request has run this long (its provider died) is taken over")
	fs.BoolVar(&f.ExitWithStdin, "exit-with-stdin", false, "stop when standard input ends: how a run ties the provider it starts to its own life")
}

// Run serves as the flags say until SIGINT or SIGTERM (or, with
// ExitWithStdin, the end of stdin), printing ReadyPrefix and the URL on
// stdout once it serves, and database failures on stderr.
func (f *Flags) Run(stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.ExitWithStdin {
		var cancel context.CancelFunc
		ctx, cancel = UntilEOF(ctx, stdin)
		defer cancel()
	}
	c := f.Config
	c.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "idemsim provider: "+format+"\n", args...) }
	return Serve(ctx, c, func(url string) {
		fmt.Fprintf(stdout, "%s%s (tables %s_provider_keys and %s_provider_charges; keys kept %v)\n",
			ReadyPrefix, url, f.Prefix, f.Prefix, c.withDefaults().Retention)
	})
}

// ChildEnv is set (to "1") in the environment of a provider that a real
// run starts: a test binary, which a run starts in place of idemsim,
// serves as the provider (ChildMain) when it sees it.
const ChildEnv = "IDEMSIM_PROVIDER_CHILD"

// ChildMain is for a test binary's TestMain: if the binary was started as
// a run's provider (ChildEnv), it serves as `idemsim provider` would, with
// the arguments after "provider", and exits; otherwise it returns.
//
//	func TestMain(m *testing.M) { provider.ChildMain(); testserver.Main(m) }
func ChildMain() {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	args := os.Args[1:]
	if len(args) == 0 || args[0] != "provider" {
		fmt.Fprintf(os.Stderr, "idemsim provider (test child): want the arguments of idemsim provider, got %q\n", args)
		os.Exit(2)
	}
	var f Flags
	fs := flag.NewFlagSet("provider", flag.ContinueOnError)
	f.Define(fs)
	if f.PostgresURL == "" {
		f.PostgresURL = os.Getenv("IDEMSIM_POSTGRES_URL")
	}
	if err := fs.Parse(args[1:]); err != nil {
		os.Exit(2)
	}
	if err := f.Run(os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "idemsim provider: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}
