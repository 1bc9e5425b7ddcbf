package testserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// envRedisURL names the environment variable that points tests at an
// existing Redis server instead of a throwaway one.
const envRedisURL = "IDEMSIM_REDIS_URL"

// redisInstallHint says how to get redis-server on a Debian machine.
const redisInstallHint = "redis-server is not installed (looked on PATH and at /usr/bin/redis-server); install it with: apt-get install -y redis-server"

// redisPaths lists where redis-server is looked for when it is not on PATH.
// Tests replace it to pretend Redis is missing.
var redisPaths = []string{"/usr/bin/redis-server"}

// redisStartTimeout bounds how long a starting redis-server may take to
// answer PING.
const redisStartTimeout = 5 * time.Second

// RedisServer is a Redis server for a test: a throwaway redis-server the
// test owns, or the existing server IDEMSIM_REDIS_URL names.
type RedisServer struct {
	// Addr is the server's host:port, for redis.Options.Addr.
	Addr string
	// URL is the server's redis:// URL, for redis.ParseURL.
	URL string
	// Owned reports whether testserver started the server, so that Kill,
	// Start and Restart can act on it.
	Owned bool

	shared bool // one server per test binary: Kill, Start and Restart refuse

	mu      sync.Mutex // guards proc, port and removed
	bin     string
	dir     string
	port    int
	proc    *process // nil while the server is down
	removed bool     // close has run
}

// Redis returns a Redis server for tb: the server IDEMSIM_REDIS_URL names
// when it is set, otherwise a throwaway redis-server on a free loopback port
// that persists nothing and is killed, and its directory removed, when tb
// ends. It skips tb when redis-server is not installed, or fails it when the
// CI environment variable is set.
func Redis(tb testing.TB) *RedisServer {
	tb.Helper()
	s, err := newRedis()
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

// newRedis returns the server IDEMSIM_REDIS_URL names or starts a new one.
func newRedis() (*RedisServer, error) {
	if u := os.Getenv(envRedisURL); u != "" {
		return externalRedis(u)
	}
	return startRedis()
}

// externalRedis checks that the server at rawURL answers PING within five
// seconds.
func externalRedis(rawURL string) (*RedisServer, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("testserver: %s=%s: %w", envRedisURL, redactURL(rawURL), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("testserver: %s: Redis at %s did not answer PING within 5 s: %w", envRedisURL, opts.Addr, err)
	}
	return &RedisServer{Addr: opts.Addr, URL: rawURL}, nil
}

// findRedis returns the path of redis-server.
func findRedis() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range redisPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &missingError{msg: "testserver: " + redisInstallHint}
}

// startRedis starts a throwaway redis-server on a free port.
func startRedis() (*RedisServer, error) {
	bin, err := findRedis()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "idemsim-redis-")
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	s := &RedisServer{Owned: true, bin: bin, dir: dir}
	if err := startWithRetry(0, s.startOn); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// startOn starts redis-server on port and waits until it answers. The
// caller holds s.mu or has s to itself.
func (s *RedisServer) startOn(port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(s.bin,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", s.dir)
	cmd.Dir = s.dir
	p, err := startProcess(cmd, filepath.Join(s.dir, "redis.log"), syscall.SIGKILL)
	if err != nil {
		return err
	}
	if err := waitRedis(p, addr); err != nil {
		if stopErr := p.stop(syscall.SIGKILL, 0); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return err
	}
	s.proc = p
	if s.port == 0 {
		// Set once: a restart reuses the port, and tests may read Addr
		// and URL while another goroutine restarts the server.
		s.port, s.Addr, s.URL = port, addr, "redis://"+addr+"/0"
	}
	return nil
}

// waitRedis waits until the redis-server p answers at addr. It checks the
// answering server's process_id, so that a server some other process started
// on a port it raced us to is not taken for ours.
func waitRedis(p *process, addr string) error {
	c := redis.NewClient(&redis.Options{
		Addr:        addr,
		DialTimeout: 250 * time.Millisecond,
		ReadTimeout: 250 * time.Millisecond,
		MaxRetries:  -1,
		PoolSize:    1,
	})
	defer c.Close()
	deadline := time.Now().Add(redisStartTimeout)
	var lastErr error
	for {
		if p.exited() {
			return p.exitError("redis-server on " + addr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		info, err := c.Info(ctx, "server").Result()
		cancel()
		if err == nil {
			pid := infoField(info, "process_id")
			if pid == strconv.Itoa(p.cmd.Process.Pid) {
				return nil
			}
			lastErr = fmt.Errorf("%w: %s is answered by process %s, not by our redis-server (pid %d)", errPortInUse, addr, pid, p.cmd.Process.Pid)
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			if errors.Is(lastErr, errPortInUse) {
				return lastErr
			}
			return fmt.Errorf("testserver: redis-server on %s did not answer within %v: %w; end of its log:\n%s",
				addr, redisStartTimeout, lastErr, tailFile(p.logPath, 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// infoField returns the value of key in the text of an INFO reply.
func infoField(info, key string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it to
// exit. Clients see connection errors until Start. It does nothing if the
// server is already down, skips tb if the server is not Owned, and fails tb
// on a shared server.
func (s *RedisServer) Kill(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Kill")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.killLocked(); err != nil {
		tb.Fatalf("%v", err)
	}
}

// Start starts the server again, empty, on the same port after Kill, and
// waits until it answers. It does nothing if the server is running, skips tb
// if the server is not Owned, and fails tb on a shared server.
func (s *RedisServer) Start(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Start")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		tb.Fatalf("testserver: Start on the Redis server at %s after its test ended", s.Addr)
	}
	if s.proc != nil {
		return
	}
	if err := startWithRetry(s.port, s.startOn); err != nil {
		tb.Fatalf("%v", err)
	}
}

// Restart kills the server and starts it again, empty, on the same port.
// It skips tb if the server is not Owned and fails tb on a shared server.
func (s *RedisServer) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill(tb)
	s.Start(tb)
}

// mustOwn skips tb when s is not Owned and fails it when s is shared.
func (s *RedisServer) mustOwn(tb testing.TB, op string) {
	tb.Helper()
	if !s.Owned {
		tb.Skipf("testserver: %s needs a server the test owns; %s points at an existing server", op, envRedisURL)
	}
	if s.shared {
		tb.Fatalf("testserver: %s on a shared Redis server; use testserver.Redis for a server the test can kill", op)
	}
}

// killLocked kills the server process if it runs. The caller holds s.mu.
func (s *RedisServer) killLocked() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(syscall.SIGKILL, 0)
	s.proc = nil
	return err
}

// close kills the server and removes its directory.
func (s *RedisServer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = true
	err := s.killLocked()
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("testserver: %w", rmErr))
	}
	return err
}

// redactURL hides the password in rawURL, for messages.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
