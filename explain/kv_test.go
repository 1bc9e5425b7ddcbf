package explain

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
)

// explained is what `idemsim explain --strategy name` tells: the first
// scenario of Scenarios(name) (or fs, if not zero) with a violating seed,
// shrunk and told.
func explained(t *testing.T, name string, fs faults.Set) (*Story, string) {
	t.Helper()
	scenarios := Scenarios(name)
	if fs != 0 {
		scenarios = []faults.Set{fs}
	}
	for _, sc := range scenarios {
		found, ok := mustSearch(t, name, sc, 3, DefaultSeeds)
		if !ok {
			continue
		}
		s, err := Tell(mustShrink(t, found))
		require.NoError(t, err)
		var buf bytes.Buffer
		_, err = s.WriteTo(&buf)
		require.NoError(t, err)
		return s, buf.String()
	}
	t.Fatalf("%s: no violation to explain", name)
	return nil, ""
}

// TestRedisLeaseTellsTheLeaseExpiry is `idemsim explain --strategy
// redis-lease`: the holder's effect committed, its COMPLETED write never
// came, the lease ended, and the lease was taken again.
func TestRedisLeaseTellsTheLeaseExpiry(t *testing.T) {
	s, out := explained(t, "redis-lease", 0)
	require.Equal(t, Duplicate, s.Kind)
	for _, want := range []string{
		"takes the lease on event 1 with SET lease:1 INPROGRESS NX PX 10s: lease:1 was not there, so it is set and the lease is taken",
		"[redis: lease:1=INPROGRESS (until ",
		"lease:1 = INPROGRESS (a handler holds the lease), so the handler asks to retry later",
		"the handler asks to retry later, having applied nothing: it nacks m1",
		"lease:1 expires: instance 0 set it to INPROGRESS (a handler holds the lease)",
		"marks event 1 done with SET lease:1 COMPLETED PX 24h, now that the effect is committed",
		"why: redis-lease's lease ends with its TTL, whether or not the handler that took it has finished: instance 0 took the lease on event 1 at ",
		"but its COMPLETED write never came: it crashed with its Commit in flight",
		"Then lease:1 expired at ",
		"took the lease on event 1 again and applied the effect a second time",
		"fix: with db-unique instead, the same run (same seed, instances, events and faults) applies event 1 once",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "handler fails", "asking to retry later is no failure")
	assert.LessOrEqual(t, len(s.Steps), 25, "the retries while the lease lives are told as one step:\n%s", out)
	collapsed := 0
	for _, st := range s.Steps {
		if strings.Contains(st.Text, "more times, from") {
			collapsed++
		}
	}
	assert.Equal(t, 1, collapsed, "one step for the retries after the first")
}

// TestRedisReleaseTellsTheClaimAndTheRelease: a claim that a crashed
// holder left loses the event; a release after a commit whose reply was
// lost lets the effect apply twice.
func TestRedisReleaseTellsTheClaimAndTheRelease(t *testing.T) {
	s, out := explained(t, "redis-release", faults.Of(faults.Crash))
	require.Equal(t, Lost, s.Kind)
	for _, want := range []string{
		"is lost", "redis-release takes the claim before it applies the effect", "crashed with its SET NX (the claim) in flight",
		"found the claim and skipped", "[redis: claim:1=1 | ledger: none]",
	} {
		assert.Contains(t, out, want)
	}

	s, out = explained(t, "redis-release", faults.Of(faults.Partition))
	require.Equal(t, Duplicate, s.Kind)
	for _, want := range []string{
		"claims event 1 in Redis with SET claim:1 NX PX 24h",
		"the DEL (the release), which it had given up on, reaches Redis after all: claim:1 was there, and it is gone",
		"why: redis-release releases its claim when processing fails, but a failure it sees is not always a failure: a Commit whose reply was lost may have committed.",
		"it gave up on its Commit after 1 s without a reply, so to its handler the effect had failed, and it deleted claim:1 at",
		"But the effect had committed",
		"claim:1 was not there, so instance 0 claimed event 1 in Redis again and applied the effect a second time",
	} {
		assert.Contains(t, out, want)
	}
}

