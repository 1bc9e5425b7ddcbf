package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/strategies"
)

// The names of the cases, as Cases names them and as a strategy's
// Promises.Declines names the cases that do not apply to it.
const (
	// CaseNewEvent: the first copy of an event applies.
	CaseNewEvent = "new event applies"
	// CaseSameInstance: a second copy on the same instance, held to
	// Promises.SameInstance.
	CaseSameInstance = "duplicate on the same instance"
	// CaseOtherInstance: a second copy on another instance, held to
	// Promises.OtherInstance.
	CaseOtherInstance = "duplicate on another instance"
	// CaseConcurrent: two copies at once on two instances, held to
	// Promises.Concurrent.
	CaseConcurrent = "two copies at once"
	// CaseAfterFailure: the first handling's effect fails, and the
	// handler returns an error; the copy that comes again is held to
	// Promises.AfterFailure.
	CaseAfterFailure = "failed effect then redelivery"
	// CaseMarkExpires: a copy that comes after the mark's TTL (Deps.MarkTTL)
	// applies again; only for a strategy with Redis marks or keys.
	CaseMarkExpires = "mark expires"
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
	Check func(t testing.TB, s strategies.Strategy, out []strategies.Outcome, apps []int)
}

// Runner plays a case of a strategy on one backend.
type Runner interface {
	Name() string
	// Run plays c with the strategy called strategy: per delivery, the
	// outcome (0 if the handler failed), and per event, its committed
	// applications. An error means the case could not be played: a
	// *strategies.NewError if the strategy's New failed, else the
	// backend's failure.
	Run(t testing.TB, strategy string, c Case) (out []strategies.Outcome, apps []int, err error)
}

// Run plays every case, for every registered strategy, on r: each
// strategy is a subtest of t, and each case a subtest of it (see Play).
func Run(t testing.TB, r Runner) {
	t.Helper()
	for _, st := range strategies.All() {
		subtest(t, st.Name, func(t testing.TB) { Play(t, r, st) })
	}
}

// Play plays every case on r for strategy s, registered under s.Name, and
// holds it to s.Promises. Each case is a subtest of t when t is a
// *testing.T; with another testing.TB, the cases run one after the other
// on t, each message beginning with the case's name.
//
// A case s declines (Promises.Declines) is skipped with its reason, and so
// is a case about Redis marks or keys for a strategy that keeps none: go
// test -v shows each as SKIP, with the reason. A name in Declines that is
// no case's fails t at once, as does a strategy whose New fails: no case
// can be played then.
func Play(t testing.TB, r Runner, s strategies.Strategy) {
	t.Helper()
	if err := checkDeclines(s.Promises.Declines); err != nil {
		t.Fatalf("conformance: %s: %v", s.Name, err)
	}
	for _, c := range Cases() {
		var newErr *strategies.NewError
		subtest(t, c.Name, func(t testing.TB) {
			t.Helper()
			if reason, ok := s.Promises.Declines[c.Name]; ok {
				skip(t, "%s declines %q: %s", s.Name, c.Name, reason)
				return
			}
			if c.MarksOnly && !s.Needs.Has(strategies.NeedsMarks) && !s.Needs.Has(strategies.NeedsKV) {
				skip(t, "%s keeps no Redis marks or keys, which %q is about", s.Name, c.Name)
				return
			}
			out, apps, err := r.Run(t, s.Name, c)
			if errors.Is(err, ErrCannotPlay) {
				skip(t, "%v", err)
				return
			}
			if errors.As(err, &newErr) {
				t.Fatalf("%v (so no case can be played)", err)
			}
			if err != nil {
				t.Fatalf("on %s: %v", r.Name(), err)
			}
			c.Check(t, s, out, apps)
		})
		if newErr != nil {
			return
		}
	}
}

// Names lists the cases' names, in the order Cases plays them.
func Names() []string {
	var names []string
	for _, c := range Cases() {
		names = append(names, c.Name)
	}
	return names
}

// checkDeclines checks a strategy's Promises.Declines: every name must be
// a case's, and every reason given, so that a typo cannot leave a case
// played that was meant to be declined, or declined without a word.
func checkDeclines(declines map[string]string) error {
	names := Names()
	var unknown, unexplained []string
	for name, reason := range declines {
		switch {
		case !slices.Contains(names, name):
			unknown = append(unknown, fmt.Sprintf("%q", name))
		case strings.TrimSpace(reason) == "":
			unexplained = append(unexplained, fmt.Sprintf("%q", name))
		}
	}
	slices.Sort(unknown) // map order is random; the message is not
	slices.Sort(unexplained)
	if len(unknown) > 0 {
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		return fmt.Errorf("Promises.Declines names no conformance case: %s (the cases: %s; package conformance names them CaseNewEvent, ..., CaseMarkExpires)",
			strings.Join(unknown, ", "), strings.Join(quoted, ", "))
	}
	if len(unexplained) > 0 {
		return fmt.Errorf("Promises.Declines gives no reason for %s: say why the case does not apply", strings.Join(unexplained, ", "))
	}
	return nil
}

