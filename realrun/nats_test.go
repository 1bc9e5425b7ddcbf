package realrun

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// natsServers returns a Config on the shared Redis and PostgreSQL and a
// throwaway NATS of the test's own (embedded), with a prefix of the test's
// own.
func natsServers(t *testing.T, prefix string, ns *testserver.NATSServer) Config {
	t.Helper()
	cfg := sharedServers(t, prefix)
	cfg.BrokerServer, cfg.NATSURL = BrokerNATS, ns.URL
	return cfg
}

// jsOn connects a test's own JetStream client to ns.
func jsOn(t *testing.T, ns *testserver.NATSServer) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(ns.URL, nats.Timeout(2*time.Second))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

func streamNames(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var names []string
	l := js.StreamNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	require.NoError(t, l.Err())
	return names
}

// A run on NATS works end to end: every event settles, db-unique holds
// under crashes and lost acks, the trace shows what a client sees (acks
// accepted by the server, deliveries counted by it, no requeue it cannot
// see), and the run deletes its stream at the end.
func TestNATSRunWorksAndCleansUp(t *testing.T) {
	ns := testserver.NATS(t)
	cfg := natsServers(t, "rr_nats", ns)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver, faults.Crash), Seed: 1, Events: 60, KeepTrace: true}
	var lines []string
	var mu sync.Mutex
	cfg.Progress = func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
	res := realRun(t, cfg)
	assert.Zero(t, res.Duplicates+res.Lost+res.Stuck, "db-unique on NATS: %+v", res)
	assert.Equal(t, BrokerNATS, res.RealBroker, "the result names the broker it ran on")
	kinds := map[run.Kind]int{}
	for _, r := range res.Trace {
		kinds[r.Kind]++
	}
	assert.Positive(t, kinds[run.Acked], "acks the server accepted")
	assert.Positive(t, kinds[run.Deliver])
	assert.Positive(t, kinds[run.Crash])
	assert.Zero(t, kinds[run.Requeue], "a client never sees a requeue")
	assert.Contains(t, strings.Join(lines, "\n"), "NATS stream rr_nats_events")
	assert.NotContains(t, streamNames(t, jsOn(t, ns)), "rr_nats_events", "the run deleted its stream")
}

// createStream makes a stream on ns as a user would, with metadata md.
func createStream(t *testing.T, js jetstream.JetStream, name, subject string, md map[string]string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.MemoryStorage, Metadata: md})
	require.NoError(t, err)
	return st
}

// A stream of the run's name that idemsim did not create, or a stream of
// another name that takes the run's subject, is refused (exit status 2)
// and left exactly as it was: its messages, its consumers, its config.
func TestNATSForeignStreamIsRefusedUntouched(t *testing.T) {
	ns := testserver.NATS(t)
	js := jsOn(t, ns)
	ctx := context.Background()
	for _, tc := range []struct {
		name, stream, subject, want string
	}{
		{"same name", "rr_foreign_events", "orders.>", "NATS stream rr_foreign_events exists but was not created by idemsim"},
		{"same subject", "orders", "rr_foreign.events", "another stream already takes the subject rr_foreign.events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := createStream(t, js, tc.stream, tc.subject, map[string]string{"owner": "billing"})
			t.Cleanup(func() { _ = js.DeleteStream(ctx, tc.stream) })
			pub := strings.Replace(tc.subject, ">", "new", 1)
			_, err := js.Publish(ctx, pub, []byte("keep me"))
			require.NoError(t, err)
			_, err = st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy})
			require.NoError(t, err)
			before, err := st.Info(ctx)
			require.NoError(t, err)

			cfg := natsServers(t, "rr_foreign", ns)
			cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 20}
			_, err = Run(ctx, cfg)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrRefused, "exit status 2")
			assert.NotErrorIs(t, err, ErrServerFailed)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "idemsim leaves it untouched")

			after, err := st.Info(ctx)
			require.NoError(t, err)
			assert.Equal(t, before.Config, after.Config, "its config unchanged")
			assert.Equal(t, uint64(1), after.State.Msgs, "its message kept")
			assert.Equal(t, 1, after.State.Consumers, "its consumer kept")
			names := streamNames(t, js)
			assert.NotContains(t, names, "rr_foreign_events_x")
			if tc.stream != "rr_foreign_events" {
				assert.NotContains(t, names, "rr_foreign_events", "nothing created beside it")
			}
		})
	}
}

