package testserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// envAMQPURL names the environment variable that points tests at an
// existing RabbitMQ server instead of a throwaway one.
const envAMQPURL = "IDEMSIM_AMQP_URL"

// rabbitInstallHint says how to get RabbitMQ on a Debian machine.
const rabbitInstallHint = "install it with: apt-get install -y rabbitmq-server (scripts/test does, as root, without starting its service)"

// rabbitPaths lists where the rabbitmq-server script is looked for. The
// Debian package's /usr/sbin/rabbitmq-server is a wrapper that switches to
// the rabbitmq user and runs the machine's node, so only the script it
// wraps will do. Tests replace it to pretend RabbitMQ is missing.
var rabbitPaths = []string{
	"/usr/lib/rabbitmq/bin/rabbitmq-server",
}

// epmdPaths lists where Erlang's port mapper daemon is looked for, after
// PATH.
var epmdPaths = []string{"/usr/bin/epmd"}

// rabbitStartTimeout bounds how long a starting node may take to accept an
// AMQP connection. A cold node boots in about 4 s on an idle 2-core machine;
// the bound leaves room for a loaded one.
const rabbitStartTimeout = 60 * time.Second

// rabbitStopGrace is how long a node has to stop after SIGTERM before it
// gets SIGKILL. Only used when a test asks for a clean stop; cleanup kills.
const rabbitStopGrace = 15 * time.Second

// rabbitNodes numbers the nodes this test binary starts, for their names.
var rabbitNodes atomic.Int64

// RabbitMQServer is a RabbitMQ server for a test: a throwaway node the test
// owns, or the existing server IDEMSIM_AMQP_URL names.
type RabbitMQServer struct {
	// URL is the server's amqp:// URL, for amqp091.Dial. A throwaway
	// node's is amqp://guest:guest@127.0.0.1:PORT/ (guest may log in from
	// the loopback interface only, which is where the node listens).
	URL string
	// Addr is the server's AMQP host:port.
	Addr string
	// Node is the throwaway node's Erlang node name, unique to this test
	// binary and registered only with the node's own epmd; "" for an
	// existing server.
	Node string
	// Owned reports whether testserver started the server, so that Kill,
	// Start, Restart and Freeze can act on it.
	Owned bool

	shared bool // one server per test binary: Kill, Start, Restart and Freeze refuse

	mu       sync.Mutex // guards everything below
	bin      string     // the rabbitmq-server script
	dir      string     // holds config, data, logs and the Erlang cookie; removed by close
	port     int        // AMQP
	distPort int        // Erlang distribution
	epmdPort int
	epmd     *process // the node's own epmd, running for the server's life
	proc     *process // the node (beam.smp); nil while the server is down
	removed  bool     // close has run
}

// RabbitMQ returns a RabbitMQ server for tb: the server IDEMSIM_AMQP_URL
// names when it is set, otherwise a throwaway node, killed and its
// directory removed when tb ends. It skips tb when RabbitMQ is not
// installed, or fails it when the CI environment variable is set.
//
// A throwaway node is started from the installed rabbitmq-server with its
// own node name, config, data and log directories and Erlang cookie under a
// fresh temporary directory, on free loopback ports (AMQP and
// distribution), and with its own epmd on a free port: it neither
// registers with nor queries the machine's epmd, so it cannot collide with
// the machine's RabbitMQ (127.0.0.1:5672, node rabbit@host). It enables no
// plugins. Starting one takes about 4 s; tests that do not kill the server
// can share one through SharedRabbitMQ.
func RabbitMQ(tb testing.TB) *RabbitMQServer {
	tb.Helper()
	s, err := newRabbitMQ()
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

// newRabbitMQ returns the server IDEMSIM_AMQP_URL names or starts a new one.
func newRabbitMQ() (*RabbitMQServer, error) {
	if u := os.Getenv(envAMQPURL); u != "" {
		return externalRabbitMQ(u)
	}
	return startRabbitMQ()
}

// externalRabbitMQ checks that the server at rawURL accepts an AMQP
// connection within five seconds.
func externalRabbitMQ(rawURL string) (*RabbitMQServer, error) {
	uri, err := amqp.ParseURI(rawURL)
	if err != nil {
		return nil, fmt.Errorf("testserver: %s=%s: %v", envAMQPURL, redactURL(rawURL), err)
	}
	addr := net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))
	conn, err := dialAMQP(rawURL, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("testserver: %s: RabbitMQ at %s did not accept an AMQP connection within 5 s: %s", envAMQPURL, addr, scrubAMQP(err, uri))
	}
	_ = conn.Close()
	return &RabbitMQServer{URL: rawURL, Addr: addr}, nil
}

