package sweep

import (
	"runtime"
	"sync"

	"github.com/idemsim/idemsim/run"
)

// Options say how a sweep runs its jobs: how many at once, within what
// memory, and whom to tell how far it got. None of them changes what the
// sweep finds.
type Options struct {
	// Workers is how many jobs run at once at most; 0 means one per CPU.
	// MaxMemory may allow fewer (see InFlight).
	Workers int
	// MaxMemory is the memory budget of the jobs in flight, in bytes: no
	// more jobs run at once than fit in it at RunMemory each, and always
	// at least one, however large. 0 means DefaultMaxMemory.
	MaxMemory int64
	// RunMemory is what one job holds at its peak, in bytes: for a
	// simulated run, EstimateRunMemory of the sweep's largest run. 0 means
	// the default run's.
	RunMemory int64
	// Progress, if set, is called after each finished job with the number
	// finished so far and the total, on the goroutine that called Run, so
	// it needs no lock.
	Progress func(done, total int)
}

// DefaultMaxMemory is a sweep's memory budget when Options.MaxMemory is 0:
// 1 GiB, which the whole process stays within, with room to spare, for any
// size of run (see EstimateRunMemory).
const DefaultMaxMemory int64 = 1 << 30

// The terms of EstimateRunMemory and InFlight, measured with the `all`
// scenario, the most expensive, on every strategy (peak live heap sampled
// with GOGC=10, and the maximum RSS of `idemsim compare` at 1 to 8 workers):
// a run holds about 1.2 kB per event with 3 instances and 2 kB with 64,
// since more instances mean more redeliveries and more history; the garbage
// collector then lets the heap grow to twice what is live (GOGC=100).
const (
	// runBytesPerEvent and runBytesPerEventInstance are twice the live
	// bytes per event, rounded up: events x (2560 + 32 x instances) bytes.
	runBytesPerEvent         = 2560
	runBytesPerEventInstance = 32
	// runBytesBase is what a run holds whatever its size: its world, its
	// instances' stacks.
	runBytesBase = 1 << 20
	// processReserve is the process's own memory, not a run's: the
	// runtime, the code, the idle workers. InFlight leaves it out of the
	// budget.
	processReserve = 64 << 20
)

// EstimateRunMemory estimates the memory, in bytes, that one run of events
// events and instances consumer instances (0: the defaults) takes at its
// peak, counting the garbage the collector has not yet reclaimed:
// 1 MiB + events x (2560 + 32 x instances) bytes, which is 441 MiB for the
// largest run (100,000 events, 64 instances) and 1.5 MiB for the default
// one. It is an upper estimate, measured under every fault at once.
func EstimateRunMemory(events, instances int) int64 {
	c := run.Config{Events: events, Instances: instances}.WithDefaults()
	e, i := int64(max(c.Events, 1)), int64(max(c.Instances, 1))
	return runBytesBase + e*(runBytesPerEvent+runBytesPerEventInstance*i)
}

// InFlight is how many jobs Run runs at once: Workers (0: one per CPU), but
// no more than fit in MaxMemory at RunMemory each, after a reserve of
// 64 MiB for the process itself, and at least one.
func (o Options) InFlight() int {
	n := o.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	budget := o.MaxMemory
	if budget == 0 {
		budget = DefaultMaxMemory
	}
	each := o.RunMemory
	if each <= 0 {
		each = EstimateRunMemory(0, 0)
	}
	if fit := (budget - processReserve) / each; fit < int64(n) {
		n = int(max(fit, 1))
	}
	return n
}

// aheadPerWorker bounds, per worker, how far the jobs started may run ahead
// of the first job whose result is not yet handed on: that many results at
// most wait for an earlier one, so that a sweep's memory is its runs in
// flight and a bounded number of results, whatever the order they finish
// in. It is generous, so that a slow run rarely holds the others up.
const aheadPerWorker = 32

// Run runs the jobs 0..n-1 of a sweep, calling do(i) for each on up to
// o.InFlight() goroutines at once, and hands each result on to yield in
// the order of i: yield(0, ...), yield(1, ...), ..., on the goroutine that
// called Run, never two at once. When yield returns false, or do(i) fails,
// Run starts no further job, waits for those in flight, drops their
// results, and returns do(i)'s error, or nil. The outcome is thus that of
// the loop
//
//	for i := 0; i < n; i++ {
//		r, err := do(i)
//		if err != nil {
//			return err
//		}
//		if !yield(i, r) {
//			return nil
//		}
//	}
//
// whatever the number of workers and however they are scheduled, provided
// do(i)'s result depends on i alone. do is called from several goroutines
// at once, and may be called for a few jobs past the one at which that
// loop would stop, so it must compute its result and do nothing else.
func Run[R any](o Options, n int, do func(i int) (R, error), yield func(i int, r R) bool) error {
	if n <= 0 {
		return nil
	}
	workers := min(o.InFlight(), n)
	type result struct {
		r   R
		err error
		ok  bool // the slot holds a finished job's result
	}
	type finished struct {
		i int
		result
	}
	// Each worker finds its next job waiting in jobs when it finishes one,
	// rather than waiting for this goroutine to hand its result on first.
	jobs := make(chan int, workers)
	results := make(chan finished, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				r, err := do(i)
				results <- finished{i, result{r, err, true}}
			}
		})
	}

	// Job i's result waits in slots[i%ahead] until every earlier one has
	// been handed on; no job past next+ahead-1 starts, so no two waiting
	// results share a slot.
	ahead := aheadPerWorker * workers
	slots := make([]result, ahead)
	// Jobs 0..next-1 are handed on, 0..sent-1 sent to the workers, and
	// done of them finished.
	next, sent, done := 0, 0, 0
	var err error
	stop := false
	for !stop && next < n {
		var start chan<- int // nil, so never ready, when no job may start
		if sent < n && sent < next+ahead {
			start = jobs
		}
		select {
		case start <- sent:
			sent++
		case f := <-results:
			done++
			if o.Progress != nil {
				o.Progress(done, n)
			}
			slots[f.i%ahead] = f.result
			for !stop && next < n && slots[next%ahead].ok {
				s := slots[next%ahead]
				slots[next%ahead] = result{}
				if s.err != nil {
					err, stop = s.err, true
				} else {
					stop = !yield(next, s.r)
				}
				next++
			}
		}
	}
	for taken := true; taken; { // take back the jobs no worker has begun
		select {
		case <-jobs:
			sent--
		default:
			taken = false
		}
	}
	close(jobs)
	for ; done < sent; done++ {
		<-results // a job in flight when the sweep stopped
	}
	wg.Wait()
	return err
}
