package tcpproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds the dial to the target for each accepted connection.
const dialTimeout = 3 * time.Second

// bufSize is the size of each pump's copy buffer: the most bytes one
// direction of one connection holds while cut.
const bufSize = 32 << 10

// Proxy forwards loopback TCP connections to one target and can partition
// them. Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup // the accept loop and every connection's goroutines
	quit   chan struct{}  // closed by Close

	mu     sync.Mutex
	cut    bool
	healed chan struct{} // closed by Heal; replaced by Cut
	closed bool
	conns  map[*link]struct{}
}

// link is one proxied connection: the accepted client side and, once
// dialed, the server side.
type link struct {
	ctx    context.Context // done once the link is killed
	cancel context.CancelFunc

	mu     sync.Mutex
	dead   bool
	client net.Conn
	server net.Conn // nil until dialed
}

// Start listens on 127.0.0.1 on a free port and forwards each accepted
// connection to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: listen: %w", err)
	}
	healed := make(chan struct{})
	close(healed)
	p := &Proxy{
		ln:     ln,
		target: target,
		healed: healed,
		quit:   make(chan struct{}),
		conns:  make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the host:port clients connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut partitions the proxy: from now on no byte and no close moves in either
// direction on any connection, existing or new, until Heal. Nothing is
// dropped. Cutting a cut proxy does nothing.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		p.cut = true
		p.healed = make(chan struct{})
	}
}

// Heal ends the partition: forwarding resumes, and the bytes and closes held
// during the cut are delivered, in order within each direction of each
// connection. Healing a proxy that is not cut does nothing.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		p.cut = false
		close(p.healed)
	}
}

// Cutting reports whether the proxy is cut.
func (p *Proxy) Cutting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Conns is the number of live connections: accepted and not yet closed,
// including those waiting for Heal to be dialed through.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// CloseConns closes both sides of every current connection at once, even
// while cut; bytes held for them are dropped. The proxy keeps accepting new
// connections.
func (p *Proxy) CloseConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.conns {
		l.kill()
		delete(p.conns, l)
	}
}

// Close stops listening, closes every connection and waits until all of
// the proxy's goroutines have ended. Calling Close again returns nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.quit)
	err := p.ln.Close()
	for l := range p.conns {
		l.kill()
		delete(p.conns, l)
	}
	p.mu.Unlock()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("tcpproxy: close listener: %w", err)
	}
	return nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			// Either Close closed the listener, or a transient failure
			// such as running out of file descriptors: retry that with a
			// bounded backoff, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-p.quit:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		l := &link{client: c}
		l.ctx, l.cancel = context.WithCancel(context.Background())
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.kill()
			return
		}
		p.conns[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// serve runs one connection: it waits for the partition to heal, dials the
// target, pumps both directions and closes both sides once both are done.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer p.drop(l)
	if !p.await(l.ctx.Done()) {
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	server, err := d.DialContext(l.ctx, "tcp", p.target)
	if err != nil {
		return // drop closes the client side
	}
	if !l.setServer(server) {
		return
	}
	toClient := make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(toClient)
		p.pump(l, l.client, server)
	}()
	p.pump(l, server, l.client)
	<-toClient
}

// pump copies src to dst, waiting at the gate before every write and before
// passing on the end of src. A clean end (EOF) is passed on as a half-close
// of dst, so the other direction keeps flowing; any other failure closes
// both sides.
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	buf := make([]byte, bufSize)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if !p.await(l.ctx.Done()) {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				l.kill()
				return
			}
		}
		if rerr == nil {
			continue
		}
		if !p.await(l.ctx.Done()) {
			return
		}
		if errors.Is(rerr, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
		}
		l.kill()
		return
	}
}

// await blocks while the proxy is cut. It reports false, at once, when stop
// is closed.
func (p *Proxy) await(stop <-chan struct{}) bool {
	for {
		select {
		case <-stop:
			return false
		default:
		}
		p.mu.Lock()
		cut, healed := p.cut, p.healed
		p.mu.Unlock()
		if !cut {
			return true
		}
		select {
		case <-healed:
		case <-stop:
			return false
		}
	}
}

// drop kills l and forgets it.
func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.kill()
	delete(p.conns, l)
}

// setServer records the dialed server side. If l was killed meanwhile it
// closes server and reports false.
func (l *link) setServer(server net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		server.Close()
		return false
	}
	l.server = server
	return true
}

// kill closes both sides of l and wakes everything waiting for it. Blocked
// reads and writes on its conns return with an error. Killing twice does
// nothing.
func (l *link) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return
	}
	l.dead = true
	l.cancel()
	l.client.Close()
	if l.server != nil {
		l.server.Close()
	}
}
