package testserver

import (
	"syscall"
	"testing"
)

// Freeze stops the server's processes with SIGSTOP, as a hung server or a
// paused VM would: connections stay open and nothing answers. Thaw (or the
// end of tb) resumes them. It skips tb if the server is not Owned and fails
// it on a shared server.
func (s *RedisServer) Freeze(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Freeze")
	s.mu.Lock()
	defer s.mu.Unlock()
	freeze(tb, s.proc, s.Thaw)
}

// Thaw resumes a frozen server with SIGCONT; it does nothing if the server
// is not frozen or not running.
func (s *RedisServer) Thaw(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	thaw(tb, s.proc)
}

// Freeze stops the server and every backend with SIGSTOP, as a hung server
// or a paused VM would: connections stay open and nothing answers. Thaw
// (or the end of tb) resumes them. It skips tb if the server is not Owned
// and fails it on a shared server.
func (s *PostgresServer) Freeze(tb testing.TB) {
	tb.Helper()
	s.mustOwn(tb, "Freeze")
	s.mu.Lock()
	defer s.mu.Unlock()
	freeze(tb, s.proc, s.Thaw)
}

// Thaw resumes a frozen server with SIGCONT; it does nothing if the server
// is not frozen or not running.
func (s *PostgresServer) Thaw(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	thaw(tb, s.proc)
}

func freeze(tb testing.TB, p *process, thaw func(testing.TB)) {
	tb.Helper()
	if p == nil {
		tb.Fatalf("testserver: Freeze on a server that is down")
	}
	// Registered before the signal, so that a frozen server is always
	// resumed before cleanup stops it.
	tb.Cleanup(func() { thaw(tb) })
	if err := p.signalGroup(syscall.SIGSTOP); err != nil {
		tb.Fatalf("%v", err)
	}
}

func thaw(tb testing.TB, p *process) {
	tb.Helper()
	if p == nil {
		return
	}
	if err := p.signalGroup(syscall.SIGCONT); err != nil {
		tb.Errorf("%v", err)
	}
}
