package cli

import (
	"errors"
	"flag"
	"os"
	"strings"

	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/realrun"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// providerSynopsis is the usage line of `idemsim provider`.
const providerSynopsis = "idemsim provider --listen HOST:PORT [--postgres-url URL] [--prefix P] [--key-retention D] [--processing D] [--db-timeout D] [--stale D] [--exit-with-stdin]"

const providerAbout = `
Serve idemsim's payment provider over HTTP: a card-payment API with
idempotency keys, which the strategies that charge (api-no-key, api-key,
api-key-db) call in a real run. A real run starts one of its own unless
--provider-url names one; run it yourself to try it or to share it.

  POST /v1/charges  {"account": 3, "amount": 42, "reference": 17}
                    charges; answers 200 {"id": "ch_12", "replayed": false}

With an Idempotency-Key header, a key seen before (for --key-retention
after its first request finished) answers the first request's charge,
"replayed": true, and charges nothing; the same key with another account,
amount or reference answers 422, and one whose first request still runs
answers 409 (retry later); nothing is done then. Without a key every
request charges. A request with Idemsim-Fail: 1 answers 503 with nothing
charged (how a run injects the provider's 5xx), and Idemsim-Key-Retention: D
keeps its key for D instead. Idemsim-Scope: S keeps a caller's keys and
charges apart (a run's own); GET /v1/charges/counts counts a scope's
charges per reference, DELETE /v1/scope forgets them, GET /healthz answers
while the database does.

The keys and charges live in PostgreSQL, in the tables
<prefix>_provider_keys and <prefix>_provider_charges, which it creates with
idemsim's mark; a table of those names that idemsim did not create is
refused, untouched (exit status 2), and 'idemsim clean --prefix P' removes
them. Every round trip to PostgreSQL has a deadline (--db-timeout). A
charge runs to its end even if its caller gives up. Prints one line when it
serves, naming its URL; SIGINT or SIGTERM stops it after the charges in
flight.
`

var providerOrder = []string{"listen HOST:PORT", "postgres-url URL", "prefix P", "key-retention D", "processing D", "db-timeout D", "stale D", "exit-with-stdin"}

// providerCmd is `idemsim provider`.
func (e *env) providerCmd(args []string) error {
	var f provider.Flags
	fs := flag.NewFlagSet("provider", flag.ContinueOnError)
	f.Define(fs)
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, providerSynopsis, providerAbout, fs, providerOrder)
	}
	if err != nil {
		return err
	}
	set := setFlags(fs)
	for _, name := range []string{"postgres-url", "prefix", "listen"} {
		if set[name] && strings.TrimSpace(fs.Lookup(name).Value.String()) == "" {
			return usagef("--%s is empty: give one, or leave the flag out for the default", name)
		}
	}
	// 0 means the default to the server's settings: given, it is a
	// mistake.
	for _, name := range []string{"key-retention", "db-timeout", "stale"} {
		if set[name] && fs.Lookup(name).Value.String() == "0s" {
			return usagef("--%s 0: want more than 0, e.g. %s", name, fs.Lookup(name).DefValue)
		}
	}
	if f.PostgresURL == "" {
		f.PostgresURL = realrun.PostgresURL()
	}
	scrub := realrun.NewScrubber(f.PostgresURL)
	if err := f.Validate(); err != nil {
		return scrub.Error(err)
	}
	serve := e.serveProvider
	if serve == nil {
		serve = func(f *provider.Flags) error { return f.Run(os.Stdin, e.stdout, e.stderr) }
	}
	err = serve(&f)
	if errors.Is(err, pgstore.ErrNotOwned) {
		// Someone else's table: refused untouched, as a run refuses
		// it (exit status 2).
		return scrub.Error(refused{err})
	}
	return scrub.Error(err)
}

// refused is a refusal to touch what is not idemsim's: it matches
// realrun.ErrRefused, which exits with status 2.
type refused struct{ err error }

func (r refused) Error() string   { return r.err.Error() }
func (r refused) Unwrap() []error { return []error{realrun.ErrRefused, r.err} }
