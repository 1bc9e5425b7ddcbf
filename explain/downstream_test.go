package explain

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
)

// TestDownstreamStoriesAreTold: the ghost of publish-in-tx and the
// downstream event publish-after-commit never sent are told as such, every
// claim true to the trace, with the outbox replayed on the same schedule
// as their fix, where the downstream applies the event once.
func TestDownstreamStoriesAreTold(t *testing.T) {
	for _, c := range []struct {
		strategy string
		seed     uint64
		kind     Kind
		says     string
	}{
		{"publish-in-tx", 193, Ghost, "is a ghost"},
		{"publish-after-commit", 76, Unsent, "downstream event is lost"},
	} {
		t.Run(c.strategy, func(t *testing.T) {
			cfg := sim.Config{Strategy: c.strategy, Faults: faults.Of(faults.Crash), Seed: c.seed, Instances: 1, Events: 1}
			s, err := Tell(cfg)
			require.NoError(t, err)
			require.Equal(t, c.kind, s.Kind, storyText(s))
			assert.Contains(t, s.Violation, c.says)
			assert.NotEmpty(t, s.Why)
			require.NoError(t, s.Verify(), storyText(s))
			require.NotNil(t, s.Fix, "the fix is replayed")
			assert.Equal(t, "outbox", s.Fix.Config.Strategy)
			assert.Equal(t, 1, s.Fix.Applied)
			downstream := false
			for _, st := range s.Fix.Steps {
				downstream = downstream || st.Actor == "downstream"
			}
			assert.True(t, downstream, "the fix shows the downstream applying the event:\n%s", storyText(s))
		})
	}
}

// TestDownstreamClaimsCanFail: Verify reads the downstream's records
// itself, so a story that states the opposite of what they show fails.
func TestDownstreamClaimsCanFail(t *testing.T) {
	cfg := sim.Config{Strategy: "publish-in-tx", Faults: faults.Of(faults.Crash), Seed: 193, Instances: 1, Events: 1}
	for _, flip := range []ClaimKind{ClaimDownApply, ClaimTxEffect} {
		s, err := Tell(cfg)
		require.NoError(t, err)
		flipped := false
		for i := range s.ViolationClaims {
			if c := &s.ViolationClaims[i]; c.Kind == flip {
				c.Yes, flipped = !c.Yes, true
			}
		}
		require.True(t, flipped, "the violation states a %s claim", flip)
		var fc *FalseClaimsError
		require.True(t, errors.As(s.Verify(), &fc), "a flipped %s claim must fail", flip)
	}
	// The redelivery committed tx2 and published it: "no publish of a
	// committed effect of event 1 reached the topic" is false, and so is
	// "tx1 committed an effect".
	s, err := Tell(cfg)
	require.NoError(t, err)
	np := claim(ClaimNoPublish)
	np.Event = s.Event
	s.ViolationClaims = append(s.ViolationClaims, np)
	require.Error(t, s.Verify(), "a publish of tx2's committed effect reached the topic")
	s, err = Tell(cfg)
	require.NoError(t, err)
	g := s.a.firstGhost(s.Event)
	np.Tx = g.Tx // but none announcing the ghost's tx as committed: true
	s.ViolationClaims = append(s.ViolationClaims, np)
	require.NoError(t, s.Verify())
	tx := claim(ClaimTxEffect)
	tx.Tx, tx.Event, tx.Yes = g.Tx, s.Event, true
	s.ViolationClaims = append(s.ViolationClaims, tx)
	require.Error(t, s.Verify(), "tx%d committed no effect", g.Tx)
}

// TestOutboxStoryAndPictures: the outbox's own story of an event, relay
// and downstream included, holds to its trace, and its pictures are drawn
// (the relay's calls are no instance's).
func TestOutboxStoryAndPictures(t *testing.T) {
	cfg := sim.Config{Strategy: "outbox", Faults: faults.Of(faults.Crash), Seed: 193, Instances: 1, Events: 1}
	s, err := TellEvent(cfg, 1)
	require.NoError(t, err)
	require.NoError(t, s.Verify(), storyText(s))
	actors := map[string]bool{}
	for _, st := range s.Steps {
		actors[st.Actor] = true
	}
	assert.True(t, actors["relay"] && actors["downstream"], "the relay's publish and the downstream's apply are told:\n%s", storyText(s))
	files, err := WriteFiles(t.TempDir(), s)
	require.NoError(t, err)
	assert.NotEmpty(t, files)
}