// dialAMQP connects to rawURL, with the whole handshake (TCP, TLS, AMQP
// negotiation) bounded by timeout: amqp091's DefaultDial sets the deadline
// on the socket and clears it once the connection is open, so a server that
// accepts and never answers cannot hang the handshake.
func dialAMQP(rawURL string, timeout time.Duration) (*amqp.Connection, error) {
	return amqp.DialConfig(rawURL, amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Dial:      amqp.DefaultDial(timeout),
	})
}

// scrubAMQP returns err's message with uri's password hidden: amqp091's
// errors do not quote URLs today, but a password must never reach a log.
func scrubAMQP(err error, uri amqp.URI) string {
	msg := err.Error()
	if len(uri.Password) >= 3 {
		msg = strings.ReplaceAll(msg, uri.Password, "xxxxx")
		msg = strings.ReplaceAll(msg, url.QueryEscape(uri.Password), "xxxxx")
	}
	return msg
}

// findRabbitMQ returns the paths of the rabbitmq-server script and of epmd.
func findRabbitMQ() (bin, epmd string, err error) {
	for _, p := range rabbitPaths {
		if isExecutable(p) {
			bin = p
			break
		}
	}
	if bin == "" {
		return "", "", &missingError{msg: fmt.Sprintf("testserver: RabbitMQ is not installed (looked for %s); %s",
			strings.Join(rabbitPaths, ", "), rabbitInstallHint)}
	}
	if p, err := exec.LookPath("epmd"); err == nil {
		return bin, p, nil
	}
	for _, p := range epmdPaths {
		if isExecutable(p) {
			return bin, p, nil
		}
	}
	return "", "", &missingError{msg: fmt.Sprintf("testserver: RabbitMQ is installed but Erlang's epmd is not (looked on PATH and at %s); %s",
		strings.Join(epmdPaths, ", "), rabbitInstallHint)}
}

