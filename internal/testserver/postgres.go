package testserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// envPostgresURL names the environment variable that points tests at an
// existing PostgreSQL server instead of a throwaway one.
const envPostgresURL = "IDEMSIM_POSTGRES_URL"

// postgresInstallHint says how to get PostgreSQL on a Debian machine.
const postgresInstallHint = "install it with: apt-get install -y postgresql"

// postgresLibDir is where Debian installs each PostgreSQL version's binaries,
// as <postgresLibDir>/<version>/bin. Tests replace it to pretend PostgreSQL
// is missing.
var postgresLibDir = "/usr/lib/postgresql"

// postgresStartTimeout bounds how long a starting postgres may take to
// accept a connection.
const postgresStartTimeout = 15 * time.Second

// postgresStopGrace is how long postgres has to shut down after SIGINT
// before it gets SIGKILL.
const postgresStopGrace = 5 * time.Second

// PostgresServer is a PostgreSQL server for a test: a throwaway cluster the
// test owns, or the existing server IDEMSIM_POSTGRES_URL names.
type PostgresServer struct {
	// URL is the server's connection string, for pgxpool.New or
	// pgx.Connect. A throwaway server's is
	// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
	URL string
	// Owned reports whether testserver started the server, so that Kill,
	// Start and Restart can act on it.
	Owned bool

	shared bool // one server per test binary: Kill, Start and Restart refuse

	mu      sync.Mutex // guards proc, port and removed
	bin     string     // the postgres binary
	cred    *syscall.Credential
	base    string // holds data, sock and the log; removed by close
	port    int
	proc    *process // nil while the server is down
	removed bool     // close has run
}

// Postgres returns a PostgreSQL server for tb: the server
// IDEMSIM_POSTGRES_URL names when it is set, otherwise a throwaway cluster
// (initdb, then postgres on a free loopback port, with durability turned off
// for speed) that is stopped, and its directory removed, when tb ends. It
// skips tb when PostgreSQL is not installed, or fails it when the CI
// environment variable is set. Starting one takes a second or two; tests that
// do not kill the server can share one through SharedPostgres.
func Postgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	s, err := newPostgres()
	if err != nil {
		fail(tb, err)
	}
	if s.Owned {
		tb.Cleanup(func() {
			if err := s.close(); err != nil {
				tb.Errorf("%v", err)
			}
		})
	}
	return s
}

// newPostgres returns the server IDEMSIM_POSTGRES_URL names or starts a new
// one.
func newPostgres() (*PostgresServer, error) {
	if u := os.Getenv(envPostgresURL); u != "" {
		return externalPostgres(u)
	}
	return startPostgres()
}

// externalPostgres checks that the server at rawURL accepts a connection
// within five seconds.
func externalPostgres(rawURL string) (*PostgresServer, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's parse errors already hide the password.
		return nil, fmt.Errorf("testserver: %s: %w", envPostgresURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("testserver: %s: PostgreSQL at %s did not accept a connection within 5 s: %w", envPostgresURL, addr, err)
	}
	_ = conn.Close(ctx)
	return &PostgresServer{URL: rawURL}, nil
}

// findPostgres returns the paths of initdb and postgres from one
// installation: the one on PATH, or else the highest version under
// /usr/lib/postgresql.
func findPostgres() (initdb, postgres string, err error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		// A link on PATH (such as /usr/local/bin/initdb here) points
		// into the versioned directory that holds the matching postgres.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	dirs = append(dirs, postgresVersionDirs()...)
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExecutable(i) && isExecutable(p) {
			return i, p, nil
		}
	}
	return "", "", &missingError{msg: fmt.Sprintf(
		"testserver: PostgreSQL is not installed (looked for initdb and postgres on PATH and in %s/*/bin); %s",
		postgresLibDir, postgresInstallHint)}
}

