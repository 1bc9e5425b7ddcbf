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
	"github.com/idemsim/idemsim/strategies"
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

// reusedWorkload is the workload of seed under id-reuse, which must give
// some events an earlier event's id.
func reusedWorkload(t *testing.T, seed uint64, events int) run.Workload {
	t.Helper()
	wl := run.NewWorkload(run.Config{Faults: faults.Of(faults.IDReuse), Seed: seed, Events: events})
	require.NotEmpty(t, wl.Reused, "seed %d reuses no id", seed)
	return wl
}

// TestChargesCountedPerEventUnderIDReuse: under id-reuse, the charges a real
// run reads from the provider are counted per event (per id and payload),
// as the simulator's provider counts them: an event charged twice and
// another under its id charged once are a duplicate of the first and one
// charge of the second, not three charges of one id.
func TestChargesCountedPerEventUnderIDReuse(t *testing.T) {
	wl := reusedWorkload(t, 1, 150)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(context.Background())
	urls, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- provider.Serve(sctx, provider.Config{Listen: "127.0.0.1:0", PostgresURL: sharedServers(t, "").PostgresURL, Prefix: "rr_reusecount"}, func(u string) { urls <- u })
	}()
	defer func() {
		stop()
		require.NoError(t, <-done)
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		t.Fatalf("the provider did not start: %v", err)
	case <-ctx.Done():
		t.Fatal("the provider did not start within 20 s")
	}
	c := &provider.Client{URL: u, Scope: "reuse-count"}
	defer func() { assert.NoError(t, c.Forget(context.Background())) }()

	// Every event charged once, and the first reused one's twice (no
	// key: each request charges).
	n := wl.Reused[0]
	for i := 1; i < len(wl.Events); i++ {
		_, err := c.Charge(ctx, "", wl.Events[i])
		require.NoError(t, err)
	}
	_, err := c.Charge(ctx, "", wl.Events[n])
	require.NoError(t, err)

	s := &servers{prov: &providerServer{client: c, addr: u}}
	got, err := s.readCharges(ctx, &wl)
	require.NoError(t, err)
	want := map[strategies.EventID]int{}
	for i := 1; i < len(wl.Events); i++ {
		want[strategies.EventID(i)] = 1
	}
	want[n] = 2
	assert.Equal(t, want, got, "event %d, under event %d's id, counted on its own", n, wl.Events[n].ID)
}

// TestChargingUnderIDReuseRuns: a strategy that charges runs under id-reuse
// on real servers. api-key keys its charge by the event id, so the
// provider refuses the charge of a second event under one id (other
// parameters under a kept key: 422) and api-key dead-letters it: every
// reused event is dead, none lost, none charged twice, as in the
// simulator. The trace's Publish record of a reused event names the id it
// was given, and its charge names its number, as the simulator's do.
func TestChargingUnderIDReuseRuns(t *testing.T) {
	require.NoError(t, Config{Config: run.Config{Strategy: "api-key", Faults: faults.Of(faults.IDReuse), Seed: 1}}.Validate())
	const events = 150
	wl := reusedWorkload(t, 1, events)
	cfg := sharedServers(t, "rr_chargereuse")
	cfg.Config = run.Config{Strategy: "api-key", Faults: faults.Of(faults.IDReuse), Seed: 1, Events: events, KeepTrace: true}
	res := realRun(t, cfg)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.Duplicates)
	assert.Zero(t, res.Stuck)
	assert.Equal(t, len(wl.Reused), res.Dead, "each event under a reused id refused (422) and dead-lettered")

	reused := map[uint32]bool{}
	for _, n := range wl.Reused {
		reused[uint32(n)] = true
	}
	named, charged := 0, map[uint32]bool{}
	for _, r := range res.Trace {
		switch {
		case r.Kind == run.Publish && reused[r.Event]:
			assert.Equal(t, strconv.FormatUint(uint64(wl.Events[r.Event].ID), 10), r.Value, "publish of event %d", r.Event)
			named++
		case r.Kind == run.Publish:
			assert.Empty(t, r.Value, "publish of event %d, under its own id", r.Event)
		case r.Kind == run.Call && r.Op == run.Charge:
			charged[r.Event] = true
		}
	}
	assert.Equal(t, len(wl.Reused), named, "a Publish record for each reused event")
	for n := range reused {
		assert.True(t, charged[n], "event %d's charge names its number", n)
	}
}