// startRabbitMQ starts a throwaway node, with its own epmd, on free ports.
func startRabbitMQ() (*RabbitMQServer, error) {
	bin, epmd, err := findRabbitMQ()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "idemsim-rabbitmq-")
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}
	s := &RabbitMQServer{
		Owned: true,
		Node:  fmt.Sprintf("idemsim-%d-%d@localhost", os.Getpid(), rabbitNodes.Add(1)),
		bin:   bin,
		dir:   dir,
	}
	// An empty plugin list: the machine's enabled_plugins (management,
	// say) would cost seconds and ports.
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("testserver: %w", err)
	}
	if err := startWithRetry(0, func(port int) error { return s.startEPMD(epmd, port) }); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := startWithRetry(0, s.startOn); err != nil {
		_ = s.epmd.stop(syscall.SIGKILL, 0)
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// startEPMD starts the node's own epmd on port, listening on loopback only,
// and waits until it accepts connections. It runs in the foreground, as a
// child of the test binary, unlike the "epmd -daemon" a node would start by
// itself.
func (s *RabbitMQServer) startEPMD(bin string, port int) error {
	cmd := exec.Command(bin, "-port", strconv.Itoa(port), "-address", "127.0.0.1")
	cmd.Dir = s.dir
	p, err := startProcess(cmd, filepath.Join(s.dir, "epmd.log"), syscall.SIGKILL)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		// An epmd that cannot bind exits at once: checked before and
		// after a successful connect, so another's epmd is not taken for
		// ours.
		if p.exited() {
			return p.exitError("epmd on " + addr)
		}
		c, err := net.DialTimeout("tcp", addr, 250*time.Millisecond)
		if err == nil {
			c.Close()
			time.Sleep(20 * time.Millisecond)
			if p.exited() {
				return p.exitError("epmd on " + addr)
			}
			s.epmd, s.epmdPort = p, port
			return nil
		}
		if time.Now().After(deadline) {
			_ = p.stop(syscall.SIGKILL, 0)
			return fmt.Errorf("testserver: epmd on %s did not accept a connection within 5 s: %w; end of its log:\n%s",
				addr, err, tailFile(p.logPath, 2000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// env returns the node's environment: the test binary's, without any
// RabbitMQ or Erlang settings it may hold, plus the node's own. HOME is the
// node's directory, where Erlang creates the node's cookie.
func (s *RabbitMQServer) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RABBITMQ_") || strings.HasPrefix(k, "ERL_") || k == "HOME" || k == "NOTIFY_SOCKET" {
			continue
		}
		env = append(env, kv)
	}
	d := s.dir
	return append(env,
		"HOME="+d,
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8", // Elixir's CLI code warns without UTF-8
		"ERL_EPMD_PORT="+strconv.Itoa(s.epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		// Not /etc/rabbitmq/rabbitmq-env.conf, which names the machine's node.
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(d, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(d, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(d, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(d, "enabled_plugins"),
		"RABBITMQ_PLUGINS_EXPAND_DIR="+filepath.Join(d, "plugins-expand"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(d, "data"),
		"RABBITMQ_LOG_BASE="+filepath.Join(d, "log"),
		"RABBITMQ_LOGS=-", // to standard output, which is the process's log
		"RABBITMQ_PID_FILE="+filepath.Join(d, "rabbitmq.pid"),
		"RABBITMQ_NODENAME="+s.Node,
		"RABBITMQ_USE_LONGNAME=false",
		"RABBITMQ_DIST_PORT="+strconv.Itoa(s.distPort),
		// Run the VM in place of the script (exec), so that the process
		// testserver starts is the node itself: signals and the
		// parent-death signal reach it. Without this the script runs
		// the VM in the background of a shell, and killing the shell
		// would orphan the node. -noinput keeps the VM off its standard
		// input all the same.
		"RABBITMQ_ALLOW_INPUT=true",
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-noinput -kernel inet_dist_use_interface {127,0,0,1}",
	)
}

// startOn starts the node with AMQP on port and waits until it accepts an
// AMQP connection. The distribution port is picked once and kept, as the
// AMQP port is, so that a restarted node is the same node. The caller holds
// s.mu or has s to itself.
func (s *RabbitMQServer) startOn(port int) error {
	if s.port == 0 {
		// A first start: a fresh distribution port with each try, in
		// case the last one was taken.
		dp, err := freePort()
		if err != nil {
			return err
		}
		s.distPort = dp
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// The cluster name, which every AMQP client sees, tells our node
	// from another on the same port (see wait). A disk alarm, which
	// blocks every publisher, goes off only on a really full disk: the
	// default (50 MB free) could stall tests on a small temporary disk.
	conf := fmt.Sprintf("listeners.tcp.1 = %s\nloopback_users.guest = true\ncluster_name = %s\ndisk_free_limit.absolute = 1MB\n", addr, s.Node)
	if err := os.WriteFile(filepath.Join(s.dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	cmd := exec.Command(s.bin)
	cmd.Dir = s.dir
	cmd.Env = s.env()
	p, err := startProcess(cmd, filepath.Join(s.dir, "rabbitmq.log"), syscall.SIGKILL)
	if err != nil {
		return err
	}
	u := "amqp://guest:guest@" + addr + "/"
	if err := s.wait(p, u, addr); err != nil {
		if stopErr := killNode(p); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return err
	}
	s.proc = p
	if s.port == 0 {
		// Set once: a restart reuses the port, and tests may read URL
		// and Addr while another goroutine restarts the server.
		s.port, s.Addr, s.URL = port, addr, u
	}
	return nil
}

// wait waits until the node p accepts an AMQP connection at u. It checks
// the answering server's cluster name, which startOn sets to the node
// name, so that a server some other process started on a port it raced
// us to is not taken for ours.
func (s *RabbitMQServer) wait(p *process, u, addr string) error {
	deadline := time.Now().Add(rabbitStartTimeout)
	what := "rabbitmq-server (node " + s.Node + ") on " + addr
	var lastErr error
	for {
		if p.exited() {
			err := p.exitError(what)
			if log := tailFile(p.logPath, 4000); strings.Contains(log, "eaddrinuse") || strings.Contains(log, "in use") {
				return fmt.Errorf("%w: %w", errPortInUse, err)
			}
			return err
		}
		conn, err := dialAMQP(u, time.Second)
		if err == nil {
			name, _ := conn.Properties["cluster_name"].(string)
			_ = conn.Close()
			if name == s.Node {
				return nil
			}
			return fmt.Errorf("%w: %s is answered by RabbitMQ cluster %q, not by our node %s", errPortInUse, addr, name, s.Node)
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("testserver: %s did not accept an AMQP connection within %v: %w; end of its log:\n%s",
				what, rabbitStartTimeout, lastErr, tailFile(p.logPath, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killNode kills the node p with SIGKILL, and the helper processes it
// forked (erl_child_setup, which makes itself a session leader, inet_gethost,
// the disk monitor's shell), which would otherwise linger until they notice
// their parent is gone.
func killNode(p *process) error {
	helpers := descendants(p.cmd.Process.Pid)
	err := p.stop(syscall.SIGKILL, 0)
	for _, pid := range helpers {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return err
}

// Kill kills the node with SIGKILL, as a crash would, and waits for it to
// exit: clients see their connections reset at once. It does nothing if the
// server is already down, skips tb if the server is not Owned, and fails tb
// on a shared server.
func (s *RabbitMQServer) Kill(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Kill")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.killLocked(); err != nil {
		tb.Fatalf("%v", err)
	}
}

// Stop stops the node cleanly (SIGTERM, which RabbitMQ takes as
// "rabbitmqctl stop": it closes client connections with a
// connection.close, then exits; SIGKILL after 15 s) and waits for it to
// exit. It does nothing if the server is already down, skips tb if the
// server is not Owned, and fails tb on a shared server.
func (s *RabbitMQServer) Stop(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Stop")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	helpers := descendants(s.proc.cmd.Process.Pid)
	err := s.proc.stop(syscall.SIGTERM, rabbitStopGrace)
	for _, pid := range helpers {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	s.proc = nil
	if err != nil {
		tb.Fatalf("%v", err)
	}
}

// Start starts the node again after Kill or Stop, on the same ports, with
// the same node name and data directory, and waits until it accepts AMQP
// connections: durable queues and their persistent messages survive, as on
// a real restart. It does nothing if the server is running, skips tb if the
// server is not Owned, and fails tb on a shared server.
func (s *RabbitMQServer) Start(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Start")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		tb.Fatalf("testserver: Start on the RabbitMQ server at %s after its test ended", s.Addr)
	}
	if s.proc != nil {
		return
	}
	if err := startWithRetry(s.port, s.startOn); err != nil {
		tb.Fatalf("%v", err)
	}
}

// Restart kills the node and starts it again on the same ports and data.
// It skips tb if the server is not Owned and fails tb on a shared server.
func (s *RabbitMQServer) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill(tb)
	s.Start(tb)
}

// Freeze stops the node with SIGSTOP, as a hung server or a paused VM
// would: connections stay open and nothing answers, heartbeats included,
// so a client notices only when its heartbeat timeout runs out. amqp091
// v1.17 gives up 1.5 negotiated heartbeat intervals after the last frame it
// read, but arms that deadline only when a frame arrives while its
// heartbeat goroutine listens: a connection that read nothing since its
// handshake may never notice, so every call needs its own deadline. Thaw
// (or the end of tb) resumes the node. It skips tb if the server is not
// Owned and fails it on a shared server.
//
// Only the VM is stopped, not its helper processes (erl_child_setup,
// inet_gethost), which serve nothing to clients: if the test binary dies
// while the node is frozen, the kernel kills the VM, and the helpers, left
// running, exit as their pipes close, instead of staying stopped forever.
func (s *RabbitMQServer) Freeze(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Freeze")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		tb.Fatalf("testserver: Freeze on a RabbitMQ node that is down")
	}
	// Registered before the signal, so that a frozen node is always
	// resumed before cleanup kills it.
	tb.Cleanup(func() { s.Thaw(tb) })
	if err := s.proc.signalNode(syscall.SIGSTOP); err != nil {
		tb.Fatalf("%v", err)
	}
}

// Thaw resumes a frozen node with SIGCONT; it does nothing if the node is
// not frozen or not running.
func (s *RabbitMQServer) Thaw(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	if err := s.proc.signalNode(syscall.SIGCONT); err != nil {
		tb.Errorf("%v", err)
	}
}

// signalNode sends sig to the process alone, not to its children.
func (p *process) signalNode(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("testserver: signalling %s (pid %d): %w", p.cmd.Path, p.cmd.Process.Pid, err)
	}
	return nil
}

// Pids returns the process ids of the running node and of its epmd (0 for
// one that is not running), for tests that check nothing is left behind.
func (s *RabbitMQServer) Pids() (node, epmd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		node = s.proc.cmd.Process.Pid
	}
	if s.epmd != nil && !s.epmd.exited() {
		epmd = s.epmd.cmd.Process.Pid
	}
	return node, epmd
}

// mustOwn skips tb when s is not Owned and fails it when s is shared.
func (s *RabbitMQServer) mustOwn(tb testing.TB, op string) {
	tb.Helper()
	if !s.Owned {
		tb.Skipf("testserver: %s needs a server the test owns; %s points at an existing server", op, envAMQPURL)
	}
	if s.shared {
		tb.Fatalf("testserver: %s on a shared RabbitMQ server; use testserver.RabbitMQ for a server the test can kill", op)
	}
}

// killLocked kills the node if it runs. The caller holds s.mu.
func (s *RabbitMQServer) killLocked() error {
	if s.proc == nil {
		return nil
	}
	err := killNode(s.proc)
	s.proc = nil
	return err
}

// close kills the node and its epmd and removes the directory. A throwaway
// node's data is not worth a clean shutdown, which takes seconds.
func (s *RabbitMQServer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = true
	err := s.killLocked() // SIGKILL ends a frozen node as well
	if s.epmd != nil {
		err = errors.Join(err, s.epmd.stop(syscall.SIGKILL, 0))
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("testserver: %w", rmErr))
	}
	return err
}
