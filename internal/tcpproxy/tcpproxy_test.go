package tcpproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// held is how long a test waits to be sure that nothing crosses a cut.
const held = 200 * time.Millisecond

// prompt bounds how long anything that should happen at once may take.
const prompt = 2 * time.Second

// echoServer echoes every connection back to its sender and reports each
// server-side connection as it is accepted and when its read side ends.
type echoServer struct {
	ln       net.Listener
	accepted chan net.Conn // each server-side conn, when accepted
	ended    chan error    // one per conn when it stops reading: nil for EOF
	wg       sync.WaitGroup
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &echoServer{ln: ln, accepted: make(chan net.Conn, 256), ended: make(chan error, 256)}
	var mu sync.Mutex
	var conns []net.Conn
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			s.accepted <- c
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, err := io.Copy(c, c)
				s.ended <- err
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *echoServer) addr() string { return s.ln.Addr().String() }

// nextConn returns the next server-side conn the server accepts.
func (s *echoServer) nextConn(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(prompt):
		require.FailNow(t, "echo server accepted no connection")
		return nil
	}
}

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, prompt)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// pattern is n bytes that differ between seeds and reveal reordering.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i/251)
	}
	return b
}

// readN reads exactly n bytes from c within d.
func readN(t *testing.T, c net.Conn, n int, d time.Duration) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	return b
}

// roundTrip sends msg through c and requires it back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_, err := c.Write([]byte(msg))
	require.NoError(t, err)
	require.Equal(t, msg, string(readN(t, c, len(msg), prompt)))
}

// requireNothing requires that a read on c gets nothing for d.
func requireNothing(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	n, err := c.Read(make([]byte, 1))
	require.Zero(t, n, "a byte crossed the cut")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
}

// requireClosed requires that a read on c reports the end of the stream
// (EOF or a reset) within prompt, with no data before it.
func requireClosed(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(prompt)))
	n, err := c.Read(make([]byte, 1))
	require.Zero(t, n)
	require.Error(t, err)
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "connection still open")
}

func TestForward(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"1 byte", 1},
		{"1 KiB", 1 << 10},
		{"4 MiB", 4 << 20},
	}
	srv := startEcho(t)
	p := startProxy(t, srv.addr())
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, p.Addr())
			want := pattern(i, tt.size)
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(want)
				if err == nil {
					err = c.CloseWrite()
				}
				werr <- err
			}()
			require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
			got, err := io.ReadAll(c) // ends when the server's close comes back
			require.NoError(t, err)
			require.NoError(t, <-werr)
			require.True(t, bytes.Equal(want, got), "echo differs: got %d bytes, want %d", len(got), len(want))
			require.NoError(t, <-srv.ended, "server saw the half-close as EOF")
		})
	}
	require.Eventually(t, func() bool { return p.Conns() == 0 }, prompt, 5*time.Millisecond)
}

func TestManyConns(t *testing.T) {
	const n = 64
	srv := startEcho(t)
	p := startProxy(t, srv.addr())

	var opened, done sync.WaitGroup
	release := make(chan struct{})
	opened.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			c, err := net.DialTimeout("tcp", p.Addr(), prompt)
			if !assert.NoError(t, err) {
				opened.Done()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			first := pattern(i, 100)
			_, err = c.Write(first)
			got := make([]byte, len(first))
			if err == nil {
				_, err = io.ReadFull(c, got)
			}
			opened.Done()
			if !assert.NoError(t, err) || !assert.Equal(t, first, got) {
				return
			}
			<-release
			want := pattern(i, 64<<10)
			go func() {
				c.Write(want)
				c.(*net.TCPConn).CloseWrite()
			}()
			all, err := io.ReadAll(c)
			assert.NoError(t, err)
			assert.True(t, bytes.Equal(want, all), "conn %d: echo differs", i)
		}()
	}
	opened.Wait()
	assert.Equal(t, n, p.Conns(), "every connection is live at once")
	close(release)
	done.Wait()
	require.Eventually(t, func() bool { return p.Conns() == 0 }, prompt, 5*time.Millisecond)
}

func TestCutHoldsBytes(t *testing.T) {
	tests := []struct {
		name string
		// send writes during the cut, from the client or the server.
		send func(t *testing.T, client, server net.Conn) []byte
	}{
		{"client to server", func(t *testing.T, client, _ net.Conn) []byte {
			// A write and a read with one 200 ms deadline: the write
			// lands in buffers, the read times out.
			require.NoError(t, client.SetDeadline(time.Now().Add(held)))
			_, err := client.Write([]byte("during the cut"))
			require.NoError(t, err)
			_, err = client.Read(make([]byte, 1))
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.NoError(t, client.SetDeadline(time.Time{}))
			return []byte("during the cut")
		}},
		{"client to server, 1 MiB in many writes", func(t *testing.T, client, _ net.Conn) []byte {
			want := pattern(7, 1<<20)
			go func() {
				for b := want; len(b) > 0; b = b[min(len(b), 1000):] {
					if _, err := client.Write(b[:min(len(b), 1000)]); err != nil {
						return
					}
				}
			}()
			requireNothing(t, client, held)
			return want
		}},
		{"server to client", func(t *testing.T, client, server net.Conn) []byte {
			_, err := server.Write([]byte("pushed"))
			require.NoError(t, err)
			requireNothing(t, client, held)
			return []byte("pushed")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEcho(t)
			p := startProxy(t, srv.addr())
			client := dial(t, p.Addr())
			roundTrip(t, client, "before")
			server := srv.nextConn(t)

			p.Cut()
			require.True(t, p.Cutting())
			want := tt.send(t, client, server)
			p.Heal()
			require.False(t, p.Cutting())

			got := readN(t, client, len(want), 5*time.Second)
			require.True(t, bytes.Equal(want, got), "held bytes lost or reordered")
			roundTrip(t, client, "after")
		})
	}
}

