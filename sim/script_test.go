package sim

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

func TestRunScriptRefusesBadInput(t *testing.T) {
	ok := []ScriptedDelivery{{At: 0, Instance: 0, Event: 1}}
	for name, s := range map[string]Script{
		"no deliveries":   {Strategy: "redis", Instances: 1},
		"unknown strat":   {Strategy: "memcached", Instances: 1, Deliveries: ok},
		"instance beyond": {Strategy: "redis", Instances: 1, Deliveries: []ScriptedDelivery{{Instance: 1, Event: 1}}},
		"event zero":      {Strategy: "redis", Instances: 1, Deliveries: []ScriptedDelivery{{Event: 0}}},
		"negative time":   {Strategy: "redis", Instances: 1, Deliveries: []ScriptedDelivery{{At: -time.Second, Event: 1}}},
	} {
		_, err := RunScript(s)
		assert.ErrorIs(t, err, ErrBadConfig, name)
	}
}

func TestRunScriptIsDeterministic(t *testing.T) {
	s := Script{Strategy: "redis-after", Instances: 2, Deliveries: []ScriptedDelivery{
		{0, 0, 1}, {0, 1, 1}, {10 * time.Millisecond, 0, 2}, {10 * time.Millisecond, 1, 2},
	}}
	a, err := RunScript(s)
	require.NoError(t, err)
	b, err := RunScript(s)
	require.NoError(t, err)
	assert.Equal(t, a.Trace, b.Trace)
	assert.Equal(t, a.Outcomes, b.Outcomes)
	// Two copies handled at once: redis-after's check and set are two steps.
	assert.Equal(t, map[strategies.EventID]int{1: 2, 2: 2}, a.Applications)
}

// TestStrategyPanicIsAnError: a user's strategy that panics fails the run
// with an error naming the event and the replay line, never a crash.
func TestStrategyPanicIsAnError(t *testing.T) {
	strategies.MustRegister(strategies.Strategy{Name: "test-panics", New: func(strategies.Deps) (strategies.Handler, error) {
		return strategies.HandlerFunc(func(_ context.Context, e strategies.Event) (strategies.Outcome, error) {
			if e.ID == 3 {
				panic("boom")
			}
			return strategies.Applied, nil
		}), nil
	}})
	t.Cleanup(func() { strategies.Unregister("test-panics") })
	res, err := Run(Config{Strategy: "test-panics", Faults: faults.Of(faults.Crash), Seed: 1, Events: 10})
	require.Error(t, err)
	assert.Nil(t, res)
	assert.Contains(t, err.Error(), "strategy test-panics panicked handling event 3")
	assert.Contains(t, err.Error(), "boom")
	assert.Contains(t, err.Error(), "reproduce with: idemsim run --strategy test-panics")
	// The pool is not poisoned: the next run is whole.
	res, err = Run(Config{Strategy: "none", Seed: 1, Events: 10})
	require.NoError(t, err)
	assert.Equal(t, 10, res.Events)
}
