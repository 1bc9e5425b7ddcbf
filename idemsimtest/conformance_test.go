package idemsimtest

import "testing"

// TestConformanceOfAUserStrategy plays the suite on a strategy registered
// by Conformance itself, held to the promises it states.
func TestConformanceOfAUserStrategy(t *testing.T) {
	Conformance(t, userStrategy)
}

// TestConformanceOfABuiltin plays it on a strategy with Redis keys, whose
// cases include the expiry of a key.
func TestConformanceOfABuiltin(t *testing.T) {
	Conformance(t, builtin(t, "redis-lease"))
}
