package explain

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// The story-vs-trace test: every claim of every story, held to the run's
// trace by Story.Verify (verify.go).

// TestEveryClaimOfEveryStoryIsTrue tells the run of every registered
// strategy (the built-ins and the test strategies below) under every
// scenario and many seeds, the focus event's story with its fix and the
// story of every other event that shows a violation, and holds each claim
// to the trace. A story that states what the run did not do fails.
func TestEveryClaimOfEveryStoryIsTrue(t *testing.T) {
	storyStrategies(t)
	seeds := uint64(50)
	if testing.Short() {
		seeds = 6
	}
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, sc := range append(faults.Scenarios(), 0) {
			t.Run(st+"/"+sc.String(), func(t *testing.T) {
				t.Parallel()
				told := 0
				for seed := uint64(1); seed <= seeds; seed++ {
					cfg := sim.Config{Strategy: st, Faults: sc, Seed: seed, Instances: 1 + int(seed%3), Events: 1 + int(seed%4)}
					for _, s := range storiesOf(t, cfg) {
						told++
						if err := s.Verify(); err != nil {
							t.Fatalf("%v\n\n%s", err, storyText(s))
						}
					}
				}
				require.Positive(t, told)
			})
		}
	}
}

// storiesOf tells the run cfg: Tell's story, with its fix, and the story
// of each other event with a violation.
func storiesOf(t *testing.T, cfg sim.Config) []*Story {
	t.Helper()
	s, err := Tell(cfg)
	require.NoError(t, err)
	out := []*Story{s}
	f := s.Facts()
	for id := uint32(1); int(id) < len(f.Events); id++ {
		if id == s.Event {
			continue
		}
		a := analyzeEvent(s.Config, s.Result.Trace, id)
		if a.kind == NoViolation {
			continue
		}
		o := a.story()
		o.Result = s.Result
		out = append(out, o)
	}
	return out
}

// checkStory is what Verify finds false in s, none if all holds.
func checkStory(s *Story) []string {
	var fc *FalseClaimsError
	switch err := s.Verify(); {
	case err == nil:
		return nil
	case errors.As(err, &fc):
		return fc.Problems
	default:
		return []string{err.Error()}
	}
}

// storyText is the story as WriteTo writes it.
func storyText(s *Story) string {
	var b strings.Builder
	_, _ = s.WriteTo(&b)
	return b.String()
}

var registerStories sync.Once

// storyStrategies registers, besides the custom strategies of the
// teaching tests, the strategies the story-vs-trace test tells because
// explain once told them falsely: two keys per event (a lock and a
// record, as AWS Powertools keeps), with and without a description that
// names the record its mark; a memory written before the effect; and
// handlers that ack after their effect failed.
func storyStrategies(t *testing.T) {
	t.Helper()
	customStrategies(t)
	registerStories.Do(func() {
		for _, s := range []strategies.Strategy{
			{Name: "test-two-keys", Needs: strategies.NeedsKV,
				New: func(d strategies.Deps) (strategies.Handler, error) {
					return twoKeys{kv: d.KV, ledger: d.Ledger, d: d}, nil
				}},
			{Name: "test-two-keys-marked", Needs: strategies.NeedsKV,
				New: func(d strategies.Deps) (strategies.Handler, error) {
					return twoKeys{kv: d.KV, ledger: d.Ledger, d: d}, nil
				},
				Teaching: strategies.Teaching{Mark: "record", MarkKey: func(id strategies.EventID) string { return "idem:" + strconv.FormatUint(uint64(id), 10) }}},
			{Name: "test-memory-first", Memory: true,
				New: func(d strategies.Deps) (strategies.Handler, error) {
					return &rememberFirst{ledger: d.Ledger, seen: map[strategies.EventID]bool{}}, nil
				}},
			// Its description says it writes its memory after the effect,
			// which its handler belies: the story must not follow the
			// description where the trace shows otherwise.
			{Name: "test-memory-first-said", Memory: true,
				New: func(d strategies.Deps) (strategies.Handler, error) {
					return &rememberFirst{ledger: d.Ledger, seen: map[strategies.EventID]bool{}}, nil
				},
				Teaching: strategies.Teaching{Remembers: strategies.MemoryOnApplied}},
			{Name: "test-skip-on-error",
				New: func(d strategies.Deps) (strategies.Handler, error) {
					return ackOnError{ledger: d.Ledger, out: strategies.Skipped}, nil
				}},
			{Name: "test-drop-on-error",
				New: func(d strategies.Deps) (strategies.Handler, error) {
					return ackOnError{ledger: d.Ledger, out: strategies.Dropped}, nil
				}},
			// offset-in-db's fence on the queue: each event is record 0
			// of a partition of its own, so that the offset calls, their
			// waits and their answers are told in every scenario.
			{Name: "test-offset-fence",
				New: func(d strategies.Deps) (strategies.Handler, error) {
					return offsetFence{strategies.OffsetInDB{Ledger: d.Ledger}}, nil
				}},
		} {
			require.NoError(t, strategies.Register(s))
		}
	})
}

