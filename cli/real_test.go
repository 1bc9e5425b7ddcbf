package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// An empty server flag is refused, not taken for the default: `--prefix ”`
// once meant the default prefix and emptied its tables.
func TestEmptyServerFlagsAreRefused(t *testing.T) {
	for _, cmd := range [][]string{
		{"run", "--strategy", "db-unique", "--faults", "redeliver", "--seed", "1", "--backend", "real"},
		{"clean"},
	} {
		for _, flag := range []string{"--prefix", "--redis-url", "--postgres-url"} {
			for _, empty := range []string{"", " "} {
				args := append(append([]string(nil), cmd...), flag, empty)
				e, out, errOut := fakeEnv(nil, nil)
				code := e.main(args)
				assert.Equal(t, ExitUsage, code, "%q", args)
				assert.Empty(t, out.String())
				assert.Contains(t, errOut.String(), flag+" is empty", "%q", args)
			}
		}
	}
}

// Through the whole command, with the real backend against addresses where
// nothing listens: no output shows a password, in any form the drivers
// accept, and the reproduce line of a real run keeps the prefix and the
// addresses without it.
func TestNoOutputShowsAPassword(t *testing.T) {
	const secret = "s3cr3tPW"
	for _, tc := range []struct{ flag, url, env string }{
		{"--postgres-url", "postgres://127.0.0.1:1/postgres?password=" + secret + "&sslmode=bogus", ""},
		{"--postgres-url", "postgres://127.0.0.1:1/postgres?password=" + secret + "&sslmode=disable", ""},
		{"--postgres-url", "host=127.0.0.1 port=1 password=" + secret, ""},
		{"--postgres-url", "host=127.0.0.1 port=1 password = '" + secret + "'", ""},
		{"--postgres-url", "postgres://u:" + secret + "@127.0.0.1:1/db", ""},
		{"--postgres-url", "host=x password = " + secret + " port=abc", ""},
		{"--redis-url", "redis://127.0.0.1:1/abc?password=" + secret, ""},
		{"--redis-url", "redis://:" + secret + "@127.0.0.1:1/0", ""},
		{"--redis-url", "redis://u:" + secret + " x@127.0.0.1:1/0", ""},
		{"", "", "postgres://127.0.0.1:1/postgres?password=" + secret},
	} {
		if tc.env != "" {
			t.Setenv("IDEMSIM_POSTGRES_URL", tc.env)
		}
		args := []string{"run", "--strategy", "redis", "--faults", "crash", "--seed", "1", "--events", "5", "--backend", "real"}
		if tc.flag != "" {
			args = append(args, tc.flag, tc.url)
		}
		start := time.Now()
		code, stdout, stderr := runCLI(t, args...)
		assert.NotEqual(t, ExitOK, code, "%q", args)
		assert.Less(t, time.Since(start), 8*time.Second)
		assert.NotContains(t, stdout+stderr, secret, "%q", args)
		assert.True(t, strings.Contains(stderr, "127.0.0.1:1") || strings.Contains(stderr, "xxxxx") || strings.Contains(stderr, "URL"),
			"the message still says which server: %s", stderr)
	}
}
