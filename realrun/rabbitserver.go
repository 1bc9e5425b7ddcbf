package realrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
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
// quorum queue, published to through the default exchange; and, with a
// delivery limit (--max-deliveries), a dead-letter exchange and a
// dead-letter queue of its own that the queue's rejects go to. AMQP cannot
// read a queue's or an exchange's arguments, and RabbitMQ compares only
// the arguments it knows when one is declared again (a custom argument of
// another value is taken silently: measured on 3.10). So the mark is in
// arguments it checks. The queue's: its dead-letter exchange and routing
// key, which name the prefix and idemsim (and the delivery limit, if any,
// which RabbitMQ checks too and names in its refusal). The dead-letter
// queue's: a dead-letter exchange that never exists, and a routing key
// naming idemsim. The dead-letter exchange's: an alternate exchange that
// never exists, naming idemsim. Declaring one with its mark succeeds only
// on one that has exactly it; any other of the name answers 406
// PRECONDITION_FAILED and is left untouched. The idemsim-* arguments are
// for people reading the queue in the management UI; RabbitMQ does not
// check them.
const (
	rabbitMarkDLX = "idemsim.dead-letters.unused"
)

// rabbitQueue names the queue of a run of prefix p; rabbitDeadQueue and
// rabbitDeadExchange its dead-letter queue and exchange.
func rabbitQueue(p string) string        { return p + "_events" }
func rabbitDeadQueue(p string) string    { return p + "_dead" }
func rabbitDeadExchange(p string) string { return p + "_dead_letters" }

// rabbitDeadKey is the routing key the queue dead-letters with.
func rabbitDeadKey(p string) string { return "created-by-idemsim." + p }

// rabbitArgs are the queue's arguments, its mark, with the delivery limit
// limit (x-delivery-limit; none if negative).
func rabbitArgs(prefix string, limit int) amqp.Table {
	t := amqp.Table{
		"x-queue-type":              amqp.QueueTypeQuorum,
		"x-dead-letter-exchange":    rabbitDeadExchange(prefix),
		"x-dead-letter-routing-key": rabbitDeadKey(prefix),
		"idemsim-created-by":        "idemsim",
		"idemsim-prefix":            prefix,
	}
	if limit >= 0 {
		t["x-delivery-limit"] = int64(limit)
	}
	return t
}

// rabbitLegacyArgs are the mark of a queue an earlier idemsim created (a
// dead-letter exchange that never exists): clean and a run's set-up
// recognise such a leftover as idemsim's.
func rabbitLegacyArgs(prefix string) amqp.Table {
	return amqp.Table{
		"x-queue-type":              amqp.QueueTypeQuorum,
		"x-dead-letter-exchange":    rabbitMarkDLX,
		"x-dead-letter-routing-key": rabbitDeadKey(prefix),
		"idemsim-created-by":        "idemsim",
		"idemsim-prefix":            prefix,
	}
}

// rabbitDeadArgs are the dead-letter queue's arguments, its mark.
func rabbitDeadArgs(prefix string) amqp.Table {
	return amqp.Table{
		"x-queue-type":              amqp.QueueTypeQuorum,
		"x-dead-letter-exchange":    rabbitMarkDLX,
		"x-dead-letter-routing-key": rabbitDeadKey(prefix) + ".dead-letter-queue",
		"idemsim-created-by":        "idemsim",
		"idemsim-prefix":            prefix,
	}
}

// rabbitExchangeArgs are the dead-letter exchange's arguments, its mark.
func rabbitExchangeArgs(prefix string) amqp.Table {
	return amqp.Table{"alternate-exchange": "idemsim.unused." + rabbitDeadKey(prefix)}
}

// deliveryLimitIn reads the delivery limit a queue has from RabbitMQ's
// refusal of a declare without it or with another ("inequivalent arg
// 'x-delivery-limit' ... current is the value '2' of type 'long'"), or -1.
func deliveryLimitIn(err error) int {
	m := deliveryLimitRE.FindStringSubmatch(fmt.Sprint(err))
	if m == nil {
		return -1
	}
	n, perr := strconv.Atoi(m[1])
	if perr != nil {
		return -1
	}
	return n
}