func TestConnOpenedDuringCut(t *testing.T) {
	srv := startEcho(t)
	p := startProxy(t, srv.addr())
	p.Cut()
	c := dial(t, p.Addr()) // the handshake completes: the proxy accepts
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	requireNothing(t, c, held)
	require.Empty(t, srv.accepted, "the target was dialed during the cut")
	require.Equal(t, 1, p.Conns())

	p.Heal()
	require.Equal(t, "hello", string(readN(t, c, 5, prompt)))
	srv.nextConn(t)
}

func TestClientCloseDuringCut(t *testing.T) {
	tests := []struct {
		name  string
		half  bool   // CloseWrite rather than Close
		words string // written just before the close, during the cut
	}{
		{"close", false, ""},
		{"close after writing", false, "last words"},
		{"half-close", true, ""},
		{"half-close after writing", true, "last words"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEcho(t)
			p := startProxy(t, srv.addr())
			c := dial(t, p.Addr())
			roundTrip(t, c, "ping")
			srv.nextConn(t)

			p.Cut()
			if tt.words != "" {
				_, err := c.Write([]byte(tt.words))
				require.NoError(t, err)
			}
			if tt.half {
				require.NoError(t, c.CloseWrite())
			} else {
				require.NoError(t, c.Close())
			}
			select {
			case err := <-srv.ended:
				require.FailNow(t, "server saw the close during the cut", "err: %v", err)
			case <-time.After(held):
			}

			p.Heal()
			select {
			case err := <-srv.ended:
				require.NoError(t, err, "server sees a clean EOF")
			case <-time.After(prompt):
				require.FailNow(t, "server never saw the close after Heal")
			}
			if tt.half {
				// The bytes written before the close still arrive
				// first, then the server's own close.
				require.Equal(t, tt.words, string(readN(t, c, len(tt.words), prompt)))
				requireClosed(t, c)
			}
			require.Eventually(t, func() bool { return p.Conns() == 0 }, prompt, 5*time.Millisecond)
		})
	}
}

func TestCloseConns(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut=%v", cut), func(t *testing.T) {
			srv := startEcho(t)
			p := startProxy(t, srv.addr())
			c := dial(t, p.Addr())
			roundTrip(t, c, "ping")
			srv.nextConn(t)
			if cut {
				p.Cut()
			}

			p.CloseConns()
			require.Zero(t, p.Conns())
			select {
			case <-srv.ended:
			case <-time.After(prompt):
				require.FailNow(t, "server never saw the close")
			}
			requireClosed(t, c)

			// The proxy keeps serving new connections.
			p.Heal()
			roundTrip(t, dial(t, p.Addr()), "again")
		})
	}
}

func TestDialFailureClosesClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())

	p := startProxy(t, dead)
	requireClosed(t, dial(t, p.Addr()))
	require.Eventually(t, func() bool { return p.Conns() == 0 }, prompt, 5*time.Millisecond)
}

func TestCutting(t *testing.T) {
	tests := []struct {
		ops  string // c = Cut, h = Heal
		want bool
	}{
		{"", false},
		{"c", true},
		{"cc", true},
		{"ch", false},
		{"chh", false},
		{"cchc", true},
	}
	p := startProxy(t, "127.0.0.1:1")
	for _, tt := range tests {
		t.Run("ops="+tt.ops, func(t *testing.T) {
			p.Heal()
			for _, op := range tt.ops {
				if op == 'c' {
					p.Cut()
				} else {
					p.Heal()
				}
			}
			assert.Equal(t, tt.want, p.Cutting())
		})
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	srv := startEcho(t)
	base := runtime.NumGoroutine()

	p, err := Start(srv.addr())
	require.NoError(t, err)
	addr := p.Addr()

	// One idle connection, one with bytes held by a cut, one opened during
	// the cut (not yet dialed through), and one whose pumps are stuck in
	// Write because its client sends without ever reading.
	idle := dial(t, addr)
	roundTrip(t, idle, "idle")
	stuck := dial(t, addr)
	roundTrip(t, stuck, "stuck")
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		big := pattern(1, 1<<20)
		for {
			if _, err := stuck.Write(big); err != nil {
				return
			}
		}
	}()
	heldConn := dial(t, addr)
	roundTrip(t, heldConn, "held")
	p.Cut()
	_, err = heldConn.Write([]byte("held bytes"))
	require.NoError(t, err)
	late := dial(t, addr)
	_, err = late.Write([]byte("late"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.Conns() == 4 }, prompt, 5*time.Millisecond)

	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(prompt):
		require.FailNow(t, "Close did not return")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	require.NotContains(t, stacks, "tcpproxy.(*Proxy)", "a proxy goroutine outlived Close")
	require.NoError(t, p.Close(), "a second Close is a no-op")
	require.Zero(t, p.Conns())
	select {
	case <-writerDone:
	case <-time.After(prompt):
		require.FailNow(t, "the stuck client's writes never failed")
	}
	for _, c := range []net.Conn{idle, heldConn, late} {
		requireClosed(t, c)
	}

	// A plain loop, not require.Eventually: that runs its condition on a
	// goroutine of its own, which the count would include.
	deadline := time.Now().Add(prompt)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		require.FailNow(t, "goroutines leaked", "%d > %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}

	_, err = net.DialTimeout("tcp", addr, prompt)
	require.Error(t, err, "Addr still accepts after Close")
	var opErr *net.OpError
	require.True(t, errors.As(err, &opErr), "want a dial error, got %v", err)
}
