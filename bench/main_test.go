package bench

import (
	"testing"

	"github.com/idemsim/idemsim/internal/provider"
	"github.com/idemsim/idemsim/internal/testserver"
)

// TestMain runs the benchmarks through testserver.Main, which stops the
// shared throwaway Redis and PostgreSQL servers of the real-backend
// benchmarks after the run.
// A real run of a strategy that charges starts its own executable, here
// this test binary, as its payment provider: provider.ChildMain serves as
// one then.
func TestMain(m *testing.M) { provider.ChildMain(); testserver.Main(m) }