// TestRedisReleaseTellsALateRelease: under slow, a handler whose effect
// failed stalls before its release, and the copy redelivered meanwhile
// finds the claim: the why says the release came too late.
func TestRedisReleaseTellsALateRelease(t *testing.T) {
	s, out := explained(t, "redis-release", faults.Of(faults.Slow))
	require.Equal(t, Lost, s.Kind)
	for _, want := range []string{
		"gave up on its Apply, so the effect never committed. Its handler then stalled for",
		"(slow), so its DEL (the release) came only at",
		"after another copy had found the claim at",
	} {
		assert.Contains(t, out, want)
	}
}

// TestDBUniqueFastHasNothingToExplain: one statement inserts the id and
// applies the effect, so no scenario breaks it but id-reuse, a producer's
// bug that no deduplicator by the id alone survives (TestReusedIDLesson).
func TestDBUniqueFastHasNothingToExplain(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 5
	}
	for _, sc := range Scenarios("db-unique-fast") {
		if sc.Has(faults.IDReuse) {
			continue
		}
		_, ok := mustSearch(t, "db-unique-fast", sc, 3, seeds)
		assert.False(t, ok, "db-unique-fast under %s", sc)
	}
}

// TestFixReplaysTheSameRun holds the fix to the run it replays: the same
// config under the fix's strategy, the event applied once, and steps that
// are records of the replayed run.
func TestFixReplaysTheSameRun(t *testing.T) {
	for _, c := range []struct {
		strategy string
		faults   faults.Set
	}{{"local-cache", faults.Of(faults.Redeliver)}, {"redis", faults.Of(faults.Crash)}, {"redis-lease", faults.Of(faults.Slow)}} {
		s, out := explained(t, c.strategy, c.faults)
		fx := s.Fix
		require.NotNil(t, fx, c.strategy)
		want := s.Config
		want.Strategy = "db-unique"
		assert.Equal(t, want, fx.Config, "the same run, under the fix")
		assert.Equal(t, s.Event, fx.Event)
		assert.Equal(t, 1, fx.Applied)
		assert.False(t, fx.Result.Violating())
		require.NotEmpty(t, fx.Steps)
		applied := false
		for i, st := range fx.Steps {
			assert.Equal(t, i+1, st.N)
			require.GreaterOrEqual(t, st.Record, 0)
			assert.Equal(t, st.At.Nanoseconds(), fx.Result.Trace[st.Record].At, "a step happens when its record of the replayed run does")
			applied = applied || strings.Contains(st.Text, "effect is in the ledger (applied once)")
		}
		assert.True(t, applied, "the fix shows the event applied: %+v", fx.Steps)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		assert.True(t, strings.HasPrefix(lines[len(lines)-1], "reproduce with: "), "the story still ends with its replay command")
		assert.Contains(t, out, "\n  replay it with: "+fx.Config.Reproduce()+"\n")
		assert.Regexp(t, `(?s)\nwhy: .*\nfix: with db-unique instead, the same run \(same seed, instances, events and faults\) applies event \d+ once`, out)
	}

	// The fix's own runs have nothing to fix.
	s, err := Tell(sim.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 1, Instances: 2, Events: 3})
	require.NoError(t, err)
	assert.Nil(t, s.Fix)
}

// TestKVStrategiesDrawRedis: the timeline of a key-value strategy has a
// Redis lane with its keys.
func TestKVStrategiesDrawRedis(t *testing.T) {
	s, err := Tell(sim.Config{Strategy: "redis-release", Faults: faults.Of(faults.Partition), Seed: 191, Instances: 1, Events: 2})
	require.NoError(t, err)
	var svg bytes.Buffer
	require.NoError(t, WriteTimeline(&svg, s, SVG))
	assert.Contains(t, svg.String(), ">redis<")
	var descs []string
	for _, a := range annotations(s) {
		descs = append(descs, a.Description)
	}
	assert.Contains(t, descs, "key claim:1 deleted")
}

// TestKVStoryIsDeterministic tells a run with retries and keys twice.
func TestKVStoryIsDeterministic(t *testing.T) {
	cfg := sim.Config{Strategy: "redis-lease", Faults: faults.Of(faults.Crash), Seed: 76, Instances: 1, Events: 1}
	text := func() (string, []byte) {
		s, err := Tell(cfg)
		require.NoError(t, err)
		var story, svg bytes.Buffer
		_, err = s.WriteTo(&story)
		require.NoError(t, err)
		require.NoError(t, WriteTimeline(&svg, s, SVG))
		return story.String(), svg.Bytes()
	}
	s1, v1 := text()
	s2, v2 := text()
	assert.Equal(t, s1, s2)
	assert.Equal(t, v1, v2)
}
