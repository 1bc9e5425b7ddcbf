package consumers_test

import (
	"strings"
	"testing"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"

	"example.com/consumers"
)

// TestOneStoryEachIsTrueToItsTrace tells one story of each consumer, as
// idemsim explain tells it, and holds every claim of it to its run's trace
// (explain's Story.Verify). A consumer that its row expects to fail is
// searched under those scenarios, in table order, and its first violating
// run is shrunk and told. A consumer expected to survive every scenario is
// told as explain --against tells it: the run that breaks the first other
// strategy of the table expected to fail, shrunk, then the same run under
// the consumer, the event the other strategy broke.
func TestOneStoryEachIsTrueToItsTrace(t *testing.T) {
	if err := consumers.Register(); err != nil {
		t.Fatal(err)
	}
	for _, s := range consumers.All {
		t.Run(s.Name, func(t *testing.T) {
			story := tellOne(t, s)
			if err := story.Verify(); err != nil {
				var b strings.Builder
				_, _ = story.WriteTo(&b)
				t.Fatalf("%v\n\n%s", err, b.String())
			}
			t.Logf("%s event %d (%s): %d steps, every claim true to the trace", story.Config.Reproduce(), story.Event, story.Kind, len(story.Steps))
		})
	}
}

// tellOne tells s's story: its first violation under a scenario its row
// expects to fail, or, if none is expected, how it came through the run
// that breaks another strategy.
func tellOne(t *testing.T, s strategies.Strategy) *explain.Story {
	t.Helper()
	var failing []faults.Set
	for i, name := range faults.ScenarioNames() {
		if v, ok := s.Expected[name]; ok && v != "ok" {
			failing = append(failing, faults.Scenarios()[i])
		}
	}
	if len(failing) == 0 {
		return tellAgainst(t, s.Name)
	}
	for _, sc := range failing {
		found, ok, err := explain.Search(s.Name, sc, 3, explain.DefaultSeeds)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		story := tellShrunk(t, found)
		if story.Kind == explain.NoViolation {
			t.Fatalf("%s: the shrunk run shows no violation", story.Config.Reproduce())
		}
		return story
	}
	t.Fatalf("%s: no violation in seeds 1..%d of any scenario its row expects to fail (%v)", s.Name, explain.DefaultSeeds, failing)
	return nil
}

// tellAgainst tells how strategy came through the shrunk run that breaks
// the first other strategy of the table expected to fail somewhere, as
// idemsim explain --against does.
func tellAgainst(t *testing.T, strategy string) *explain.Story {
	t.Helper()
	for _, other := range strategies.All() {
		if other.Name == strategy || !expectsAFailure(other) {
			continue
		}
		for _, sc := range explain.Scenarios(other.Name) {
			found, ok, err := explain.Search(other.Name, sc, 3, explain.DefaultSeeds)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			broken := tellShrunk(t, found)
			same := broken.Config
			same.Strategy = strategy
			story, err := explain.TellEvent(same, broken.Event)
			if err != nil {
				t.Fatal(err)
			}
			if story.Kind != explain.NoViolation {
				t.Errorf("%s: %s is expected to survive every scenario, yet event %d shows %s", same.Reproduce(), strategy, story.Event, story.Kind)
			}
			return story
		}
		t.Fatalf("%s is expected to fail, yet no scenario of it fails in seeds 1..%d", other.Name, explain.DefaultSeeds)
	}
	t.Fatalf("no other strategy is expected to fail: no run to tell %s through", strategy)
	return nil
}

// tellShrunk shrinks the run found and tells it.
func tellShrunk(t *testing.T, found sim.Config) *explain.Story {
	t.Helper()
	shrunk, err := explain.Shrink(found)
	if err != nil {
		t.Fatal(err)
	}
	story, err := explain.Tell(shrunk)
	if err != nil {
		t.Fatal(err)
	}
	return story
}

// expectsAFailure reports whether s's row expects it to fail somewhere.
func expectsAFailure(s strategies.Strategy) bool {
	for _, v := range s.Expected {
		if v != "ok" {
			return true
		}
	}
	return false
}
