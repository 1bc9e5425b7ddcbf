package idemsimtest

import (
	"errors"
	"testing"

	"github.com/idemsim/idemsim/strategies"
)

// ExactlyOnce sweeps strategy s over every seed of every scenario that o
// names, in the simulator, and fails t unless each scenario is
// exactly-once, or shows only the kinds of violation o.Expect allows it.
// It registers s first if no strategy of its name is registered, so that
// it can be called from any test, any number of times. It sweeps each
// broker model of o.Brokers (by default the queue and the log) that s runs
// on, and reports each model's failures in a t.Error of its own, naming
// the model. With o.Real it sweeps on real servers instead (RealServers).
//
// On failure it reports, in one t.Error: the scenarios that failed, with
// what they showed and their first failing seed; the first failure shrunk
// to the smallest run that still fails the same way and told step by step,
// as idemsim explain tells it, ending with the "reproduce with: idemsim
// run ..." line that replays that run; and the go test command line that
// reruns just that seed of that scenario (-idemsim.scenario,
// -idemsim.seed). Bad options fail t at once (t.Fatal), and so does a run
// that cannot be judged, such as one of a strategy whose New fails: the
// test fails with that error, once, and the sweep stops.
//
// Everything it finds is deterministic: the same strategy, options and
// flags find the same seeds and tell the same story on any machine. The
// runs go in parallel on the sweep engine (package sweep), one per CPU
// unless o.Workers says otherwise.
func ExactlyOnce(t testing.TB, s strategies.Strategy, o Options) {
	t.Helper()
	st, err := register(s)
	if err != nil {
		t.Fatalf("idemsimtest: %v", err)
	}
	if o.Real != nil {
		if o, err = realOptions(o, testing.Short()); err != nil {
			t.Fatalf("idemsimtest: %s: %v", st.Name, err)
		}
	}
	plans, err := newPlans(st.Name, o, testing.Short())
	if err != nil {
		t.Fatalf("idemsimtest: %s: %v", st.Name, err)
	}
	for _, p := range plans {
		if p.real = o.Real; p.real != nil {
			if err := validateReal(p); err != nil {
				t.Fatalf("idemsimtest: %s: %v", st.Name, err)
			}
		}
		exactlyOnceOn(t, p)
	}
}

// exactlyOnceOn sweeps the plan of one broker model and reports it on t.
func exactlyOnceOn(t testing.TB, p *plan) {
	t.Helper()
	name := p.strategy
	sweepOf := sweepPlan
	if p.real != nil {
		sweepOf = sweepReal
	}
	if err := sweepOf(p); err != nil {
		// The sweep stops at the first run that fails: one message, not
		// one per seed. A strategy whose New fails fails every run alike,
		// so its error alone says it.
		var newErr *strategies.NewError
		if errors.As(err, &newErr) {
			t.Fatalf("idemsimtest: %v", newErr)
		}
		t.Fatalf("idemsimtest: %v", err)
	}
	var failed []*cell
	for _, c := range p.cells {
		if c.failed() {
			failed = append(failed, c)
		}
		if missing := c.allowed &^ c.seen; missing != 0 {
			t.Logf("%s under %s%s: Expect allows %s, which seeds %d..%d did not show", name, c.set, p.onBroker(), missing, p.first, p.last)
		}
	}
	if len(failed) == 0 {
		t.Logf("%s%s: %s", name, p.onBroker(), p.passed())
		return
	}
	r := &report{plan: p, failed: failed, test: t.Name()}
	for _, c := range failed {
		if c.storySeed != 0 && p.real == nil {
			r.told = c
			var err error
			if r.story, err = story(p, c); err != nil {
				t.Fatalf("idemsimtest: %v", err)
			}
			break
		}
	}
	t.Error(r.String())
}

// onBroker names the plan's broker model, after a strategy's name, when
// the call sweeps more than one: " on the log".
func (p *plan) onBroker() string {
	if p.real != nil {
		return " on real servers (broker " + p.real.Broker + ")"
	}
	if !p.several {
		return ""
	}
	return " on the " + p.brokerModel
}
