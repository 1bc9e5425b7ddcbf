package realrun

import (
	"context"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/run"
)

// TestStrategiesThatChargeRun: each strategy that charges runs against the
// run's own provider process, its charges are its effects, and at the end
// the run's keys and charges are gone from the provider's tables and the
// provider's process with them.
func TestStrategiesThatChargeRun(t *testing.T) {
	for _, s := range []string{"api-no-key", "api-key", "api-key-db"} {
		t.Run(s, func(t *testing.T) {
			cfg := sharedServers(t, "rr_charge")
			cfg.Config = run.Config{Strategy: s, Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 60}
			var lines []string
			cfg.Progress = func(l string) { lines = append(lines, l) }
			res := realRun(t, cfg)
			assert.Zero(t, res.Lost, "every event charged")
			assert.Zero(t, res.Stuck)
			if s != "api-no-key" {
				assert.Zero(t, res.Duplicates, "the key dedups")
			}
			pid := providerPID(t, lines)
			assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the provider process ended with the run")
			conn := pgConn(t, cfg.PostgresURL)
			assert.Zero(t, count(t, conn, `SELECT count(*) FROM rr_charge_provider_charges`), "the run's charges removed at its end")
			assert.Zero(t, count(t, conn, `SELECT count(*) FROM rr_charge_provider_keys`), "the run's keys removed at its end")
		})
	}
}

var pidRE = regexp.MustCompile(`idemsim provider \(pid (\d+)\)`)

// providerPID finds the pid of the run's own provider in its progress
// lines.
func providerPID(t *testing.T, lines []string) int {
	t.Helper()
	for _, l := range lines {
		if m := pidRE.FindStringSubmatch(l); m != nil {
			pid, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			return pid
		}
	}
	t.Fatalf("no provider pid in the progress lines %q", lines)
	return 0
}

// TestKilledProviderEndsTheRun: a provider killed mid-run ends the run
// within seconds, with an error that names it and no verdict; a hung
// (stopped) one likewise, by the health watch.
func TestKilledProviderEndsTheRun(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		t.Run(sig.String(), func(t *testing.T) {
			if sig == syscall.SIGSTOP && testing.Short() {
				t.Skip("waits for the health watch to call a hung provider dead")
			}
			cfg := sharedServers(t, "rr_provkill")
			cfg.Config = run.Config{Strategy: "api-key", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 4000}
			var mu sync.Mutex
			var lines []string
			started := make(chan struct{})
			var once sync.Once
			cfg.Progress = func(l string) {
				mu.Lock()
				lines = append(lines, l)
				mu.Unlock()
				once.Do(func() { close(started) })
			}
			var err error
			var res *run.Result
			done := make(chan struct{})
			go func() {
				defer close(done)
				res, err = Run(context.Background(), cfg)
			}()
			select {
			case <-started:
			case <-done:
				t.Fatalf("the run ended before the kill: %v", err)
			}
			time.Sleep(500 * time.Millisecond)
			mu.Lock()
			pid := providerPID(t, lines)
			mu.Unlock()
			require.NoError(t, syscall.Kill(pid, sig))
			if sig == syscall.SIGSTOP {
				// Let the run's tear-down stop it.
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
			}
			broke := time.Now()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the run did not end within 20 s of the provider's end")
			}
			assert.Nil(t, res, "no verdict")
			require.ErrorIs(t, err, ErrServerFailed)
			assert.ErrorContains(t, err, "payment provider at 127.0.0.1:")
			assert.Less(t, time.Since(broke), 10*time.Second)
		})
	}
}

