package idemsimtest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
)

func TestAStrategyThatHoldsPasses(t *testing.T) {
	ExactlyOnce(t, builtin(t, "db-unique"), Options{Seeds: 20})
}

func TestWhatIsExpectedIsAllowed(t *testing.T) {
	s := builtin(t, "redis")
	f := call("TestRedis", s, Options{Seeds: 30, Expect: s.Expected})
	assert.Empty(t, f.errors)
	require.NotEmpty(t, f.logs)
	assert.Contains(t, f.logs[len(f.logs)-1], "store-loss dup (allowed)")
}

// TestAFailureTellsTheShrunkStory holds the failure report to what idemsim
// explain would tell of the same run, and to the lines that replay it.
func TestAFailureTellsTheShrunkStory(t *testing.T) {
	f := call("TestLocalCache/two_instances", builtin(t, "local-cache"), Options{Scenarios: []string{"redeliver", "crash"}, Seeds: 10})
	require.Len(t, f.errors, 1)
	assert.False(t, f.fatal, "a violation is an error, not a fatal one")
	msg := f.errors[0]

	first := sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 1, Instances: 3, Events: 200}
	shrunk, err := explain.Shrink(first)
	require.NoError(t, err)
	story, err := explain.Tell(shrunk)
	require.NoError(t, err)
	var want bytes.Buffer
	_, err = story.WriteTo(&want)
	require.NoError(t, err)

	for _, line := range []string{
		"local-cache is not exactly-once: 2 of 2 scenarios fail (seeds 1..10 each, 3 instances, 200 events):",
		"redeliver  10 of 10",
		"Seed 1 under redeliver, shrunk to the smallest run that fails the same way: 2 instances, 1 event, faults redeliver, seed 2 " +
			"(the seed draws a run's faults and timings, so a smaller run draws them anew: seed 2 is, of seeds 1..200 of this smaller run " +
			"that fail the same way, the one whose story has the fewest steps).",
		want.String(),
		"reproduce with: idemsim run --strategy local-cache --faults redeliver --seed 2 --instances 2 --events 1 --broker queue\n",
		"rerun it from this test: go test -run '^TestLocalCache$/^two_instances$' -idemsim.scenario=redeliver -idemsim.seed=1",
		"tell another scenario: go test -run '^TestLocalCache$/^two_instances$' -idemsim.scenario=crash",
	} {
		assert.Contains(t, msg, line)
	}
}

// TestExpectTellsWhatItDoesNotAllow allows the duplicates of redis-release
// under partition: the story is then of a lost event.
func TestExpectTellsWhatItDoesNotAllow(t *testing.T) {
	f := call("TestRelease", builtin(t, "redis-release"), Options{Scenarios: []string{"partition"}, Seeds: 40, Expect: map[string]string{"partition": "dup"}})
	require.Len(t, f.errors, 1)
	msg := f.errors[0]
	assert.Contains(t, msg, "redis-release is not exactly-once: it fails under partition")
	assert.Contains(t, msg, "dup+lost  dup")
	assert.Contains(t, msg, "violation: event")
	assert.Contains(t, msg, "is lost")
	assert.NotContains(t, msg, "applied twice")
}

func TestAUserStrategyIsRegisteredOnce(t *testing.T) {
	for range 2 {
		f := call("TestUser", userStrategy, Options{Scenarios: []string{"redeliver"}, Seeds: 5})
		require.Len(t, f.errors, 1, "registered, swept and failed")
		assert.Contains(t, f.errors[0], "idemsimtest-record-first is not exactly-once")
	}
	st, ok := registered(userStrategy.Name)
	require.True(t, ok)
	assert.Equal(t, userStrategy.Promises, st.Promises)
}

func TestAnotherStrategyOfTheSameNameIsRefused(t *testing.T) {
	impostor := userStrategy
	impostor.Name = "db-unique"
	f := call("TestImpostor", impostor, Options{})
	require.True(t, f.fatal)
	assert.Contains(t, f.errors[0], `another strategy is registered as "db-unique"`)
}

