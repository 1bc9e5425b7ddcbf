package explain

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// TestReusedIDStoriesAreTrue is the story-vs-trace test under id-reuse,
// on runs large enough for the fault to strike (the general test's runs
// of 1 to 4 events rarely draw it): every story of every strategy, on
// both brokers, holds to its trace, and the stories do tell reused ids.
func TestReusedIDStoriesAreTrue(t *testing.T) {
	seeds := uint64(12)
	if testing.Short() {
		seeds = 4
	}
	for _, broker := range []string{run.DefaultBroker, run.LogBroker} {
		for _, st := range strategies.NamesOn(broker) {
			t.Run(broker+"/"+st, func(t *testing.T) {
				t.Parallel()
				reused, refused := 0, 0
				for seed := uint64(1); seed <= seeds; seed++ {
					cfg := sim.Config{Strategy: st, Faults: faults.Of(faults.IDReuse), Seed: seed, Instances: 1 + int(seed%3), Events: 30, BrokerModel: broker}
					// The violations' stories, and those of the events a
					// handler refused (dead, not violations).
					for _, s := range append(storiesOf(t, cfg), deadStories(t, cfg)...) {
						if s.Facts().Event(s.Event).Refused {
							refused++
						}
						if err := s.Verify(); err != nil {
							t.Fatalf("%v\n\n%s", err, storyText(s))
						}
						for _, c := range append(append([]Claim{}, s.WhyClaims...), stepClaims(s)...) {
							if c.Kind == ClaimReusedID {
								reused++
							}
						}
					}
				}
				d, _ := strategies.Lookup(st)
				if want := d.ExpectedRow(broker)["id-reuse"]; strings.Contains(want, "lost") || strings.Contains(want, "dead") {
					assert.Positive(t, reused, "no story of %s tells a reused id", st)
				}
				if d.ExpectedRow(broker)["id-reuse"] == "dead" {
					assert.Positive(t, refused, "no story of %s tells a refused event", st)
				}
			})
		}
	}
}

// stepClaims are the claims of s's steps.
func stepClaims(s *Story) []Claim {
	var out []Claim
	for _, st := range s.Steps {
		out = append(out, st.Claims...)
	}
	return out
}

// TestReusedIDLesson: db-unique under id-reuse loses the event a reused
// id brought, the why says the strategy knows an event by its id alone,
// and the fix replayed is db-unique-payload, which refuses it to the
// dead-letter queue: dead, surfaced, not lost.
func TestReusedIDLesson(t *testing.T) {
	cfg, ok := mustSearch(t, "db-unique", faults.Of(faults.IDReuse), 3, 40)
	require.True(t, ok)
	s, err := Tell(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Verify())
	require.Equal(t, Lost, s.Kind)
	assert.Contains(t, s.Why, "knows an event by its id alone")
	assert.Contains(t, s.Why, "under event")
	assert.NotContains(t, s.Note, "id-reuse played no part")
	require.NotNil(t, s.Fix)
	assert.Equal(t, "db-unique-payload", s.Fix.Config.Strategy)
	assert.True(t, s.Fix.Refused, "db-unique-payload refuses the reused id")
	assert.Zero(t, s.Fix.Applied)
	assert.False(t, s.Fix.Result.Violating())
	assert.Positive(t, s.Fix.Result.Dead)
	text := storyText(s)
	assert.Contains(t, text, "refuses m")
	assert.Contains(t, text, "dead-letter queue")
}
