package explain

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
)

// The stories of instances that come and go on the queue: a graceful
// leave and the new process that comes back (rebalance), a late start
// (rebalance's scale-out), and a whole instance paused (zombie). Each
// test searches seeds for a story that tells it, checks its sentence and
// what it claims, and holds the whole story to its trace (Verify).

// findStory tells the runs of strategy under fs, over seeds and a few
// sizes, and returns the first story (with the step) whose step text
// contains want; it fails the test if none does within the seeds.
func findStory(t *testing.T, strategy string, fs faults.Set, want string, seeds int) (*Story, Step) {
	t.Helper()
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		for _, size := range [][2]int{{2, 1}, {3, 3}, {2, 4}} {
			cfg := sim.Config{Strategy: strategy, Faults: fs, Seed: seed, Instances: size[0], Events: size[1]}
			s, err := Tell(cfg)
			require.NoError(t, err)
			for _, st := range s.Steps {
				if strings.Contains(st.Text, want) {
					return s, st
				}
			}
		}
	}
	t.Fatalf("no story of %s under %s in %d seeds tells %q", strategy, fs, seeds, want)
	return nil, Step{}
}

// claimOf is the first claim of kind k among cs, failing the test if none.
func claimOf(t *testing.T, cs []Claim, k ClaimKind) Claim {
	t.Helper()
	for _, c := range cs {
		if c.Kind == k {
			return c
		}
	}
	t.Fatalf("no %s claim among %+v", k, cs)
	return Claim{}
}

func TestStoryTellsAGracefulLeaveAndItsReturn(t *testing.T) {
	s, st := findStory(t, "local-cache", faults.Of(faults.Rebalance), "stops gracefully (a rebalance): it finishes what it was handling, and leaves", 200)
	require.NoError(t, s.Verify(), storyText(s))
	assert.Equal(t, run.Leave, s.Result.Trace[st.Record].Kind)
	l := claimOf(t, st.Claims, ClaimLeave)
	assert.True(t, l.Yes, "a graceful leave")
	assert.Contains(t, st.Text, "what it kept in its cache is gone", "local-cache's memory goes with the process")
	if strings.Contains(st.Text, "come back later") {
		text := storyText(s)
		assert.Contains(t, text, "comes back as a new process, with empty memory", "the return is told when the leave says it comes back")
	}
	// A false leave claim fails: the instance that did not leave.
	l.Inst = (l.Inst + 1) % int32(s.Config.Instances)
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	assert.Error(t, x.check(l, nil))
}

func TestStoryTellsADeliveryToAnInstanceThatLeft(t *testing.T) {
	s, st := findStory(t, "local-cache", faults.Of(faults.Rebalance), "never arrives: it has left and is not back yet", 300)
	require.NoError(t, s.Verify(), storyText(s))
	c := claimOf(t, st.Claims, ClaimNotArrived)
	assert.Equal(t, run.Leave, c.Record)
	// Told as a crash, it would be false.
	c.Record = 0
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	assert.ErrorContains(t, x.check(c, nil), "not down after a crash")
}

func TestStoryTellsALateStart(t *testing.T) {
	s, st := findStory(t, "local-cache", faults.Of(faults.Rebalance), "starts, later than the others (a scale-out)", 200)
	require.NoError(t, s.Verify(), storyText(s))
	assert.Equal(t, -1, st.Record, "the trace records no start: a step between records")
	c := claimOf(t, st.Claims, ClaimLateStart)
	assert.Equal(t, int32(s.Config.Instances-1), c.Inst, "the scale-out starts the last instance")
	assert.Equal(t, c.At, st.At.Nanoseconds())
	// Before it, the state line says it had not started.
	text := storyText(s)
	assert.Contains(t, text, "not started")
	c.At--
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	assert.Error(t, x.check(c, nil), "another start time is false")
}

func TestStoryTellsAPause(t *testing.T) {
	s, st := findStory(t, "local-cache", faults.Of(faults.Zombie), "pauses whole for ", 200)
	require.NoError(t, s.Verify(), storyText(s))
	assert.Contains(t, st.Text, "(zombie): no progress, no heartbeat")
	c := claimOf(t, st.Claims, ClaimStall)
	assert.True(t, c.Yes, "a pause, not a slow handler")
	// Told as a slow handler, it would be false.
	c.Yes = false
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	assert.Error(t, x.check(c, nil))

	// Where the story goes on past the pause, it tells the resume, at
	// the pause's end: a step between records (none records it).
	s, st = findStory(t, "local-cache", faults.Of(faults.Zombie), "resumes where it paused", 200)
	require.NoError(t, s.Verify(), storyText(s))
	assert.Equal(t, -1, st.Record)
	c = claimOf(t, st.Claims, ClaimStall)
	assert.True(t, c.Yes)
	assert.Equal(t, s.Result.Trace[c.Rec].At+c.Dur, st.At.Nanoseconds())
}

// TestPauseOnAQueueWithNoAckDeadline: the queue hears a pause as its
// consumer's silence, and with no ack deadline takes back what the
// paused instance held at once, at the head of the queue.
func TestPauseOnAQueueWithNoAckDeadline(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		cfg := sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Zombie), Seed: seed, Instances: 2, Events: 2,
			Broker: noDeadline}
		s, err := Tell(cfg)
		require.NoError(t, err)
		for _, st := range s.Steps {
			if strings.Contains(st.Text, "pauses whole") && strings.Contains(st.Text, "closes its channel") {
				require.NoError(t, s.Verify(), storyText(s))
				assert.Contains(t, storyText(s), "channel closed (it paused whole")
				return
			}
		}
	}
	t.Fatal("no story of a pause on a queue with no ack deadline in 300 seeds")
}