// TestForeignProviderTableIsRefused: a table of the provider's names that
// idemsim did not create is refused, untouched, before the run starts;
// clean leaves it and removes the provider's own tables.
func TestForeignProviderTableIsRefused(t *testing.T) {
	cfg := sharedServers(t, "rr_provtheirs")
	conn := pgConn(t, cfg.PostgresURL)
	exec(t, conn, `DROP TABLE IF EXISTS rr_provtheirs_provider_charges; CREATE TABLE rr_provtheirs_provider_charges (n int); INSERT INTO rr_provtheirs_provider_charges VALUES (7)`)
	cfg.Config = run.Config{Strategy: "api-key", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 20}
	_, err := Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrRefused)
	assert.ErrorContains(t, err, "rr_provtheirs_provider_charges (table) exists but was not created by idemsim")
	assert.Equal(t, 7, count(t, conn, `SELECT n FROM rr_provtheirs_provider_charges`))
	exec(t, conn, `DROP TABLE rr_provtheirs_provider_charges`)

	// A run makes the provider's tables; clean removes them.
	cfg.Prefix = "rr_provclean"
	realRun(t, cfg)
	out, err := Clean(context.Background(), cfg)
	require.NoError(t, err)
	assert.Subset(t, out.Tables, []string{"public.rr_provclean_provider_keys", "public.rr_provclean_provider_charges"})
	assert.Zero(t, count(t, conn, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'rr\_provclean\_%'`))
}

// TestProviderURL: a run charges a provider --provider-url names, in a
// scope of its own; a provider that cannot be reached is named within
// seconds; a bad URL, or one for a strategy that does not charge, is
// refused before anything is contacted, and never shows a password.
func TestProviderURL(t *testing.T) {
	cfg := sharedServers(t, "rr_provurl")
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- provider.Serve(ctx, provider.Config{Listen: "127.0.0.1:0", PostgresURL: cfg.PostgresURL, Prefix: "rr_provurl_ext"}, func(u string) { urls <- u })
	}()
	defer func() { cancel(); <-served }()
	var u string
	select {
	case u = <-urls:
	case err := <-served:
		t.Fatal(err)
	}
	cfg.ProviderURL = u
	cfg.Config = run.Config{Strategy: "api-key-db", Faults: faults.Of(faults.Crash), Seed: 2, Events: 60}
	res := realRun(t, cfg)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.Duplicates)
	assert.Contains(t, cfg.Reproduce(), " --provider-url "+u, "the reproduce line names the provider given")

	start := time.Now()
	cfg.ProviderURL = "http://127.0.0.1:1"
	_, err := Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.ErrorContains(t, err, "payment provider at 127.0.0.1:1")
	assert.Less(t, time.Since(start), 5*time.Second)

	for _, bad := range []Config{
		{Config: run.Config{Strategy: "api-key"}, ProviderURL: "ftp://x:1"},
		{Config: run.Config{Strategy: "api-key"}, ProviderURL: "http://user:s3cret@x:1"},
		{Config: run.Config{Strategy: "api-key"}, ProviderURL: "http://x:1/v1/charges"},
		{Config: run.Config{Strategy: "db-unique"}, ProviderURL: "http://x:1"},
	} {
		_, err := Run(context.Background(), bad)
		require.ErrorIs(t, err, run.ErrBadConfig, bad.ProviderURL)
		assert.NotContains(t, err.Error(), "s3cret")
	}
}

// A real run counts the provider's charges per event id, so a strategy that
// charges is refused under id-reuse, before any server is contacted.
func TestChargingUnderIDReuseIsRefused(t *testing.T) {
	for _, st := range []string{"api-no-key", "api-key", "api-key-db"} {
		cfg := Config{Config: run.Config{Strategy: st, Faults: faults.Of(faults.IDReuse), Seed: 1}}
		err := cfg.Validate()
		require.ErrorIs(t, err, run.ErrBadConfig, st)
		assert.Contains(t, err.Error(), "strategy "+st+" under id-reuse: a real run counts the provider's charges per event id")
	}
	// Without id-reuse it is taken.
	require.NoError(t, Config{Config: run.Config{Strategy: "api-key", Faults: faults.Of(faults.Crash), Seed: 1}}.Validate())
}
