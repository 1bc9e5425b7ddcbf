package cli

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// TestProviderCommand: `idemsim provider` hands its flags to the server,
// refuses bad ones with exit status 2 before serving, refuses someone
// else's tables with 2 as a run does, and never shows a password.
func TestProviderCommand(t *testing.T) {
	serveWith := func(err error) (*recordingEnv, *provider.Flags) {
		r := newRecordingEnv()
		got := &provider.Flags{}
		r.serveProvider = func(f *provider.Flags) error { *got = *f; return err }
		return r, got
	}
	r, got := serveWith(nil)
	require.Equal(t, ExitOK, r.main([]string{"provider", "--listen", "127.0.0.1:0", "--prefix", "shop", "--key-retention", "2s",
		"--postgres-url", "postgres://u:s3cret@127.0.0.1:5432/db"}), r.errOut())
	assert.Equal(t, "127.0.0.1:0", got.Listen)
	assert.Equal(t, "shop", got.Prefix)
	assert.Equal(t, 2*time.Second, got.Retention)

	for _, args := range [][]string{
		{"provider"},
		{"provider", "--listen", "nope"},
		{"provider", "--listen", "127.0.0.1:0", "--prefix", "Bad"},
		{"provider", "--listen", "127.0.0.1:0", "--key-retention", "0s"},
		{"provider", "--listen", "127.0.0.1:0", "--processing", "-1s"},
		{"provider", "--listen", "127.0.0.1:0", "--postgres-url", ""},
		{"provider", "--listen", "127.0.0.1:0", "extra"},
	} {
		r, _ := serveWith(errors.New("served"))
		assert.Equal(t, ExitUsage, r.main(args), "%q: %s", args, r.errOut())
		assert.NotContains(t, r.errOut(), "served", "%q: refused before serving", args)
	}

	r, _ = serveWith(fmt.Errorf("making the tables: %w", &pgstore.NotOwnedError{Schema: "public", Prefix: "shop", Relations: []string{"shop_provider_keys (table)"}}))
	assert.Equal(t, ExitUsage, r.main([]string{"provider", "--listen", "127.0.0.1:0", "--prefix", "shop"}))
	assert.Contains(t, r.errOut(), "shop_provider_keys (table) exists but was not created by idemsim")

	r, _ = serveWith(errors.New("PostgreSQL at 127.0.0.1:5432 cannot be reached: password s3cret refused"))
	assert.Equal(t, ExitError, r.main([]string{"provider", "--listen", "127.0.0.1:0", "--postgres-url", "postgres://u:s3cret@127.0.0.1:5432/db"}))
	assert.NotContains(t, r.errOut(), "s3cret")

	code, stdout, _ := runCLI(t, "provider", "-h")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, stdout, "Idempotency-Key")
	assert.Contains(t, stdout, "--key-retention")
}
