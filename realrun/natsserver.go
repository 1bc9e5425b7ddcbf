package realrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What a real run creates on NATS, under its prefix: one stream and one
// durable pull consumer, both marked as idemsim's in their metadata, so
// that a stream or consumer of those names that idemsim did not create is
// refused and left untouched, and Clean removes only what bears the mark.
const (
	natsMarkKey   = "created-by"
	natsMarkValue = "idemsim"
	natsPrefixKey = "idemsim-prefix"
	natsRunKey    = "idemsim-run"
)

// natsStream, natsSubject and natsConsumer name what a run of prefix p
// creates on NATS.
func natsStream(p string) string   { return p + "_events" }
func natsSubject(p string) string  { return p + ".events" }
func natsConsumer(p string) string { return p + "_consumers" }

// checkNATSURL checks a NATS URL as a real run uses it: one server.
func checkNATSURL(raw string) error {
	if strings.Contains(raw, ",") {
		return errors.New("a real run takes one server, not a list (its consumers reach it through proxies of their own)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's message quotes the whole URL: not shown.
		return errors.New("it does not parse as a URL")
	}
	switch u.Scheme {
	case "nats", "tls":
	default:
		return fmt.Errorf("scheme %q", u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("host and port %q: want host:port", u.Host)
	}
	if host == "" {
		return errors.New("no host")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: want 1 to 65535", port)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return errors.New("a path or query, which a NATS URL has none of")
	}
	return nil
}

// redactNATS is a NATS URL as a message may show it: its password or
// token replaced by xxxxx. One that does not parse is not shown at all:
// where a token ends in it cannot be told.
func redactNATS(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not shown)"
	}
	if u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

// natsServer is a run's own connection to NATS, outside the consumers'
// proxies: to set up, watch, publish, read the end state and tear down.
type natsServer struct {
	url      string
	addr     string // host:port, for messages and the proxies
	prefix   string
	runID    string
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   string
	subject  string
	consumer string
	created  bool // the stream is this run's: tearDown deletes it
	// downCreated: the downstream stream is this run's too
	// (natsdown.go), for a strategy that sends events on.
	downCreated bool
	dead        atomic.Bool
}

func (n *natsServer) err(kind error, doing string, err error) error {
	return &ServerError{Server: "NATS", Addr: n.addr, Doing: doing, Kind: kind, Err: err}
}

// natsDialer dials addr, whatever address the client asks for (the
// consumers' proxies), noting whether a connection was made.
type natsDialer struct {
	addr    string // "" for the address asked for
	reached *atomic.Bool
}

func (d natsDialer) Dial(network, address string) (net.Conn, error) {
	if d.addr != "" {
		address = d.addr
	}
	c, err := net.DialTimeout(network, address, time.Second)
	if err == nil && d.reached != nil {
		d.reached.Store(true)
	}
	return c, err
}

// natsOptions are the options of every NATS connection of a run: a name,
// a short connect timeout, and reconnection: an ack sent while the link
// is down is buffered and applied after it comes back (BROKER-FACTS row 3),
// which is why such an ack's outcome is unknown.
func natsOptions(name string, dial natsDialer) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.Timeout(time.Second),
		nats.SetCustomDialer(dial),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.NoCallbacksAfterClientClose(),
		// A client's errors go to its error handler, not to stderr.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}
}

