package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/idemsim/idemsim/realrun"
)

// cleanSynopsis is the usage line of `idemsim clean`.
const cleanSynopsis = "idemsim clean [--prefix P] [--redis-url URL] [--postgres-url URL]"

const cleanAbout = `
Remove everything that real runs (run --backend real) of a prefix created on
the servers:

  tables     <prefix>_processed, <prefix>_accounts, <prefix>_ledger
             (with its index) and <prefix>_offsets, in PostgreSQL
  marks      the Redis keys <prefix>:run:<run id>:mark:<event id>
  key-value  the Redis keys <prefix>:run:<run id>:kv:<key>: the values
             and sets that strategies keep in the key-value store

Runs that end delete their own Redis keys; clean removes those that runs
which were killed left behind.

Only what idemsim created is removed: a table of those names without
idemsim's mark (a comment it writes when it creates the table) is left
untouched and named, and no other key is deleted. It refuses while a run
uses the prefix. Prints what it removed.
`

var cleanOrder = []string{"prefix P", "redis-url URL", "postgres-url URL"}

// cleanCmd is `idemsim clean`.
func (e *env) cleanCmd(args []string) error {
	var s serverFlags
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	s.define(fs, "", "the prefix whose tables and keys to remove")
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, cleanSynopsis, cleanAbout, fs, cleanOrder)
	}
	if err != nil {
		return err
	}
	cfg, err := s.config(setFlags(fs))
	if err != nil {
		return err
	}
	cleaned, err := e.realClean(cfg)
	if err != nil {
		return err
	}
	tables := "no table"
	if len(cleaned.Tables) > 0 {
		tables = "tables " + strings.Join(cleaned.Tables, ", ")
	}
	fmt.Fprintf(e.stdout, "removed %s and %s of prefix %s\n", tables, plural(cleaned.RedisKeys, "Redis key"), cfg.Prefix)
	if cleaned.NotOwned != nil {
		fmt.Fprintf(e.stdout, "left untouched: %s\n", userMessage(cleaned.NotOwned))
	}
	return nil
}

// serverFlags are the flags that name the real servers and the prefix, as
// run --backend real and clean take them.
type serverFlags struct {
	redisURL, postgresURL, prefix string
}

// define defines --redis-url, --postgres-url and --prefix on fs; note
// begins each flag's help.
func (s *serverFlags) define(fs *flag.FlagSet, note, prefixUse string) {
	fs.StringVar(&s.redisURL, "redis-url", "",
		note+"Redis to use (default $IDEMSIM_REDIS_URL, else "+realrun.DefaultRedisURL+")")
	fs.StringVar(&s.postgresURL, "postgres-url", "",
		note+"PostgreSQL to use, a URL or key=value pairs (default $IDEMSIM_POSTGRES_URL,\nelse "+realrun.DefaultPostgresURL+")")
	fs.StringVar(&s.prefix, "prefix", realrun.DefaultPrefix,
		note+prefixUse+";\na lowercase letter, then up to 39 lowercase letters, digits or underscores")
}

// config checks the flags (an empty value is refused, not taken for the
// default) and returns them as a realrun.Config; set names the flags given.
func (s *serverFlags) config(set map[string]bool) (realrun.Config, error) {
	for _, f := range []struct{ name, value, example string }{
		{"redis-url", s.redisURL, "redis://127.0.0.1:6379/0"},
		{"postgres-url", s.postgresURL, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"},
		{"prefix", s.prefix, realrun.DefaultPrefix},
	} {
		if set[f.name] && strings.TrimSpace(f.value) == "" {
			return realrun.Config{}, usagef("--%s is empty: give one (e.g. %s), or leave the flag out for the default", f.name, f.example)
		}
	}
	cfg := realrun.Config{RedisURL: s.redisURL, PostgresURL: s.postgresURL, Prefix: s.prefix}
	return cfg, nil
}