// postgresVersionDirs returns the bin directories under postgresLibDir,
// highest version first.
func postgresVersionDirs() []string {
	entries, err := os.ReadDir(postgresLibDir)
	if err != nil {
		return nil
	}
	type version struct {
		parts []int
		dir   string
	}
	var vs []version
	for _, e := range entries {
		var parts []int
		for _, f := range strings.Split(e.Name(), ".") {
			n, err := strconv.Atoi(f)
			if err != nil {
				parts = nil
				break
			}
			parts = append(parts, n)
		}
		if parts != nil {
			vs = append(vs, version{parts, filepath.Join(postgresLibDir, e.Name(), "bin")})
		}
	}
	slices.SortFunc(vs, func(a, b version) int { return slices.Compare(b.parts, a.parts) })
	dirs := make([]string, len(vs))
	for i, v := range vs {
		dirs[i] = v.dir
	}
	return dirs
}

// isExecutable reports whether path is an executable regular file.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// postgresCredential returns the user to run initdb and postgres as: nil,
// meaning the current user, unless we are root, which both refuse; then the
// "postgres" system user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, &missingError{msg: fmt.Sprintf(
			"testserver: running as root, and initdb and postgres refuse root, but there is no \"postgres\" user to run them as (%v); %s, which creates it",
			err, postgresInstallHint)}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("testserver: user postgres has uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("testserver: user postgres has gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// postgresBase makes the directory that holds a cluster's data, socket and
// log. Running as root, it belongs to the postgres user, and lies where that
// user can reach it: under the temporary directory if every directory above
// it can be traversed by others, else under /tmp. The socket path must also
// stay under the kernel's 107-byte limit for Unix socket names.
func postgresBase(cred *syscall.Credential) (string, error) {
	parent := os.TempDir()
	if (cred != nil && !traversable(parent)) || len(parent) > 60 {
		parent = "/tmp"
	}
	base, err := os.MkdirTemp(parent, "idemsim-pg-")
	if err != nil {
		return "", fmt.Errorf("testserver: %w", err)
	}
	if cred != nil {
		if err := os.Chown(base, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(base)
			return "", fmt.Errorf("testserver: handing %s to user postgres: %w", base, err)
		}
	}
	return base, nil
}

// traversable reports whether every directory from dir up to / lets other
// users through.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		up := filepath.Dir(dir)
		if up == dir {
			return true
		}
		dir = up
	}
}

// startPostgres creates a throwaway cluster and starts it on a free port.
func startPostgres() (*PostgresServer, error) {
	initdb, bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	base, err := postgresBase(cred)
	if err != nil {
		return nil, err
	}
	s := &PostgresServer{Owned: true, bin: bin, cred: cred, base: base}
	if err := s.initdb(initdb); err != nil {
		_ = os.RemoveAll(base)
		return nil, err
	}
	if err := startWithRetry(0, s.startOn); err != nil {
		_ = os.RemoveAll(base)
		return nil, err
	}
	return s, nil
}

func (s *PostgresServer) dataDir() string { return filepath.Join(s.base, "data") }
func (s *PostgresServer) sockDir() string { return filepath.Join(s.base, "sock") }