// connectNATS reaches NATS and JetStream, or says within connectTimeout
// why not.
func (s *servers) connectNATS(ctx context.Context) error {
	u, _ := url.Parse(s.cfg.NATSURL) // checked by Validate
	n := &natsServer{url: s.cfg.NATSURL, addr: u.Host, prefix: s.cfg.Prefix,
		stream: natsStream(s.cfg.Prefix), subject: natsSubject(s.cfg.Prefix), consumer: natsConsumer(s.cfg.Prefix)}
	s.nats = n
	var reached atomic.Bool
	type result struct {
		nc  *nats.Conn
		err error
	}
	// nats.Connect has no context: it is bounded by its own timeouts,
	// and waited for at most connectTimeout here.
	got := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(n.url, append(natsOptions("idemsim", natsDialer{reached: &reached}), nats.RetryOnFailedConnect(false))...)
		got <- result{nc, err}
	}()
	var res result
	select {
	case res = <-got:
	case <-time.After(connectTimeout):
		res.err = context.DeadlineExceeded
		go func() {
			if r := <-got; r.nc != nil {
				r.nc.Close()
			}
		}()
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	if res.err != nil {
		kind := ErrUnreachable
		hint := "start one with: nats-server -js -p " + portOf(n.addr, "4222") + "\nor point --nats-url / IDEMSIM_NATS_URL at one"
		switch {
		case errors.Is(res.err, nats.ErrAuthorization) || errors.Is(res.err, nats.ErrAuthExpired) ||
			strings.Contains(strings.ToLower(res.err.Error()), "authorization"):
			kind, hint = ErrRejected, "check the user and password, or the token, in --nats-url / IDEMSIM_NATS_URL"
		case reached.Load():
			kind = ErrWrongService
			hint = wrongServiceHint("NATS", n.addr, "--nats-url", "IDEMSIM_NATS_URL")
		}
		e := n.err(kind, "connecting", res.err).(*ServerError)
		e.Hint = hint
		return e
	}
	n.nc = res.nc
	js, err := jetstream.New(n.nc, jetstream.WithDefaultTimeout(setupTimeout))
	if err != nil {
		return n.err(ErrServerFailed, "opening JetStream", err)
	}
	n.js = js
	actx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		e := n.err(ErrServerFailed, "checking that JetStream is enabled", err).(*ServerError)
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) || errors.Is(err, nats.ErrNoResponders) {
			e.Hint = "this NATS server has no JetStream: start it with -js (nats-server -js), or enable JetStream for the account"
		}
		return e
	}
	return nil
}

// marked reports whether metadata bears idemsim's mark.
func marked(md map[string]string) bool { return md[natsMarkKey] == natsMarkValue }

// notOwnedNATS is a refusal: something of the run's names on NATS that
// idemsim did not create.
func notOwnedNATS(what string) error {
	return refusal{fmt.Errorf("NATS %s exists but was not created by idemsim (it lacks idemsim's mark in its metadata)", what),
		"; idemsim leaves it untouched: choose another --prefix (or, if it is yours to remove, delete it yourself)"}
}

// setUp creates the run's stream and durable pull consumer, marked as
// idemsim's. It runs under the prefix's lock, so a marked stream of the
// run's name is a killed run's leftover: it is deleted first. A stream or
// consumer of those names without the mark, or a stream of another name
// that takes the run's subject, is refused untouched.
func (n *natsServer) setUp(ctx context.Context, runID string, cfg Config, messages int) error {
	n.runID = runID
	if publishes(cfg) {
		if err := n.checkDownstream(ctx); err != nil {
			return err
		}
	}
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, setupTimeout) }
	sctx, cancel := step()
	st, err := n.js.Stream(sctx, n.stream)
	cancel()
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case err != nil:
		return n.err(ErrServerFailed, "looking for the stream "+n.stream, err)
	default:
		if !marked(st.CachedInfo().Config.Metadata) {
			return notOwnedNATS("stream " + n.stream)
		}
		sctx, cancel = step()
		c, err := st.Consumer(sctx, n.consumer)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		case err != nil:
			return n.err(ErrServerFailed, "looking for the consumer "+n.consumer, err)
		case !marked(c.CachedInfo().Config.Metadata):
			return notOwnedNATS("consumer " + n.consumer + " (of idemsim's stream " + n.stream + ")")
		}
		sctx, cancel = step()
		err = n.js.DeleteStream(sctx, n.stream)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return n.err(ErrServerFailed, "deleting the stream "+n.stream+" a killed run left", err)
		}
	}
	md := map[string]string{natsMarkKey: natsMarkValue, natsPrefixKey: n.prefix, natsRunKey: runID}
	sctx, cancel = step()
	st, err = n.js.CreateStream(sctx, jetstream.StreamConfig{
		Name:        n.stream,
		Description: "created by idemsim for a real run of prefix " + n.prefix + "; idemsim clean --prefix " + n.prefix + " removes it",
		Subjects:    []string{n.subject},
		// In memory: a run's messages need not outlive the server, and
		// its acks are then no slower than the server's own work.
		Storage:  jetstream.MemoryStorage,
		Replicas: 1,
		Metadata: md,
	})
	cancel()
	if err != nil {
		if strings.Contains(err.Error(), "overlap") {
			return refusal{fmt.Errorf("NATS: another stream already takes the subject %s: %w", n.subject, err),
				"; idemsim leaves it untouched: choose another --prefix"}
		}
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return notOwnedNATS("stream " + n.stream)
		}
		return n.err(ErrServerFailed, "creating the stream "+n.stream, err)
	}
	n.created = true
	// MaxAckPending bounds the deliveries out at once across all the
	// consumers; an instance's own prefetch is its fetch batch
	// (--prefetch, default one; MaxRequestBatch holds every pull to
	// it). The simulator's queue has no bound across instances (a
	// crashed one's deliveries stay out until their deadline, while its
	// next incarnation takes more), so it is set to the run's messages:
	// it never binds. AckWait is the ack deadline (--ack-deadline,
	// scaled), MaxDeliver the delivery limit (--max-deliveries).
	maxDeliver := -1
	if cfg.Broker.MaxDeliveries > 0 {
		maxDeliver = cfg.Broker.MaxDeliveries
	}
	sctx, cancel = step()
	_, err = st.CreateConsumer(sctx, jetstream.ConsumerConfig{
		Durable:         n.consumer,
		Description:     "created by idemsim for a real run of prefix " + n.prefix,
		AckPolicy:       jetstream.AckExplicitPolicy,
		AckWait:         cfg.Timing.AckDeadline,
		MaxDeliver:      maxDeliver,
		MaxAckPending:   max(messages, 1),
		MaxRequestBatch: cfg.prefetch(),
		FilterSubject:   n.subject,
		Metadata:        md,
	})
	cancel()
	if err != nil {
		return n.err(ErrServerFailed, "creating the consumer "+n.consumer, err)
	}
	if publishes(cfg) {
		return n.setUpDownstream(ctx, cfg)
	}
	return nil
}

