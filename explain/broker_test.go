package explain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// Stories of runs with the queue's parameters set (run.BrokerParams): a
// queue with no ack deadline, whose messages come back only when a
// channel closes, and a maximum number of deliveries, after which a
// message is dead-lettered and its event may be dead.

// noDeadline is RabbitMQ's queue: no ack deadline.
var noDeadline = run.BrokerParams{AckDeadline: run.NoAckDeadline}

// storyParts is every text of s, with where it is: its steps, its
// violation and its why.
func storyParts(s *Story) map[string]string {
	parts := map[string]string{"violation": s.Violation, "why": s.Why}
	for _, st := range s.Steps {
		parts[fmt.Sprintf("step %d", st.N)] = st.Text
	}
	return parts
}

// channelClosedEvents are the events with a requeue whose channel closed,
// in the order of their first.
func channelClosedEvents(trace []run.Record) []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	for _, r := range trace {
		if r.Kind == run.Requeue && r.Cause == run.ChannelClosed && !seen[r.Event] {
			seen[r.Event] = true
			out = append(out, r.Event)
		}
	}
	return out
}

// checkRequeueWords checks that each step telling a requeue says its
// cause, and only its own: "channel closed" for a closed channel, the ack
// deadline for a deadline, the nack for a nack.
func checkRequeueWords(t *testing.T, s *Story) {
	t.Helper()
	for _, st := range s.Steps {
		if st.Record < 0 || s.Result.Trace[st.Record].Kind != run.Requeue {
			continue
		}
		r := s.Result.Trace[st.Record]
		closed := strings.Contains(st.Text, "channel closed")
		deadline := strings.Contains(st.Text, "ack deadline")
		nack := strings.Contains(st.Text, "nack")
		switch r.Cause {
		case run.ChannelClosed:
			assert.True(t, closed && !deadline && !nack, "step %d tells a closed channel's requeue as %q\n%s", st.N, st.Text, storyText(s))
			assert.Contains(t, st.Text, "head of the queue", "step %d", st.N)
		case run.DeadlinePassed:
			assert.True(t, deadline && !closed && !nack, "step %d tells a deadline's requeue as %q", st.N, st.Text)
		case run.AfterNack:
			assert.True(t, nack && !closed && !deadline, "step %d tells a nack's requeue as %q", st.N, st.Text)
		}
	}
}

// TestChannelClosedToldAsSuch: on a queue with no ack deadline, a message
// that comes back came back because its instance's channel closed (a
// crash, a cut from the broker, a lost ack); the stories of such events
// say so, in steps and in the why, never that an ack deadline passed, and
// every claim holds. The same runs with the deadline never say "channel
// closed".
func TestChannelClosedToldAsSuch(t *testing.T) {
	seeds := uint64(6)
	if testing.Short() {
		seeds = 3
	}
	told, closedSteps := 0, 0
	for _, st := range []string{"none", "db-unique", "local-cache", "redis"} {
		for _, fl := range []faults.Fault{faults.Crash, faults.Partition, faults.Slow} {
			for seed := uint64(1); seed <= seeds; seed++ {
				cfg := sim.Config{Strategy: st, Faults: faults.Of(fl), Seed: seed, Instances: 3, Events: 12, Broker: noDeadline}
				s, err := Tell(cfg)
				require.NoError(t, err)
				stories := []*Story{s}
				evs := channelClosedEvents(s.Result.Trace)
				if len(evs) > 2 {
					evs = evs[:2]
				}
				for _, ev := range evs {
					o, err := TellEvent(cfg, ev)
					require.NoError(t, err)
					stories = append(stories, o)
				}
				for _, o := range stories {
					told++
					require.NoError(t, o.Verify(), "%s\n%s", cfg.Reproduce(), storyText(o))
					checkRequeueWords(t, o)
					for where, text := range storyParts(o) {
						assert.NotContains(t, text, "ack deadline", "%s: %s of a run with no ack deadline", cfg.Reproduce(), where)
						if strings.Contains(text, "channel closed") {
							closedSteps++
						}
					}
				}

				// The same run with the deadline closes no channel.
				cfg.Broker = run.BrokerParams{}
				s, err = Tell(cfg)
				require.NoError(t, err)
				require.NoError(t, s.Verify())
				checkRequeueWords(t, s)
				for where, text := range storyParts(s) {
					assert.NotContains(t, text, "channel closed", "%s: %s", cfg.Reproduce(), where)
				}
			}
		}
	}
	assert.Positive(t, told)
	assert.Positive(t, closedSteps, "some story tells a channel closing: the test can tell")
}

// alwaysFails is a consumer whose handler always fails.
type alwaysFails struct{}

func (alwaysFails) Handle(context.Context, strategies.Event) (strategies.Outcome, error) {
	return 0, errors.New("always fails")
}

