package sweep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
)

func TestParseShard(t *testing.T) {
	for s, want := range map[string]Shard{"1/1": {1, 1}, "3/16": {3, 16}, "16/16": {16, 16}} {
		got, err := ParseShard(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got)
		assert.Equal(t, s, got.String())
	}
	for _, s := range []string{"0/3", "4/3", "x", "3", "1/0", "-1/3", "1/3/4", "", "/3", "1/", " 1/3", "a/b", "1.0/3"} {
		_, err := ParseShard(s)
		require.Error(t, err, "%q", s)
		assert.ErrorIs(t, err, run.ErrBadConfig)
		assert.Equal(t, fmt.Sprintf("shard %q: want K/N, slice K of N, two whole numbers with K from 1 to N, e.g. 3/16", s), err.Error())
	}
}

// TestShardsCutTheSeedsInOrder: the slices of seeds 1..S are contiguous,
// in order, cover every seed once, none is empty, and their sizes differ
// by one at most.
func TestShardsCutTheSeedsInOrder(t *testing.T) {
	for seeds := 1; seeds <= 60; seeds++ {
		for n := 1; n <= seeds; n++ {
			next, smallest, largest := 1, seeds, 0
			for k := 1; k <= n; k++ {
				first, last := Shard{k, n}.Seeds(seeds)
				require.Equal(t, next, first, "%d/%d of %d seeds starts where %d/%d ended", k, n, seeds, k-1, n)
				require.GreaterOrEqual(t, last, first, "%d/%d of %d seeds is not empty", k, n, seeds)
				smallest, largest = min(smallest, last-first+1), max(largest, last-first+1)
				next = last + 1
			}
			require.Equal(t, seeds+1, next, "%d slices of %d seeds cover them all", n, seeds)
			require.LessOrEqual(t, largest-smallest, 1, "%d slices of %d seeds", n, seeds)
		}
	}
	first, last := Shard{16, 16}.Seeds(200)
	assert.Equal(t, []int{188, 200}, []int{first, last})
}

func TestCompareShardRefusesMoreSlicesThanSeeds(t *testing.T) {
	_, err := CompareShard(CompareConfig{Seeds: 3, Strategies: []string{"none"}, Scenarios: crashOnly}, Shard{4, 5})
	require.ErrorIs(t, err, run.ErrBadConfig)
	assert.Equal(t, "shard 4/5: seeds 1..3 cannot be cut into 5 slices: N must be 1 to 3, the number of seeds", err.Error())
	_, err = CompareShard(CompareConfig{Seeds: 3, Strategies: []string{"none"}, Scenarios: crashOnly}, Shard{0, 2})
	require.ErrorIs(t, err, run.ErrBadConfig)
}

// parts runs the slices 1/n..n/n of cc and returns them as they are read
// back from their JSON form, each named by its shard.
func parts(t *testing.T, cc CompareConfig, n int) []*Part {
	t.Helper()
	var out []*Part
	for k := 1; k <= n; k++ {
		p, err := CompareShard(cc, Shard{k, n})
		require.NoError(t, err)
		p.Command = "idemsim compare --seeds 10"
		var buf bytes.Buffer
		require.NoError(t, json.NewEncoder(&buf).Encode(p))
		back, err := ReadPart(&buf, fmt.Sprintf("part%d.json", k))
		require.NoError(t, err)
		out = append(out, back)
	}
	return out
}

