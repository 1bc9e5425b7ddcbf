package realrun

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/tcpproxy"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// rabbitServers returns a Config on the shared Redis and PostgreSQL and
// the RabbitMQ node rs, with a prefix of the test's own.
func rabbitServers(t *testing.T, prefix string, rs *testserver.RabbitMQServer) Config {
	t.Helper()
	cfg := sharedServers(t, prefix)
	cfg.BrokerServer, cfg.AMQPURL = BrokerRabbitMQ, rs.URL
	return cfg
}

// amqpOn opens a test's own channel on rs.
func amqpOn(t *testing.T, rs *testserver.RabbitMQServer) *amqp.Channel {
	t.Helper()
	conn, err := amqp.DialConfig(rs.URL, amqp.Config{Heartbeat: time.Second, Dial: amqp.DefaultDial(5 * time.Second)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

// queueState declares name passively on a channel of its own: whether it
// exists, and its ready messages.
func queueState(t *testing.T, rs *testserver.RabbitMQServer, name string) (bool, int) {
	t.Helper()
	ch := amqpOn(t, rs)
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if amqpCode(err) == amqp.NotFound {
		return false, 0
	}
	require.NoError(t, err)
	return true, q.Messages
}

// A run on RabbitMQ works end to end: every event settles, db-unique holds
// under crashes and lost acks, the trace shows what a client sees (every
// ack sent with its outcome unknown, never "acked", no requeue), and the
// run deletes its queue at the end.
func TestRabbitRunWorksAndCleansUp(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	cfg := rabbitServers(t, "rr_rabbit", rs)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver, faults.Crash), Seed: 1, Events: 60, KeepTrace: true}
	var lines []string
	var mu sync.Mutex
	cfg.Progress = func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
	res := realRun(t, cfg)
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "db-unique on RabbitMQ: %+v", res)
	kinds := map[run.Kind]int{}
	for _, r := range res.Trace {
		kinds[r.Kind]++
	}
	assert.Positive(t, kinds[run.AckUnknown], "basic.ack has no reply: every ack sent is unknown")
	assert.Zero(t, kinds[run.Acked], "nothing tells a RabbitMQ client that its ack was taken")
	assert.Positive(t, kinds[run.AckLost], "lost acks (the connection broke with them unsent)")
	assert.Positive(t, kinds[run.Deliver])
	assert.Positive(t, kinds[run.Crash])
	assert.Zero(t, kinds[run.Requeue], "a client never sees a requeue")
	assert.Contains(t, strings.Join(lines, "\n"), "RabbitMQ quorum queue rr_rabbit_events")
	exists, _ := queueState(t, rs, "rr_rabbit_events")
	assert.False(t, exists, "the run deleted its queue")
	assert.Contains(t, res.Reproduce, "--broker rabbitmq")
	assert.NotContains(t, res.Reproduce, "--broker queue")
}

// A queue of the run's name that idemsim did not create is refused (exit
// status 2) and left exactly as it was, even one that carries idemsim's
// informative arguments: RabbitMQ does not compare arguments it does not
// know, so only the checked ones make the mark.
func TestRabbitForeignQueueIsRefusedUntouched(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	for _, tc := range []struct {
		name string
		args amqp.Table
	}{
		{"classic", nil},
		{"quorum", amqp.Table{"x-queue-type": "quorum"}},
		{"custom arguments only", amqp.Table{"x-queue-type": "quorum", "idemsim-created-by": "idemsim", "idemsim-prefix": "rr_rforeign"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := amqpOn(t, rs)
			_, err := ch.QueueDeclare("rr_rforeign_events", true, false, false, false, tc.args)
			require.NoError(t, err)
			t.Cleanup(func() { _, _ = amqpOn(t, rs).QueueDelete("rr_rforeign_events", false, false, false) })
			require.NoError(t, ch.PublishWithContext(context.Background(), "", "rr_rforeign_events", false, false, amqp.Publishing{Body: []byte("keep me")}))
			require.Eventually(t, func() bool { _, n := queueState(t, rs, "rr_rforeign_events"); return n == 1 }, 5*time.Second, 20*time.Millisecond)

			cfg := rabbitServers(t, "rr_rforeign", rs)
			cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 20}
			_, err = Run(context.Background(), cfg)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrRefused, "exit status 2")
			assert.NotErrorIs(t, err, ErrServerFailed)
			assert.Contains(t, err.Error(), "RabbitMQ queue rr_rforeign_events exists but was not created by idemsim")
			assert.Contains(t, err.Error(), "idemsim leaves it untouched")
			exists, n := queueState(t, rs, "rr_rforeign_events")
			assert.True(t, exists, "still there")
			assert.Equal(t, 1, n, "its message kept")
			// Its arguments too: declaring it as it was still works.
			_, err = amqpOn(t, rs).QueueDeclare("rr_rforeign_events", true, false, false, false, tc.args)
			assert.NoError(t, err, "its arguments unchanged")

			out, err := Clean(context.Background(), cfg)
			require.NoError(t, err)
			assert.Empty(t, out.RabbitMQ)
			require.Error(t, out.NotOwned)
			assert.Contains(t, out.NotOwned.Error(), "RabbitMQ queue rr_rforeign_events exists but was not created by idemsim")
			exists, n = queueState(t, rs, "rr_rforeign_events")
			assert.True(t, exists && n == 1, "clean left it untouched")
		})
	}
}