var deliveryLimitRE = regexp.MustCompile(`inequivalent arg 'x-delivery-limit'.*current is (?:the value )?'(\d+)'`)

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
	// limit is the queue's x-delivery-limit, -1 for none: with one, the
	// run has a dead-letter exchange and queue of its own, deadCreated
	// once made (tearDown deletes them).
	limit        int
	deadQueue    string
	deadExchange string
	deadCreated  bool
	// downstream: the run's strategy sends events on, so it has a
	// downstream queue too (rabbitdown.go), downCreated once made.
	downstream  bool
	downCreated bool

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
		prefix: s.cfg.Prefix, queue: rabbitQueue(s.cfg.Prefix), limit: -1,
		deadQueue: rabbitDeadQueue(s.cfg.Prefix), deadExchange: rabbitDeadExchange(s.cfg.Prefix)}
	if n := s.cfg.Broker.MaxDeliveries; n > 0 {
		// RabbitMQ's delivery limit N allows N+1 deliveries
		// (BROKER-FACTS row 9; 0 allows one, measured on 3.10).
		q.limit = n - 1
	}
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
	return q.inspectQueue(ctx, q.queue)
}

// inspectQueue declares the queue name passively.
func (q *rabbitServer) inspectQueue(ctx context.Context, name string) (amqp.Queue, bool, error) {
	q.stMu.Lock()
	defer q.stMu.Unlock()
	info, err := rpc(ctx, func() (amqp.Queue, error) {
		ch, err := q.stateChannel()
		if err != nil {
			return amqp.Queue{}, err
		}
		return ch.QueueDeclarePassive(name, true, false, false, false, nil)
	})
	if amqpCode(err) == amqp.NotFound {
		q.dropState()
		return info, false, nil
	}
	return info, err == nil, err
}

// dropState forgets the state channel, which a refusal closed: the next
// operation opens another.
func (q *rabbitServer) dropState() {
	q.chMu.Lock()
	q.state = nil
	q.chMu.Unlock()
}

// notOwnedRabbit is a refusal: a queue of the run's name that idemsim did
// not create.
func notOwnedRabbit(queue string, why error) error {
	return refusal{fmt.Errorf("RabbitMQ queue %s exists but was not created by idemsim (declaring it with idemsim's mark, a quorum queue with idemsim's dead-letter exchange and routing key, was refused: %v)", queue, why),
		"; idemsim leaves it untouched: choose another --prefix (or, if it is yours to remove, delete it yourself)"}
}

// notOwnedRabbitDead is a refusal: a dead-letter queue or exchange of the
// run's names that idemsim did not create.
func notOwnedRabbitDead(what string, why error) error {
	return refusal{fmt.Errorf("RabbitMQ %s exists but was not created by idemsim (declaring it with idemsim's mark was refused: %v)", what, why),
		"; idemsim leaves it untouched: choose another --prefix (or, if it is yours to remove, delete it yourself)"}
}

// declareMarked declares, on the state channel, what declare declares:
// nil if it exists with exactly those arguments (or was made so), the
// refusal if another of the name exists (406, or 405 for a queue
// exclusive to another connection), or the server's failure.
func (q *rabbitServer) declareMarked(ctx context.Context, declare func(ch *amqp.Channel) error) (refused, err error) {
	q.stMu.Lock()
	defer q.stMu.Unlock()
	err = rpc0(ctx, func() error {
		ch, err := q.stateChannel()
		if err != nil {
			return err
		}
		return declare(ch)
	})
	switch amqpCode(err) {
	case 0:
		return nil, err
	case amqp.PreconditionFailed, amqp.ResourceLocked, amqp.AccessRefused:
		q.dropState()
		return err, nil
	}
	return nil, err
}

func declareQueue(name string, args amqp.Table) func(ch *amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, true, false, false, false, args)
		return err
	}
}

func declareExchange(name string, args amqp.Table) func(ch *amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(name, amqp.ExchangeDirect, true, false, false, false, args)
	}
}

// owned checks whether the existing queue bears idemsim's mark, by
// declaring it with exactly the mark's arguments: first with no delivery
// limit, then with the one RabbitMQ's refusal names, then with an earlier
// idemsim's mark. RabbitMQ answers 406 (or 405, a queue exclusive to
// another connection) for any other.
func (q *rabbitServer) owned(ctx context.Context) (bool, error, error) {
	why, err := q.declareMarked(ctx, declareQueue(q.queue, rabbitArgs(q.prefix, -1)))
	if why != nil {
		if n := deliveryLimitIn(why); n >= 0 {
			why, err = q.declareMarked(ctx, declareQueue(q.queue, rabbitArgs(q.prefix, n)))
		}
	}
	if why != nil {
		w, e := q.declareMarked(ctx, declareQueue(q.queue, rabbitLegacyArgs(q.prefix)))
		switch {
		case e != nil:
			return false, nil, e
		case w == nil:
			return true, nil, nil
		}
	}
	if err != nil {
		return false, nil, err
	}
	return why == nil, why, nil
}