// command returns a command that runs as the cluster's owner, in s.base.
func (s *PostgresServer) command(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Dir = s.base // the test's own directory may be closed to the postgres user
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// initdb creates the cluster and the socket directory. The C locale keeps it
// independent of the locales the machine happens to have.
func (s *PostgresServer) initdb(initdb string) error {
	cmd := s.command(initdb, "-D", s.dataDir(), "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testserver: %s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if err := os.Mkdir(s.sockDir(), 0o700); err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	if s.cred != nil {
		if err := os.Chown(s.sockDir(), int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("testserver: handing %s to user postgres: %w", s.sockDir(), err)
		}
	}
	return nil
}

// startOn starts postgres on port and waits until it accepts connections.
// The caller holds s.mu or has s to itself.
func (s *PostgresServer) startOn(port int) error {
	cmd := s.command(s.bin, "-D", s.dataDir(), "-p", strconv.Itoa(port), "-k", s.sockDir(),
		"-c", "listen_addresses=127.0.0.1",
		// fsync=off keeps tests fast; commits still reach the OS before
		// the client hears of them, so a killed server keeps them.
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	// SIGQUIT is PostgreSQL's immediate shutdown: unlike SIGKILL, it takes
	// the backends down with the postmaster.
	p, err := startProcess(cmd, filepath.Join(s.base, "postgres.log"), syscall.SIGQUIT)
	if err != nil {
		return err
	}
	u := "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable"
	if err := s.wait(p, u, port); err != nil {
		if stopErr := p.stop(syscall.SIGINT, postgresStopGrace); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return err
	}
	s.proc = p
	if s.port == 0 {
		// Set once: a restart reuses the port, and tests may read URL
		// while another goroutine restarts the server.
		s.port, s.URL = port, u
	}
	return nil
}

// wait waits until the postgres p accepts a connection at u. It checks the
// answering server's data directory, so that a server some other process
// started on a port it raced us to is not taken for ours.
func (s *PostgresServer) wait(p *process, u string, port int) error {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	cfg.ConnectTimeout = time.Second
	deadline := time.Now().Add(postgresStartTimeout)
	what := "postgres on 127.0.0.1:" + strconv.Itoa(port)
	var lastErr error
	for {
		if p.exited() {
			return p.exitError(what)
		}
		lastErr = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			var dir string
			if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
				return err
			}
			if dir != s.dataDir() {
				return fmt.Errorf("%w: %s is answered by a server with data directory %s, not ours (%s)", errPortInUse, what, dir, s.dataDir())
			}
			return nil
		}()
		if lastErr == nil || errors.Is(lastErr, errPortInUse) {
			return lastErr
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testserver: %s did not accept a connection within %v: %w; end of its log:\n%s",
				what, postgresStartTimeout, lastErr, tailFile(p.logPath, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops the server (a fast shutdown: SIGINT, which aborts open
// transactions and disconnects clients; SIGKILL if that takes more than 5 s)
// and waits for it to exit. Clients see connection errors until Start;
// committed data survives. It does nothing if the server is already down, skips tb
// if the server is not Owned, and fails tb on a shared server.
func (s *PostgresServer) Kill(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Kill")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(syscall.SIGINT); err != nil {
		tb.Fatalf("%v", err)
	}
}

// Start starts the server again on the same port and data directory after
// Kill, and waits until it accepts connections. It
// does nothing if the server is running, skips tb if the server is not
// Owned, and fails tb on a shared server.
func (s *PostgresServer) Start(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Start")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		tb.Fatalf("testserver: Start on the PostgreSQL server at %s after its test ended", s.URL)
	}
	if s.proc != nil {
		return
	}
	if err := startWithRetry(s.port, s.startOn); err != nil {
		tb.Fatalf("%v", err)
	}
}

// Restart stops the server as Kill does and starts it again on the same
// port and data directory, so committed data is still there. It skips tb if
// the server is not Owned and fails tb on a shared server.
func (s *PostgresServer) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill(tb)
	s.Start(tb)
}

// mustOwn skips tb when s is not Owned and fails it when s is shared.
func (s *PostgresServer) mustOwn(tb testing.TB, op string) {
	tb.Helper()
	if !s.Owned {
		tb.Skipf("testserver: %s needs a server the test owns; %s points at an existing server", op, envPostgresURL)
	}
	if s.shared {
		tb.Fatalf("testserver: %s on a shared PostgreSQL server; use testserver.Postgres for a server the test can kill", op)
	}
}

// stopLocked stops the server process, if it runs, with sig and then
// SIGKILL. The caller holds s.mu.
func (s *PostgresServer) stopLocked(sig syscall.Signal) error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(sig, postgresStopGrace)
	s.proc = nil
	return err
}

// close stops the server as Kill does and removes its directory. A fast
// shutdown (SIGINT) disconnects clients; the smart one (SIGTERM) would wait
// for every client a test left open, then end in SIGKILL, which leaves the
// backends to notice on their own that their postmaster is gone.
func (s *PostgresServer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = true
	err := s.stopLocked(syscall.SIGINT)
	if rmErr := os.RemoveAll(s.base); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("testserver: %w", rmErr))
	}
	return err
}
