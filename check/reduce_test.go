package check

import (
	"math/rand/v2"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// TestReduceKeepsTheVerdict checks Reduce against porcupine on the whole
// history, for thousands of random small histories of one or two events
// with several attempts of unknown outcome: the verdicts must be equal.
func TestReduceKeepsTheVerdict(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	verdicts := map[porcupine.CheckResult]int{}
	for i := 0; i < 3000; i++ {
		h := randomHistory(r)
		full := porcupine.CheckOperations(Model, Operations(h))
		reduced := porcupine.CheckOperations(Model, Operations(Reduce(h)))
		require.Equal(t, full, reduced, "history %d: %v", i, h)
		if full {
			verdicts[porcupine.Ok]++
		} else {
			verdicts[porcupine.Illegal]++
		}
	}
	// Both verdicts must be well represented, or the test proves little.
	require.Greater(t, verdicts[porcupine.Ok], 300)
	require.Greater(t, verdicts[porcupine.Illegal], 300)
}

func randomHistory(r *rand.Rand) []Op {
	var h []Op
	end := int64(100)
	for ev := uint64(1); ev <= uint64(1+r.IntN(2)); ev++ {
		for k := 0; k < 1+r.IntN(6); k++ {
			call := r.Int64N(80)
			o := Op{Kind: Attempt, Client: r.IntN(3), Event: ev, Call: call}
			switch r.IntN(3) {
			case 0:
				o.Result, o.Return = Applied, call+1+r.Int64N(10)
			case 1:
				o.Result, o.Return = Skipped, call+1+r.Int64N(10)
			default:
				o.Result, o.Return = Unknown, Never
			}
			h = append(h, o)
		}
		if r.IntN(2) == 0 {
			call := r.Int64N(90)
			h = append(h, Op{Kind: Ack, Client: r.IntN(3), Event: ev, Call: call, Return: call + 1})
		}
		h = append(h, Op{Kind: Read, Client: 9, Event: ev, Call: end, Return: end, Count: r.IntN(3)})
	}
	return h
}

func TestReduceKeepsTheFirstUnknownAttempt(t *testing.T) {
	h := []Op{
		attempt(0, 1, 10, Never, Unknown), attempt(1, 1, 5, Never, Unknown), attempt(2, 1, 7, 9, Applied),
		attempt(0, 2, 30, Never, Unknown), read(1, 100, 1), read(2, 100, 0),
	}
	got := Reduce(h)
	require.Len(t, got, 5)
	require.Equal(t, int64(5), got[0].Call, "event 1 keeps its earliest unknown attempt")
	require.Equal(t, Applied, got[1].Result)
	require.Equal(t, int64(30), got[2].Call)
}
