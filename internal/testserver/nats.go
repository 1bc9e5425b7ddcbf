package testserver

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/idemsim/idemsim/internal/tcpproxy"
)

// NATSServer is a NATS server with JetStream, embedded in the test process
// (nats-server/v2): a real server, not a fake, listening on a free loopback
// port, with its JetStream store in a temporary directory of the test's
// own. Nothing needs to be installed, so it never skips.
//
// URL is what clients dial. With a proxy in front (NATSOptions.Proxy), URL
// points at the proxy, so that Freeze can hold every byte while the server
// itself goes on: a frozen server, as SIGSTOP makes one, without stopping
// the test process.
type NATSServer struct {
	URL  string // nats://[user:password@]127.0.0.1:port, or the proxy's
	Addr string // the server's own host:port

	mu     sync.Mutex
	srv    *natsserver.Server
	proxy  *tcpproxy.Proxy
	closed bool
}

// NATSOptions are a throwaway NATS server's settings.
type NATSOptions struct {
	// User and Password, if set, make the server require them; URL then
	// carries them.
	User, Password string
	// Token, if set, makes the server require it; URL carries it as
	// nats://token@host:port.
	Token string
	// Proxy puts a TCP proxy in front of the server, for Freeze.
	Proxy bool
}

// NATS starts a throwaway NATS server with JetStream for tb, stopped when
// tb ends.
func NATS(tb testing.TB) *NATSServer { return NATSWith(tb, NATSOptions{}) }

// NATSWith starts a throwaway NATS server with JetStream and the settings
// of o, stopped when tb ends.
func NATSWith(tb testing.TB, o NATSOptions) *NATSServer {
	tb.Helper()
	opts := &natsserver.Options{
		Host:          "127.0.0.1",
		Port:          -1, // a free port
		JetStream:     true,
		StoreDir:      tb.TempDir(),
		NoSigs:        true,
		NoLog:         true,
		Username:      o.User,
		Password:      o.Password,
		Authorization: o.Token,
		// The store's writes need not survive the machine: a test's
		// server is gone with the test.
		SyncInterval: time.Minute,
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		tb.Fatalf("testserver: embedded NATS: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		tb.Fatalf("testserver: embedded NATS did not accept connections within 10 s")
	}
	s := &NATSServer{srv: srv, Addr: srv.Addr().String()}
	target := s.Addr
	if o.Proxy {
		p, err := tcpproxy.Start(s.Addr)
		if err != nil {
			srv.Shutdown()
			tb.Fatalf("testserver: a proxy in front of NATS: %v", err)
		}
		s.proxy = p
		target = p.Addr()
	}
	u := url.URL{Scheme: "nats", Host: target}
	switch {
	case o.User != "":
		u.User = url.UserPassword(o.User, o.Password)
	case o.Token != "":
		u.User = url.User(o.Token)
	}
	s.URL = u.String()
	tb.Cleanup(s.close)
	return s
}

// Kill shuts the server down at once: its clients' connections close, as
// when a server process dies.
func (s *NATSServer) Kill(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proxy != nil {
		s.proxy.CloseConns()
	}
	s.srv.Shutdown()
}

// Freeze holds every byte between the clients and the server, in both
// directions, until Thaw: to a client, a frozen server. It needs
// NATSOptions.Proxy.
func (s *NATSServer) Freeze(tb testing.TB) {
	tb.Helper()
	if s.proxy == nil {
		tb.Fatalf("testserver: Freeze needs a NATS server started with NATSOptions{Proxy: true}")
	}
	s.proxy.Cut()
}

// Thaw undoes Freeze.
func (s *NATSServer) Thaw(tb testing.TB) {
	tb.Helper()
	if s.proxy != nil {
		s.proxy.Heal()
	}
}

// String names the server for messages.
func (s *NATSServer) String() string { return fmt.Sprintf("embedded NATS at %s", s.Addr) }

func (s *NATSServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.proxy != nil {
		s.proxy.Heal()
		_ = s.proxy.Close()
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