// tearDown deletes the run's stream (its consumer goes with it), and
// closes the run's connection.
func (n *natsServer) tearDown(warn func(string), dead bool) {
	if n.created {
		err := errors.New("the server failed")
		if !dead {
			ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
			err = n.js.DeleteStream(ctx, n.stream)
			cancel()
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				err = nil
			}
		}
		if err != nil {
			warn(fmt.Sprintf("could not delete this run's NATS stream %s: %v; remove it with: idemsim clean --broker nats --prefix %s", n.stream, err, n.prefix))
		}
	}
	if n.downCreated {
		err := errors.New("the server failed")
		if !dead {
			err = n.deleteDownstream()
		}
		if err != nil {
			warn(fmt.Sprintf("could not delete this run's NATS stream %s: %v; remove it with: idemsim clean --broker nats --prefix %s", natsDownStream(n.prefix), err, n.prefix))
		}
	}
	if n.nc != nil {
		n.nc.Close()
	}
}

// ping is the health watch's check: a round trip on the run's own
// connection.
func (n *natsServer) ping(ctx context.Context) error { return n.nc.FlushWithContext(ctx) }

// clean deletes the prefix's stream if it bears idemsim's mark, and
// reports it; one without the mark is left untouched and reported as
// notOwned.
func (n *natsServer) clean(ctx context.Context) (removed []string, notOwned error, err error) {
	for _, name := range []string{n.stream, natsDownStream(n.prefix)} {
		gone, foreign, err := n.cleanStream(ctx, name)
		if err != nil {
			return removed, notOwned, err
		}
		removed = append(removed, gone...)
		notOwned = errors.Join(notOwned, foreign)
	}
	return removed, notOwned, nil
}

// cleanStream deletes the stream name if it bears idemsim's mark.
func (n *natsServer) cleanStream(ctx context.Context, name string) (removed []string, notOwned error, err error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	st, err := n.js.Stream(sctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, nil, nil
	case err != nil:
		return nil, nil, n.err(ErrServerFailed, "looking for the stream "+name, err)
	case !marked(st.CachedInfo().Config.Metadata):
		return nil, notOwnedNATS("stream " + name), nil
	}
	if err := n.js.DeleteStream(sctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil, n.err(ErrServerFailed, "deleting the stream "+name, err)
	}
	return []string{"stream " + name + " (with its consumers)"}, nil, nil
}
