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
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// deadRecords counts the trace's dead-letter records.
func deadRecords(res *run.Result) int {
	n := 0
	for _, r := range res.Trace {
		if r.Kind == run.DeadLetter {
			n++
		}
	}
	return n
}

// On NATS, the queue's parameters reach the run's consumer: the ack
// deadline as its AckWait (scaled: 10s, twice the simulator's default, is
// twice the real run's), the prefetch as its MaxRequestBatch (and each
// pull's batch), the delivery limit as its MaxDeliver. A message whose
// last delivery fails (a crash before its effect, with one delivery
// allowed) ends dead, from the server's advisory, as in the simulator.
func TestNATSTakesTheQueuesParameters(t *testing.T) {
	ns := testserver.NATS(t)
	js := jsOn(t, ns)
	cfg := natsServers(t, "rr_natsparams", ns)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1, Events: 60, KeepTrace: true,
		Broker: run.BrokerParams{AckDeadline: 10 * time.Second, Prefetch: 2, MaxDeliveries: 1}}
	var once sync.Once
	cfg.Progress = func(s string) {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := js.Consumer(ctx, "rr_natsparams_events", "rr_natsparams_consumers")
			if !assert.NoError(t, err) {
				return
			}
			info := c.CachedInfo().Config
			assert.Equal(t, 2*DefaultTiming.AckDeadline, info.AckWait, "AckWait: --ack-deadline 10s, scaled")
			assert.Equal(t, 1, info.MaxDeliver)
			assert.Equal(t, 2, info.MaxRequestBatch)
		})
	}
	res := realRun(t, cfg)
	assert.Positive(t, res.Dead, "crashes before the effect, with one delivery allowed: dead events (%+v)", res)
	assert.Positive(t, deadRecords(res), "the trace records the dead letters")
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "%+v", res)
	assert.Contains(t, res.Reproduce, "--max-deliveries 1")
}

// A memory run takes an ack deadline and a delivery limit: its own timer
// and count, dead-lettering as the simulator's queue does.
func TestMemoryTakesAckDeadlineAndMaxDeliveries(t *testing.T) {
	cfg := sharedServers(t, "rr_memparams")
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1, Events: 60, KeepTrace: true,
		Broker: run.BrokerParams{AckDeadline: 10 * time.Second, MaxDeliveries: 1}}
	res := realRun(t, cfg)
	assert.Positive(t, res.Dead, "%+v", res)
	assert.GreaterOrEqual(t, deadRecords(res), res.Dead, "a dead letter for each dead event (and for any applied before its ack was lost)")
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "%+v", res)
	assert.True(t, strings.Contains(res.Reproduce, "--ack-deadline 10s"), res.Reproduce)
}

// On RabbitMQ, the queue's parameters reach the run's queue: the delivery
// limit as its x-delivery-limit (N-1 for --max-deliveries N: declaring the
// queue with that limit succeeds, without it RabbitMQ refuses), with a
// dead-letter exchange and queue of the run's own, and the prefetch as
// basic.qos (which AMQP cannot read back: the run says it). A message
// whose last delivery fails (a crash closes its connection before the
// effect, with one delivery allowed) arrives on the dead-letter queue and
// ends dead, as in the simulator. The run removes all three at the end.
func TestRabbitTakesTheQueuesParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ node of its own")
	}
	rs := testserver.SharedRabbitMQ(t)
	cfg := rabbitServers(t, "rr_rparams", rs)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1, Events: 60, KeepTrace: true,
		Broker: run.BrokerParams{AckDeadline: run.NoAckDeadline, Prefetch: 2, MaxDeliveries: 1}}
	var once sync.Once
	var first string
	cfg.Progress = func(s string) {
		once.Do(func() {
			first = s
			_, err := amqpOn(t, rs).QueueDeclare("rr_rparams_events", true, false, false, false, rabbitArgs("rr_rparams", 0))
			assert.NoError(t, err, "the queue has x-delivery-limit 0")
			_, err = amqpOn(t, rs).QueueDeclare("rr_rparams_events", true, false, false, false, rabbitArgs("rr_rparams", -1))
			assert.ErrorContains(t, err, "x-delivery-limit")
			exists, _ := queueState(t, rs, "rr_rparams_dead")
			assert.True(t, exists, "the dead-letter queue")
			assert.NoError(t, amqpOn(t, rs).ExchangeDeclarePassive("rr_rparams_dead_letters", "direct", true, false, false, false, nil), "the dead-letter exchange")
		})
	}
	res := realRun(t, cfg)
	assert.Contains(t, first, "prefetch 2, delivery limit 0, dead letters to rr_rparams_dead")
	assert.Positive(t, res.Dead, "crashes before the effect, with one delivery allowed: dead events (%+v)", res)
	assert.Positive(t, deadRecords(res), "the trace records the dead letters")
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "%+v", res)
	for _, q := range []string{"rr_rparams_events", "rr_rparams_dead"} {
		exists, _ := queueState(t, rs, q)
		assert.False(t, exists, "the run deleted %s", q)
	}
	err := amqpOn(t, rs).ExchangeDeclarePassive("rr_rparams_dead_letters", "direct", true, false, false, false, nil)
	assert.Equal(t, amqp.NotFound, amqpCode(err), "the run deleted its dead-letter exchange: %v", err)
}

