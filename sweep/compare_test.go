package sweep

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

var crashOnly = []faults.Set{faults.Of(faults.Crash)}

// small is a comparison of a few seconds at most, with violating and clean
// cells.
var small = CompareConfig{Strategies: []string{"local-cache", "redis", "db-unique"}, Scenarios: []faults.Set{faults.Of(faults.Redeliver), faults.AllFaults}, Seeds: 10, Events: 30}

// TestCompareDoesNotDependOnTheBudget compares a sweep run one at a time,
// for lack of memory, with the same sweep on four workers.
func TestCompareDoesNotDependOnTheBudget(t *testing.T) {
	base := small
	base.Workers = 4
	tight := base
	tight.MaxMemory = 1
	require.Equal(t, 1, tight.InFlight())
	require.Equal(t, 4, base.InFlight())
	a, err := Compare(base)
	require.NoError(t, err)
	b, err := Compare(tight)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

// TestCompareCountsEveryRun checks the cells against runs made one by one.
func TestCompareCountsEveryRun(t *testing.T) {
	cmp, err := Compare(small)
	require.NoError(t, err)
	require.Len(t, cmp.Results, 6)
	assert.Equal(t, Comparison{Seeds: 10, Instances: 3, Events: 30}, Comparison{Seeds: cmp.Seeds, Instances: cmp.Instances, Events: cmp.Events})
	i := 0
	violations := 0
	for _, st := range small.Strategies {
		for _, sc := range small.Scenarios {
			want := Cell{Strategy: st, Faults: sc.Names(), Scenario: sc.String(), BrokerNaming: run.BrokerNaming{Broker: "queue"}, Instances: 3, Events: 30}
			for seed := 1; seed <= small.Seeds; seed++ {
				r, err := sim.Run(run.Config{Strategy: st, Faults: sc, Seed: uint64(seed), Instances: 3, Events: 30})
				require.NoError(t, err)
				want.add(uint64(seed), outcomeOf(r))
			}
			want.ReproduceCmd = want.Reproduce()
			assert.Equal(t, want, cmp.Results[i], "%s/%s", st, sc)
			violations += want.ViolatingRuns
			i++
		}
	}
	assert.Positive(t, violations, "the sweep finds violations, so first failing seeds are checked too")
}

// TestCompareFailsWithTheFirstRunErrorInOrder: a run that fails makes the
// comparison fail, and the error is the same on any number of workers.
func TestCompareFailsWithTheFirstRunErrorInOrder(t *testing.T) {
	boom := errors.New("boom")
	cc := small
	cc.simulate = func(cfg run.Config) (*run.Result, error) {
		if cfg.Seed >= 4 {
			return nil, boom
		}
		return sim.Run(cfg)
	}
	for _, workers := range []int{1, 4} {
		cc.Workers = workers
		_, err := Compare(cc)
		require.ErrorIs(t, err, boom)
		assert.Equal(t, "idemsim run --strategy local-cache --faults redeliver --seed 4 --instances 3 --events 30 --broker queue: boom", err.Error())
	}
}

// TestCompareOfAFailingNewIsItsError: a strategy whose New fails ends the
// comparison with the strategy's own error, as a run of it does: no
// verdict, no panic, and no replay command, for it fails on every seed.
func TestCompareOfAFailingNewIsItsError(t *testing.T) {
	require.NoError(t, strategies.Register(strategies.Strategy{Name: "test-bad-new", New: func(strategies.Deps) (strategies.Handler, error) {
		return nil, errors.New("no")
	}}))
	t.Cleanup(func() { strategies.Unregister("test-bad-new") })
	for _, workers := range []int{1, 4} {
		cmp, err := Compare(CompareConfig{Strategies: []string{"none", "test-bad-new"}, Scenarios: crashOnly, Seeds: 5, Events: 20, Workers: workers})
		assert.Nil(t, cmp)
		var ne *strategies.NewError
		require.ErrorAs(t, err, &ne)
		assert.Equal(t, "strategy test-bad-new: New failed: no", err.Error())
	}
}

func TestCompareBadConfigReadsClean(t *testing.T) {
	tests := []struct {
		name string
		cc   CompareConfig
		want string
	}{
		{"seeds", CompareConfig{Seeds: -1}, "seeds must be 1 to 1000000, not -1"},
		{"budget", CompareConfig{MaxMemory: -1}, "memory budget must be positive, not -1 bytes"},
		{"instances", CompareConfig{Instances: -2}, "instances must be 1 to 64, not -2"},
		{"no strategy", CompareConfig{Strategies: []string{}}, "no strategy or no scenario to compare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compare(tt.cc)
			require.Error(t, err)
			assert.ErrorIs(t, err, run.ErrBadConfig)
			assert.Equal(t, tt.want, err.Error(), "the problem alone, no package prefix")
		})
	}
}

func TestNoneScenarioReproduces(t *testing.T) {
	c := Cell{Strategy: "none", Faults: faults.Set(0).Names(), Instances: 3, Events: 5}
	seed := uint64(4)
	c.FirstFailingSeed = &seed
	assert.Equal(t, "idemsim run --strategy none --faults none --seed 4 --instances 3 --events 5 --broker queue", c.Reproduce())
}

func TestComparisonCell(t *testing.T) {
	cmp, err := Compare(CompareConfig{Strategies: []string{"none"}, Scenarios: []faults.Set{0, faults.AllFaults}, Seeds: 1, Events: 5})
	require.NoError(t, err)
	require.NotNil(t, cmp.Cell("none", faults.AllFaults))
	assert.Equal(t, "all", cmp.Cell("none", faults.AllFaults).Scenario)
	assert.Equal(t, "none", cmp.Cell("none", 0).Scenario)
	assert.Nil(t, cmp.Cell("redis", 0))
	assert.Nil(t, cmp.Cell("none", faults.Of(faults.TTL)))
}
