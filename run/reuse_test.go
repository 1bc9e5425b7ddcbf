package run

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

// id-reuse gives some events an earlier event's id, each with a payload
// unlike every other's under that id; Number finds each event's number by
// id and payload. Without the fault the workload is what it always was.
func TestWorkloadReusesIDs(t *testing.T) {
	reused := 0
	for seed := uint64(1); seed <= 20; seed++ {
		plain := NewWorkload(Config{Strategy: "none", Seed: seed, Events: 200})
		assert.Empty(t, plain.Reused)
		w := NewWorkload(Config{Strategy: "none", Faults: faults.Of(faults.IDReuse), Seed: seed, Events: 200})
		require.Equal(t, len(plain.Publishes), len(w.Publishes), "id-reuse adds no copy")
		assert.Equal(t, len(w.Reused), w.Extra[faults.IDReuse])
		reused += len(w.Reused)
		seen := map[strategies.Event]bool{}
		for n := 1; n < len(w.Events); n++ {
			e := w.Events[n]
			key := strategies.Event{ID: e.ID, Account: e.Account, Amount: e.Amount}
			require.False(t, seen[key], "seed %d: two events of id %d with one payload", seed, e.ID)
			seen[key] = true
			assert.Equal(t, strategies.EventID(n), w.Number(e), "seed %d: event %d", seed, n)
			if e.ID != strategies.EventID(n) {
				assert.Contains(t, w.Reused, strategies.EventID(n))
				assert.Less(t, e.ID, strategies.EventID(n), "an earlier event's id")
			} else {
				assert.Equal(t, plain.Events[n], e, "an event not reused is drawn as without the fault")
			}
		}
	}
	assert.Positive(t, reused)
}
