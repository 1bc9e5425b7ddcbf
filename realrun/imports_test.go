package realrun

import (
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNeitherImportsTheSimulator holds the layering the architecture
// describes: the real backend writes through package run, and neither it
// nor the conformance suite shares code with the simulator (their tests
// may compare against it).
func TestNeitherImportsTheSimulator(t *testing.T) {
	goCmd, err := osexec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the imports with")
	}
	for _, pkg := range []string{"github.com/idemsim/idemsim/realrun", "github.com/idemsim/idemsim/strategies/conformance"} {
		out, err := osexec.Command(goCmd, "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		deps := strings.Fields(string(out))
		if pkg == "github.com/idemsim/idemsim/realrun" {
			require.Contains(t, deps, "github.com/idemsim/idemsim/run", "the real backend writes through package run")
		}
		for _, d := range deps {
			require.False(t, d == "github.com/idemsim/idemsim/sim" || strings.HasPrefix(d, "github.com/idemsim/idemsim/sim/"),
				"%s imports the simulator (%s)", pkg, d)
		}
	}
}