// A consumer of the run's name, without the mark, in a stream that bears
// it, is refused too, and neither is touched.
func TestNATSForeignConsumerIsRefusedUntouched(t *testing.T) {
	ns := testserver.NATS(t)
	js := jsOn(t, ns)
	ctx := context.Background()
	st := createStream(t, js, "rr_fcons_events", "rr_fcons.events", map[string]string{natsMarkKey: natsMarkValue})
	_, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "rr_fcons_consumers", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	cfg := natsServers(t, "rr_fcons", ns)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 20}
	_, err = Run(ctx, cfg)
	require.ErrorIs(t, err, ErrRefused)
	assert.Contains(t, err.Error(), "NATS consumer rr_fcons_consumers (of idemsim's stream rr_fcons_events) exists but was not created by idemsim")
	_, err = st.Consumer(ctx, "rr_fcons_consumers")
	assert.NoError(t, err, "the consumer is still there")
}

// A killed run's stream (marked) is found and replaced by the next run,
// and clean removes one: only what bears the mark.
func TestNATSCleanRemovesOnlyMarked(t *testing.T) {
	ns := testserver.NATS(t)
	js := jsOn(t, ns)
	ctx := context.Background()
	createStream(t, js, "rr_ncl_events", "rr_ncl.events", map[string]string{natsMarkKey: natsMarkValue, natsPrefixKey: "rr_ncl"})
	createStream(t, js, "rr_other_events", "rr_other.events", nil)
	cfg := natsServers(t, "rr_ncl", ns)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver), Seed: 1, Events: 20}
	realRun(t, cfg) // replaces the leftover, then deletes its own
	assert.NotContains(t, streamNames(t, js), "rr_ncl_events")

	createStream(t, js, "rr_ncl_events", "rr_ncl.events", map[string]string{natsMarkKey: natsMarkValue})
	out, err := Clean(ctx, cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"stream rr_ncl_events (with its consumers)"}, out.NATS)
	assert.NotContains(t, streamNames(t, js), "rr_ncl_events")

	other := natsServers(t, "rr_other", ns)
	out, err = Clean(ctx, other)
	require.NoError(t, err)
	assert.Empty(t, out.NATS)
	require.Error(t, out.NotOwned)
	assert.Contains(t, out.NotOwned.Error(), "NATS stream rr_other_events exists but was not created by idemsim")
	assert.Contains(t, streamNames(t, js), "rr_other_events", "left untouched")
}

// NATS that dies or freezes mid-run ends the run within seconds, with an
// error naming NATS, its address and what the run was doing, and no
// verdict.
func TestNATSFailureMidRunIsNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("breaks a NATS server mid-run")
	}
	for _, tc := range []struct {
		name string
		brk  func(t *testing.T, ns *testserver.NATSServer)
	}{
		{"killed", func(t *testing.T, ns *testserver.NATSServer) { ns.Kill(t) }},
		{"frozen", func(t *testing.T, ns *testserver.NATSServer) { ns.Freeze(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testserver.NATSWith(t, testserver.NATSOptions{Proxy: true})
			cfg := natsServers(t, "rr_nbreak", ns)
			cfg.Config = run.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 3, Events: 600}
			var warned []string
			cfg.Warn = func(s string) { warned = append(warned, s) }
			err, took := runAndBreak(t, cfg, func() { tc.brk(t, ns) })
			require.Error(t, err)
			var se *ServerError
			require.ErrorAs(t, err, &se)
			assert.ErrorIs(t, err, ErrServerFailed)
			assert.Equal(t, "NATS", se.Server)
			assert.Contains(t, err.Error(), "NATS at 127.0.0.1:")
			assert.Contains(t, err.Error(), " while ")
			assert.NotContains(t, err.Error(), "reproduce")
			assert.Less(t, took, 10*time.Second, "named within seconds: %v", err)
			t.Logf("%v after the break: %v; warnings: %q", took.Round(time.Millisecond), err, warned)
		})
	}
}

