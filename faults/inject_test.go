package faults

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func testStreams(f Fault) uint64 { return 200 + uint64(f) }

// TestDecisionText: decisions read back what they write, as --drop and the
// JSON carry them, and bad ones are refused with what is accepted.
func TestDecisionText(t *testing.T) {
	ds, err := ParseDecisions("crash@3, store-loss@0,slow@12")
	require.NoError(t, err)
	require.Equal(t, []Decision{{Crash, 3}, {StoreLoss, 0}, {Slow, 12}}, ds)
	require.Equal(t, "crash@3,store-loss@0,slow@12", FormatDecisions(ds))
	b, err := json.Marshal(ds)
	require.NoError(t, err)
	require.JSONEq(t, `["crash@3","store-loss@0","slow@12"]`, string(b))
	var back []Decision
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, ds, back)
	none, err := ParseDecisions("")
	require.NoError(t, err)
	require.Empty(t, none)
	for _, bad := range []string{"crash", "flood@1", "crash@-1", "crash@x", "crash@1,crash@1", "crash@1,"} {
		_, err := ParseDecisions(bad)
		require.Error(t, err, bad)
	}
	_, err = ParseDecisions("flood@1")
	require.True(t, errors.Is(err, ErrUnknownFault))
}

// TestInjectorDropKeepsDraws: a dropped decision is not recorded, and the
// points after it decide as they did, with their numbers.
func TestInjectorDropKeepsDraws(t *testing.T) {
	decide := func(drop []Decision) ([]Verdict, []Decision) {
		var in Injector
		in.Reset(7, testStreams, drop)
		var vs []Verdict
		for range 200 {
			vs = append(vs, in.Randomly(Crash, 0.1))
		}
		vs = append(vs, in.Planned(StoreLoss), in.Planned(StoreLoss))
		return vs, append([]Decision(nil), in.Made()...)
	}
	base, made := decide(nil)
	require.GreaterOrEqual(t, len(made), 3)
	require.Equal(t, Decision{StoreLoss, 0}, made[len(made)-2])
	drop := []Decision{made[1], {StoreLoss, 1}}
	vs, after := decide(drop)
	for i := range base {
		want := base[i]
		if i == int(made[1].Point) || i == 201 {
			want = Dropped
		}
		require.Equal(t, want, vs[i], "point %d", i)
	}
	require.Equal(t, len(made)-2, len(after))
	require.NotContains(t, after, made[1])
	require.True(t, (&Injector{made: after}).Any(Crash))
}

// TestRandomlyDrawsAsRandFloat64: Randomly draws from the concrete source
// with rand.Rand.Float64's formula, so it decides exactly as a comparison
// with Float64 on the same stream would (the backends' traces rest on it).
func TestRandomlyDrawsAsRandFloat64(t *testing.T) {
	var in Injector
	in.Reset(42, testStreams, nil)
	ref := rand.New(rand.NewPCG(42, testStreams(Slow)))
	for i := range 100000 {
		p := float64(i%1000) / 1000
		want := ref.Float64() < p
		require.Equal(t, want, in.Randomly(Slow, p).Hit(), "draw %d", i)
	}
}