// A killed run's queue (marked) is replaced by the next run, and clean
// removes one.
func TestRabbitCleanRemovesMarked(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	leftover := func() {
		_, err := amqpOn(t, rs).QueueDeclare("rr_rcl_events", true, false, false, false, rabbitArgs("rr_rcl", -1))
		require.NoError(t, err)
	}
	leftover()
	cfg := rabbitServers(t, "rr_rcl", rs)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 20}
	realRun(t, cfg)
	exists, _ := queueState(t, rs, "rr_rcl_events")
	assert.False(t, exists)

	leftover()
	out, err := Clean(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"quorum queue rr_rcl_events"}, out.RabbitMQ)
	assert.NoError(t, out.NotOwned)
	exists, _ = queueState(t, rs, "rr_rcl_events")
	assert.False(t, exists)
}

// RabbitMQ that dies or freezes mid-run ends the run within seconds, with
// an error naming RabbitMQ, its address and what the run was doing, and
// no verdict.
func TestRabbitFailureMidRunIsNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("breaks a RabbitMQ node mid-run")
	}
	for _, tc := range []struct {
		name string
		brk  func(t *testing.T, rs *testserver.RabbitMQServer)
	}{
		{"killed", func(t *testing.T, rs *testserver.RabbitMQServer) { rs.Kill(t) }},
		{"frozen", func(t *testing.T, rs *testserver.RabbitMQServer) { rs.Freeze(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := testserver.RabbitMQ(t)
			cfg := rabbitServers(t, "rr_rbreak", rs)
			cfg.Config = run.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 3, Events: 2000}
			var warned []string
			cfg.Warn = func(s string) { warned = append(warned, s) }
			err, took := runAndBreak(t, cfg, func() { tc.brk(t, rs) })
			require.Error(t, err)
			var se *ServerError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, ErrServerFailed)
			assert.Equal(t, "RabbitMQ", se.Server)
			assert.Contains(t, err.Error(), "RabbitMQ at 127.0.0.1:")
			assert.Contains(t, err.Error(), " while ")
			assert.Less(t, took, 10*time.Second, "named within seconds: %v", err)
			t.Logf("%v after the break: %v; warnings: %q", took.Round(time.Millisecond), err, warned)
		})
	}
}

// No password of an AMQP URL shows in any output: errors of a server that
// rejects it, of a URL that does not parse, reproduce lines.
func TestRabbitSecretsNeverShown(t *testing.T) {
	const secret = "s3cr3t-pw-q7"
	rs := testserver.SharedRabbitMQ(t)
	cfg := rabbitServers(t, "rr_rsecret", rs)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 10}
	var out []string
	cfg.Warn = func(s string) { out = append(out, s) }
	bad := cfg
	bad.AMQPURL = strings.Replace(rs.URL, "guest:guest@", "guest:"+secret+"@", 1)
	require.Contains(t, bad.AMQPURL, secret)
	_, err := Run(context.Background(), bad)
	require.ErrorIs(t, err, ErrRejected)
	out = append(out, err.Error(), bad.Reproduce())
	for _, u := range []string{
		strings.Replace(bad.AMQPURL, "127.0.0.1:", "127.0.0.1:x", 1), // a bad port
		strings.Replace(bad.AMQPURL, "amqp://", "amqpx://", 1),       // a bad scheme
	} {
		bad.AMQPURL = u
		_, err = Run(context.Background(), bad)
		require.ErrorIs(t, err, run.ErrBadConfig)
		out = append(out, err.Error())
	}
	for _, s := range out {
		assert.NotContains(t, s, secret)
	}
	t.Logf("%q", out)
}

