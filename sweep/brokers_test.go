package sweep

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// registerLogOnly registers a strategy that runs only on the log, as the
// log's offset strategies do, for the test's length.
func registerLogOnly(t *testing.T) string {
	t.Helper()
	none, ok := strategies.Lookup("none")
	require.True(t, ok)
	const name = "test-log-only"
	require.NoError(t, strategies.Register(strategies.Strategy{Name: name, New: none.New, Brokers: []string{run.LogBroker}}))
	t.Cleanup(func() { strategies.Unregister(name) })
	return name
}

// fakeRuns answers every run without simulating it: a violation in every
// seed divisible by 3, so that cells have first failing seeds. It records
// the configs it was given; the sweep's workers call it at once.
func fakeRuns(seen *[]run.Config) func(run.Config) (*run.Result, error) {
	yes := true
	var mu sync.Mutex
	return func(cfg run.Config) (*run.Result, error) {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		mu.Lock()
		*seen = append(*seen, cfg)
		mu.Unlock()
		r := &run.Result{Strategy: cfg.Strategy, Seed: cfg.Seed, Linearizable: &yes, AuditOK: true}
		if cfg.Seed%3 == 0 {
			no := false
			r.Duplicates, r.Linearizable, r.AuditOK = 1, &no, false
		}
		return r, nil
	}
}

// TestAStrategyHasNoCellsOnABrokerItDoesNotRunOn: the queue's comparison
// leaves out a strategy of the log, runs none of it, and its slices still
// add up; a comparison of nothing but such strategies is refused, saying
// where they run.
func TestAStrategyHasNoCellsOnABrokerItDoesNotRunOn(t *testing.T) {
	logOnly := registerLogOnly(t)
	var seen []run.Config
	cc := CompareConfig{Strategies: []string{"none", logOnly}, Scenarios: crashOnly, Seeds: 4, Events: 10, simulate: fakeRuns(&seen)}
	cmp, err := Compare(cc)
	require.NoError(t, err)
	require.Len(t, cmp.Results, 1)
	assert.Equal(t, "none", cmp.Results[0].Strategy)
	assert.Nil(t, cmp.Cell(logOnly, faults.Of(faults.Crash)), "no cell where it does not run")
	for _, cfg := range seen {
		assert.NotEqual(t, logOnly, cfg.Strategy, "never run on the queue")
	}

	seen = nil
	cc.BrokerModel, cc.Broker = run.LogBroker, run.BrokerParams{Partitions: 3}
	cmp, err = Compare(cc)
	require.NoError(t, err)
	require.Len(t, cmp.Results, 2)
	assert.Equal(t, run.NameBroker(run.LogBroker, run.BrokerParams{Partitions: 3}), cmp.BrokerNaming)
	assert.Contains(t, cmp.Results[1].ReproduceCmd, "--strategy "+logOnly+" ")
	assert.Contains(t, cmp.Results[1].ReproduceCmd, "--broker log --partitions 3")
	require.NotEmpty(t, seen)
	for _, cfg := range seen {
		assert.Equal(t, run.LogBroker, cfg.BrokerModel)
	}

	// Its slices check and merge, with the rows that have no cells.
	cc.BrokerModel, cc.Broker = "", run.BrokerParams{}
	var parts []*Part
	for k := 1; k <= 2; k++ {
		p, err := CompareShard(cc, Shard{k, 2})
		require.NoError(t, err)
		p.Command = "idemsim compare"
		assert.Equal(t, []string{"none", logOnly}, p.Strategies, "the rows are all the strategies")
		parts = append(parts, roundTrip(t, p)...)
	}
	merged, err := Merge(parts)
	require.NoError(t, err)
	whole, err := Compare(cc)
	require.NoError(t, err)
	assert.Equal(t, whole, merged)

	cc.Strategies = []string{logOnly}
	_, err = Compare(cc)
	require.ErrorIs(t, err, run.ErrBadConfig)
	assert.Equal(t, "no strategy of test-log-only runs on the queue broker: test-log-only runs only on the log broker (--broker log)", err.Error())
}