func TestMergeOfTheSlicesIsTheComparison(t *testing.T) {
	whole, err := Compare(small)
	require.NoError(t, err)
	for _, n := range []int{1, 3, 10} {
		ps := parts(t, small, n)
		for k, p := range ps {
			first, last := Shard{k + 1, n}.Seeds(small.Seeds)
			assert.Equal(t, []int{first, last}, []int{p.FirstSeed, p.LastSeed})
			assert.Equal(t, last-first+1, p.Results[0].Runs, "a slice runs its seeds only")
		}
		// In any order: backwards here.
		for i, j := 0, len(ps)-1; i < j; i, j = i+1, j-1 {
			ps[i], ps[j] = ps[j], ps[i]
		}
		merged, err := Merge(ps)
		require.NoError(t, err, "%d slices", n)
		assert.Equal(t, whole, merged, "%d slices add up to the whole", n)
		a, _ := json.Marshal(whole)
		b, _ := json.Marshal(merged)
		assert.Equal(t, string(a), string(b), "%d slices: the same JSON", n)
	}
}

// tiny is a comparison of one cell over 10 seeds.
var tiny = CompareConfig{Strategies: []string{"none"}, Scenarios: crashOnly, Seeds: 10, Events: 10}

func TestMergeRefusesWhatIsNotOneWholeComparison(t *testing.T) {
	three := parts(t, tiny, 3)
	other := tiny
	other.Events = 11
	otherEvents := parts(t, other, 3)
	four := parts(t, tiny, 4)
	tests := []struct {
		name  string
		parts []*Part
		want  string
	}{
		{"nothing", nil, "no slice to merge"},
		{"a slice missing", []*Part{three[0], three[2]},
			"cannot merge: slice missing: 2/3 (seeds 4..6); give each slice 1/3 to 3/3 once"},
		{"two slices missing", []*Part{three[1]},
			"cannot merge: slices missing: 1/3 (seeds 1..3), 3/3 (seeds 7..10); give each slice 1/3 to 3/3 once"},
		{"a slice twice", []*Part{three[0], three[1], three[1], three[2]},
			"cannot merge: slice 2/3 is given 2 times: part2.json, part2.json; give each slice 1/3 to 3/3 once"},
		{"twice and missing", []*Part{three[0], three[0]},
			"cannot merge: slice 1/3 is given 2 times: part1.json, part1.json; slices missing: 2/3 (seeds 4..6), 3/3 (seeds 7..10); give each slice 1/3 to 3/3 once"},
		{"another size of run", []*Part{three[0], otherEvents[1], three[2]},
			"part1.json and part2.json are slices of different comparisons: 10 and 11 events; give the slices of one comparison"},
		{"another cut", []*Part{three[0], four[1], three[2]},
			"part1.json and part2.json are slices of different comparisons: cut into 3 and 4 slices; give the slices of one comparison"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(tt.parts)
			require.ErrorIs(t, err, ErrBadMerge)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestReadPartRefusesOtherFiles(t *testing.T) {
	good := parts(t, tiny, 2)[1]
	tamper := func(f func(p *Part)) string {
		p := *good
		p.Results = append([]Cell(nil), good.Results...)
		p.Strategies = append([]string(nil), good.Strategies...)
		f(&p)
		b, err := json.Marshal(&p)
		require.NoError(t, err)
		return string(b)
	}
	whole, err := Compare(tiny)
	require.NoError(t, err)
	compareJSON, err := json.Marshal(whole)
	require.NoError(t, err)
	seed := uint64(2)
	tests := []struct{ name, data, want string }{
		{"not JSON", "BenchmarkX 1 2 ns/op", "invalid character"},
		{"compare.json", string(compareJSON), ": no shard"},
		{"a series", `{"scenario": "redeliver", "seeds": 2, "events": 200, "series": []}`, `unknown field "scenario"`},
		{"a bad shard", tamper(func(p *Part) {}) + "x", "more than one JSON value"},
		{"shard 0/2", strings.Replace(tamper(func(p *Part) {}), `"2/2"`, `"0/2"`, 1), `shard "0/2": want K/N`},
		{"the wrong seeds", tamper(func(p *Part) { p.FirstSeed = 5 }), "slice 2/2 of seeds 1..10 is seeds 6..10, not 5..10"},
		{"a run missing", tamper(func(p *Part) { p.Results[0].Runs = 4 }), "none/crash has 4 runs, not 5"},
		{"a first failing seed of another slice", tamper(func(p *Part) { p.Results[0].FirstFailingSeed, p.Results[0].ViolatingRuns = &seed, 1 }),
			"none/crash: its first failing seed and violating runs do not agree with seeds 6..10"},
		{"a cell of another strategy", tamper(func(p *Part) { p.Results[0].Strategy = "redis" }), "cell 1 is redis under crash, not none under crash"},
		{"a cell too many", tamper(func(p *Part) { p.Results = append(p.Results, p.Results[0]) }), "2 cells for 1 strategies x 1 scenarios"},
		{"an unknown strategy", tamper(func(p *Part) { p.Strategies[0] = "nope" }), `unknown strategy "nope"`},
		{"no command", tamper(func(p *Part) { p.Command = "" }), "no command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPart(strings.NewReader(tt.data), "f.json")
			require.ErrorIs(t, err, ErrBadMerge)
			assert.Contains(t, err.Error(), "f.json: not a slice written by 'idemsim compare --shard K/N': ")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.Equal(t, "none", good.Strategies[0], "the tampering left the part alone")
}

func TestPartJSONSaysWhichSliceItIs(t *testing.T) {
	p, err := CompareShard(CompareConfig{Strategies: []string{"none", "redis"}, Scenarios: []faults.Set{0, faults.AllFaults}, Seeds: 200, Events: 5}, Shard{2, 16})
	require.NoError(t, err)
	var top map[string]json.RawMessage
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &top))
	want := map[string]string{
		"shard": `"2/16"`, "first_seed": "13", "last_seed": "25", "seeds": "200", "instances": "3", "events": "5",
		"broker": `"queue"`, "strategies": `["none","redis"]`, "scenarios": `["none","all"]`, "command": `""`,
	}
	for k, v := range want {
		assert.Equal(t, v, string(top[k]), k)
	}
	assert.Len(t, top, len(want)+1, "and the results")
	assert.Equal(t, 13, p.Results[3].Runs)
}

// TestSlicesCarryTheBroker: a comparison with the queue's parameters
// merges into what Compare gives, its cells replay with them, and slices of
// another broker do not merge with it.
func TestSlicesCarryTheBroker(t *testing.T) {
	cc := tiny
	cc.Strategies = []string{"none", "db-unique"}
	cc.Scenarios = []faults.Set{faults.Of(faults.Redeliver), faults.Of(faults.Slow)}
	cc.Events = 30
	cc.Broker = run.BrokerParams{AckDeadline: run.NoAckDeadline, MaxDeliveries: 2}
	whole, err := Compare(cc)
	require.NoError(t, err)
	assert.Equal(t, run.BrokerNaming{Broker: "queue", AckDeadline: "none", MaxDeliveries: 2}, whole.BrokerNaming)
	merged, err := Merge(parts(t, cc, 3))
	require.NoError(t, err)
	assert.Equal(t, whole, merged)
	failing := 0
	for _, c := range whole.Results {
		assert.Equal(t, whole.BrokerNaming, c.BrokerNaming)
		if c.FirstFailingSeed != nil {
			failing++
			assert.Contains(t, c.ReproduceCmd, " --broker queue --ack-deadline none --max-deliveries 2")
		}
	}
	assert.Positive(t, failing, "none duplicates under redeliver")

	def := parts(t, tiny, 3)
	other := tiny
	other.Broker = run.BrokerParams{Prefetch: 2}
	_, err = Merge([]*Part{def[0], parts(t, other, 3)[1], def[2]})
	require.ErrorIs(t, err, ErrBadMerge)
	assert.Contains(t, err.Error(), "slices of different comparisons: brokers")

	bad := parts(t, tiny, 1)
	bad[0].AckDeadline = "soon"
	_, err = Merge(bad)
	require.ErrorIs(t, err, ErrBadMerge)
	assert.Contains(t, err.Error(), `ack_deadline "soon": want a positive Go duration or none`)
}