// registerAlwaysFails registers a strategy whose handler always fails,
// for the test's duration.
func registerAlwaysFails(t *testing.T) string {
	t.Helper()
	const name = "test-explain-always-fails"
	require.NoError(t, strategies.Register(strategies.Strategy{Name: name,
		New: func(strategies.Deps) (strategies.Handler, error) { return alwaysFails{}, nil }}))
	t.Cleanup(func() { strategies.Unregister(name) })
	return name
}

// TestDeadLetterToldAsSuch: a handler that always fails, under a maximum
// of 3 deliveries: each event's message is dead-lettered after its third
// delivery and the event is dead. Its story tells the dead-letter in its
// step and says "dead" in the verdict, not lost and not stuck; every claim
// holds; "dead-letter" appears nowhere else.
func TestDeadLetterToldAsSuch(t *testing.T) {
	name := registerAlwaysFails(t)
	for _, pb := range []run.BrokerParams{{MaxDeliveries: 3}, {MaxDeliveries: 3, AckDeadline: run.NoAckDeadline}} {
		cfg := sim.Config{Strategy: name, Seed: 1, Instances: 2, Events: 3, Broker: pb}
		whole, err := Tell(cfg)
		require.NoError(t, err)
		assert.Equal(t, 3, whole.Result.Dead)
		assert.Equal(t, NoViolation, whole.Kind, "%+v: a dead event is not a violation", pb)
		require.NoError(t, whole.Verify())
		for ev := uint32(1); ev <= 3; ev++ {
			s, err := TellEvent(cfg, ev)
			require.NoError(t, err)
			require.NoError(t, s.Verify(), "%+v\n%s", pb, storyText(s))
			e := s.Facts().Event(ev)
			require.NotNil(t, e)
			assert.True(t, e.Dead && e.Settled && !e.Done, "%+v: event %d is dead and settled, not done", pb, ev)
			assert.Equal(t, NoViolation, s.Kind)
			assert.Contains(t, s.Violation, fmt.Sprintf("event %d is dead", ev), "%+v", pb)
			assert.NotContains(t, s.Violation, "is lost")
			assert.NotContains(t, s.Violation, "exactly once")
			assert.Contains(t, s.Why, "ack through")
			dl := 0
			for _, st := range s.Steps {
				isDL := st.Record >= 0 && s.Result.Trace[st.Record].Kind == run.DeadLetter
				if isDL {
					dl++
					r := s.Result.Trace[st.Record]
					assert.Contains(t, st.Text, fmt.Sprintf("dead-letters m%d after 3 deliveries", r.Msg))
					assert.Contains(t, st.Text, fmt.Sprintf("event %d is dead, never applied", ev))
					assert.Equal(t, "broker", st.Actor)
				} else {
					assert.NotContains(t, st.Text, "dead-letter", "%+v: step %d", pb, st.N)
				}
			}
			checkRequeueWords(t, s)
			assert.Equal(t, 1, dl, "%+v: the story of event %d tells its dead-letter once", pb, ev)
		}
	}
}

