package run

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/strategies"
)

// mergeCopies orders the copies exactly as a stable sort by time of all of
// them, in the order drawn, would: first copies and extra ones tie at
// equal times in drawing order.
func TestMergeCopiesIsTheStableSortOfTheDrawingOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 2000; round++ {
		var firsts, extra, drawn []Publication
		at := time.Duration(0)
		n := 1 + r.IntN(30)
		for id := 1; id <= n; id++ {
			at += time.Duration(r.IntN(3)) // many ties
			f := Publication{at, strategies.EventID(id)}
			firsts = append(firsts, f)
			drawn = append(drawn, f)
			for k := r.IntN(3); k > 0; k-- {
				x := Publication{at + time.Duration(r.IntN(5)), strategies.EventID(id)}
				extra = append(extra, x)
				drawn = append(drawn, x)
			}
		}
		want := slices.Clone(drawn)
		slices.SortStableFunc(want, func(a, b Publication) int { return cmp.Compare(a.At, b.At) })
		require.Equal(t, want, mergeCopies(nil, firsts, extra), "round %d", round)
	}
}