func TestBadOptionsSayWhatIsAccepted(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want []string
	}{
		{Options{Scenarios: []string{"flood"}}, []string{`scenario "flood"`, "redeliver", "all", "none"}},
		{Options{Expect: map[string]string{"crash": "twice"}}, []string{`Expect["crash"]`, `"twice"`, "ok", "dup", "lost", "stuck"}},
		{Options{Expect: map[string]string{"crsh": "dup"}}, []string{`Expect["crsh"]`, "crash"}},
		{Options{Instances: 65}, []string{"instances must be 1 to 64"}},
		{Options{Seeds: -1}, []string{"seeds must be 1 to"}},
		{Options{Broker: "log"}, []string{`unknown broker "log"`, "queue"}},
		{Options{BrokerParams: run.BrokerParams{Prefetch: run.MaxPrefetch + 1}}, []string{"prefetch must be 1 to 1000"}},
		{Options{BrokerParams: run.BrokerParams{AckDeadline: -2}}, []string{"ack deadline must be more than 0, or none"}},
	} {
		f := call("TestBad", builtin(t, "none"), tc.o)
		require.True(t, f.fatal, "%+v", tc.o)
		for _, w := range tc.want {
			assert.Contains(t, f.errors[0], w)
		}
	}
}

func TestFlagsOverrideOptions(t *testing.T) {
	defer func(seeds int, seed uint64, scenario string) {
		*flagSeeds, *flagSeed, *flagScenario = seeds, seed, scenario
	}(*flagSeeds, *flagSeed, *flagScenario)

	p, err := newPlan("none", Options{Seeds: 7}, false)
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 7}, []uint64{p.first, p.last})
	assert.Len(t, p.cells, len(faults.ScenarioNames()))

	p, err = newPlan("none", Options{}, true)
	require.NoError(t, err)
	assert.Equal(t, uint64(ShortSeeds), p.last)
	p, err = newPlan("none", Options{}, false)
	require.NoError(t, err)
	assert.Equal(t, uint64(DefaultSeeds), p.last)

	*flagSeeds = 9
	p, err = newPlan("none", Options{Seeds: 7}, true)
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 9}, []uint64{p.first, p.last})

	*flagSeed, *flagScenario = 4, "crash"
	p, err = newPlan("none", Options{Scenarios: []string{"redeliver", "slow"}}, false)
	require.NoError(t, err)
	assert.Equal(t, []uint64{4, 4}, []uint64{p.first, p.last})
	require.Len(t, p.cells, 1)
	assert.Equal(t, "crash", p.cells[0].set.String())
}

// TestTheSweepIsDeterministic sweeps on one worker and on several: the
// cells, and so the report, are the same.
func TestTheSweepIsDeterministic(t *testing.T) {
	sweepWith := func(workers int) []cell {
		p, err := newPlan("redis-release", Options{Seeds: 15, Workers: workers, Expect: map[string]string{"partition": "dup"}}, false)
		require.NoError(t, err)
		require.NoError(t, sweepPlan(p))
		var cells []cell
		for _, c := range p.cells {
			cells = append(cells, *c)
		}
		return cells
	}
	one := sweepWith(1)
	assert.Equal(t, one, sweepWith(4))
	failed := 0
	for _, c := range one {
		if c.failed() {
			failed++
		}
	}
	assert.Positive(t, failed)
}

func TestRunPatternMatchesTheTestAlone(t *testing.T) {
	assert.Equal(t, "^TestA$", runPattern("TestA"))
	assert.Equal(t, `^TestA$/^case_1\.5$`, runPattern("TestA/case_1.5"))
	assert.Equal(t, `^TestA$/^it'\''s$`, runPattern("TestA/it's"))
	assert.True(t, strings.HasPrefix(runPattern("TestA/x"), "^TestA$/"))
}

// TestTheBrokerReachesEveryRunAndTheRerunLine sweeps with the queue's
// parameters: the runs use them, and a failure's reproduce line carries
// them.
func TestTheBrokerReachesEveryRunAndTheRerunLine(t *testing.T) {
	bp := run.BrokerParams{AckDeadline: run.NoAckDeadline, Prefetch: 2, MaxDeliveries: 4}
	p, err := newPlan("none", Options{Broker: "queue", BrokerParams: bp, Scenarios: []string{"crash"}}, true)
	require.NoError(t, err)
	cfg := p.config(p.cells[0], 1)
	assert.Equal(t, "queue", cfg.BrokerModel)
	assert.Equal(t, bp, cfg.Broker)

	p, err = newPlan("none", Options{}, true)
	require.NoError(t, err)
	assert.Equal(t, run.BrokerParams{}, p.config(p.cells[0], 1).Broker, "the default queue")

	f := call("TestNoDeadline", builtin(t, "none"), Options{Scenarios: []string{"redeliver"}, Seeds: 3, BrokerParams: bp, Expect: map[string]string{}})
	require.Len(t, f.errors, 1)
	assert.Regexp(t, `(?m)^reproduce with: idemsim run --strategy none --faults redeliver --seed \d+ --instances \d+ --events \d+ --broker queue --ack-deadline none --prefetch 2 --max-deliveries 4$`, f.errors[0])
}
