package check

import (
	"math/rand/v2"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoAgreesWithPorcupine checks the memoized check against porcupine on
// the whole history, for thousands of random histories of up to five events:
// the verdicts must be equal, while the memo is cold and once it is warm.
func TestMemoAgreesWithPorcupine(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var histories [][]Op
	for i := 0; i < 2000; i++ {
		histories = append(histories, randomHistory(r), randomWideHistory(r))
	}
	verdicts := map[porcupine.CheckResult]int{}
	for pass := 0; pass < 2; pass++ {
		for i, h := range histories {
			want := Porcupine(h, 0)
			require.Equal(t, want, Linearizable(h, 0), "pass %d, history %d: %v", pass, i, h)
			verdicts[want]++
		}
	}
	// Both verdicts must be well represented, or the test proves little.
	require.Greater(t, verdicts[porcupine.Ok], 1000)
	require.Greater(t, verdicts[porcupine.Illegal], 1000)
}

// randomWideHistory is like randomHistory with up to five events, shuffled
// together, and times drawn from a small range so that ties are common.
func randomWideHistory(r *rand.Rand) []Op {
	var h []Op
	for ev := uint64(1); ev <= uint64(1+r.IntN(5)); ev++ {
		for k := 0; k < 1+r.IntN(4); k++ {
			call := r.Int64N(20)
			o := Op{Kind: Attempt, Client: r.IntN(3), Event: ev * 7, Call: call}
			switch r.IntN(3) {
			case 0:
				o.Result, o.Return = Applied, call+r.Int64N(4)
			case 1:
				o.Result, o.Return = Skipped, call+r.Int64N(4)
			default:
				o.Result, o.Return = Unknown, Never
			}
			h = append(h, o)
			if r.IntN(2) == 0 {
				ackAt := call + r.Int64N(6)
				h = append(h, Op{Kind: Ack, Client: o.Client, Event: o.Event, Call: ackAt, Return: ackAt + r.Int64N(2)})
			}
		}
		h = append(h, Op{Kind: Read, Client: 9, Event: ev * 7, Call: 30, Return: 30, Count: r.IntN(3)})
	}
	r.Shuffle(len(h), func(i, j int) { h[i], h[j] = h[j], h[i] })
	return h
}

func TestShapeKey(t *testing.T) {
	var s shaper
	key := func(ops ...Op) string { return string(s.key(ops)) }
	base := key(attempt(0, 1, 0, 10, Applied), ack(0, 1, 11, 12), read(1, 100, 1))
	assert.Equal(t, base, key(attempt(2, 5, 1000, 1500, Applied), ack(1, 5, 1600, 1601), read(5, 9000, 1)),
		"other times, instances and event id: the same shape")
	assert.Equal(t, base, key(read(1, 100, 1), ack(0, 1, 11, 12), attempt(0, 1, 0, 10, Applied)),
		"the order of the slice does not matter, only real time")
	assert.NotEqual(t, base, key(attempt(0, 1, 0, 12, Applied), ack(0, 1, 11, 12), read(1, 100, 1)),
		"the ack overlaps the attempt: another shape")
	assert.NotEqual(t, base, key(attempt(0, 1, 0, 10, Applied), ack(0, 1, 11, 12), read(1, 100, 2)),
		"another count: another shape")
	assert.NotEqual(t, base, key(attempt(0, 1, 0, 10, Skipped), ack(0, 1, 11, 12), read(1, 100, 1)),
		"another result: another shape")
}
