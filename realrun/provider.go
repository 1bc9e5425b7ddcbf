package realrun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// providerName is how messages name the payment provider.
const providerName = "payment provider"

// providerStartTimeout bounds starting the run's own provider: its
// process, its connection to PostgreSQL, its tables.
const providerStartTimeout = 10 * time.Second

// providerServer is the run's payment provider: the one it started (an
// idemsim provider process of its own) or the one --provider-url names,
// and the run's own client of it, outside the consumers' proxies.
type providerServer struct {
	url    string // http://host:port
	addr   string // host:port, what the consumers' proxies dial
	client *provider.Client
	// With a provider of the run's own: its process, the pipe whose
	// closing stops it, what it said on stderr, and exited, closed when
	// the process is gone (exitErr then says how it ended).
	cmd     *osexec.Cmd
	stdin   io.WriteCloser
	stderr  *tailBuffer
	exited  chan struct{}
	exitErr error
	// stopping: the run is stopping it, so its exit is no failure.
	stopping chan struct{}
	stopOnce sync.Once
}

func (p *providerServer) err(kind error, doing string, err error) error {
	return &ServerError{Server: providerName, Addr: p.addr, Doing: doing, Kind: kind, Err: err}
}

// ownProvider says whether the run starts a provider of its own.
func (c Config) ownProvider() bool { return c.ProviderURL == "" }

// startProvider starts the run's provider (or checks the one named) and
// connects the run's own client to it, in the run's scope. Under the
// prefix's lock: the provider's tables are made (or refused) first, so
// that a table of their names idemsim did not make is refused as the
// run's own tables are.
func (s *servers) startProvider(ctx context.Context) error {
	cfg := s.cfg
	p := &providerServer{url: strings.TrimSuffix(cfg.ProviderURL, "/")}
	if cfg.ownProvider() {
		sctx, cancel := context.WithTimeout(ctx, setupTimeout)
		_, err := pgstore.EnsureProvider(sctx, s.pool, cfg.Prefix)
		cancel()
		if err != nil {
			if r := refusedByStore(err); r != nil {
				return r
			}
			return s.tableErr(ctx, "checking and creating the tables "+cfg.Prefix+"_provider_*", err)
		}
		if err := p.start(ctx, cfg); err != nil {
			s.prov = p
			return err
		}
	}
	u, _ := url.Parse(p.url)
	p.addr = u.Host
	if u.Port() == "" {
		p.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	s.prov = p
	p.client = &provider.Client{URL: p.url, Scope: s.runID, HTTP: &http.Client{Transport: newTransport(nil)}}
	hctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := p.client.Health(hctx); err != nil {
		kind, hint := ErrUnreachable, "start one with: idemsim provider --listen 127.0.0.1:8088, or leave out --provider-url / IDEMSIM_PROVIDER_URL for the run to start its own"
		var se *provider.StatusError
		switch {
		case errors.Is(err, provider.ErrNotProvider):
			kind, hint = ErrWrongService, "is the port right? Point --provider-url / IDEMSIM_PROVIDER_URL at an idemsim provider"
		case errors.As(err, &se):
			kind, hint = ErrServerFailed, "it answers, but cannot reach its database"
		}
		if cfg.ownProvider() {
			hint = "the provider the run started does not answer: " + p.stderr.String()
		}
		e := p.err(kind, "connecting", err).(*ServerError)
		e.Hint = hint
		return e
	}
	return nil
}

// start starts an idemsim provider process of the run's own on a free
// loopback port, and waits (providerStartTimeout at most) for the line
// that says where it serves. Its PostgreSQL URL goes in its environment,
// not its arguments, which other users of the machine can read; its
// stdin is a pipe from the run, so it ends when the run does, however.
func (p *providerServer) start(ctx context.Context, cfg Config) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("starting the payment provider: where is idemsim's own executable? %w", err)
	}
	p.addr = "127.0.0.1 (starting)"
	args := []string{"provider", "--listen", "127.0.0.1:0", "--prefix", cfg.Prefix, "--exit-with-stdin"}
	cmd := osexec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envPostgresURL+"="+cfg.PostgresURL, provider.ChildEnv+"=1")
	p.stderr = &tailBuffer{max: 4096}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("starting the payment provider: %w", err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return fmt.Errorf("starting the payment provider: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return p.err(ErrUnreachable, "starting its process ("+exe+" provider)", err)
	}
	p.cmd, p.exited, p.stopping = cmd, make(chan struct{}), make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), provider.ReadyPrefix); ok {
				u, _, _ = strings.Cut(u, " ")
				select {
				case ready <- u:
				default:
				}
			}
		}
	}()
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t := time.NewTimer(providerStartTimeout)
	defer t.Stop()
	select {
	case p.url = <-ready:
		p.addr = strings.TrimPrefix(p.url, "http://")
		return nil
	case <-p.exited:
		e := p.err(ErrServerFailed, "starting it", fmt.Errorf("its process (%s provider) ended: %v", exe, p.exitErr)).(*ServerError)
		e.Hint = "it said: " + p.stderr.String()
		if strings.Contains(p.stderr.String(), "not created by idemsim") {
			return refusal{errors.New(p.stderr.String()), ""}
		}
		return e
	case <-t.C:
	case <-ctx.Done():
	}
	p.stop()
	e := p.err(ErrServerFailed, "starting it", fmt.Errorf("it did not say where it serves within %v", providerStartTimeout)).(*ServerError)
	e.Hint = "it said: " + p.stderr.String()
	return e
}