// No password or token of a NATS URL shows in any output: progress,
// warnings, errors of a server that rejects it, reproduce lines.
func TestNATSSecretsNeverShown(t *testing.T) {
	const password, token = "pa55-w0rd-q7", "t0ken-zz91x"
	for _, tc := range []struct {
		name   string
		opts   testserver.NATSOptions
		secret string
		wrong  func(u string) string // the URL with a wrong secret
	}{
		{"password", testserver.NATSOptions{User: "alice", Password: password}, password,
			func(u string) string { return strings.Replace(u, password, password+"X", 1) }},
		{"token", testserver.NATSOptions{Token: token}, token,
			func(u string) string { return strings.Replace(u, token, token+"X", 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testserver.NATSWith(t, tc.opts)
			require.Contains(t, ns.URL, tc.secret)
			cfg := natsServers(t, "rr_nsecret", ns)
			cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Redeliver, faults.Crash), Seed: 1, Events: 30}
			var out []string
			cfg.Progress = func(s string) { out = append(out, s) }
			cfg.Warn = func(s string) { out = append(out, s) }
			res := realRun(t, cfg)
			out = append(out, res.Reproduce, cfg.Reproduce())

			bad := cfg
			bad.NATSURL = tc.wrong(ns.URL)
			_, err := Run(context.Background(), bad)
			require.ErrorIs(t, err, ErrRejected)
			out = append(out, err.Error())
			for _, u := range []string{
				strings.Replace(bad.NATSURL, "127.0.0.1", "127.0.0.1:x", 1), // a bad port
				strings.Replace(bad.NATSURL, "@", " %zz@", 1),               // no URL at all
			} {
				bad.NATSURL = u
				_, err = Run(context.Background(), bad)
				require.ErrorIs(t, err, run.ErrBadConfig)
				out = append(out, err.Error())
			}
			for _, s := range out {
				assert.NotContains(t, s, tc.secret)
			}
			t.Logf("%q", out)
		})
	}
}

// An AckSync that gets no answer is recorded as unknown, never as acked
// nor lost; the client buffers it, and once the link heals the server
// applies it (BROKER-FACTS row 3): the message is then settled by what the
// server says at the end, and the history gets the ack as an operation
// from its sending to the end.
func TestNATSAckWithoutAnswerIsUnknownThenSettledByTheServer(t *testing.T) {
	ns := testserver.NATS(t)
	cfg := natsServers(t, "rr_nunknown", ns)
	cfg.Config = run.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1, Events: 1, Instances: 1, KeepTrace: true, KeepHistory: true}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &servers{cfg: cfg}
	require.NoError(t, s.connectNATS(ctx))
	defer s.nats.tearDown(func(string) {}, false)
	require.NoError(t, s.nats.setUp(ctx, "testrun", cfg, 1))
	r := &session{cfg: cfg, srv: s, host: "test", ctx: ctx, cancel: cancel}
	r.rec.start = time.Now()
	r.rec.rec.Reset(cfg.Config)
	b, err := newNATSBroker(r, []strategies.EventID{1})
	require.NoError(t, err)
	defer b.closeProxies()
	r.br = b

	require.NoError(t, b.Publish(ctx, 0))
	conn, err := b.Attach(ctx, 0)
	require.NoError(t, err)
	d, ev, got := conn.Receive(ctx)
	require.Equal(t, gotDelivery, got)
	require.Equal(t, strategies.EventID(1), ev)

	b.proxy(0).Cut() // the consumer is cut off from NATS: its ack gets no answer
	assert.Equal(t, AckUnknown, conn.Ack(ctx, d, r.rec.now()))
	settled, _ := b.Progress()
	assert.Zero(t, settled, "an ack with no answer settles nothing the client knows of")
	b.proxy(0).Heal() // the buffered ack reaches the server
	select {
	case <-b.AllDone():
	case <-time.After(5 * time.Second):
		t.Fatal("the server never said that the message is settled")
	}
	b.Stop()
	done, set, err := b.Final(ctx, 1)
	require.NoError(t, err)
	assert.True(t, done[1], "settled by the server's word")
	assert.True(t, set[1])
	conn.Close()

	res := r.rec.finish(cfg.Config, run.Tally{Published: 1, Deliveries: 1, Applied: []int{0, 0}, Done: done, Settled: set})
	var kinds []run.Kind
	for _, rec := range res.Trace {
		kinds = append(kinds, rec.Kind)
	}
	assert.Equal(t, []run.Kind{run.Publish, run.Deliver, run.AckSend, run.AckUnknown, run.End}, kinds)
	acks := 0
	for _, op := range res.History {
		if op.Kind == check.Ack {
			acks++
		}
	}
	assert.Equal(t, 1, acks, "the ack enters the history once the server says it was applied")
	assert.Equal(t, 1, res.Lost, "never applied, yet acked: lost, by both checkers")
	assert.True(t, res.CheckersAgree())
}
