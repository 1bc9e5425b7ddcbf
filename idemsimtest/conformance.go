package idemsimtest

import (
	"testing"

	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/conformance"
	"github.com/idemsim/idemsim/strategies/memstore"
)

// Conformance plays the conformance suite's cases (package
// strategies/conformance) on strategy s, in process, on the stores of
// package memstore, and holds it to the promises its description states
// (s.Promises): whether a second copy on the same instance, or on another,
// is skipped; what two copies at once do; what the copy after a failed
// effect gets. Each case is a subtest of t. It registers s first if no
// strategy of its name is registered, as ExactlyOnce does.
//
// The cases run on the wall clock, as goroutines, in about a second.
func Conformance(t *testing.T, s strategies.Strategy) {
	t.Helper()
	st, err := register(s)
	if err != nil {
		t.Fatalf("idemsimtest: %v", err)
	}
	st.Promises = s.Promises // the promises stated here, even if registered with others
	runner := conformance.EnvRunner{Backend: "memory", Open: func(t *testing.T) conformance.Env {
		marks, kv, ledger := memstore.NewMarks(), memstore.NewKV(), memstore.NewLedger()
		return conformance.Env{
			Instance:     func() strategies.Deps { return strategies.Deps{Marks: marks, KV: kv, Ledger: ledger} },
			Applications: ledger.Applications,
		}
	}}
	for _, c := range conformance.Cases() {
		if c.MarksOnly && !st.Needs.Has(strategies.NeedsMarks) && !st.Needs.Has(strategies.NeedsKV) {
			continue // a case about Redis marks or keys, which st keeps none of
		}
		t.Run(c.Name, func(t *testing.T) {
			out, apps := runner.Run(t, st.Name, c)
			c.Check(t, st, out, apps)
		})
	}
}
