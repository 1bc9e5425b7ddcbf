package sweep

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
)

// sequential is the loop that Run must behave as: the results handed on,
// in order, and the error.
func sequential(n int, do func(int) (int, error), yield func(int, int) bool) ([]int, error) {
	var got []int
	for i := 0; i < n; i++ {
		r, err := do(i)
		if err != nil {
			return got, err
		}
		got = append(got, r)
		if !yield(i, r) {
			return got, nil
		}
	}
	return got, nil
}

// jitter sleeps up to about 1 ms, a different time for each job, so that
// jobs finish out of order.
func jitter(i int) { time.Sleep(time.Duration((i*7919)%13) * 80 * time.Microsecond) }

// TestRunIsTheLoop runs sweeps that finish, stop early or fail, on 1 to 8
// workers with jobs of uneven length, and requires each to hand on the
// same results, in the same order, and return the same error as the loop.
func TestRunIsTheLoop(t *testing.T) {
	errJob := errors.New("job failed")
	tests := []struct {
		name     string
		n        int
		failAt   int // the job that fails, -1 for none
		stopWhen func(r int) bool
	}{
		{"all", 200, -1, func(int) bool { return false }},
		{"stops at the first hit", 300, -1, func(r int) bool { return r%97 == 96 }},
		{"the first job is the hit", 50, -1, func(int) bool { return true }},
		{"never hits", 40, -1, func(int) bool { return false }},
		{"a job fails", 120, 57, func(int) bool { return false }},
		{"a hit before the failing job", 120, 90, func(r int) bool { return r == 30 }},
		{"one job", 1, -1, func(int) bool { return false }},
		{"no job", 0, -1, func(int) bool { return true }},
	}
	for _, tt := range tests {
		do := func(i int) (int, error) {
			jitter(i)
			if i == tt.failAt {
				return 0, fmt.Errorf("job %d: %w", i, errJob)
			}
			return i, nil
		}
		var want []int
		wantErr := func() error {
			w, err := sequential(tt.n, do, func(_ int, r int) bool { return !tt.stopWhen(r) })
			want = w
			return err
		}()
		for _, workers := range []int{1, 2, 3, 8} {
			var got []int
			err := Run(Options{Workers: workers}, tt.n, do, func(i int, r int) bool {
				require.Equal(t, len(got), i, "%s, %d workers: results in job order", tt.name, workers)
				got = append(got, r)
				return !tt.stopWhen(r)
			})
			assert.Equal(t, want, got, "%s, %d workers", tt.name, workers)
			assert.Equal(t, wantErr, err, "%s, %d workers", tt.name, workers)
		}
	}
}

// TestRunTheFirstErrorInJobOrderWins: a later job that fails first does
// not hide an earlier failure, and the results before it are handed on.
func TestRunTheFirstErrorInJobOrderWins(t *testing.T) {
	early, late := errors.New("job 3"), errors.New("job 7")
	var yielded []int
	err := Run(Options{Workers: 4}, 20, func(i int) (int, error) {
		switch i {
		case 3:
			time.Sleep(50 * time.Millisecond) // job 7 fails long before
			return 0, early
		case 7:
			return 0, late
		}
		return i, nil
	}, func(i int, r int) bool {
		yielded = append(yielded, i)
		return true
	})
	assert.Same(t, early, err)
	assert.Equal(t, []int{0, 1, 2}, yielded)
}

// TestRunWaitsForTheJobsInFlight: when Run returns, after an early stop,
// no job is still running, and no job started after the stop was known
// beyond the bounded lead.
func TestRunWaitsForTheJobsInFlight(t *testing.T) {
	var running, calls atomic.Int32
	const workers = 3
	err := Run(Options{Workers: workers}, 10_000, func(i int) (int, error) {
		calls.Add(1)
		running.Add(1)
		defer running.Add(-1)
		jitter(i)
		return i, nil
	}, func(i int, r int) bool { return i < 5 })
	require.NoError(t, err)
	assert.Zero(t, running.Load(), "no job runs after Run returned")
	assert.LessOrEqual(t, int(calls.Load()), 6+aheadPerWorker*workers, "jobs past the stop are bounded")
	n := calls.Load()
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, n, calls.Load(), "no job starts after Run returned")
}

