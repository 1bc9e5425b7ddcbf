package explain

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
)

// TestShrinkDropsDecisions: the shrunk run of a search drops fault
// decisions, shows the same kind of violation with its drops, and makes
// none of the decisions it drops.
func TestShrinkDropsDecisions(t *testing.T) {
	found, ok, err := Search("db-unique-split", faults.Of(faults.Partition), 3, DefaultSeeds)
	require.NoError(t, err)
	require.True(t, ok)
	shrunk, err := ShrinkKind(found, Lost)
	require.NoError(t, err)
	require.NotEmpty(t, shrunk.Drop, "no decision dropped")
	res, err := sim.Run(shrunk)
	require.NoError(t, err)
	require.Positive(t, res.Lost)
	for _, d := range shrunk.Drop {
		require.NotContains(t, res.Decisions, d)
	}
	// Each drop kept is one the violation survives: together, undone, the
	// same seed and shape is another run.
	undone := shrunk
	undone.Drop = nil
	base, err := sim.Run(undone)
	require.NoError(t, err)
	require.NotEqual(t, base.TraceHash, res.TraceHash)
}

// TestShrinkForgetsDropsOfAnotherRun: a config with drops shrinks to
// runs whose drops, if any, are their own: a shape or seed other than the
// config's does not inherit them.
func TestShrinkForgetsDropsOfAnotherRun(t *testing.T) {
	found, ok, err := Search("redis", faults.Of(faults.Crash), 3, DefaultSeeds)
	require.NoError(t, err)
	require.True(t, ok)
	found.Drop = []faults.Decision{{Fault: faults.Crash, Point: 100000}}
	shrunk, err := Shrink(found)
	require.NoError(t, err)
	require.NotContains(t, shrunk.Drop, faults.Decision{Fault: faults.Crash, Point: 100000})
}
