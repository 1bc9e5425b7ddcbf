package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/strategies"
)

// Delivery is one delivery of a case: at At, the broker hands event number
// Event (0, 1, ... within the case) to instance Instance. Deliveries at the
// same time are handled at once.
type Delivery struct {
	At       time.Duration
	Instance int
	Event    int
}

// Case is one conformance case.
type Case struct {
	Name      string
	Instances int
	MarkTTL   time.Duration // 0: marks do not expire within the case
	FailApply []int         // events whose first Apply fails
	// MarksOnly marks a case about Redis marks or keys.
	MarksOnly  bool
	Deliveries []Delivery
	// Check judges what the strategy did against what its description
	// promises: per delivery, the outcome (0 if the handler failed), and
	// per event, its committed applications.
	Check func(t *testing.T, s strategies.Strategy, out []strategies.Outcome, apps []int)
}

// Runner plays a case of a strategy on one backend.
type Runner interface {
	Name() string
	Run(t *testing.T, strategy string, c Case) (out []strategies.Outcome, apps []int)
}

// Run plays every case, for every strategy, on r.
func Run(t *testing.T, r Runner) {
	for _, st := range strategies.All() {
		t.Run(st.Name, func(t *testing.T) {
			for _, c := range Cases() {
				if c.MarksOnly && !st.Needs.Has(strategies.NeedsMarks) && !st.Needs.Has(strategies.NeedsKV) {
					continue
				}
				t.Run(c.Name, func(t *testing.T) {
					out, apps := r.Run(t, st.Name, c)
					c.Check(t, st, out, apps)
				})
			}
		})
	}
}

// concurrentTrials is how many times "two copies at once" is tried.
const concurrentTrials = 25

// Cases are the conformance cases.
func Cases() []Case {
	var twoAtOnce []Delivery
	for k := 0; k < concurrentTrials; k++ {
		at := time.Duration(k) * 20 * time.Millisecond
		twoAtOnce = append(twoAtOnce, Delivery{at, 0, k}, Delivery{at, 1, k})
	}
	return []Case{{
		Name:       "new event applies",
		Instances:  1,
		Deliveries: []Delivery{{0, 0, 0}},
		Check: func(t *testing.T, _ strategies.Strategy, out []strategies.Outcome, apps []int) {
			assert.Equal(t, strategies.Applied, out[0])
			assert.Equal(t, 1, apps[0])
		},
	}, {
		Name:       "duplicate on the same instance",
		Instances:  1,
		Deliveries: []Delivery{{0, 0, 0}, {20 * time.Millisecond, 0, 0}},
		Check: func(t *testing.T, s strategies.Strategy, out []strategies.Outcome, apps []int) {
			if !s.Promises.SameInstance {
				assert.Equal(t, strategies.Applied, out[1], "%s deduplicates nothing", s.Name)
				assert.Equal(t, 2, apps[0])
				return
			}
			assert.Equal(t, strategies.Skipped, out[1])
			assert.Equal(t, 1, apps[0])
		},
	}, {
		Name:       "duplicate on another instance",
		Instances:  2,
		Deliveries: []Delivery{{0, 0, 0}, {20 * time.Millisecond, 1, 0}},
		Check: func(t *testing.T, s strategies.Strategy, out []strategies.Outcome, apps []int) {
			if !s.Promises.OtherInstance {
				assert.Equal(t, strategies.Applied, out[1], "%s: another instance cannot know", s.Name)
				assert.Equal(t, 2, apps[0])
				return
			}
			assert.Equal(t, strategies.Skipped, out[1])
			assert.Equal(t, 1, apps[0])
		},
	}, {
		// A claim in one atomic step (redis) or a unique constraint
		// (db-unique, db-unique-split) applies one of two simultaneous
		// copies; a check and a set in two steps (redis-after) promise
		// nothing; without shared memory both apply. Each strategy's
		// description says which it promises.
		Name:       "two copies at once",
		Instances:  2,
		Deliveries: twoAtOnce,
		Check: func(t *testing.T, s strategies.Strategy, out []strategies.Outcome, apps []int) {
			twice := 0
			for k, n := range apps {
				assert.Contains(t, []int{1, 2}, n, "event %d applied %d times by two copies", k, n)
				if n == 2 {
					twice++
				}
			}
			switch s.Promises.Concurrent {
			case strategies.OneApplies:
				assert.Zero(t, twice, "%s applied two concurrent copies twice", s.Name)
			case strategies.BothApply:
				assert.Equal(t, concurrentTrials, twice, "%s: both copies apply", s.Name)
			default:
				t.Logf("%s applied %d of %d concurrent pairs twice (it promises nothing here)", s.Name, twice, concurrentTrials)
			}
		},
	}, {
		// The effect fails once; the copy comes again. A strategy whose
		// mark commits with the effect (db-unique) applies it then; one
		// whose mark was already committed (redis, db-unique-split) skips
		// it, and the event is lost; the others apply it.
		Name:       "failed effect then redelivery",
		Instances:  1,
		FailApply:  []int{0},
		Deliveries: []Delivery{{0, 0, 0}, {50 * time.Millisecond, 0, 0}},
		Check: func(t *testing.T, s strategies.Strategy, out []strategies.Outcome, apps []int) {
			assert.Zero(t, out[0], "the first handling fails")
			switch s.Promises.AfterFailure {
			case strategies.RetryLater:
				assert.Equal(t, strategies.RetryLater, out[1], "%s holds the event until its lease ends", s.Name)
				assert.Equal(t, 0, apps[0], "%s has applied nothing yet", s.Name)
			case strategies.Skipped:
				assert.Equal(t, strategies.Skipped, out[1], "%s keeps its mark after the failure", s.Name)
				assert.Equal(t, 0, apps[0], "%s loses the event", s.Name)
			default:
				assert.Equal(t, strategies.Applied, out[1])
				assert.Equal(t, 1, apps[0])
			}
		},
	}, {
		// Once the mark's TTL has passed, a late copy applies again.
		Name:       "mark expires",
		Instances:  1,
		MarkTTL:    100 * time.Millisecond,
		MarksOnly:  true,
		Deliveries: []Delivery{{0, 0, 0}, {20 * time.Millisecond, 0, 0}, {250 * time.Millisecond, 0, 0}},
		Check: func(t *testing.T, _ strategies.Strategy, out []strategies.Outcome, apps []int) {
			assert.Equal(t, strategies.Skipped, out[1], "within the TTL the mark holds")
			assert.Equal(t, strategies.Applied, out[2], "after the TTL the mark is gone")
			assert.Equal(t, 2, apps[0])
		},
	}}
}

// Events returns the number of events a case uses.
func (c Case) Events() int {
	n := 0
	for _, d := range c.Deliveries {
		n = max(n, d.Event+1)
	}
	return n
}
