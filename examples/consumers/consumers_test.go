package consumers_test

import (
	"testing"

	"github.com/idemsim/idemsim/idemsimtest"

	"example.com/consumers"
)

// TestExactlyOnce sweeps each consumer over every scenario and holds it to
// the row its description expects.
func TestExactlyOnce(t *testing.T) {
	for _, s := range consumers.All {
		t.Run(s.Name, func(t *testing.T) {
			idemsimtest.ExactlyOnce(t, s, idemsimtest.Options{Expect: s.Expected, ExpectOn: s.ExpectedOn})
		})
	}
}

// TestConformance holds each consumer to the promises it states.
func TestConformance(t *testing.T) {
	for _, s := range consumers.All {
		t.Run(s.Name, func(t *testing.T) {
			idemsimtest.Conformance(t, s)
		})
	}
}
