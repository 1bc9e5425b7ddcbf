package sim

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
)

func TestEstimateRunMemory(t *testing.T) {
	tests := []struct {
		events, instances int
		want              int64
	}{
		{0, 0, 1<<20 + 200*(2560+32*3)}, // the defaults: 200 events, 3 instances
		{200, 3, 1<<20 + 200*(2560+32*3)},
		{1, 1, 1<<20 + 2560 + 32},
		{-5, -7, 1<<20 + 2560 + 32}, // out of range: as small as can be, never zero
		{100_000, 3, 1<<20 + 100_000*(2560+32*3)},
		{MaxEvents, MaxInstances, 1<<20 + MaxEvents*(2560+32*MaxInstances)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, EstimateRunMemory(tt.events, tt.instances), "%d events, %d instances", tt.events, tt.instances)
	}
	assert.Less(t, EstimateRunMemory(MaxEvents, MaxInstances), DefaultMaxMemory-processReserve,
		"the largest run fits in the default budget, so at least one always does")
}

func TestInFlight(t *testing.T) {
	big := EstimateRunMemory(MaxEvents, MaxInstances)
	tests := []struct {
		name string
		cc   CompareConfig
		want int
	}{
		{"default sweep: one run per worker", CompareConfig{Workers: 8}, 8},
		{"the huge sweep fits twice in the default budget", CompareConfig{Events: MaxEvents, Instances: MaxInstances, Workers: 64}, 2},
		{"100000 events, 3 instances: three", CompareConfig{Events: MaxEvents, Instances: 3, Workers: 64}, 3},
		{"a budget of exactly two runs", CompareConfig{Events: MaxEvents, Instances: MaxInstances, Workers: 64, MaxMemory: processReserve + 2*big}, 2},
		{"one byte short of two", CompareConfig{Events: MaxEvents, Instances: MaxInstances, Workers: 64, MaxMemory: processReserve + 2*big - 1}, 1},
		{"a budget smaller than one run still runs one", CompareConfig{Events: MaxEvents, Instances: MaxInstances, Workers: 64, MaxMemory: 1}, 1},
		{"a budget smaller than the reserve still runs one", CompareConfig{Workers: 4, MaxMemory: processReserve / 2}, 1},
		{"bad sizes do not divide by zero", CompareConfig{Events: -1, Instances: -1, Workers: 3}, 3},
		{"fewer workers than fit", CompareConfig{Events: MaxEvents, Instances: MaxInstances, Workers: 1, MaxMemory: 1 << 40}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.cc.InFlight())
		})
	}
}

// barrier lets n goroutines through at a time, once all n have arrived; it
// gives up after a long wait, which only a limiter that lets fewer than n
// runs go at once can cause.
type barrier struct {
	mu      sync.Mutex
	n, in   int
	release chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, release: make(chan struct{})} }

func (b *barrier) wait() error {
	b.mu.Lock()
	b.in++
	ch := b.release
	if b.in == b.n {
		b.in = 0
		b.release = make(chan struct{})
		close(ch)
	}
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("fewer runs at once than InFlight allows")
	}
}

// TestCompareRunsNoMoreThanInFlight counts the runs in flight with an
// instrumented Run: with a budget that allows n at once, the count reaches n
// (every run waits at a barrier of n) and never goes past it, though 64
// workers are asked for.
func TestCompareRunsNoMoreThanInFlight(t *testing.T) {
	big := EstimateRunMemory(MaxEvents, MaxInstances)
	for _, n := range []int{1, 2, 3} {
		cc := CompareConfig{
			Strategies: []string{"none", "redis"}, Scenarios: []faults.Set{faults.Of(faults.Crash)},
			Seeds: 6, Events: MaxEvents, Instances: MaxInstances, Workers: 64,
			MaxMemory: processReserve + int64(n)*big,
		}
		require.Equal(t, n, cc.InFlight())
		var inFlight, most atomic.Int32
		var runs atomic.Int32
		b := newBarrier(n)
		cc.run = func(cfg Config) (*Result, error) {
			now := inFlight.Add(1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			err := b.wait()
			inFlight.Add(-1)
			runs.Add(1)
			return &Result{Strategy: cfg.Strategy, Seed: cfg.Seed, AuditOK: true, Linearizable: new(bool)}, err
		}
		_, err := Compare(cc)
		require.NoError(t, err, "n=%d", n)
		assert.Equal(t, int32(2*6), runs.Load(), "every run ran")
		assert.Equal(t, int32(n), most.Load(), "n=%d: at most InFlight runs at once, and that many", n)
	}
}

// TestCompareDoesNotDependOnTheBudget compares a sweep run one at a time,
// for lack of memory, with the same sweep on four workers.
func TestCompareDoesNotDependOnTheBudget(t *testing.T) {
	base := CompareConfig{Strategies: []string{"local-cache", "redis"}, Scenarios: []faults.Set{faults.Of(faults.Redeliver), faults.AllFaults}, Seeds: 6, Events: 30, Workers: 4}
	tight := base
	tight.MaxMemory = 1
	require.Equal(t, 1, tight.InFlight())
	require.Equal(t, 4, base.InFlight())
	a, err := Compare(base)
	require.NoError(t, err)
	b, err := Compare(tight)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestCompareBadConfigReadsClean(t *testing.T) {
	tests := []struct {
		name string
		cc   CompareConfig
		want string
	}{
		{"seeds", CompareConfig{Seeds: -1}, "seeds must be 1 to 1000000, not -1"},
		{"budget", CompareConfig{MaxMemory: -1}, "memory budget must be positive, not -1 bytes"},
		{"instances", CompareConfig{Instances: -2}, "instances must be 1 to 64, not -2"},
		{"no strategy", CompareConfig{Strategies: []string{}}, "no strategy or no scenario to compare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compare(tt.cc)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBadConfig)
			assert.Equal(t, tt.want, err.Error(), "the problem alone, no package prefix")
		})
	}
}

func TestNoneScenarioReproduces(t *testing.T) {
	c := Cell{Strategy: "none", Faults: faults.Set(0).Names(), Instances: 3, Events: 5}
	seed := uint64(4)
	c.FirstFailingSeed = &seed
	assert.Equal(t, "idemsim run --strategy none --faults none --seed 4 --instances 3 --events 5", c.Reproduce())
}