// subtest runs f as the subtest of t called name when t can have subtests
// (a *testing.T), else on t itself, its messages prefixed with name: a
// *testing.B, or a testing.TB of a test's own.
func subtest(t testing.TB, name string, f func(t testing.TB)) {
	t.Helper()
	if tt, ok := t.(interface {
		Run(string, func(*testing.T)) bool
	}); ok {
		tt.Run(name, func(t *testing.T) { f(t) })
		return
	}
	f(&named{TB: t, name: name})
}

// skip ends a subtest as skipped, saying why; on a testing.TB without
// subtests, where skipping would skip every case, it logs why instead, and
// the caller returns.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if _, ok := t.(*testing.T); ok {
		t.Skipf(format, args...)
	}
	t.Logf("skipped: "+format, args...)
}

// named is a testing.TB that prefixes its messages with the name of the
// case (or strategy) that runs on it, when they cannot be subtests.
type named struct {
	testing.TB
	name string
}

func (n *named) Error(args ...any) {
	n.TB.Helper()
	n.TB.Error(n.name + ": " + fmt.Sprint(args...))
}

func (n *named) Errorf(format string, args ...any) {
	n.TB.Helper()
	n.TB.Error(n.name + ": " + fmt.Sprintf(format, args...))
}

func (n *named) Fatal(args ...any) {
	n.TB.Helper()
	n.TB.Fatal(n.name + ": " + fmt.Sprint(args...))
}

func (n *named) Fatalf(format string, args ...any) {
	n.TB.Helper()
	n.TB.Fatal(n.name + ": " + fmt.Sprintf(format, args...))
}

func (n *named) Log(args ...any) {
	n.TB.Helper()
	n.TB.Log(n.name + ": " + fmt.Sprint(args...))
}

func (n *named) Logf(format string, args ...any) {
	n.TB.Helper()
	n.TB.Log(n.name + ": " + fmt.Sprintf(format, args...))
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
		Name:       CaseNewEvent,
		Instances:  1,
		Deliveries: []Delivery{{0, 0, 0}},
		Check: func(t testing.TB, _ strategies.Strategy, out []strategies.Outcome, apps []int) {
			assert.Equal(t, strategies.Applied, out[0])
			assert.Equal(t, 1, apps[0])
		},
	}, {
		Name:       CaseSameInstance,
		Instances:  1,
		Deliveries: []Delivery{{0, 0, 0}, {20 * time.Millisecond, 0, 0}},
		Check: func(t testing.TB, s strategies.Strategy, out []strategies.Outcome, apps []int) {
			if !s.Promises.SameInstance {
				assert.Equal(t, strategies.Applied, out[1], "%s deduplicates nothing", s.Name)
				assert.Equal(t, 2, apps[0])
				return
			}
			assert.Equal(t, strategies.Skipped, out[1])
			assert.Equal(t, 1, apps[0])
		},
	}, {
		Name:       CaseOtherInstance,
		Instances:  2,
		Deliveries: []Delivery{{0, 0, 0}, {20 * time.Millisecond, 1, 0}},
		Check: func(t testing.TB, s strategies.Strategy, out []strategies.Outcome, apps []int) {
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
		Name:       CaseConcurrent,
		Instances:  2,
		Deliveries: twoAtOnce,
		Check: func(t testing.TB, s strategies.Strategy, out []strategies.Outcome, apps []int) {
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
		Name:       CaseAfterFailure,
		Instances:  1,
		FailApply:  []int{0},
		Deliveries: []Delivery{{0, 0, 0}, {50 * time.Millisecond, 0, 0}},
		Check: func(t testing.TB, s strategies.Strategy, out []strategies.Outcome, apps []int) {
			if out[0] == strategies.Dropped {
				t.Errorf("%s dropped the event whose effect failed (acked it with nothing done), so no broker would deliver it again: if that is what it means to do, it declines this case (Promises.Declines[conformance.CaseAfterFailure], with the reason)", s.Name)
				return
			}
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
		// Once the mark's TTL has passed, a late copy applies again. The
		// TTL is long beside a handling on a loaded machine (the mark is
		// set when the first handling starts, and the second copy waits
		// for that handling to end), so that "within the TTL" holds.
		Name:       CaseMarkExpires,
		Instances:  1,
		MarkTTL:    600 * time.Millisecond,
		MarksOnly:  true,
		Deliveries: []Delivery{{0, 0, 0}, {20 * time.Millisecond, 0, 0}, {1300 * time.Millisecond, 0, 0}},
		Check: func(t testing.TB, _ strategies.Strategy, out []strategies.Outcome, apps []int) {
			assert.Equal(t, strategies.Skipped, out[1], "within the TTL the mark holds")
			assert.Equal(t, strategies.Applied, out[2], "after the TTL (Deps.MarkTTL) the mark is gone; a strategy whose keys live as long as it says, not MarkTTL, declines this case (Promises.Declines[conformance.CaseMarkExpires])")
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
