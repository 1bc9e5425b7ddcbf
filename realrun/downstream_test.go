package realrun

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
)

// The strategies that send events on run for real on every broker, and
// the checkers judge their downstream: with no fault, each
// committed effect is announced and applied downstream exactly once, by
// every one of them; under crash, publish-in-tx leaves ghosts (a publish
// whose transaction died with its consumer) and the outbox none; the
// outbox's relay publishes each row, and its trace shows its reads, its
// publishes and its marks.
func TestPublishingStrategiesRunForReal(t *testing.T) {
	brokers := map[string]func(t *testing.T) Config{
		"memory": func(t *testing.T) Config { return sharedServers(t, "rr_down") },
		"nats":   func(t *testing.T) Config { return natsServers(t, "rr_ndown", testserver.NATS(t)) },
		"kafka":  func(t *testing.T) Config { return kafkaServers(t, "rr_kdown", testserver.Kafka(t)) },
		"rabbitmq": func(t *testing.T) Config {
			return rabbitServers(t, "rr_rdown", testserver.SharedRabbitMQ(t))
		},
	}
	for _, broker := range []string{"memory", "nats", "kafka", "rabbitmq"} {
		for _, st := range []string{"publish-after-commit", "publish-in-tx", "outbox"} {
			if testing.Short() && broker != "memory" {
				// The short run: each broker's safety test below
				// runs the outbox on it end to end.
				continue
			}
			t.Run(broker+"/"+st, func(t *testing.T) { testPublishingStrategy(t, brokers[broker](t), st) })
		}
	}
}

// testPublishingStrategy runs st with no fault on cfg's servers.
func testPublishingStrategy(t *testing.T, cfg Config, st string) {
	cfg.Config = run.Config{Strategy: st, Seed: 1, Events: 40, KeepTrace: true}
	res := realRun(t, cfg)
	assert.False(t, res.Violating(), "no fault, no violation: %+v", res)
	ops := map[run.Op]int{}
	applied := 0
	for _, r := range res.Trace {
		if r.Kind == run.Call {
			ops[r.Op]++
		}
		if r.Kind == run.DownApply && r.Answer == run.Yes {
			applied++
		}
	}
	assert.Equal(t, 40, applied, "each event applied once downstream")
	assert.Equal(t, 40, ops[run.PublishDown])
	if st == "outbox" {
		assert.Equal(t, 40, ops[run.InsertOutbox])
		assert.Equal(t, 40, ops[run.MarkSent])
		assert.Greater(t, ops[run.NextOutbox], 40, "a read per row, and the reads that found none")
	}
}

// Under crash, a consumer of publish-in-tx that dies between its publish
// and its commit leaves a ghost; the outbox leaves none, whatever crashes
// its relay suffer.
func TestGhostsUnderCrashForReal(t *testing.T) {
	ghosts := 0
	for seed := uint64(1); seed <= 3 && ghosts == 0; seed++ {
		cfg := sharedServers(t, "rr_ghost")
		cfg.Config = run.Config{Strategy: "publish-in-tx", Faults: faults.Of(faults.Crash), Seed: seed, Events: 100}
		res := realRun(t, cfg)
		ghosts += res.Ghosts
		assert.True(t, res.CheckersAgree())
	}
	assert.Positive(t, ghosts, "publish-in-tx under crash: a ghost in 3 seeds")

	cfg := sharedServers(t, "rr_ghost")
	cfg.Config = run.Config{Strategy: "outbox", Faults: faults.Of(faults.Crash), Seed: 1, Events: 100}
	res := realRun(t, cfg)
	require.True(t, res.CheckersAgree())
	assert.False(t, res.Violating(), "the outbox under crash: %+v", res)
}

