package realrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitHeartbeat is the AMQP heartbeat of every connection of a real run:
// the lowest AMQP can say (it counts in seconds). RabbitMQ and amqp091
// notice a silent peer after about three of them (BROKER-FACTS row 8:
// 2.7 s with 1 s), where amqp091's default, 10 s, would take about 30 s.
const rabbitHeartbeat = time.Second

// rabbitLiveness is how long RabbitMQ takes to give up on a consumer that
// went silent (paused, or cut off) with rabbitHeartbeat: about three
// heartbeats (2.7 s measured, BROKER-FACTS row 8). It is the queue's liveness timeout on
// RabbitMQ, which has no ack deadline: the zombie fault pauses a consumer
// for a multiple of it, as it pauses one for a multiple of the ack
// deadline elsewhere.
const rabbitLiveness = 3 * rabbitHeartbeat

// What a real run creates on RabbitMQ, under its prefix: one durable
// quorum queue, published to through the default exchange (no exchange of
// its own). AMQP cannot read a queue's arguments, and RabbitMQ compares
// only the arguments it knows when a queue is declared again (a custom
// argument of another value is taken silently: measured on 3.10). So the
// mark is in arguments it checks: a dead-letter exchange and routing key
// that name idemsim and the prefix. Declaring the queue with them succeeds
// only on a queue that has exactly them (a quorum queue, durable, not
// exclusive, not auto-delete); any other queue of the name answers 406
// PRECONDITION_FAILED and is left untouched. The dead-letter exchange does
// not exist and is never used: a run rejects nothing and sets no delivery
// limit, so nothing is dead-lettered (and a message dead-lettered to a
// missing exchange is dropped). The idemsim-* arguments are for people
// reading the queue in the management UI; RabbitMQ does not check them.
const (
	rabbitMarkDLX = "idemsim.dead-letters.unused"
)

// rabbitQueue names the queue of a run of prefix p.
func rabbitQueue(p string) string { return p + "_events" }

// rabbitArgs are the queue's arguments, its mark.
func rabbitArgs(prefix string) amqp.Table {
	return amqp.Table{
		"x-queue-type":              amqp.QueueTypeQuorum,
		"x-dead-letter-exchange":    rabbitMarkDLX,
		"x-dead-letter-routing-key": "created-by-idemsim." + prefix,
		"idemsim-created-by":        "idemsim",
		"idemsim-prefix":            prefix,
	}
}