// twoKeys keeps two keys per event, as AWS Powertools' idempotency
// utility keeps a lock and a record: SET NX of the lock idem:lock:ID for
// the lease; the record idem:ID says COMPLETED once the effect committed;
// the lock is released after.
type twoKeys struct {
	kv     strategies.KV
	ledger strategies.Ledger
	d      strategies.Deps
}

func (s twoKeys) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	id := strconv.FormatUint(uint64(e.ID), 10)
	lock, rec := "idem:lock:"+id, "idem:"+id
	took, err := s.kv.Set(ctx, lock, "1", strategies.IfAbsent, s.d.Lease)
	if err != nil {
		return 0, err
	}
	v, found, err := s.kv.Get(ctx, rec)
	if err != nil {
		return 0, err
	}
	switch {
	case found && v == "COMPLETED":
		if took {
			_, _ = s.kv.Del(ctx, lock)
		}
		return strategies.Skipped, nil
	case !took:
		return strategies.RetryLater, nil
	}
	tx, err := s.ledger.Begin(ctx)
	if err != nil {
		return 0, err
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	_, _ = s.kv.Set(ctx, rec, "COMPLETED", strategies.Always, s.d.MarkTTL)
	_, _ = s.kv.Del(ctx, lock)
	return strategies.Applied, nil
}

// ackOnError applies every delivery and, when the effect fails, returns
// out (Skipped or Dropped) instead of the error: the delivery is acked
// with its effect's fate unknown.
type ackOnError struct {
	ledger strategies.Ledger
	out    strategies.Outcome
}

func (s ackOnError) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	tx, err := s.ledger.Begin(ctx)
	if err != nil {
		return s.out, nil
	}
	if err := tx.Apply(ctx, e); err != nil {
		_ = tx.Rollback(ctx)
		return s.out, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return s.out, nil
	}
	return strategies.Applied, nil
}

// TestVerifyFindsAFalseClaim: Verify passes a story as told, and fails
// one whose claims or words are changed to say what the run did not do,
// naming where.
func TestVerifyFindsAFalseClaim(t *testing.T) {
	tell := func() *Story {
		s, err := Tell(sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 2, Instances: 2, Events: 1})
		require.NoError(t, err)
		require.NoError(t, s.Verify(), "the story as told")
		return s
	}
	for name, change := range map[string]func(s *Story){
		"a step's time": func(s *Story) { s.Steps[2].Claims[0].At++ },
		"an answer": func(s *Story) {
			s.Steps[2].Claims = append(s.Steps[2].Claims, Claim{Kind: ClaimCall, Call: 1, Rec: -1, Inst: 1, Answer: 1})
		},
		"the header's count": func(s *Story) {
			s.HeaderClaims[0].N = 3
		},
		"a name no claim states": func(s *Story) { s.Why += " Instance 7 did it." },
		"a record past the trace": func(s *Story) {
			s.Steps[0].Claims = append(s.Steps[0].Claims, Claim{Kind: ClaimAttemptApplied, Rec: 1 << 20, Inst: -1, Yes: true})
		},
		"an event past the run's": func(s *Story) {
			s.WhyClaims = append(s.WhyClaims, Claim{Kind: ClaimLedger, Event: 99, Rec: -1, Inst: -1, N: 1})
		},
	} {
		s := tell()
		change(s)
		err := s.Verify()
		var fc *FalseClaimsError
		require.ErrorAs(t, err, &fc, name)
		assert.NotEmpty(t, fc.Problems, name)
		assert.Contains(t, err.Error(), "explain: the story of event 1 of idemsim run --strategy local-cache --faults redeliver --seed 2 --instances 2 --events 1 --broker queue states", name)
	}
	assert.ErrorContains(t, (&Story{Config: sim.Config{Strategy: "local-cache", Seed: 1}}).Verify(), "has no trace to check")
}

// TestHeaderSaysTheProducerPublishedTwice: the header of a story whose
// event the producer published twice says so, as the trace's Publish
// records show; a story of an event published once says nothing of it.
func TestHeaderSaysTheProducerPublishedTwice(t *testing.T) {
	s, err := Tell(sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 2, Instances: 2, Events: 1})
	require.NoError(t, err)
	assert.Equal(t, "local-cache under redeliver: 2 instances, 1 event, seed 2. The producer published event 1 twice, as m1 and m2.", s.Header)
	assert.True(t, strings.HasPrefix(storyText(s), s.Header+"\n"))
	publishes := 0
	for _, r := range s.Result.Trace {
		if r.Kind == run.Publish && r.Event == s.Event {
			publishes++
		}
	}
	assert.Equal(t, 2, publishes)

	once, err := Tell(sim.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 182, Instances: 1, Events: 1})
	require.NoError(t, err)
	assert.Equal(t, "redis under crash: 1 instance, 1 event, seed 182.", once.Header)
	assert.Empty(t, once.HeaderClaims)
	require.NoError(t, once.Verify())
}

// offsetFence is offset-in-db with each event record 0 of a partition of
// its own (the partition is the event's id).
type offsetFence struct{ h strategies.OffsetInDB }

func (f offsetFence) Handle(ctx context.Context, e strategies.Event) (strategies.Outcome, error) {
	e.Partition, e.Offset = int(e.ID), 0
	return f.h.Handle(ctx, e)
}
