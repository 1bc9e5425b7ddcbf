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
// effect gets. It registers s first if no strategy of its name is
// registered, as ExactlyOnce does.
//
// Each case is a subtest of t when t is a *testing.T; with another
// testing.TB the cases run one after the other on t, each message
// beginning with the case's name. A case s declines (Promises.Declines,
// with the reason) is skipped, and go test -v shows the reason; so is a
// case about Redis keys for a strategy that keeps none. A declined name
// that is no case's fails t (t.Fatalf), and so does a strategy whose New
// fails, once, with New's error.
//
// The cases run on the wall clock, as goroutines, in about a second.
func Conformance(t testing.TB, s strategies.Strategy) {
	t.Helper()
	st, err := register(s)
	if err != nil {
		t.Fatalf("idemsimtest: %v", err)
	}
	st.Promises = s.Promises // the promises stated here, even if registered with others
	conformance.Play(t, inMemory, st)
}

// inMemory plays the cases on the stores of package memstore, new for
// each case.
var inMemory = conformance.EnvRunner{Backend: "memory", Open: func(testing.TB) conformance.Env {
	marks, kv, ledger := memstore.NewMarks(), memstore.NewKV(), memstore.NewLedger()
	return conformance.Env{
		Instance:     func() strategies.Deps { return strategies.Deps{Marks: marks, KV: kv, Ledger: ledger} },
		Applications: ledger.Applications,
	}
}}