// TestBrokerClaimsCanFail: the new claims are held to the records: a
// closed channel's requeue is not a nack's (ClaimRequeue), another
// requeue is not a closed channel's, a dead-letter's count of deliveries
// is checked, and an applied event is not dead.
func TestBrokerClaimsCanFail(t *testing.T) {
	cfg := sim.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Instances: 3, Events: 12, Broker: noDeadline}
	var s *Story
	closedRec := -1
	for seed := uint64(1); seed <= 20 && closedRec < 0; seed++ {
		cfg.Seed = seed
		res, err := sim.Run(withTrace(cfg))
		require.NoError(t, err)
		if evs := channelClosedEvents(res.Trace); len(evs) > 0 {
			s, err = TellEvent(cfg, evs[0])
			require.NoError(t, err)
			for _, st := range s.Steps {
				for _, c := range st.Claims {
					if c.Kind == ClaimChannelClosed {
						closedRec = c.Rec
					}
				}
			}
		}
	}
	require.GreaterOrEqual(t, closedRec, 0, "a crash on a queue with no deadline closes a channel in some seed")
	require.NoError(t, s.Verify())
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	r := s.Result.Trace[closedRec]
	good := claim(ClaimChannelClosed)
	good.Rec, good.Msg, good.Inst, good.N = closedRec, r.Msg, r.Inst, closedBy(s.Result.Trace, closedRec-1, &r)
	require.NoError(t, x.check(good, nil))
	assert.GreaterOrEqual(t, good.N, 0, "a crash or a cut closed it")

	asNack := claim(ClaimRequeue)
	asNack.Rec, asNack.Msg, asNack.Inst = closedRec, r.Msg, r.Inst
	assert.Error(t, x.check(asNack, nil), "a closed channel's requeue told as after a nack")
	wrongWhy := good
	wrongWhy.N = closedRec - 1
	if wrongWhy.N != good.N {
		assert.Error(t, x.check(wrongWhy, nil), "another record as why the channel closed")
	}
	otherInst := good
	otherInst.Inst = (r.Inst + 1) % 3
	assert.Error(t, x.check(otherInst, nil))
	notRequeue := good
	notRequeue.Rec = 0
	assert.Error(t, x.check(notRequeue, nil))

	// An applied event is not dead, and no copy of it was dead-lettered.
	applied := uint32(0)
	for id := 1; id < len(s.Facts().Events); id++ {
		if len(s.Facts().Events[id].Applications) > 0 {
			applied = uint32(id)
		}
	}
	require.NotZero(t, applied)
	dead := claim(ClaimDead)
	dead.Event = applied
	assert.Error(t, x.check(dead, nil))

	// A dead-letter: the right count holds, another does not.
	name := registerAlwaysFails(t)
	fcfg := sim.Config{Strategy: name, Seed: 1, Instances: 2, Events: 2, Broker: run.BrokerParams{MaxDeliveries: 2}}
	res, err := sim.Run(withTrace(fcfg))
	require.NoError(t, err)
	fx := newTraceIndex(fcfg.WithDefaults(), res.Trace, lookupStrategy(name))
	found := false
	for i, rec := range res.Trace {
		if rec.Kind != run.DeadLetter {
			continue
		}
		found = true
		c := claim(ClaimDeadLetter)
		c.Rec, c.Msg, c.Event, c.N = i, rec.Msg, rec.Event, 2
		assert.NoError(t, fx.check(c, nil))
		c.N = 3
		assert.Error(t, fx.check(c, nil))
		d := claim(ClaimDead)
		d.Event = rec.Event
		assert.NoError(t, fx.check(d, nil))
	}
	assert.True(t, found)
}

// withTrace is cfg with its trace kept.
func withTrace(cfg sim.Config) sim.Config {
	cfg.KeepTrace = true
	return cfg
}

// TestEveryClaimOfEveryBrokerStoryIsTrue is TestEveryClaimOfEveryStoryIsTrue
// on queues with other parameters: no ack deadline, and a maximum of 2
// deliveries, alone and together, for every built-in strategy under every
// scenario and a few seeds.
func TestEveryClaimOfEveryBrokerStoryIsTrue(t *testing.T) {
	seeds := uint64(12)
	if testing.Short() {
		seeds = 4
	}
	params := []run.BrokerParams{noDeadline, {MaxDeliveries: 2}, {MaxDeliveries: 2, AckDeadline: run.NoAckDeadline}}
	t.Cleanup(func() {
		if !t.Failed() {
			assert.Positive(t, deadTold.Load(), "some runs have dead events: the test tells their stories")
		}
	})
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		if strings.HasPrefix(st, "test-") {
			continue
		}
		for _, sc := range append(faults.Scenarios(), 0) {
			t.Run(st+"/"+sc.String(), func(t *testing.T) {
				t.Parallel()
				told := 0
				for seed := uint64(1); seed <= seeds; seed++ {
					for _, pb := range params {
						cfg := sim.Config{Strategy: st, Faults: sc, Seed: seed, Instances: 1 + int(seed%3), Events: 1 + int(seed%4), Broker: pb}
						for _, s := range append(storiesOf(t, cfg), deadStories(t, cfg)...) {
							told++
							if err := s.Verify(); err != nil {
								t.Fatalf("%+v: %v\n\n%s", pb, err, storyText(s))
							}
						}
					}
				}
				require.Positive(t, told)
			})
		}
	}
}

// deadTold counts the dead events' stories told.
var deadTold atomic.Int64

// deadStories tells the story of each dead event of the run cfg.
func deadStories(t *testing.T, cfg sim.Config) []*Story {
	t.Helper()
	res, err := sim.Run(withTrace(normalize(cfg)))
	require.NoError(t, err)
	if res.Dead == 0 {
		return nil
	}
	var out []*Story
	a := analyze(normalize(cfg), res.Trace, NoViolation)
	for id := uint32(1); int(id) < len(a.facts.Events); id++ {
		if e := &a.facts.Events[id]; !e.Dead && !e.Refused {
			continue
		}
		s, err := TellEvent(cfg, id)
		require.NoError(t, err)
		out = append(out, s)
	}
	require.Len(t, out, res.Dead, "the facts' dead events (dead-lettered, or refused by a handler) are the run's")
	deadTold.Add(int64(len(out)))
	return out
}

