package sim

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// TestSameSeedSameTrace runs every strategy under every scenario for many
// seeds, three times: in order, in reverse order, and in parallel. Every
// run of a config must give the same trace hash and the same result. The
// orders differ so that a pooled world leaking state from one run into the
// next, or anything reading goroutine scheduling, shows as a mismatch. A
// fourth pass without the digest must give the same results.
func TestSameSeedSameTrace(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	// Every broker's runs, interleaved in one list: a pooled world that
	// ran one model before must run the other as a new world would.
	var cfgs []Config
	for _, st := range strategies.NamesOn(run.DefaultBroker) {
		for _, sc := range faults.Scenarios() {
			for s := 1; s <= seeds; s++ {
				for _, b := range run.BrokerNames {
					if d, _ := strategies.Lookup(st); d.RunsOn(b) {
						cfgs = append(cfgs, Config{Strategy: st, Faults: sc, Seed: uint64(s), Events: 60, BrokerModel: b})
					}
				}
			}
		}
	}
	summary := func(r *Result) string {
		return fmt.Sprintf("%s d=%d dup=%d lost=%d stuck=%d t=%v inj=%v", r.TraceHash, r.Deliveries, r.Duplicates, r.Lost, r.Stuck, r.SimTimeMS, r.FaultsInjected)
	}
	first := make([]string, len(cfgs))
	for i, c := range cfgs {
		r, err := Run(c)
		require.NoError(t, err)
		first[i] = summary(r)
	}
	for i := len(cfgs) - 1; i >= 0; i-- {
		r, err := Run(cfgs[i])
		require.NoError(t, err)
		require.Equal(t, first[i], summary(r), "reverse order: %s", cfgs[i].Reproduce())
	}
	par := make([]string, len(cfgs))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(cfgs); i += 4 {
				r, err := Run(cfgs[i])
				if err == nil {
					par[i] = summary(r)
				}
			}
		}(w)
	}
	wg.Wait()
	for i := range cfgs {
		require.Equal(t, first[i], par[i], "parallel: %s", cfgs[i].Reproduce())
	}
	// A run that neither keeps nor digests its records skips building
	// them: it must take the same steps all the same.
	for i, c := range cfgs {
		c.NoTraceHash = true
		r, err := Run(c)
		require.NoError(t, err)
		require.Empty(t, r.TraceHash)
		r.TraceHash = first[i][:16]
		require.Equal(t, first[i], summary(r), "with NoTraceHash: %s", c.Reproduce())
	}
}

// TestSeedsDiffer guards against a hash that ignores its input.
func TestSeedsDiffer(t *testing.T) {
	seen := map[string]uint64{}
	for s := uint64(1); s <= 20; s++ {
		r, err := Run(Config{Strategy: "db-unique", Faults: faults.AllFaults, Seed: s, Events: 30})
		require.NoError(t, err)
		prev, dup := seen[r.TraceHash]
		assert.False(t, dup, "seeds %d and %d share trace hash %s", prev, s, r.TraceHash)
		seen[r.TraceHash] = s
	}
}

// TestAddingAFaultKeepsTheOthersStreams checks that each fault draws from
// its own stream: the crash intensities of a seed are the same with or
// without partitions in the scenario.
func TestAddingAFaultKeepsTheOthersStreams(t *testing.T) {
	for s := uint64(1); s <= 50; s++ {
		a := faults.Draw(faults.Of(faults.Crash), s)
		b := faults.Draw(faults.Of(faults.Crash, faults.Partition, faults.TTL), s)
		require.Equal(t, a.CrashPerStep, b.CrashPerStep)
		require.Equal(t, a.AckLoss, b.AckLoss)
	}
}

// TestTraceKeptMatchesHash checks that the kept trace is the trace the hash
// digests: rehashing the records gives the reported hash.
func TestTraceKeptMatchesHash(t *testing.T) {
	r, err := Run(Config{Strategy: "redis", Faults: faults.AllFaults, Seed: 5, Events: 40, KeepTrace: true})
	require.NoError(t, err)
	require.NotEmpty(t, r.Trace)
	var tr run.Recorder
	for _, rec := range r.Trace {
		tr.Add(&rec)
	}
	assert.Equal(t, r.TraceHash, fmt.Sprintf("%016x", tr.Hash()))
	// Without KeepTrace the hash is the same.
	r2, err := Run(Config{Strategy: "redis", Faults: faults.AllFaults, Seed: 5, Events: 40})
	require.NoError(t, err)
	assert.Equal(t, r.TraceHash, r2.TraceHash)
	assert.Nil(t, r2.Trace)
}
