package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// The log's stories: the group's records told, and every claim of them
// held to the trace.

// TestEveryClaimOfEveryLogStoryIsTrue tells runs of the log of every
// registered strategy under every scenario, and holds each story's
// claims to its trace.
func TestEveryClaimOfEveryLogStoryIsTrue(t *testing.T) {
	storyStrategies(t)
	seeds := uint64(30)
	if testing.Short() {
		seeds = 6
	}
	for _, st := range strategies.NamesOn("log") {
		for _, sc := range append(faults.Scenarios(), 0) {
			t.Run(st+"/"+sc.String(), func(t *testing.T) {
				t.Parallel()
				told := 0
				for seed := uint64(1); seed <= seeds; seed++ {
					// The log's defaults, and other parameters in
					// turn: fewer partitions and batches, a commit
					// per record and a shorter session, and
					// auto-commits.
					params := []run.BrokerParams{{}, {Partitions: 2, Batch: 2}, {Commit: run.CommitRecord, SessionTimeout: time.Second}, {Commit: run.CommitAuto}}
					cfg := sim.Config{Strategy: st, Faults: sc, Seed: seed, Instances: 1 + int(seed%3), Events: 1 + int(seed%4), BrokerModel: "log", Broker: params[seed%4]}
					for _, s := range storiesOf(t, cfg) {
						told++
						if err := s.Verify(); err != nil {
							t.Fatalf("%+v: %v\n\n%s", cfg.Broker, err, storyText(s))
						}
					}
				}
				require.Positive(t, told)
			})
		}
	}
}

// findLogStory is findStory on the log; a story qualifies only if its
// why also contains why (any, if why is "").
func findLogStory(t *testing.T, strategy string, fs faults.Set, want string, seeds int, why ...string) (*Story, Step) {
	t.Helper()
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		for _, size := range [][2]int{{2, 1}, {3, 3}, {2, 4}} {
			cfg := sim.Config{Strategy: strategy, Faults: fs, Seed: seed, Instances: size[0], Events: size[1], BrokerModel: "log"}
			s, err := Tell(cfg)
			require.NoError(t, err)
			if len(why) > 0 && !strings.Contains(s.Why, why[0]) {
				continue
			}
			for _, st := range s.Steps {
				if strings.Contains(st.Text, want) {
					return s, st
				}
			}
		}
	}
	t.Fatalf("no story of %s under %s on the log in %d seeds tells %q", strategy, fs, seeds, want)
	return nil, Step{}
}

// TestLogStoryOfAMovedPartition is the course's favourite bug in its
// modern form: the cache worked, then a partition moved from one
// instance to another at a new generation, and the new owner's empty
// cache applied the event again, having begun at a committed offset that
// had not passed it.
func TestLogStoryOfAMovedPartition(t *testing.T) {
	s, st := findLogStory(t, "local-cache", faults.Of(faults.Zombie), "ends a rebalance with generation", 100, "moved from instance")
	require.NoError(t, s.Verify(), storyText(s))
	require.Equal(t, Duplicate, s.Kind)
	assert.Regexp(t, `partition \d+ moves from instance \d+ to instance \d+, which will read it from the group's committed offset, \d+`, st.Text)
	assert.Equal(t, run.Assign, s.Result.Trace[st.Record].Kind)
	var owners []Claim
	for _, c := range st.Claims {
		if c.Kind == ClaimOwner {
			owners = append(owners, c)
		}
	}
	require.Len(t, owners, 2, "the owner after the rebalance, and the one before")
	assert.NotEqual(t, owners[0].Inst, owners[1].Inst)
	assert.Equal(t, owners[0].N, owners[1].N+1, "one generation later")
	assert.Regexp(t, `The second copy reached instance \d+ because partition \d+ moved from instance \d+ to instance \d+ at generation \d+, and instance \d+ began reading it at the group's committed offset, \d+, which was not past m\d+ \(offset \d+ of partition \d+\)`, s.Why)
	// The receive says where the record is.
	text := storyText(s)
	assert.Regexp(t, `receives m\d+ \(event \d+\) again, offset \d+ of partition \d+, fetched in generation \d+`, text)
	// A false owner fails.
	bad := owners[0]
	bad.Inst = owners[1].Inst
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	assert.Error(t, x.check(bad, nil))
	// So does a false committed offset.
	for _, c := range st.Claims {
		if c.Kind == ClaimCommitted {
			c.Offset++
			assert.Error(t, x.check(c, nil))
		}
	}
}