// rabbitSession sets up a run's queue on rs and a broker on it, for tests
// of the broker itself.
func rabbitSession(t *testing.T, rs *testserver.RabbitMQServer, prefix string, events int) (*session, *rabbitBroker) {
	t.Helper()
	cfg := rabbitServers(t, prefix, rs)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1, Events: events, Instances: 1, KeepTrace: true, KeepHistory: true}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &servers{cfg: cfg}
	require.NoError(t, s.connectRabbit(ctx))
	t.Cleanup(func() { s.rabbit.tearDown(func(string) {}, false) })
	require.NoError(t, s.rabbit.setUp(ctx))
	r := &session{cfg: cfg, srv: s, host: "test", ctx: ctx, cancel: cancel}
	r.rec.start = time.Now()
	r.rec.rec.Reset(cfg.Config)
	evs := make([]strategies.EventID, events)
	for i := range evs {
		evs[i] = strategies.EventID(i + 1)
	}
	b, err := newRabbitBroker(r, evs)
	require.NoError(t, err)
	t.Cleanup(b.closeProxies)
	r.br = b
	return r, b
}

// A delivery tag belongs to its channel (BROKER-FACTS row 10): after the
// connection broke and the client connected again, an ack of a delivery
// from the old channel is not sent, since its tag (1) now names another
// delivery on the new channel, and sending it would settle that one. Both
// messages are then still in the queue.
func TestRabbitStaleTagIsNeverSent(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	r, b := rabbitSession(t, rs, "rr_rstale", 2)
	ctx := r.ctx
	require.NoError(t, b.Publish(ctx, 0))
	require.NoError(t, b.Publish(ctx, 1))
	conn, err := b.Attach(ctx, 0)
	require.NoError(t, err)
	old, _, got := conn.Receive(ctx)
	require.Equal(t, gotDelivery, got)
	require.Equal(t, 0, old.msg)

	conn.(*rabbitConn).breakConn() // message 0 goes back to the head
	again, _, got := conn.Receive(ctx)
	require.Equal(t, gotDelivery, got)
	require.Equal(t, 0, again.msg, "returned to the head")
	require.NotEqual(t, old, again, "a new delivery, on a new channel")
	c := conn.(*rabbitConn)
	c.mu.Lock()
	require.Equal(t, uint64(1), c.held[again], "tag 1 again, on the new channel")
	c.mu.Unlock()

	assert.Equal(t, AckNotSent, conn.Ack(ctx, old, r.rec.now()), "the old delivery's tag is not sent on the new channel")
	conn.Close()
	require.Eventually(t, func() bool { _, n := queueState(t, rs, "rr_rstale_events"); return n == 2 }, 5*time.Second, 20*time.Millisecond,
		"both messages still in the queue: the stale ack settled nothing")
}

// basic.ack has no reply: an ack is recorded as sent with its outcome
// unknown, and settled at the end by the queue's state: a message not
// left in the queue once every channel closed was taken by an ack of the
// run's own, which then enters the history.
func TestRabbitAckIsUnknownThenSettledByTheQueue(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	r, b := rabbitSession(t, rs, "rr_runknown", 2)
	ctx := r.ctx
	require.NoError(t, b.Publish(ctx, 0))
	require.NoError(t, b.Publish(ctx, 1))
	conn, err := b.Attach(ctx, 0)
	require.NoError(t, err)
	d, _, got := conn.Receive(ctx)
	require.Equal(t, gotDelivery, got)
	assert.Equal(t, AckUnknown, conn.Ack(ctx, d, r.rec.now()))
	d2, _, got := conn.Receive(ctx)
	require.Equal(t, gotDelivery, got)
	// The second is never acked: it goes back when the channel closes.
	_ = d2
	b.Stop()
	conn.Close()
	done, settled, err := b.Final(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, false}, done)
	assert.Equal(t, []bool{false, true, false}, settled)
}

// receiveWithin receives on conn, failing the test after d.
func receiveWithin(t *testing.T, ctx context.Context, conn Conn, d time.Duration) delivery {
	t.Helper()
	type got struct {
		d   delivery
		got received
	}
	ch := make(chan got, 1)
	go func() {
		d, _, g := conn.Receive(ctx)
		ch <- got{d, g}
	}()
	select {
	case g := <-ch:
		require.Equal(t, gotDelivery, g.got)
		return g.d
	case <-time.After(d):
		t.Fatalf("no delivery within %v", d)
	}
	return delivery{}
}

