package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// requeues counts a trace's requeues by cause.
func requeues(trace []run.Record) map[run.Cause]int {
	n := map[run.Cause]int{}
	for _, r := range trace {
		if r.Kind == run.Requeue {
			n[r.Cause]++
		}
	}
	return n
}

// redeliveredOnlyAfterRequeue reports the first message delivered again
// with no requeue of it since its last delivery, or 0.
func redeliveredOnlyAfterRequeue(trace []run.Record) uint32 {
	out := map[uint32]bool{}
	for _, r := range trace {
		switch r.Kind {
		case run.Deliver:
			if out[r.Msg] {
				return r.Msg
			}
			out[r.Msg] = true
		case run.Requeue:
			out[r.Msg] = false
		}
	}
	return 0
}

// TestNoAckDeadline: with no ack deadline (RabbitMQ), a slow handler's
// message is never redelivered on a timer, where the queue with its
// deadline redelivers it; a message goes out again only after a requeue
// (a nack, or its channel closed: a crash, a cut from the broker, a lost
// ack, which on a connection is the connection breaking), and every event
// settles. Both checkers agree throughout.
func TestNoAckDeadline(t *testing.T) {
	none := run.BrokerParams{AckDeadline: run.NoAckDeadline}
	deadlineRequeues := 0
	for seed := uint64(1); seed <= 5; seed++ {
		cfg := Config{Strategy: "none", Faults: faults.Of(faults.Slow), Seed: seed, Events: 60, KeepTrace: true}
		r, err := Run(cfg)
		require.NoError(t, err)
		deadlineRequeues += requeues(r.Trace)[run.DeadlinePassed]

		cfg.Broker = none
		r, err = Run(cfg)
		require.NoError(t, err)
		assert.Zero(t, requeues(r.Trace)[run.DeadlinePassed], "seed %d: no deadline, no requeue on a timer", seed)
		assert.Zero(t, redeliveredOnlyAfterRequeue(r.Trace), "seed %d: a slow handler keeps its message", seed)
		assert.Zero(t, r.Stuck, "seed %d", seed)
		assert.True(t, r.CheckersAgree(), "seed %d", seed)
	}
	require.Positive(t, deadlineRequeues, "with the deadline, slow handlers' messages go back: the test can tell")

	closed := 0
	for _, f := range []faults.Fault{faults.Crash, faults.Partition} {
		for seed := uint64(1); seed <= 5; seed++ {
			cfg := Config{Strategy: "db-unique", Faults: faults.Of(f), Seed: seed, Events: 60, KeepTrace: true, Broker: none}
			r, err := Run(cfg)
			require.NoError(t, err)
			q := requeues(r.Trace)
			assert.Zero(t, q[run.DeadlinePassed], "%v seed %d", f, seed)
			assert.Zero(t, redeliveredOnlyAfterRequeue(r.Trace), "%v seed %d", f, seed)
			closed += q[run.ChannelClosed]
			assert.Zero(t, r.Stuck, "%v seed %d: a closed channel's messages come back", f, seed)
			assert.False(t, r.Violating(), "%v seed %d", f, seed)
			assert.True(t, r.CheckersAgree(), "%v seed %d", f, seed)
		}
	}
	assert.Positive(t, closed, "crashes and cuts close channels")
}

// outstanding is the most deliveries any instance held at once: sent to
// it and not yet handled (in a run with no faults, each is handled).
func outstanding(trace []run.Record) int {
	held, most := map[int32]int{}, 0
	for _, r := range trace {
		switch r.Kind {
		case run.Deliver:
			held[r.Inst]++
			most = max(most, held[r.Inst])
		case run.Handled:
			held[r.Inst]--
		}
	}
	return most
}

// slowReads is a consumer that reads a Redis key 100 times before it
// applies the event once: slower than the producer publishes, so that a
// backlog builds.
type slowReads struct{ d strategies.Deps }

func (s slowReads) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	for range 100 {
		if _, _, err := s.d.KV.Get(ctx, "k"); err != nil {
			return 0, err
		}
	}
	if err := apply(ctx, s.d.Ledger, e); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// TestPrefetch: with prefetch 3 the broker sends an instance up to three
// deliveries at once, which it handles in order; by default one.
func TestPrefetch(t *testing.T) {
	register(t, strategies.Strategy{Name: "test-slow-reads",
		New: func(d strategies.Deps) (strategies.Handler, error) { return slowReads{d}, nil }})
	cfg := Config{Strategy: "test-slow-reads", Seed: 1, Instances: 1, Events: 50, KeepTrace: true}
	r, err := Run(cfg)
	require.NoError(t, err)
	assert.Equal(t, 1, outstanding(r.Trace))

	cfg.Broker.Prefetch = 3
	r, err = Run(cfg)
	require.NoError(t, err)
	assert.Equal(t, 3, outstanding(r.Trace))
	assert.False(t, r.Violating())
	assert.True(t, r.CheckersAgree())
	// Each instance receives its deliveries in the order they arrived.
	inbox := map[int32][]uint32{}
	for _, rec := range r.Trace {
		switch rec.Kind {
		case run.Deliver:
			inbox[rec.Inst] = append(inbox[rec.Inst], rec.Msg)
		case run.Receive:
			require.NotEmpty(t, inbox[rec.Inst])
			assert.Equal(t, inbox[rec.Inst][0], rec.Msg, "instance %d takes the oldest delivery first", rec.Inst)
			inbox[rec.Inst] = inbox[rec.Inst][1:]
		}
	}
}

// fails is a consumer whose handler always fails.
type fails struct{}

func (fails) Handle(context.Context, strategies.Event) (strategies.Outcome, error) {
	return 0, errors.New("always fails")
}