// An outbox table of the prefix's name that idemsim did not create is
// refused (exit status 2) and left exactly as it was, with nothing
// created beside it; the run's own tables are cleaned with the rest.
func TestForeignOutboxTableIsRefusedUntouched(t *testing.T) {
	cfg := sharedServers(t, "appob")
	conn := pgConn(t, cfg.PostgresURL)
	exec(t, conn, `DROP TABLE IF EXISTS appob_outbox, appob_downstream; CREATE TABLE appob_outbox (id bigint, note text); INSERT INTO appob_outbox VALUES (1, 'keep me')`)
	t.Cleanup(func() { exec(t, pgConn(t, cfg.PostgresURL), `DROP TABLE IF EXISTS appob_outbox`) })
	cfg.Config = run.Config{Strategy: "outbox", Seed: 1, Events: 20}

	_, err := Run(context.Background(), cfg)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrRefused, "exit status 2: the user's data is protected, the run did not start")
	assert.NotErrorIs(t, err, ErrServerFailed)
	assert.Contains(t, err.Error(), "public.appob_outbox (table) exists but was not created by idemsim")
	assert.Equal(t, 1, count(t, conn, `SELECT count(*) FROM appob_outbox WHERE note = 'keep me'`))
	assert.Zero(t, count(t, conn, `SELECT count(*) FROM pg_tables WHERE tablename = 'appob_downstream'`), "nothing created beside it")

	// Its own outbox tables, once the foreign one is gone, are
	// removed by clean.
	exec(t, conn, `DROP TABLE appob_outbox`)
	realRun(t, cfg)
	assert.Equal(t, 2, count(t, conn, `SELECT count(*) FROM pg_tables WHERE tablename IN ('appob_outbox', 'appob_downstream')`))
	_, err = Clean(context.Background(), cfg)
	require.NoError(t, err)
	assert.Zero(t, count(t, conn, `SELECT count(*) FROM pg_tables WHERE tablename IN ('appob_outbox', 'appob_downstream')`))
}

// On NATS, a downstream stream of the prefix's name that idemsim did not
// create is refused (exit status 2) before anything is made, and left as
// it was, its messages too; the run's own downstream stream is deleted at
// its end.
func TestNATSForeignDownstreamStreamIsRefusedUntouched(t *testing.T) {
	ns := testserver.NATS(t)
	js := jsOn(t, ns)
	createStream(t, js, "rr_ndforeign_downstream", "theirs.downstream", map[string]string{"owner": "them"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := js.Publish(ctx, "theirs.downstream", []byte("keep me"))
	require.NoError(t, err)

	cfg := natsServers(t, "rr_ndforeign", ns)
	cfg.Config = run.Config{Strategy: "outbox", Seed: 1, Events: 10}
	_, err = Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrRefused)
	assert.Contains(t, err.Error(), "stream rr_ndforeign_downstream exists but was not created by idemsim")
	st, err := js.Stream(ctx, "rr_ndforeign_downstream")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), info.State.Msgs, "its message kept")
	assert.Equal(t, "them", info.Config.Metadata["owner"])
	assert.NotContains(t, info.Config.Metadata, "created-by", "not marked as idemsim's")
	assert.NotContains(t, streamNames(t, js), "rr_ndforeign_events", "nothing created beside it")

	cfg = natsServers(t, "rr_ndown_own", ns)
	cfg.Config = run.Config{Strategy: "outbox", Seed: 1, Events: 10}
	res := realRun(t, cfg)
	assert.False(t, res.Violating(), "the outbox end to end, no fault: %+v", res)
	assert.NotContains(t, streamNames(t, js), "rr_ndown_own_downstream", "the run deleted its downstream stream")
}

