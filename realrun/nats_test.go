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

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/internal/testserver"
	"github.com/idemsim/idemsim/run"
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
