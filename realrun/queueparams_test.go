package realrun

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

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