// On Kafka, a downstream topic of the prefix's name that idemsim did not
// create is refused (exit status 2) before anything is made, and left as
// it was, its record too; the run's own downstream topic is deleted at
// its end.
func TestKafkaForeignDownstreamTopicIsRefusedUntouched(t *testing.T) {
	kc := testserver.Kafka(t)
	adm := kadmOn(t, kc)
	ctx := context.Background()
	createTopic(t, kc, adm, "rr_kdforeign_downstream", nil)
	cfg := kafkaServers(t, "rr_kdforeign", kc)
	cfg.Config = run.Config{Strategy: "outbox", Seed: 1, Events: 10}
	_, err := Run(ctx, cfg)
	require.ErrorIs(t, err, ErrRefused)
	assert.Contains(t, err.Error(), "Kafka topic rr_kdforeign_downstream exists but was not created by idemsim")
	ends, err := adm.ListEndOffsets(ctx, "rr_kdforeign_downstream")
	require.NoError(t, err)
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	assert.Equal(t, int64(1), total, "its record kept")
	topics, err := adm.ListTopics(ctx)
	require.NoError(t, err)
	assert.False(t, topics.Has("rr_kdforeign_events"), "nothing created beside it")

	cfg = kafkaServers(t, "rr_kdown_own", kc)
	cfg.Config = run.Config{Strategy: "outbox", Seed: 1, Events: 10}
	res := realRun(t, cfg)
	assert.False(t, res.Violating(), "the outbox end to end, no fault: %+v", res)
	topics, err = adm.ListTopics(ctx)
	require.NoError(t, err)
	assert.False(t, topics.Has("rr_kdown_own_downstream"), "the run deleted its downstream topic")
}

// On RabbitMQ, a downstream queue of the prefix's name that idemsim did
// not create is refused (exit status 2) before anything is made, and left
// as it was, its message and arguments too; clean leaves it and says so.
// The run's own downstream queue is deleted at its end.
func TestRabbitForeignDownstreamQueueIsRefusedUntouched(t *testing.T) {
	rs := testserver.SharedRabbitMQ(t)
	ch := amqpOn(t, rs)
	args := amqp.Table{"x-queue-type": "quorum"}
	_, err := ch.QueueDeclare("rr_rdforeign_downstream", true, false, false, false, args)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = amqpOn(t, rs).QueueDelete("rr_rdforeign_downstream", false, false, false) })
	require.NoError(t, ch.PublishWithContext(context.Background(), "", "rr_rdforeign_downstream", false, false, amqp.Publishing{Body: []byte("keep me")}))
	require.Eventually(t, func() bool { _, n := queueState(t, rs, "rr_rdforeign_downstream"); return n == 1 }, 5*time.Second, 20*time.Millisecond)

	cfg := rabbitServers(t, "rr_rdforeign", rs)
	cfg.Config = run.Config{Strategy: "outbox", Seed: 1, Events: 10}
	_, err = Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrRefused)
	assert.Contains(t, err.Error(), "RabbitMQ queue rr_rdforeign_downstream exists but was not created by idemsim")
	exists, n := queueState(t, rs, "rr_rdforeign_downstream")
	assert.True(t, exists, "still there")
	assert.Equal(t, 1, n, "its message kept")
	_, err = amqpOn(t, rs).QueueDeclare("rr_rdforeign_downstream", true, false, false, false, args)
	assert.NoError(t, err, "its arguments unchanged")
	exists, _ = queueState(t, rs, "rr_rdforeign_events")
	assert.False(t, exists, "nothing created beside it")
	out, err := Clean(context.Background(), cfg)
	require.NoError(t, err)
	require.Error(t, out.NotOwned)
	assert.Contains(t, out.NotOwned.Error(), "RabbitMQ queue rr_rdforeign_downstream exists but was not created by idemsim")

	cfg = rabbitServers(t, "rr_rdown_own", rs)
	cfg.Config = run.Config{Strategy: "outbox", Seed: 1, Events: 10}
	res := realRun(t, cfg)
	assert.False(t, res.Violating(), "the outbox end to end, no fault: %+v", res)
	exists, _ = queueState(t, rs, "rr_rdown_own_downstream")
	assert.False(t, exists, "the run deleted its downstream queue")
}