// A killed run's dead-letter queue and exchange (marked), and its queue
// with a delivery limit (or an earlier idemsim's, with its mark of then),
// are removed by clean; a dead-letter queue of the
// run's name that idemsim did not create is refused, untouched, by a run
// that needs one and by clean.
func TestRabbitDeadLettersCleanAndForeign(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	ch := amqpOn(t, rs)
	require.NoError(t, ch.ExchangeDeclare("rr_rdl_dead_letters", "direct", true, false, false, false, rabbitExchangeArgs("rr_rdl")))
	_, err := ch.QueueDeclare("rr_rdl_dead", true, false, false, false, rabbitDeadArgs("rr_rdl"))
	require.NoError(t, err)
	_, err = ch.QueueDeclare("rr_rdl_events", true, false, false, false, rabbitArgs("rr_rdl", 2))
	require.NoError(t, err)
	cfg := rabbitServers(t, "rr_rdl", rs)
	cfg.Config = run.Config{Strategy: "db-unique", Seed: 1, Events: 10}
	out, err := Clean(context.Background(), cfg)
	require.NoError(t, err)
	assert.NoError(t, out.NotOwned)
	assert.ElementsMatch(t, []string{"quorum queue rr_rdl_events", "dead-letter queue rr_rdl_dead", "dead-letter exchange rr_rdl_dead_letters"}, out.RabbitMQ)
	for _, q := range []string{"rr_rdl_events", "rr_rdl_dead"} {
		exists, _ := queueState(t, rs, q)
		assert.False(t, exists, q)
	}

	// A queue an earlier idemsim left, with its mark of then.
	_, err = amqpOn(t, rs).QueueDeclare("rr_rdl_events", true, false, false, false, rabbitLegacyArgs("rr_rdl"))
	require.NoError(t, err)
	out, err = Clean(context.Background(), cfg)
	require.NoError(t, err)
	assert.NoError(t, out.NotOwned)
	assert.Equal(t, []string{"quorum queue rr_rdl_events"}, out.RabbitMQ)

	// A foreign dead-letter queue: a classic queue of the name.
	_, err = amqpOn(t, rs).QueueDeclare("rr_rdl_dead", true, false, false, false, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = amqpOn(t, rs).QueueDelete("rr_rdl_dead", false, false, false) })
	cfg.Broker = run.BrokerParams{MaxDeliveries: 2}
	_, err = Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrRefused)
	assert.Contains(t, err.Error(), "RabbitMQ queue rr_rdl_dead exists but was not created by idemsim")
	out, err = Clean(context.Background(), cfg)
	require.NoError(t, err)
	require.Error(t, out.NotOwned)
	assert.Contains(t, out.NotOwned.Error(), "rr_rdl_dead")
	exists, _ := queueState(t, rs, "rr_rdl_dead")
	assert.True(t, exists, "left untouched")
	cfg.Broker = run.BrokerParams{}
	res := realRun(t, cfg)
	assert.Zero(t, res.Stuck, "a run with no delivery limit needs no dead-letter queue: the foreign one does not stop it")
}