// TestLogStoryOfAZombie: a member pauses past its session timeout, is
// evicted, its partition moves, and when it resumes its commit is fenced
// while its effect stands; the fix, replayed on the same schedule,
// applies the event once.
func TestLogStoryOfAZombie(t *testing.T) {
	s, st := findLogStory(t, "local-cache", faults.Of(faults.Zombie), "its effect is already in the ledger", 200)
	require.NoError(t, s.Verify(), storyText(s))
	assert.Regexp(t, `refuses instance \d+'s commit of partition \d+ up to offset \d+: `, st.Text)
	assert.Contains(t, st.Text, "a fence stops offsets, not effects")
	c := claimOf(t, st.Claims, ClaimFenced)
	assert.Equal(t, run.Fenced, s.Result.Trace[c.Rec].Kind)
	claimOf(t, st.Claims, ClaimApplied)
	text := storyText(s)
	assert.Contains(t, text, "pauses whole for")
	assert.Regexp(t, `evicts instance \d+ from the group`, text)
	require.NotNil(t, s.Fix, "the fix replayed on the same schedule")
	assert.Contains(t, text, "--broker log", "the replay lines keep the log")
	// A false fence fails.
	c.Yes = !c.Yes
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	assert.Error(t, x.check(c, nil))
}

// TestLogStoryOfALostCommit: a commit whose reply is lost took effect;
// one sent while cut off from the broker never leaves.
func TestLogStoryOfALostCommit(t *testing.T) {
	s, st := findLogStory(t, "local-cache", faults.Of(faults.Redeliver, faults.Rebalance), "but its reply is lost on the way", 200)
	require.NoError(t, s.Verify(), storyText(s))
	assert.Regexp(t, `commits partition \d+ up to offset \d+, past m\d+; the commit reaches the broker, but its reply is lost on the way`, st.Text)
	c := claimOf(t, st.Claims, ClaimAck)
	assert.False(t, c.Yes)
	assert.Equal(t, run.ReplyLost, s.Result.Trace[st.Record].Cause)

	// Cut off from the broker, the commit never leaves (found by a
	// search of seeds: none under all, seed 5).
	cfg := sim.Config{Strategy: "none", Faults: faults.AllFaults, Seed: 5, Instances: 2, Events: 4, BrokerModel: "log"}
	for _, s := range storiesOf(t, cfg) {
		for _, st := range s.Steps {
			if strings.Contains(st.Text, "the commit never leaves") {
				require.NoError(t, s.Verify(), storyText(s))
				claimOf(t, st.Claims, ClaimCommitted)
				claimOf(t, st.Claims, ClaimCut)
				return
			}
		}
	}
	t.Fatalf("no story of %s tells a commit cut off from the broker", cfg.Reproduce())
}

// TestLogFactsDoneByCommittedOffset: on the log an event is done when its
// partition's committed offset passed it, and the facts agree with the
// run's own verdicts.
func TestLogFactsDoneByCommittedOffset(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		for _, sc := range []faults.Set{faults.Of(faults.Rebalance), faults.Of(faults.Zombie), faults.AllFaults} {
			cfg := sim.Config{Strategy: "local-cache", Faults: sc, Seed: seed, Instances: 3, Events: 20, BrokerModel: "log", KeepTrace: true}
			res, err := sim.Run(cfg)
			require.NoError(t, err)
			f := NewFacts(cfg, res.Trace)
			require.NotNil(t, f.Group)
			unsettled, lost := 0, 0
			for id := 1; id < len(f.Events); id++ {
				e := &f.Events[id]
				if !e.Settled {
					unsettled++
				}
				if e.Done && len(e.Applications) == 0 {
					lost++
				}
			}
			assert.Equal(t, res.Stuck, unsettled, "seed %d %s: the events not settled", seed, sc)
			assert.Equal(t, res.Lost, lost, "seed %d %s: the events done and never applied", seed, sc)
			for _, m := range f.Messages[1:] {
				assert.Positive(t, m.Part, "every message of the log has a partition")
			}
		}
	}
}

