package bench

import (
	"testing"

	"github.com/idemsim/idemsim/internal/testserver"
)

// TestMain runs the benchmarks through testserver.Main, which stops the
// shared throwaway Redis and PostgreSQL servers of the real-backend
// benchmarks after the run.
func TestMain(m *testing.M) { testserver.Main(m) }
