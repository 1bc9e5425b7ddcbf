package idemsimtest

import (
	"testing"

	"github.com/idemsim/idemsim/internal/testserver"
)

// The real sweeps' tests share one throwaway Redis and PostgreSQL, which
// testserver.Main stops at the end.
func TestMain(m *testing.M) { testserver.Main(m) }