// ownedDead checks the dead-letter queue and exchange of the prefix:
// found lists those that exist and bear idemsim's mark; foreign is a
// refusal naming those that exist without it.
func (q *rabbitServer) ownedDead(ctx context.Context) (found []string, foreign, err error) {
	_, exists, err := q.inspectQueue(ctx, q.deadQueue)
	if err != nil {
		return nil, nil, q.err(ErrServerFailed, "looking for the dead-letter queue "+q.deadQueue, err)
	}
	if exists {
		why, err := q.declareMarked(ctx, declareQueue(q.deadQueue, rabbitDeadArgs(q.prefix)))
		switch {
		case err != nil:
			return nil, nil, q.err(ErrServerFailed, "checking the dead-letter queue "+q.deadQueue+"'s mark", err)
		case why != nil:
			foreign = notOwnedRabbitDead("queue "+q.deadQueue, why)
		default:
			found = append(found, q.deadQueue)
		}
	}
	q.stMu.Lock()
	err = rpc0(ctx, func() error {
		ch, err := q.stateChannel()
		if err != nil {
			return err
		}
		return ch.ExchangeDeclarePassive(q.deadExchange, amqp.ExchangeDirect, true, false, false, false, nil)
	})
	q.stMu.Unlock()
	switch {
	case amqpCode(err) == amqp.NotFound:
		q.dropState()
	case amqpCode(err) == amqp.PreconditionFailed:
		// An exchange of the name, of another kind.
		q.dropState()
		foreign = errors.Join(foreign, notOwnedRabbitDead("exchange "+q.deadExchange, err))
	case err != nil:
		return nil, nil, q.err(ErrServerFailed, "looking for the dead-letter exchange "+q.deadExchange, err)
	default:
		why, err := q.declareMarked(ctx, declareExchange(q.deadExchange, rabbitExchangeArgs(q.prefix)))
		switch {
		case err != nil:
			return nil, nil, q.err(ErrServerFailed, "checking the dead-letter exchange "+q.deadExchange+"'s mark", err)
		case why != nil:
			foreign = errors.Join(foreign, notOwnedRabbitDead("exchange "+q.deadExchange, why))
		default:
			found = append(found, "exchange:"+q.deadExchange)
		}
	}
	return found, foreign, nil
}

// deleteQueue deletes the run's queue, with what it holds.
func (q *rabbitServer) deleteQueue(ctx context.Context) error {
	return q.deleteNamed(ctx, q.queue)
}

// deleteNamed deletes the queue name, or the exchange "exchange:name".
func (q *rabbitServer) deleteNamed(ctx context.Context, name string) error {
	q.stMu.Lock()
	defer q.stMu.Unlock()
	err := rpc0(ctx, func() error {
		ch, err := q.stateChannel()
		if err != nil {
			return err
		}
		if x, ok := strings.CutPrefix(name, "exchange:"); ok {
			return ch.ExchangeDelete(x, false, false)
		}
		_, err = ch.QueueDelete(name, false, false, false)
		return err
	})
	if amqpCode(err) == amqp.NotFound {
		q.dropState()
		return nil
	}
	return err
}

