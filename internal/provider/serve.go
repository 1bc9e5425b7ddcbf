package provider

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// Defaults of Config.
const (
	DefaultDBTimeout = 2 * time.Second
	DefaultStale     = time.Minute
	// connectTimeout bounds reaching PostgreSQL, setupTimeout making the
	// tables, shutdownTimeout the charges in flight at a SIGTERM.
	connectTimeout  = 3 * time.Second
	setupTimeout    = 5 * time.Second
	shutdownTimeout = 5 * time.Second
)

// Config is how `idemsim provider` serves.
type Config struct {
	Listen      string        // host:port; port 0 picks a free one
	PostgresURL string        // where the keys and charges live
	Prefix      string        // the tables are <prefix>_provider_keys and _charges
	Retention   time.Duration // how long a key is kept once done; 0: strategies.DefaultKeyRetention
	Processing  time.Duration // how long each charge runs between its claim and its charge, holding its key
	DBTimeout   time.Duration // each round trip's deadline; 0: DefaultDBTimeout
	Stale       time.Duration // a key running this long is taken over; 0: DefaultStale
	// Logf, if set, is told of the database's failures while serving.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Retention == 0 {
		c.Retention = strategies.DefaultKeyRetention
	}
	if c.DBTimeout == 0 {
		c.DBTimeout = DefaultDBTimeout
	}
	if c.Stale == 0 {
		c.Stale = DefaultStale
	}
	return c
}

// Validate reports bad settings (matching run.ErrBadConfig), without
// contacting anything.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Listen == "" {
		return run.BadConfigf("--listen is required: want the address to serve on, host:port (port 0 picks a free one), e.g. 127.0.0.1:8088")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return run.BadConfigf("bad --listen %q: %v (want host:port, e.g. 127.0.0.1:8088)", c.Listen, err)
	}
	if err := strategies.ValidatePrefix(c.Prefix); err != nil {
		return run.BadConfigf("%s", strings.TrimPrefix(err.Error(), "strategies: "))
	}
	if err := ValidateRetention(c.Retention); err != nil {
		return run.BadConfigf("--key-retention: %v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"processing", c.Processing}, {"db-timeout", c.DBTimeout}, {"stale", c.Stale}} {
		if d.v < 0 || d.v > time.Hour {
			return run.BadConfigf("bad --%s %v: want 0 to 1h", d.name, d.v)
		}
	}
	if c.Stale <= c.Processing+2*c.DBTimeout {
		return run.BadConfigf("--stale %v must be longer than a charge can run (--processing plus twice --db-timeout: %v)", c.Stale, c.Processing+2*c.DBTimeout)
	}
	if _, err := pgxpool.ParseConfig(c.PostgresURL); err != nil {
		return run.BadConfigf("bad PostgreSQL URL: %v", err)
	}
	return nil
}

// Serve serves the provider until ctx ends: it reaches PostgreSQL, makes
// (or finds) its tables, listens on c.Listen, calls ready with the URL it
// serves at, and serves. When ctx ends it stops taking requests, lets the
// charges in flight finish (for up to 5 s), and returns nil. An error says
// what failed: bad settings (run.ErrBadConfig), tables of its names that
// idemsim did not make (pgstore.ErrNotOwned), a PostgreSQL that cannot be
// reached, an address that cannot be listened on.
func Serve(ctx context.Context, c Config, ready func(url string)) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.withDefaults()
	pc, _ := pgxpool.ParseConfig(c.PostgresURL)
	pc.ConnConfig.ConnectTimeout = time.Second
	pc.ConnConfig.RuntimeParams["application_name"] = "idemsim provider"
	// The provider's statements wait at most this long for a lock
	// another session holds, so that a locked table fails a request
	// instead of hanging it.
	pc.ConnConfig.RuntimeParams["lock_timeout"] = fmt.Sprint(c.DBTimeout.Milliseconds())
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	pool, err := pgxpool.NewWithConfig(cctx, pc)
	if err == nil {
		err = pool.Ping(cctx)
	}
	cancel()
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return fmt.Errorf("PostgreSQL at %s cannot be reached: %w", net.JoinHostPort(pc.ConnConfig.Host, fmt.Sprint(pc.ConnConfig.Port)), err)
	}
	defer pool.Close()
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	tables, err := pgstore.EnsureProvider(sctx, pool, c.Prefix)
	cancel()
	if err != nil {
		if errors.Is(err, pgstore.ErrNotOwned) {
			return fmt.Errorf("%w; idemsim leaves it untouched: choose another --prefix (or, if it is yours to remove, drop it yourself)", err)
		}
		return fmt.Errorf("making the tables %s_provider_*: %w", c.Prefix, err)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", c.Listen, err)
	}
	h := &handler{st: newStore(pool, tables, c.DBTimeout, c.Stale), retention: c.Retention, processing: c.Processing,
		runTimeout: c.Processing + 4*c.DBTimeout, logf: c.Logf}
	srv := &http.Server{Handler: h.mux(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: h.runTimeout + 10*time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ready != nil {
		ready("http://" + ln.Addr().String())
	}
	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel = context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// UntilEOF returns a context that ends when ctx does or when r reaches its
// end (or fails): a provider that a run started reads its standard input,
// a pipe from the run, and so ends with the run however the run ends,
// killed included.
func UntilEOF(ctx context.Context, r io.Reader) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(r))
		cancel()
	}()
	return ctx, cancel
}

// ReadyPrefix begins the line `idemsim provider` prints when it serves,
// followed by its URL: how a run that started it learns its port.
const ReadyPrefix = "idemsim provider: serving on "