func TestRunReportsProgressOnTheCallersGoroutine(t *testing.T) {
	var dones []int
	total := -1
	inCall := false // no lock: the race detector sees concurrent calls
	err := Run(Options{Workers: 4, Progress: func(done, n int) {
		require.False(t, inCall, "progress calls never overlap")
		inCall = true
		dones = append(dones, done)
		total = n
		inCall = false
	}}, 64, func(i int) (int, error) { jitter(i); return i, nil }, func(int, int) bool { return true })
	require.NoError(t, err)
	assert.Equal(t, 64, total)
	require.Len(t, dones, 64, "one call per finished job")
	for i, d := range dones {
		assert.Equal(t, i+1, d)
	}
}

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
		{run.MaxEvents, run.MaxInstances, 1<<20 + run.MaxEvents*(2560+32*run.MaxInstances)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, EstimateRunMemory(tt.events, tt.instances), "%d events, %d instances", tt.events, tt.instances)
	}
	assert.Less(t, EstimateRunMemory(run.MaxEvents, run.MaxInstances), DefaultMaxMemory-processReserve,
		"the largest run fits in the default budget, so at least one always does")
}

func TestInFlight(t *testing.T) {
	big := EstimateRunMemory(run.MaxEvents, run.MaxInstances)
	tests := []struct {
		name string
		cc   CompareConfig
		want int
	}{
		{"default sweep: one run per worker", CompareConfig{Workers: 8}, 8},
		{"the huge sweep fits twice in the default budget", CompareConfig{Events: run.MaxEvents, Instances: run.MaxInstances, Workers: 64}, 2},
		{"100000 events, 3 instances: three", CompareConfig{Events: run.MaxEvents, Instances: 3, Workers: 64}, 3},
		{"a budget of exactly two runs", CompareConfig{Events: run.MaxEvents, Instances: run.MaxInstances, Workers: 64, MaxMemory: processReserve + 2*big}, 2},
		{"one byte short of two", CompareConfig{Events: run.MaxEvents, Instances: run.MaxInstances, Workers: 64, MaxMemory: processReserve + 2*big - 1}, 1},
		{"a budget smaller than one run still runs one", CompareConfig{Events: run.MaxEvents, Instances: run.MaxInstances, Workers: 64, MaxMemory: 1}, 1},
		{"a budget smaller than the reserve still runs one", CompareConfig{Workers: 4, MaxMemory: processReserve / 2}, 1},
		{"bad sizes do not divide by zero", CompareConfig{Events: -1, Instances: -1, Workers: 3}, 3},
		{"fewer workers than fit", CompareConfig{Events: run.MaxEvents, Instances: run.MaxInstances, Workers: 1, MaxMemory: 1 << 40}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.cc.InFlight())
		})
	}
	assert.Equal(t, 2, Options{Workers: 64, RunMemory: big}.InFlight(), "the engine's own bound, with the default budget")
	assert.Equal(t, 5, Options{Workers: 5}.InFlight(), "no run size: the default run's")
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
// instrumented run: with a budget that allows n at once, the count reaches n
// (every run waits at a barrier of n) and never goes past it, though 64
// workers are asked for.
func TestCompareRunsNoMoreThanInFlight(t *testing.T) {
	big := EstimateRunMemory(run.MaxEvents, run.MaxInstances)
	for _, n := range []int{1, 2, 3} {
		cc := CompareConfig{
			Strategies: []string{"none", "redis"}, Scenarios: crashOnly,
			Seeds: 6, Events: run.MaxEvents, Instances: run.MaxInstances, Workers: 64,
			MaxMemory: processReserve + int64(n)*big,
		}
		require.Equal(t, n, cc.InFlight())
		var inFlight, most, runs atomic.Int32
		b := newBarrier(n)
		cc.simulate = func(cfg run.Config) (*run.Result, error) {
			now := inFlight.Add(1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			err := b.wait()
			inFlight.Add(-1)
			runs.Add(1)
			return &run.Result{Strategy: cfg.Strategy, Seed: cfg.Seed, AuditOK: true, Linearizable: new(bool)}, err
		}
		_, err := Compare(cc)
		require.NoError(t, err, "n=%d", n)
		assert.Equal(t, int32(2*6), runs.Load(), "every run ran")
		assert.Equal(t, int32(n), most.Load(), "n=%d: at most InFlight runs at once, and that many", n)
	}
}