// TestTimelineDrawsMembershipAndOwnership: the timeline draws what the
// story tells of instances that come and go (a graceful leave and its
// return, a late start, a pause as a band of its own) and, on the log,
// each instance's partitions by generation, the rebalances and the
// fenced commits, each with its legend entry, and only what happened.
func TestTimelineDrawsMembershipAndOwnership(t *testing.T) {
	count := func(f *Facts) (leaves, pauses, fenced int) {
		for _, l := range f.Leaves {
			if l.Stops() {
				leaves++
			}
		}
		for _, s := range f.Stalls {
			if s.Paused {
				pauses++
			}
		}
		if f.Group != nil {
			for _, c := range f.Group.Commits {
				if c.Fenced {
					fenced++
				}
			}
		}
		return
	}
	seen := map[*marker]bool{}
	for seed := uint64(1); seed <= 8; seed++ {
		for _, model := range []string{"queue", "log"} {
			cfg := sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Rebalance, faults.Zombie), Seed: seed, Instances: 3, Events: 6, BrokerModel: model}
			s, err := Tell(cfg)
			require.NoError(t, err)
			f := s.Facts()
			tl := buildTimeline(s)
			leaves, pauses, fenced := count(f)
			assert.Len(t, tl.points[&mLeave], leaves, "%+v", cfg)
			assert.Len(t, tl.spans[&spanPause], pauses, "%+v", cfg)
			assert.Len(t, tl.points[&mFenced], fenced, "%+v", cfg)
			if f.Late != nil && f.Late.At <= f.LastRecord() {
				assert.Len(t, tl.points[&mStart], 1, "%+v", cfg)
			}
			if model == "log" {
				require.NotNil(t, f.Group)
				n := 0
				for _, a := range f.Group.Assignments {
					if len(a.Parts) > 0 {
						n++
					}
				}
				assert.NotEmpty(t, tl.spans[&spanOwn])
				assert.LessOrEqual(t, len(tl.spans[&spanOwn]), n, "at most one band per assignment")
				assert.Len(t, tl.notes, len(tl.spans[&spanOwn]), "one note per band")
				for _, sp := range tl.spans[&spanOwn] {
					assert.Less(t, sp[0].X, sp[1].X, "a band that lasts")
				}
				assert.Len(t, tl.points[&mRebalance], len(f.Group.Rebalances))
				assert.Empty(t, tl.points[&mAck], "on the log an ack is a commit")
			} else {
				assert.Empty(t, tl.spans[&spanOwn], "the queue has no partitions")
			}
			var svg strings.Builder
			require.NoError(t, WriteTimeline(&svg, s, SVG))
			for _, m := range []*marker{&mLeave, &mStart, &mFenced, &mRebalance, &mCommit} {
				if len(tl.points[m]) > 0 {
					seen[m] = true
					assert.Contains(t, svg.String(), m.name, "the legend names it")
				} else {
					assert.NotContains(t, svg.String(), m.name, "no legend entry for what did not happen")
				}
			}
			for _, m := range []*marker{&spanPause, &spanOwn} {
				if len(tl.spans[m]) > 0 {
					seen[m] = true
					assert.Contains(t, svg.String(), m.name)
				}
			}
			var png strings.Builder
			require.NoError(t, WriteTimeline(&png, s, PNG))
		}
	}
	for _, m := range []*marker{&mLeave, &mStart, &mRebalance, &mCommit, &spanPause, &spanOwn} {
		assert.True(t, seen[m], "some run draws %q", m.name)
	}
}

// TestUnknownRecordKindsAreToldNeutrally: a record of a kind explain does
// not know (a third broker model's own) is told by its kind and detail,
// and Verify holds the step to the trace like any other.
func TestUnknownRecordKindsAreToldNeutrally(t *testing.T) {
	cfg := sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 2, Instances: 2, Events: 1, KeepTrace: true}
	res, err := sim.Run(cfg)
	require.NoError(t, err)
	require.Positive(t, res.Duplicates)
	var trace []run.Record
	added := -1
	for _, r := range res.Trace {
		trace = append(trace, r)
		if r.Kind == run.Publish && added < 0 {
			added = len(trace)
			trace = append(trace, run.Record{At: r.At, Kind: lastKnownKind + 1, Inst: -1, Msg: r.Msg, Event: r.Event})
		}
	}
	res.Trace = trace
	a := analyzeEvent(cfg, trace, 1)
	s := a.story()
	s.Result = res
	require.NoError(t, s.Verify(), storyText(s))
	found := false
	for _, st := range s.Steps {
		if st.Record == added {
			found = true
			assert.Contains(t, st.Text, (lastKnownKind + 1).String())
			assert.Equal(t, actorBroker, st.Actor)
		}
	}
	assert.True(t, found, "the unknown record is told:\n%s", storyText(s))
}

// TestLogStoryOfTheReadmeLesson tells the run the README gives as the
// log's lesson (local-cache under redeliver,rebalance, seed 4): a
// producer's duplicate that reaches a partition's new owner after a
// rebalance a returning instance set off. If the log's model changes that
// run, the README's seed changes with it.
func TestLogStoryOfTheReadmeLesson(t *testing.T) {
	cfg := sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver, faults.Rebalance), Seed: 4, Instances: 3, Events: 200, BrokerModel: "log"}
	s, err := Tell(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Verify(), storyText(s))
	require.Equal(t, Duplicate, s.Kind)
	text := storyText(s)
	assert.Regexp(t, `begins a rebalance: instance \d+ joined; generation \d+ ends`, text)
	assert.Regexp(t, `partition \d+ moves from instance \d+ to instance \d+`, text)
	assert.Regexp(t, `between them partition \d+ moved from instance \d+ to instance \d+ at generation \d+: the second copy went to an owner that had not seen the first`, s.Why)
	assert.Empty(t, s.Note, "both faults play a part")
}
