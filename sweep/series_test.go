package sweep

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
)

// smallSeries are the two series over seeds 1..2, computed once.
var smallSeries = sync.OnceValues(func() (*InstancesData, *TTLData) {
	in, err := Instances(SeriesConfig{Seeds: 2})
	if err != nil {
		panic(err)
	}
	ttl, err := TTL(SeriesConfig{Seeds: 2})
	if err != nil {
		panic(err)
	}
	return in, ttl
})

// seriesJSON is the JSON form of a series, as results/ holds it.
func seriesJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return buf.String()
}

func TestSeriesAreDeterministic(t *testing.T) {
	in, ttl := smallSeries()
	for _, workers := range []int{1, 3} {
		in2, err := Instances(SeriesConfig{Seeds: 2, Workers: workers})
		require.NoError(t, err)
		ttl2, err := TTL(SeriesConfig{Seeds: 2, Workers: workers, MaxMemory: 1})
		require.NoError(t, err)
		assert.Equal(t, seriesJSON(t, in), seriesJSON(t, in2), "instances series, %d workers", workers)
		assert.Equal(t, seriesJSON(t, ttl), seriesJSON(t, ttl2), "TTL series, %d workers, one run at a time", workers)
	}
}

func TestInstancesSeriesShape(t *testing.T) {
	in, _ := smallSeries()
	assert.Equal(t, "redeliver", in.Scenario)
	assert.Equal(t, 2, in.Seeds)
	assert.Equal(t, 200, in.Events)
	require.Len(t, in.Series, len(InstancesStrategies()))
	byName := map[string]InstancesSeries{}
	for i, s := range in.Series {
		assert.Equal(t, InstancesStrategies()[i], s.Strategy)
		require.Len(t, s.Points, InstancesMax)
		for j, p := range s.Points {
			assert.Equal(t, j+1, p.Instances)
			assert.Equal(t, 2, p.Runs)
		}
		byName[s.Strategy] = s
	}
	// The spec: the local cache holds with one instance and breaks with
	// more; redis and db-unique hold under redeliver.
	local := byName["local-cache"].Points
	assert.Zero(t, local[0].Duplicates, "local-cache with 1 instance")
	assert.Positive(t, local[InstancesMax-1].Duplicates, "local-cache with %d instances", InstancesMax)
	for _, st := range []string{"redis", "db-unique"} {
		for _, p := range byName[st].Points {
			assert.Zero(t, p.ViolatingRuns, "%s with %d instances", st, p.Instances)
		}
	}
	assert.Equal(t, 2*(len(InstancesStrategies())*InstancesMax+len(TTLStrategies())*len(TTLValues)), SeriesRuns(2), "the runs of both series")
}

func TestTTLSeriesShape(t *testing.T) {
	_, ttl := smallSeries()
	assert.Equal(t, "ttl", ttl.Scenario)
	p := faults.Draw(faults.Of(faults.TTL), 1)
	assert.Equal(t, p.LateMin.Milliseconds(), ttl.LateMinMS)
	assert.Equal(t, p.LateMax.Milliseconds(), ttl.LateMaxMS)
	require.Len(t, ttl.Series, len(TTLStrategies()))
	for i, s := range ttl.Series {
		assert.Equal(t, TTLStrategies()[i], s.Strategy)
		require.Len(t, s.Points, len(TTLValues))
		for j, pt := range s.Points {
			assert.Equal(t, TTLValues[j], pt.MarkTTL())
		}
		// Marks shorter than the horizon let late copies through; marks
		// that outlive it catch them: so for the built-ins, whose marks
		// are claims or checks.
		if s.Strategy != "redis" && s.Strategy != "redis-after" {
			continue
		}
		first, last := s.Points[0], s.Points[len(s.Points)-1]
		assert.Greater(t, first.DuplicatesPerRun(), last.DuplicatesPerRun(), "%s: %v against %v", s.Strategy, first.MarkTTL(), last.MarkTTL())
		assert.Zero(t, last.Duplicates, "%s with marks of %v", s.Strategy, last.MarkTTL())
	}
}

func TestSeriesConfigIsValidated(t *testing.T) {
	for _, c := range []SeriesConfig{{Seeds: -1}, {Seeds: MaxSeeds + 1}, {Events: -5}, {Events: run.MaxEvents + 1}, {MaxMemory: -1}} {
		_, err := Instances(c)
		assert.ErrorIs(t, err, run.ErrBadConfig, "%+v", c)
		_, err = TTL(c)
		assert.ErrorIs(t, err, run.ErrBadConfig, "%+v", c)
	}
}

func TestSeriesJSONRoundTrip(t *testing.T) {
	in, ttl := smallSeries()
	gotIn, err := ReadInstances(strings.NewReader(seriesJSON(t, in)))
	require.NoError(t, err)
	assert.Equal(t, in, gotIn)
	gotTTL, err := ReadTTL(strings.NewReader(seriesJSON(t, ttl)))
	require.NoError(t, err)
	assert.Equal(t, ttl, gotTTL)
}

func TestReadSeriesRefusesOtherFiles(t *testing.T) {
	in, ttl := smallSeries()
	readIn := func(s string) error { _, err := ReadInstances(strings.NewReader(s)); return err }
	readTTL := func(s string) error { _, err := ReadTTL(strings.NewReader(s)); return err }
	tests := []struct {
		name string
		read func(string) error
		data string
	}{
		{"instances: not JSON", readIn, "BenchmarkX 1 2 ns/op"},
		{"instances: compare.json", readIn, `{"seeds": 3, "instances": 3, "events": 20, "results": []}`},
		{"instances: the TTL series", readIn, seriesJSON(t, ttl)},
		{"instances: no series", readIn, `{"scenario": "redeliver", "seeds": 2, "events": 200, "series": []}`},
		{"ttl: the instances series", readTTL, seriesJSON(t, in)},
		{"ttl: empty", readTTL, ""},
		{"ttl: zero TTL", readTTL, `{"scenario": "ttl", "seeds": 1, "series": [{"strategy": "redis", "points": [{"mark_ttl_ms": 0}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, tt.read(tt.data), ErrBadData)
		})
	}
}