// deleteDead deletes the dead-letter queue and exchange, where they exist.
func (q *rabbitServer) deleteDead(ctx context.Context) error {
	for _, name := range []string{q.deadQueue, "exchange:" + q.deadExchange} {
		if err := q.deleteNamed(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// setUp creates the run's queue, marked as idemsim's, and with a delivery
// limit its dead-letter exchange and queue, bound. It runs under the
// prefix's lock, so a marked queue or exchange of the run's names is a
// killed run's leftover: it is deleted first. A queue of the name without
// the mark is refused untouched, as are a dead-letter queue or exchange
// without it when the run needs them.
func (q *rabbitServer) setUp(ctx context.Context) error {
	if q.downstream {
		if err := q.checkDownstream(ctx); err != nil {
			return err
		}
	}
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
	found, foreign, err := q.ownedDead(sctx)
	cancel()
	if err != nil {
		return err
	}
	if foreign != nil && q.limit >= 0 {
		return foreign
	}
	for _, name := range found {
		sctx, cancel = step()
		err = q.deleteNamed(sctx, name)
		cancel()
		if err != nil {
			return q.err(ErrServerFailed, "deleting the dead-letter "+strings.TrimPrefix(name, "exchange:")+" a killed run left", err)
		}
	}
	if q.limit >= 0 {
		sctx, cancel = step()
		err = q.setUpDead(sctx)
		cancel()
		if err != nil {
			return err
		}
	}
	sctx, cancel = step()
	defer cancel()
	why, err := q.declareMarked(sctx, declareQueue(q.queue, rabbitArgs(q.prefix, q.limit)))
	if why != nil {
		// Created by someone else meanwhile.
		return notOwnedRabbit(q.queue, why)
	}
	if err != nil {
		return q.err(ErrServerFailed, "creating the quorum queue "+q.queue, err)
	}
	q.created = true
	if q.downstream {
		return q.setUpDownstream(ctx)
	}
	return nil
}

// setUpDead creates the dead-letter exchange and queue, marked, and binds
// the queue to the exchange with the run's dead-letter routing key.
func (q *rabbitServer) setUpDead(ctx context.Context) error {
	q.deadCreated = true // from here on, tearDown removes what exists
	why, err := q.declareMarked(ctx, declareExchange(q.deadExchange, rabbitExchangeArgs(q.prefix)))
	if why != nil {
		return notOwnedRabbitDead("exchange "+q.deadExchange, why)
	}
	if err != nil {
		return q.err(ErrServerFailed, "creating the dead-letter exchange "+q.deadExchange, err)
	}
	why, err = q.declareMarked(ctx, declareQueue(q.deadQueue, rabbitDeadArgs(q.prefix)))
	if why != nil {
		return notOwnedRabbitDead("queue "+q.deadQueue, why)
	}
	if err == nil {
		_, err = q.declareMarked(ctx, func(ch *amqp.Channel) error {
			return ch.QueueBind(q.deadQueue, rabbitDeadKey(q.prefix), q.deadExchange, false, nil)
		})
	}
	if err != nil {
		return q.err(ErrServerFailed, "creating the dead-letter queue "+q.deadQueue, err)
	}
	return nil
}

// tearDown deletes the run's queue (and its dead-letter queue and
// exchange) and closes the run's connection.
func (q *rabbitServer) tearDown(warn func(string), dead bool) {
	if q.created || q.deadCreated {
		err := errors.New("the server failed")
		if !dead && q.conn != nil && !q.conn.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
			err = q.deleteQueue(ctx)
			if err == nil && q.deadCreated {
				err = q.deleteDead(ctx)
			}
			if err == nil && q.downCreated {
				err = q.deleteNamed(ctx, rabbitDownQueue(q.prefix))
			}
			cancel()
		}
		if err != nil {
			what := "queue " + q.queue
			if q.deadCreated {
				what += ", dead-letter queue " + q.deadQueue + " and exchange " + q.deadExchange
			}
			if q.downCreated {
				what += ", downstream queue " + rabbitDownQueue(q.prefix)
			}
			warn(fmt.Sprintf("could not delete this run's RabbitMQ %s: %v; remove them with: idemsim clean --broker rabbitmq --prefix %s", what, err, q.prefix))
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

// clean deletes the prefix's queue, dead-letter queue and dead-letter
// exchange, each if it bears idemsim's mark; one without it is left
// untouched and reported.
func (q *rabbitServer) clean(ctx context.Context) (removed []string, notOwned error, err error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, exists, err := q.inspect(sctx)
	if err != nil {
		return nil, nil, q.err(ErrServerFailed, "looking for the queue "+q.queue, err)
	}
	if exists {
		ours, why, err := q.owned(sctx)
		switch {
		case err != nil:
			return nil, nil, q.err(ErrServerFailed, "checking the queue "+q.queue+"'s mark", err)
		case !ours:
			notOwned = notOwnedRabbit(q.queue, why)
		default:
			if err := q.deleteQueue(sctx); err != nil {
				return nil, nil, q.err(ErrServerFailed, "deleting the queue "+q.queue, err)
			}
			removed = append(removed, "quorum queue "+q.queue)
		}
	}
	found, foreign, err := q.ownedDead(sctx)
	if err != nil {
		return removed, notOwned, err
	}
	notOwned = errors.Join(notOwned, foreign)
	for _, name := range found {
		if err := q.deleteNamed(sctx, name); err != nil {
			return removed, notOwned, q.err(ErrServerFailed, "deleting "+name, err)
		}
		if x, ok := strings.CutPrefix(name, "exchange:"); ok {
			removed = append(removed, "dead-letter exchange "+x)
		} else {
			removed = append(removed, "dead-letter queue "+name)
		}
	}
	down, foreign, err := q.cleanDownstream(sctx)
	if err != nil {
		return removed, notOwned, err
	}
	return append(removed, down...), errors.Join(notOwned, foreign), nil
}

// isAMQPClosed reports whether err says a connection or channel is closed.
func isAMQPClosed(err error) bool {
	return errors.Is(err, amqp.ErrClosed) || strings.Contains(fmt.Sprint(err), "channel/connection is not open")
}