// TestTimelineDrawsBrokerParams: the timeline draws a requeue because a
// channel closed and a dead-letter with marks of their own, one per
// record, each with its legend entry, and a requeue of another cause with
// the old mark.
func TestTimelineDrawsBrokerParams(t *testing.T) {
	count := func(trace []run.Record) (closed, other, dead int) {
		for _, r := range trace {
			switch {
			case r.Kind == run.Requeue && r.Cause == run.ChannelClosed:
				closed++
			case r.Kind == run.Requeue:
				other++
			case r.Kind == run.DeadLetter:
				dead++
			}
		}
		return
	}
	name := registerAlwaysFails(t)
	drawn := 0
	for _, cfg := range []sim.Config{
		{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1, Instances: 3, Events: 12, Broker: noDeadline},
		{Strategy: "none", Faults: faults.Of(faults.Partition), Seed: 2, Instances: 3, Events: 12, Broker: noDeadline},
		{Strategy: name, Seed: 1, Instances: 2, Events: 3, Broker: run.BrokerParams{MaxDeliveries: 2, AckDeadline: run.NoAckDeadline}},
		{Strategy: name, Seed: 1, Instances: 2, Events: 3, Broker: run.BrokerParams{MaxDeliveries: 3}},
	} {
		s, err := Tell(cfg)
		require.NoError(t, err)
		tl := buildTimeline(s)
		closed, other, dead := count(s.Result.Trace)
		assert.Len(t, tl.points[&mClosed], closed, "%+v", cfg)
		assert.Len(t, tl.points[&mRequeue], other, "%+v", cfg)
		assert.Len(t, tl.points[&mDead], dead, "%+v", cfg)
		drawn += closed + dead
		var svg strings.Builder
		require.NoError(t, WriteTimeline(&svg, s, "svg"))
		for _, m := range []*marker{&mClosed, &mDead} {
			if len(tl.points[m]) > 0 {
				assert.True(t, strings.Contains(svg.String(), m.name), "%+v: the legend names %q", cfg, m.name)
			} else {
				assert.False(t, strings.Contains(svg.String(), m.name), "%+v: no legend entry %q for what did not happen", cfg, m.name)
			}
		}
	}
	assert.Positive(t, drawn)
}

// TestSearchKeepsBrokerParams: a search with the queue's parameters runs
// them, and the config it finds, and the run Shrink makes of it, carry
// them.
func TestSearchKeepsBrokerParams(t *testing.T) {
	cfg, found, err := SearchWith("local-cache", faults.Of(faults.Crash), 3, 20, SearchOptions{Broker: noDeadline})
	require.NoError(t, err)
	require.True(t, found, "local-cache duplicates under crash on a queue with no deadline")
	assert.Equal(t, noDeadline, cfg.Broker)
	res, err := sim.Run(withTrace(cfg))
	require.NoError(t, err)
	assert.True(t, res.Violating())
	for _, r := range res.Trace {
		if r.Kind == run.Requeue {
			assert.NotEqual(t, run.DeadlinePassed, r.Cause, "no deadline passes")
		}
	}
	small, err := Shrink(cfg)
	require.NoError(t, err)
	assert.Equal(t, noDeadline, small.Broker, "Shrink keeps the parameters")
	story, err := Tell(small)
	require.NoError(t, err)
	require.NoError(t, story.Verify(), storyText(story))
	checkRequeueWords(t, story)
	assert.NotContains(t, storyText(story), "ack deadline")
}

// TestAckOnAClosedChannel: on a queue with no ack deadline, a handler that
// gives up and acks after its channel closed (a cut) acks a delivery the
// broker took back: the ack settles nothing, and the story says so rather
// than that the ack was lost or taken.
func TestAckOnAClosedChannel(t *testing.T) {
	storyStrategies(t)
	cfg := sim.Config{Strategy: "test-drop-on-error", Faults: faults.Of(faults.Partition), Seed: 2, Instances: 3, Events: 8, Broker: noDeadline}
	s, err := TellEvent(cfg, 6)
	require.NoError(t, err)
	require.NoError(t, s.Verify(), storyText(s))
	assert.Contains(t, storyText(s), "the broker had put m6 back when instance 1's channel closed, so the ack settles nothing")
	checkRequeueWords(t, s)
}

// TestMemoryClaimsWithPrefetch: with prefetch, a step can tell one
// event's delivery while its state line shows another event in a memory;
// a claim that an instance's memory did not hold that other event is not
// belied by the told attempt skipping its own event.
func TestMemoryClaimsWithPrefetch(t *testing.T) {
	storyStrategies(t)
	fs, err := faults.Parse("all")
	require.NoError(t, err)
	cfg := sim.Config{Strategy: "test-memory", Faults: fs, Seed: 15, Instances: 4, Events: 8, Broker: run.BrokerParams{Prefetch: 2, MaxDeliveries: 3}}
	s, err := TellEvent(cfg, 2)
	require.NoError(t, err)
	require.NoError(t, s.Verify(), storyText(s))
}
