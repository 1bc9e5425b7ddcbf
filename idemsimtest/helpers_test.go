package idemsimtest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/idemsim/idemsim/strategies"
)

// fakeTB records what ExactlyOnce reports, so that a test can read a
// failure without failing.
type fakeTB struct {
	testing.TB // nil: a method not overridden here is not expected
	name       string

	mu     sync.Mutex
	errors []string
	logs   []string
	fatal  bool
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return f.name }

func (f *fakeTB) Error(args ...any) { f.record(&f.errors, fmt.Sprint(args...)) }

func (f *fakeTB) Errorf(format string, args ...any) {
	f.record(&f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Log(args ...any) { f.record(&f.logs, fmt.Sprint(args...)) }

func (f *fakeTB) Logf(format string, args ...any) { f.record(&f.logs, fmt.Sprintf(format, args...)) }

func (f *fakeTB) Fatal(args ...any) {
	f.record(&f.errors, fmt.Sprint(args...))
	f.FailNow()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(&f.errors, fmt.Sprintf(format, args...))
	f.FailNow()
}

// FailNow stops the call, as t.FailNow stops a test, by panicking with
// errFatal, which call and conform recover.
func (f *fakeTB) FailNow() {
	f.mu.Lock()
	f.fatal = true
	f.mu.Unlock()
	panic(errFatal)
}

func (f *fakeTB) record(to *[]string, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*to = append(*to, msg)
}

// errFatal is what the fake's Fatalf panics with, to stop the call as
// t.Fatal stops a test.
var errFatal = fmt.Errorf("fatal")

// call runs ExactlyOnce on a fake TB called name and returns the fake.
func call(name string, s strategies.Strategy, o Options) *fakeTB {
	return onFake(name, func(f *fakeTB) { ExactlyOnce(f, s, o) })
}

// conform runs Conformance on a fake TB called name and returns the fake.
func conform(name string, s strategies.Strategy) *fakeTB {
	return onFake(name, func(f *fakeTB) { Conformance(f, s) })
}

// onFake runs test on a fake TB called name, until it ends or fails
// (FailNow), and returns the fake.
func onFake(name string, test func(*fakeTB)) *fakeTB {
	f := &fakeTB{name: name}
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		test(f)
	}()
	return f
}

// builtin returns the registered strategy called name.
func builtin(t *testing.T, name string) strategies.Strategy {
	t.Helper()
	s, ok := strategies.Lookup(name)
	if !ok {
		t.Fatalf("no strategy %q", name)
	}
	return s
}

// recordFirst is a deduplicator of the tests' own, as a user would write
// one: it records the event in the instance's memory, then applies it,
// unless it was recorded.
type recordFirst struct {
	ledger strategies.Ledger
	seen   map[strategies.EventID]bool
}

func (r *recordFirst) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	if r.seen[e.ID] {
		return strategies.Skipped, nil
	}
	r.seen[e.ID] = true
	tx, err := r.ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return strategies.Applied, nil
}

// userStrategy describes recordFirst, registered by the tests that use it.
var userStrategy = strategies.Strategy{
	Name: "idemsimtest-record-first",
	New: func(d strategies.Deps) (strategies.Handler, error) {
		return &recordFirst{ledger: d.Ledger, seen: map[strategies.EventID]bool{}}, nil
	},
	Promises: strategies.Promises{SameInstance: true, AfterFailure: strategies.Skipped},
}
