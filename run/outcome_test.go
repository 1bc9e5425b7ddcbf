package run

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/strategies"
)

// TestOutcomeMappings covers every value of the three types that say what
// an attempt came to, and one past the last of each: each known value maps
// to the value of the same name, a failure or an unknown value to the
// failure's own (Errored, check.Unknown, 0), never to another meaning.
func TestOutcomeMappings(t *testing.T) {
	// Every strategies.Outcome, 0 and one past Refused included.
	for s := strategies.Outcome(0); s <= strategies.Refused+1; s++ {
		o := OutcomeOf(s, nil)
		known := s >= strategies.Applied && s <= strategies.Refused
		if !known {
			assert.Equal(t, Errored, o, "%v is no outcome: the strategy's bug, an error", s)
			continue
		}
		assert.Equal(t, s.String(), o.String(), "OutcomeOf(%v)", s)
		assert.Equal(t, s, o.Strategy(), "round trip of %v", s)
		assert.Equal(t, s.String(), o.Result().String(), "%v in the history", s)
		assert.Equal(t, Errored, OutcomeOf(s, errors.New("boom")), "an error wins over %v", s)
	}
	// Every Outcome, 0 and one past the last included.
	results := map[check.Result]Outcome{}
	for o := Outcome(0); o <= numOutcomes; o++ {
		r := o.Result()
		switch o {
		case Applied, Skipped, RetryLater, Dropped, Rejected:
			assert.Equal(t, o.String(), r.String())
			assert.Equal(t, o.String(), o.Strategy().String())
			assert.Equal(t, o, OutcomeOf(o.Strategy(), nil), "round trip of %v", o)
		case Errored:
			assert.Equal(t, check.Unknown, r, "a failed attempt's effect is unknown")
			assert.Zero(t, o.Strategy(), "a failed handler returned no outcome")
		default:
			assert.Equal(t, check.Unknown, r, "%v is no outcome", o)
			assert.Zero(t, o.Strategy(), "%v is no outcome", o)
			continue
		}
		if prev, dup := results[r]; dup {
			t.Errorf("%v and %v both map to %v", prev, o, r)
		}
		results[r] = o
	}
	// Every check.Result is the image of exactly one Outcome.
	for r := check.Result(1); r <= check.Refused; r++ {
		assert.Contains(t, results, r, "no Outcome maps to %v", r)
	}
	assert.Equal(t, "Result(7)", (check.Refused + 1).String(), "Refused is the last result")

	assert.Equal(t, map[Outcome]bool{Applied: true, Skipped: true, Dropped: true, Rejected: true},
		func() map[Outcome]bool {
			acks := map[Outcome]bool{}
			for o := Outcome(0); o <= numOutcomes; o++ {
				if o.Acks() {
					acks[o] = true
				}
			}
			return acks
		}(), "an instance acks after applied, skipped, dropped and refused only")
}

// A dropped attempt returns, as a skipped one does, and says it did
// nothing; an errored one stays unknown.
func TestEndAttemptDropped(t *testing.T) {
	var r Recorder
	r.Reset(Config{Strategy: "none", KeepHistory: true})
	a := r.BeginAttempt(0, 1, 2)
	r.EndAttempt(a, Dropped, 3)
	b := r.BeginAttempt(1, 1, 4)
	r.EndAttempt(b, Errored, 5)
	assert.Equal(t, check.Dropped, r.history[a].Result)
	assert.Equal(t, int64(3), r.history[a].Return)
	assert.Equal(t, check.Unknown, r.history[b].Result)
	assert.Equal(t, check.Never, r.history[b].Return)
}

// Each instance's incarnation has a stream of its own, apart from every
// component's and fault's.
func TestStreamInstance(t *testing.T) {
	seen := map[uint64]bool{StreamProducer: true, StreamBroker: true, StreamNetwork: true, StreamAckLoss: true}
	for f := 0; f < 64; f++ {
		seen[200+uint64(f)] = true
	}
	for inst := 0; inst < MaxInstances; inst++ {
		for gen := uint32(1); gen <= 5; gen++ {
			s := StreamInstance(inst, gen)
			assert.False(t, seen[s], "instance %d, generation %d: stream %d taken", inst, gen, s)
			seen[s] = true
		}
	}
}