// The queue without an ack deadline, as RabbitMQ has it (BROKER-FACTS
// rows 7 and 8): a consumer that holds a message past the run's ack
// deadline keeps it (another gets the next one); one that crashes gives
// it back at once, to the head, to another consumer.
func TestRabbitNoDeadlineButCrashReturnsAtOnce(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	r, b := rabbitSession(t, rs, "rr_rcrash", 2)
	ctx := r.ctx
	require.NoError(t, b.Publish(ctx, 0))
	require.NoError(t, b.Publish(ctx, 1))
	a, err := b.Attach(ctx, 0)
	require.NoError(t, err)
	first := receiveWithin(t, ctx, a, 5*time.Second)
	require.Equal(t, 0, first.msg)
	time.Sleep(2 * r.cfg.Timing.AckDeadline)

	other := extraConn(t, b)
	next := receiveWithin(t, ctx, other, 5*time.Second)
	assert.Equal(t, 1, next.msg, "no deadline: message 0 stays with the consumer that holds it")
	assert.Equal(t, AckUnknown, other.Ack(ctx, next, r.rec.now()))

	start := time.Now()
	a.Crash()
	back := receiveWithin(t, ctx, other, 5*time.Second)
	assert.Equal(t, 0, back.msg, "the crashed consumer's message comes back")
	assert.Equal(t, uint32(2), back.tag, "its second delivery (x-delivery-count 1)")
	assert.Less(t, time.Since(start), time.Second, "at once: RabbitMQ sees the socket close")
	other.Close()
}

// A consumer cut off from RabbitMQ (a zombie's pause, a partition) is
// noticed by the heartbeats: with the run's 1 s heartbeat, its message
// goes to another consumer about three heartbeats later (BROKER-FACTS
// row 8: 2.7 s; amqp091's default of 10 s would take about 30 s).
func TestRabbitSilentConsumerNoticedByHeartbeats(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	r, b := rabbitSession(t, rs, "rr_rsilent", 1)
	ctx := r.ctx
	require.NoError(t, b.Publish(ctx, 0))
	a, err := b.Attach(ctx, 0)
	require.NoError(t, err)
	d := receiveWithin(t, ctx, a, 5*time.Second)
	require.Equal(t, 0, d.msg)

	start := time.Now()
	b.proxy(0).Cut() // consumer 0 falls silent, its heartbeats too
	defer b.proxy(0).Heal()
	other := extraConn(t, b)
	back := receiveWithin(t, ctx, other, 10*time.Second)
	took := time.Since(start)
	assert.Equal(t, 0, back.msg)
	assert.Greater(t, took, 1500*time.Millisecond, "not before the heartbeats say so")
	assert.Less(t, took, 5*time.Second, "about three 1 s heartbeats")
	t.Logf("redelivered %v after the consumer fell silent", took.Round(time.Millisecond))
	assert.Equal(t, AckNotSent, a.Ack(ctx, d, r.rec.now()), "its channel is gone: the ack is not sent")
	other.Close()
}

// extraConn is another consumer's connection, through a proxy of its own,
// beside the session's consumers.
func extraConn(t *testing.T, b *rabbitBroker) *rabbitConn {
	t.Helper()
	p, err := tcpproxy.Start(b.srv.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	b.proxies = append(b.proxies, p)
	b.leaving = append(b.leaving, false)
	return &rabbitConn{b: b, consumer: len(b.proxies) - 1}
}

// The AMQP URL defaults to IDEMSIM_AMQP_URL, else the local RabbitMQ; a
// bad one from the environment is named as such, without its password,
// and an AMQP URL is refused with another broker.
func TestAMQPURLSettings(t *testing.T) {
	t.Setenv("IDEMSIM_AMQP_URL", "")
	cfg := Config{BrokerServer: BrokerRabbitMQ}.withDefaults()
	assert.Equal(t, DefaultAMQPURL, cfg.AMQPURL)
	t.Setenv("IDEMSIM_AMQP_URL", "amqp://u:envpw-93x@rabbit.example:5673/v")
	cfg = Config{BrokerServer: BrokerRabbitMQ}.withDefaults()
	assert.Equal(t, "amqp://u:envpw-93x@rabbit.example:5673/v", cfg.AMQPURL)
	assert.NoError(t, validateSettings(cfg))
	assert.Empty(t, Config{}.withDefaults().AMQPURL, "no AMQP URL without the rabbitmq broker")

	t.Setenv("IDEMSIM_AMQP_URL", "http://u:envpw-93x@rabbit.example:5673/v")
	err := validateSettings(Config{BrokerServer: BrokerRabbitMQ}.withDefaults())
	require.ErrorIs(t, err, run.ErrBadConfig)
	assert.Contains(t, err.Error(), "from the environment variable IDEMSIM_AMQP_URL")
	assert.NotContains(t, err.Error(), "envpw-93x")

	err = validateSettings(Config{BrokerServer: BrokerNATS, AMQPURL: "amqp://127.0.0.1:5672/"}.withDefaults())
	require.ErrorIs(t, err, run.ErrBadConfig)
	assert.Contains(t, err.Error(), "an AMQP URL needs the rabbitmq broker")
	assert.Equal(t, "amqp://u:xxxxx@rabbit.example:5673/v", redactAMQP("amqp://u:envpw-93x@rabbit.example:5673/v"))
}