// roundTrip writes p as compare --shard prints it and reads it back.
func roundTrip(t *testing.T, p *Part) []*Part {
	t.Helper()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	parts, err := ReadParts(bytes.NewReader(b), "part.json")
	require.NoError(t, err)
	return parts
}

// TestSlicesOfSeveralBrokersCarryTheListAndMerge: the slices of a
// comparison of the queue and the log carry both, and merge into the two
// comparisons that compare finds, in the list's order, whatever the order
// of the parts; a missing model, a part of another list or a file whose
// parts disagree is refused.
func TestSlicesOfSeveralBrokersCarryTheListAndMerge(t *testing.T) {
	logOnly := registerLogOnly(t)
	var seen []run.Config
	models := []string{run.DefaultBroker, run.LogBroker}
	params := run.BrokerParams{Prefetch: 2, Batch: 3}
	base := CompareConfig{Strategies: []string{"none", logOnly}, Scenarios: []faults.Set{faults.Of(faults.Crash), faults.Of(faults.Slow)}, Seeds: 7, Events: 10, simulate: fakeRuns(&seen)}
	var want []*Comparison
	var files [][]byte
	for _, m := range models {
		cc := base
		cc.BrokerModel, cc.Broker = m, params.Of(m)
		cmp, err := Compare(cc)
		require.NoError(t, err)
		want = append(want, cmp)
	}
	for k := 1; k <= 3; k++ {
		var pb PartsByBroker
		for _, m := range models {
			cc := base
			cc.BrokerModel, cc.Broker = m, params.Of(m)
			p, err := CompareShard(cc, Shard{k, 3})
			require.NoError(t, err)
			p.Command, p.Brokers = "idemsim compare --broker queue,log", models
			pb.Parts = append(pb.Parts, p)
		}
		b, err := json.Marshal(pb)
		require.NoError(t, err)
		files = append(files, b)
	}
	read := func(order ...int) []*Part {
		var parts []*Part
		for _, i := range order {
			ps, err := ReadParts(bytes.NewReader(files[i]), "f"+string(rune('1'+i)))
			require.NoError(t, err)
			require.Len(t, ps, 2)
			parts = append(parts, ps...)
		}
		return parts
	}
	got, err := MergeBrokers(read(2, 0, 1))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, want, got)
	assert.Equal(t, "queue", got[0].Broker)
	assert.Equal(t, 2, got[0].Prefetch)
	assert.Equal(t, "log", got[1].Broker)
	assert.Equal(t, 3, got[1].Batch)
	assert.Zero(t, got[1].Prefetch, "each model has its own parameters")

	// One model's parts alone are not the whole.
	parts := read(0, 1, 2)
	var queueOnly []*Part
	for _, p := range parts {
		if p.Broker == "queue" {
			queueOnly = append(queueOnly, p)
		}
	}
	_, err = MergeBrokers(queueOnly)
	require.ErrorIs(t, err, ErrBadMerge)
	assert.Contains(t, err.Error(), "no slice of the log broker's comparison")

	// A slice of the queue alone is another comparison.
	cc := base
	solo, err := CompareShard(cc, Shard{1, 3})
	require.NoError(t, err)
	solo.Command, solo.Source = "idemsim compare", "solo.json"
	_, err = MergeBrokers(append(read(1, 2), solo))
	require.ErrorIs(t, err, ErrBadMerge)
	assert.Contains(t, err.Error(), "brokers queue,log and queue")

	// A file whose parts are out of order, or one short, is no slice.
	var pb PartsByBroker
	require.NoError(t, json.Unmarshal(files[0], &pb))
	pb.Parts[0], pb.Parts[1] = pb.Parts[1], pb.Parts[0]
	b, _ := json.Marshal(pb)
	_, err = ReadParts(bytes.NewReader(b), "swapped.json")
	require.ErrorIs(t, err, ErrBadMerge)
	assert.Contains(t, err.Error(), "swapped.json: not a slice written by 'idemsim compare --shard K/N': part 1 is of the log broker, not the queue, the 1st of its brokers queue,log")
	pb.Parts = pb.Parts[:1]
	b, _ = json.Marshal(pb)
	_, err = ReadParts(bytes.NewReader(b), "short.json")
	require.ErrorIs(t, err, ErrBadMerge)
}
