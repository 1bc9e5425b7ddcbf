package faults

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	accepted := "(accepted: " + strings.Join(AcceptedNames(), ", ") + ")"
	tests := []struct {
		in      string
		want    Set
		wantErr string
	}{
		{"crash", Of(Crash), ""},
		{"crash,partition", Of(Crash, Partition), ""},
		{" ttl , store-loss ", Of(TTL, StoreLoss), ""},
		{"crash,crash", 0, `"crash" is given twice in "crash,crash": name each fault once`},
		{"crash, partition ,crash", 0, `"crash" is given twice`},
		{"all,all", 0, `"all" is given twice`},
		{"all", AllFaults, ""},
		{"crash,all", AllFaults, ""},
		{"none", 0, ""},
		{" none ", 0, ""},
		{"none,none", 0, `"none" is given twice`},
		{"", 0, `empty name in "" ` + accepted},
		{"crash,", 0, `empty name in "crash," ` + accepted},
		{"crsh", 0, `unknown fault "crsh" ` + accepted},
		{"Crash", 0, `unknown fault "Crash": names are exact, did you mean "crash"? ` + accepted},
		{"store_loss", 0, `did you mean "store-loss"?`},
		{"NONE", 0, `did you mean "none"?`},
		{"none,crash", 0, `"none" cannot be combined with other faults in "none,crash"`},
		{"all,none", 0, `"none" cannot be combined`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrUnknownFault)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "faults:", "no package prefix in the text")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestParseNeverRefusesWhatItLists: no error says a name is unknown while
// listing it as accepted, and every accepted name parses alone.
func TestParseNeverRefusesWhatItLists(t *testing.T) {
	for _, n := range AcceptedNames() {
		_, err := Parse(n)
		assert.NoError(t, err, n)
		for _, other := range AcceptedNames() {
			_, err := Parse(n + "," + other)
			if err != nil {
				assert.NotContains(t, err.Error(), "unknown", "%s,%s: %v", n, other, err)
			}
		}
	}
}

func TestNamesAndString(t *testing.T) {
	s := Of(TTL, Crash, StoreLoss)
	assert.Equal(t, []string{"crash", "store-loss", "ttl"}, s.Names(), "sorted")
	assert.Equal(t, "crash,store-loss,ttl", s.String())
	assert.Equal(t, "all", AllFaults.String())
	assert.Equal(t, "none", Set(0).String())
	for _, sc := range Scenarios() {
		back, err := Parse(sc.String())
		require.NoError(t, err)
		assert.Equal(t, sc, back, "String and Parse round-trip")
	}
	assert.Equal(t, len(ScenarioNames()), len(Scenarios()))
}

func TestDrawOnlyWhatIsAsked(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		p := Draw(0, seed)
		assert.Greater(t, p.AckLoss, 0.0, "a few acks are lost in every run")
		assert.Less(t, p.AckLoss, 0.06)
		assert.Zero(t, p.CrashPerStep)
		assert.Zero(t, p.Partitions)
		assert.Zero(t, p.SlowPerStep)
		assert.Zero(t, p.StoreLosses)
		assert.Zero(t, p.MarkTTL)
		assert.Zero(t, p.DupPublish)

		all := Draw(AllFaults, seed)
		assert.Greater(t, all.AckLoss, p.AckLoss, "redeliver loses more acks")
		assert.Greater(t, all.CrashPerStep, 0.0)
		assert.GreaterOrEqual(t, all.Partitions, 1)
		assert.Greater(t, all.SlowFactor, 1.0, "a stall outlasts the ack deadline")
		assert.GreaterOrEqual(t, all.StoreLosses, 1)
		assert.Greater(t, all.MarkTTL.Seconds(), 0.0)
		assert.Less(t, all.MarkTTL, all.LateMin, "marks expire before late copies arrive")
	}
}

func TestEachFaultHasItsOwnStream(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		alone := Draw(Of(Slow), seed)
		mixed := Draw(AllFaults, seed)
		assert.Equal(t, alone.SlowPerStep, mixed.SlowPerStep)
		assert.Equal(t, alone.SlowFactor, mixed.SlowFactor)
		assert.Equal(t, Draw(Of(Partition), seed).Partitions, mixed.Partitions)
	}
}

// TestInjectorSizedForEveryFault holds the injector's arrays as long as the
// list of faults: a new fault needs a stream and a counter.
func TestInjectorSizedForEveryFault(t *testing.T) {
	if numFaults != len(described) {
		t.Fatalf("numFaults = %d, but %d faults are described", numFaults, len(described))
	}
}