// watchExit fails the run, through fail, if the run's own provider process
// ends while the run goes on (killed, crashed): no verdict without it.
func (p *providerServer) watchExit(ctx context.Context, fail func(error)) {
	if p.cmd == nil {
		return
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-p.stopping:
		case <-p.exited:
			select {
			case <-p.stopping:
				return
			default:
			}
			e := p.err(ErrServerFailed, "serving the run", fmt.Errorf("its process (pid %d) ended: %v", p.cmd.Process.Pid, p.exitErr)).(*ServerError)
			e.Hint = "was it killed? No verdict is given for this run"
			e.Hint += "; it said: " + p.stderr.String()
			fail(e)
		}
	}()
}

// stop ends the run's own provider: its stdin closes (it stops after the
// charges in flight), then SIGTERM, then, after closeTimeout, SIGKILL.
func (p *providerServer) stop() {
	if p == nil || p.cmd == nil {
		return
	}
	p.stopOnce.Do(func() { close(p.stopping) })
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(closeTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// tearDown forgets the run's keys and charges at the provider (unless it
// failed), and stops the run's own provider.
func (p *providerServer) tearDown(warn func(string), dead bool) {
	if p == nil {
		return
	}
	if p.client != nil && !dead {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		err := p.client.Forget(ctx)
		cancel()
		if err != nil {
			warn(fmt.Sprintf("could not remove this run's keys and charges from the payment provider at %s (scope %s): %v; idemsim clean --prefix removes the provider's tables", p.addr, p.client.Scope, err))
		}
	}
	p.stop()
	if p.client != nil {
		p.client.HTTP.CloseIdleConnections()
	}
}

// readCharges counts the run's charges per event number
// (run.Workload.Number) at the provider, with a deadline: the effects of
// a strategy that charges. Per event id, unless the id-reuse fault gave
// two events of wl one id; then per id and payload (a charge keeps the
// account and amount it charged), so that the checkers judge each of the
// two on its own, as the simulator's provider counts them.
func (s *servers) readCharges(ctx context.Context, wl *run.Workload) (map[strategies.EventID]int, error) {
	rctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if len(wl.Reused) == 0 {
		n, err := s.prov.client.Counts(rctx)
		if err != nil {
			return nil, s.prov.err(ErrServerFailed, "counting the run's charges at the end of the run", err)
		}
		return n, nil
	}
	byPayload, err := s.prov.client.CountsByPayload(rctx)
	if err != nil {
		return nil, s.prov.err(ErrServerFailed, "counting the run's charges at the end of the run", err)
	}
	n := make(map[strategies.EventID]int, len(byPayload))
	for e, k := range byPayload {
		n[wl.Number(e)] += k
	}
	return n, nil
}

// newTransport is an HTTP transport whose connections go to dial's
// address when dial is not nil (a consumer's proxy), whatever the URL's
// host says; its connections are opened with a deadline.
func newTransport(dial func() string) *http.Transport {
	d := &net.Dialer{Timeout: time.Second}
	t := &http.Transport{
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		TLSHandshakeTimeout: time.Second,
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dial != nil {
			addr = dial()
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// tailBuffer keeps the last max bytes written to it: what a process said,
// for a message.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	if t == nil {
		return len(p), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(t.b.String())
	if s == "" {
		return "(nothing)"
	}
	return s
}