// TestMaxDeliveriesDeadLetters: a message whose handler always fails is
// dead-lettered after its last delivery, and its event counts as dead:
// not lost, not stuck, not a violation, for both checkers alike. With no
// limit, the same events never settle.
func TestMaxDeliveriesDeadLetters(t *testing.T) {
	register(t, strategies.Strategy{Name: "test-fails",
		New: func(strategies.Deps) (strategies.Handler, error) { return fails{}, nil }})
	cfg := Config{Strategy: "test-fails", Seed: 1, Instances: 2, Events: 10, KeepTrace: true}
	r, err := Run(cfg)
	require.NoError(t, err)
	assert.Equal(t, 10, r.Stuck, "no limit: redelivered until the run ends")
	assert.Zero(t, r.Dead)

	for _, pb := range []run.BrokerParams{{MaxDeliveries: 3}, {MaxDeliveries: 3, AckDeadline: run.NoAckDeadline}} {
		cfg.Broker = pb
		r, err = Run(cfg)
		require.NoError(t, err)
		assert.Equal(t, 10, r.Dead, "%+v", pb)
		assert.Zero(t, r.Lost, "%+v", pb)
		assert.Zero(t, r.Stuck, "%+v", pb)
		assert.Zero(t, r.Duplicates, "%+v", pb)
		assert.False(t, r.Violating(), "%+v", pb)
		assert.True(t, r.AuditOK, "%+v", pb)
		require.NotNil(t, r.Linearizable)
		assert.True(t, *r.Linearizable, "%+v", pb)
		deliveries, dead := map[uint32]int{}, 0
		for _, rec := range r.Trace {
			switch rec.Kind {
			case run.Deliver:
				deliveries[rec.Msg]++
			case run.DeadLetter:
				dead++
				assert.Equal(t, uint32(3), rec.Tag, "%+v: dead after its third delivery", pb)
			}
		}
		assert.Equal(t, 10, dead, "%+v", pb)
		for m, n := range deliveries {
			assert.Equal(t, 3, n, "%+v: message %d", pb, m)
		}
	}
}

// TestBadBrokerParams: a run refuses bad broker parameters with an error
// that says what is accepted.
func TestBadBrokerParams(t *testing.T) {
	for _, pb := range []run.BrokerParams{{AckDeadline: -2}, {NackRetry: -1}, {Prefetch: -1}, {Prefetch: run.MaxPrefetch + 1}, {MaxDeliveries: -1}} {
		_, err := Run(Config{Strategy: "none", Seed: 1, Broker: pb})
		assert.ErrorIs(t, err, ErrBadConfig, "%+v", pb)
	}
}

// TestBrokerParamsReplay: a run with broker parameters replays byte for
// byte, and a pooled world that ran with other parameters runs the next
// config as a fresh one would: the parameters are set at every run.
func TestBrokerParamsReplay(t *testing.T) {
	base := Config{Strategy: "db-unique", Faults: faults.AllFaults, Seed: 3, Events: 80}
	other := base
	other.Broker = run.BrokerParams{AckDeadline: run.NoAckDeadline, Prefetch: 2, MaxDeliveries: 4}
	hash := func(cfg Config) string {
		r, err := Run(cfg)
		require.NoError(t, err)
		return r.TraceHash
	}
	b1, o1 := hash(base), hash(other)
	b2, o2 := hash(base), hash(other)
	assert.Equal(t, b1, b2)
	assert.Equal(t, o1, o2)
	assert.NotEqual(t, b1, o1, "the parameters change the run")
}

// TestAckDeadlineParam: a run's ack deadline is the one it sets: every
// requeue on a timer comes that long after the message's latest delivery,
// and a stall under slow outlasts it.
func TestAckDeadlineParam(t *testing.T) {
	const d = 2 * time.Second
	cfg := Config{Strategy: "none", Faults: faults.Of(faults.Slow), Seed: 1, Events: 60, KeepTrace: true,
		Broker: run.BrokerParams{AckDeadline: d}}
	r, err := Run(cfg)
	require.NoError(t, err)
	sent, n := map[uint32]int64{}, 0
	for _, rec := range r.Trace {
		switch rec.Kind {
		case run.Deliver:
			sent[rec.Msg] = rec.At
		case run.Requeue:
			if rec.Cause == run.DeadlinePassed {
				n++
				assert.Equal(t, int64(d), rec.At-sent[rec.Msg], "message %d", rec.Msg)
			}
		case run.Stall:
			assert.Greater(t, rec.Dur, int64(d))
		}
	}
	assert.Positive(t, n)
}

// On a queue with no ack deadline a run ends the instant its last message
// settles, so its final reads must still come after that ack: at the same
// instant, porcupine could order a read before it and call a lost event
// linearizable while the audit saw it lost (redis, crash, seed 182, one
// instance, one event did). Both checkers agree on every run here.
func TestCheckersAgreeWithNoAckDeadline(t *testing.T) {
	seeds := uint64(40)
	if testing.Short() {
		seeds = 10
	}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, f := range []faults.Fault{faults.Crash, faults.Partition, faults.Slow} {
			for _, inst := range []int{1, 3} {
				for seed := uint64(1); seed <= seeds; seed++ {
					cfg := Config{Strategy: st, Faults: faults.Of(f), Seed: seed, Instances: inst, Events: 5,
						Broker: run.BrokerParams{AckDeadline: run.NoAckDeadline}}
					res, err := Run(cfg)
					require.NoError(t, err)
					require.True(t, res.CheckersAgree(), "checkers disagree: %s", res.Reproduce)
				}
			}
		}
	}
	res, err := Run(Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 182, Instances: 1, Events: 1,
		Broker: run.BrokerParams{AckDeadline: run.NoAckDeadline}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Lost)
	require.True(t, res.CheckersAgree(), "the lost event is lost to both checkers")
}