// checkAMQPURL checks an AMQP URL as amqp091 parses it.
func checkAMQPURL(raw string) error {
	u, err := amqp.ParseURI(raw)
	if err != nil {
		// amqp091's messages do not quote the URL, but say nothing
		// more than this either.
		return errors.New("it does not parse as an AMQP URI")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// redactAMQP is an AMQP URL as a message may show it.
func redactAMQP(raw string) string {
	u, err := amqp.ParseURI(raw)
	if err != nil {
		return "(not shown)"
	}
	if u.Password != "" {
		u.Password = "xxxxx"
	}
	return u.String()
}

// rabbitServer is a run's own connection to RabbitMQ, outside the
// consumers' proxies: to set up, publish, watch, read the end state and
// tear down.
type rabbitServer struct {
	url     string
	uri     amqp.URI
	addr    string // host:port
	prefix  string
	queue   string
	conn    *amqp.Connection
	created bool // the queue is this run's: tearDown deletes it

	pubMu sync.Mutex
	pub   *amqp.Channel // publishing, in confirm mode

	stMu  sync.Mutex    // one state operation at a time
	chMu  sync.Mutex    // guards state, which a round trip given up on may still use
	state *amqp.Channel // passive declares and gets; reopened when a 404 closed it
}

func (q *rabbitServer) err(kind error, doing string, err error) error {
	return &ServerError{Server: "RabbitMQ", Addr: q.addr, Doing: doing, Kind: kind, Err: err}
}

// dialRabbit connects to url with the run's heartbeat, through addr if not
// "" (a consumer's proxy), with the whole handshake bounded by timeout;
// reached, if not nil, notes that a TCP connection was made.
func dialRabbit(url, addr, name string, timeout time.Duration, reached *atomic.Bool) (*amqp.Connection, error) {
	deadline := time.Now().Add(timeout)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	return amqp.DialConfig(url, amqp.Config{
		Heartbeat:  rabbitHeartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, a string) (net.Conn, error) {
			if addr != "" {
				a = addr
			}
			c, err := net.DialTimeout(network, a, time.Until(deadline))
			if err != nil {
				return nil, err
			}
			if reached != nil {
				reached.Store(true)
			}
			// amqp091 clears the deadline once the connection is open.
			if err := c.SetDeadline(deadline); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	})
}

// rpc runs f, an AMQP round trip (amqp091's take no context: they end when
// the reply comes or the connection closes), and waits for it at most
// until ctx ends. f's result comes back through a channel, so that an f
// still running after the wait touches nothing its caller reads.
func rpc[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// rpc0 is rpc for a round trip with no result.
func rpc0(ctx context.Context, f func() error) error {
	_, err := rpc(ctx, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// amqpCode is the AMQP reply code of err, 0 if it has none.
func amqpCode(err error) int {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// connectRabbit reaches RabbitMQ, or says within connectTimeout why not.
func (s *servers) connectRabbit(ctx context.Context) error {
	uri, _ := amqp.ParseURI(s.cfg.AMQPURL) // checked by Validate
	q := &rabbitServer{url: s.cfg.AMQPURL, uri: uri, addr: net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port)),
		prefix: s.cfg.Prefix, queue: rabbitQueue(s.cfg.Prefix)}
	s.rabbit = q
	var reached atomic.Bool
	// dialRabbit bounds the whole handshake by connectTimeout itself.
	conn, err := dialRabbit(q.url, "", "idemsim", connectTimeout, &reached)
	if err != nil {
		kind := ErrUnreachable
		hint := "start one with: rabbitmq-server (Debian: apt-get install rabbitmq-server; systemctl start rabbitmq-server)\nor point --amqp-url / IDEMSIM_AMQP_URL at one"
		switch {
		case errors.Is(err, amqp.ErrCredentials) || amqpCode(err) == amqp.AccessRefused:
			kind, hint = ErrRejected, "check the user and password in --amqp-url / IDEMSIM_AMQP_URL (RabbitMQ's guest user may log in from localhost only)"
		case errors.Is(err, amqp.ErrVhost) || amqpCode(err) == amqp.NotAllowed:
			kind, hint = ErrRejected, "check the virtual host in --amqp-url / IDEMSIM_AMQP_URL, and the user's permissions on it"
		case reached.Load():
			kind = ErrWrongService
			hint = wrongServiceHint("RabbitMQ", q.addr, "--amqp-url", "IDEMSIM_AMQP_URL")
		}
		e := q.err(kind, "connecting", err).(*ServerError)
		e.Hint = hint
		return e
	}
	q.conn = conn
	if q.pub, err = conn.Channel(); err == nil {
		err = q.pub.Confirm(false)
	}
	if err != nil {
		return q.err(ErrServerFailed, "opening the publishing channel (publisher confirms)", err)
	}
	return nil
}

// stateChannel is the run's channel for passive declares and gets, opened
// anew if a refusal closed the last one.
func (q *rabbitServer) stateChannel() (*amqp.Channel, error) {
	q.chMu.Lock()
	defer q.chMu.Unlock()
	if q.state != nil && !q.state.IsClosed() {
		return q.state, nil
	}
	ch, err := q.conn.Channel()
	if err != nil {
		return nil, err
	}
	q.state = ch
	return ch, nil
}

// inspect declares the queue passively: whether it exists, and its ready
// messages and consumers.
func (q *rabbitServer) inspect(ctx context.Context) (amqp.Queue, bool, error) {
	q.stMu.Lock()
	defer q.stMu.Unlock()
	info, err := rpc(ctx, func() (amqp.Queue, error) {
		ch, err := q.stateChannel()
		if err != nil {
			return amqp.Queue{}, err
		}
		return ch.QueueDeclarePassive(q.queue, true, false, false, false, nil)
	})
	if amqpCode(err) == amqp.NotFound {
		return info, false, nil
	}
	return info, err == nil, err
}

// notOwnedRabbit is a refusal: a queue of the run's name that idemsim did
// not create.
func notOwnedRabbit(queue string, why error) error {
	return refusal{fmt.Errorf("RabbitMQ queue %s exists but was not created by idemsim (declaring it with idemsim's mark, a quorum queue with dead-letter exchange %s, was refused: %v)", queue, rabbitMarkDLX, why),
		"; idemsim leaves it untouched: choose another --prefix (or, if it is yours to remove, delete it yourself)"}
}

// owned checks whether the existing queue bears idemsim's mark, by
// declaring it with exactly the mark's arguments: RabbitMQ answers 406
// (or 405, a queue exclusive to another connection) for any other.
func (q *rabbitServer) owned(ctx context.Context) (bool, error, error) {
	q.stMu.Lock()
	defer q.stMu.Unlock()
	err := rpc0(ctx, func() error {
		ch, err := q.stateChannel()
		if err != nil {
			return err
		}
		_, err = ch.QueueDeclare(q.queue, true, false, false, false, rabbitArgs(q.prefix))
		return err
	})
	switch amqpCode(err) {
	case 0:
	case amqp.PreconditionFailed, amqp.ResourceLocked, amqp.AccessRefused:
		return false, err, nil
	}
	if err != nil {
		return false, nil, err
	}
	return true, nil, nil
}

// deleteQueue deletes the run's queue, with what it holds.
func (q *rabbitServer) deleteQueue(ctx context.Context) error {
	q.stMu.Lock()
	defer q.stMu.Unlock()
	err := rpc0(ctx, func() error {
		ch, err := q.stateChannel()
		if err != nil {
			return err
		}
		_, err = ch.QueueDelete(q.queue, false, false, false)
		return err
	})
	if amqpCode(err) == amqp.NotFound {
		return nil
	}
	return err
}

// setUp creates the run's queue, marked as idemsim's. It runs under the
// prefix's lock, so a marked queue of the run's name is a killed run's
// leftover: it is deleted first. A queue of the name without the mark is
// refused untouched.
func (q *rabbitServer) setUp(ctx context.Context) error {
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, setupTimeout) }
	sctx, cancel := step()
	_, exists, err := q.inspect(sctx)
	cancel()
	if err != nil {
		return q.err(ErrServerFailed, "looking for the queue "+q.queue, err)
	}
	if exists {
		sctx, cancel = step()
		ours, why, err := q.owned(sctx)
		cancel()
		switch {
		case err != nil:
			return q.err(ErrServerFailed, "checking the queue "+q.queue+"'s mark", err)
		case !ours:
			return notOwnedRabbit(q.queue, why)
		}
		sctx, cancel = step()
		err = q.deleteQueue(sctx)
		cancel()
		if err != nil {
			return q.err(ErrServerFailed, "deleting the queue "+q.queue+" a killed run left", err)
		}
	}
	sctx, cancel = step()
	defer cancel()
	q.stMu.Lock()
	defer q.stMu.Unlock()
	err = rpc0(sctx, func() error {
		ch, err := q.stateChannel()
		if err != nil {
			return err
		}
		_, err = ch.QueueDeclare(q.queue, true, false, false, false, rabbitArgs(q.prefix))
		return err
	})
	if err != nil {
		if c := amqpCode(err); c == amqp.PreconditionFailed || c == amqp.ResourceLocked {
			// Created by someone else meanwhile.
			return notOwnedRabbit(q.queue, err)
		}
		return q.err(ErrServerFailed, "creating the quorum queue "+q.queue, err)
	}
	q.created = true
	return nil
}

// tearDown deletes the run's queue and closes the run's connection.
func (q *rabbitServer) tearDown(warn func(string), dead bool) {
	if q.created {
		err := errors.New("the server failed")
		if !dead && q.conn != nil && !q.conn.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
			err = q.deleteQueue(ctx)
			cancel()
		}
		if err != nil {
			warn(fmt.Sprintf("could not delete this run's RabbitMQ queue %s: %v; remove it with: idemsim clean --broker rabbitmq --prefix %s", q.queue, err, q.prefix))
		}
	}
	if q.conn != nil {
		// Close waits for the server's close-ok: not for a dead one.
		c := q.conn
		go func() { _ = c.Close() }()
	}
}

// ping is the health watch's check: a passive declare of the run's queue
// on the run's own connection, which also tells a queue deleted under the
// run.
func (q *rabbitServer) ping(ctx context.Context) error {
	_, exists, err := q.inspect(ctx)
	if err == nil && !exists {
		return errQueueGone
	}
	return err
}

// errQueueGone: the run's queue no longer exists.
var errQueueGone = errors.New("the run's queue is gone (deleted by someone else?)")

// clean deletes the prefix's queue if it bears idemsim's mark.
func (q *rabbitServer) clean(ctx context.Context) (removed []string, notOwned error, err error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, exists, err := q.inspect(sctx)
	switch {
	case err != nil:
		return nil, nil, q.err(ErrServerFailed, "looking for the queue "+q.queue, err)
	case !exists:
		return nil, nil, nil
	}
	ours, why, err := q.owned(sctx)
	switch {
	case err != nil:
		return nil, nil, q.err(ErrServerFailed, "checking the queue "+q.queue+"'s mark", err)
	case !ours:
		return nil, notOwnedRabbit(q.queue, why), nil
	}
	if err := q.deleteQueue(sctx); err != nil {
		return nil, nil, q.err(ErrServerFailed, "deleting the queue "+q.queue, err)
	}
	return []string{"quorum queue " + q.queue}, nil, nil
}

// isAMQPClosed reports whether err says a connection or channel is closed.
func isAMQPClosed(err error) bool {
	return errors.Is(err, amqp.ErrClosed) || strings.Contains(fmt.Sprint(err), "channel/connection is not open")
}
