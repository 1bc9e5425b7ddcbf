package cli

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

func TestProgressThrottlesToTenPerSecond(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&buf, func() time.Time { return clock })
	const total = 1000
	for done := 1; done <= total; done++ {
		clock = clock.Add(time.Millisecond) // 1000 runs in one second
		p.update(done, total)
	}
	p.finish()
	out := buf.String()
	updates := strings.Count(out, "\r")
	assert.GreaterOrEqual(t, updates, 10)
	assert.LessOrEqual(t, updates, 12, "at most about ten updates a second")
	assert.True(t, strings.HasSuffix(out, "\rcompare: 1000/1000 runs (100%), 1.0s elapsed\n"), "%q", out[len(out)-60:])
}

func TestProgressErasesALongerLine(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&buf, func() time.Time { return clock })
	p.lastLen = 100 // as if a longer line was shown before
	p.update(1, 2)
	line := strings.TrimPrefix(buf.String(), "\r")
	assert.Len(t, line, 100, "padded with spaces over the old line")
}

func TestProgressFinishWithoutUpdatePrintsNothing(t *testing.T) {
	var buf bytes.Buffer
	newProgress(&buf, time.Now).finish()
	assert.Empty(t, buf.String())
}

func TestIsTerminal(t *testing.T) {
	assert.False(t, isTerminal(&bytes.Buffer{}), "a buffer is not a terminal")
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a regular file is not a terminal")
	if dn, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		defer dn.Close()
		assert.True(t, isTerminal(dn), "the check is ModeCharDevice, which /dev/null has too (harmless: progress goes nowhere)")
	}
}

// TestExplainProgressOnATerminal: explain's search shows its seeds on
// stderr when stderr is a terminal, one line per scenario, throttled, and
// blanks it before the scenario's line; stdout is what it is without.
func TestExplainProgressOnATerminal(t *testing.T) {
	args := []string{"explain", "--strategy", "db-unique", "--faults", "crash", "--seeds", "12", "--instances", "1"}
	var out, errOut bytes.Buffer
	clock := time.Unix(1000, 0)
	e := &env{
		stdout: &out, stderr: &errOut,
		isTerminal: func(w io.Writer) bool { return w == &errOut },
		now:        func() time.Time { clock = clock.Add(30 * time.Millisecond); return clock },
		simRun:     sim.Run, simCompare: sweep.Compare,
	}
	require.Equal(t, ExitOK, e.main(args))
	progress := errOut.String()
	assert.True(t, strings.HasPrefix(progress, "\rexplain: searching db-unique under crash: "), "%q", progress)
	assert.Contains(t, progress, "12/12 seeds (100%)", "the last seed is always shown")
	assert.Less(t, strings.Count(progress, "\r"), 12, "updates are throttled")
	assert.Regexp(t, `\r +\r$`, progress, "the line is blanked before the scenario's line is written over it")
	assert.NotContains(t, out.String(), "\r", "progress never goes to stdout")

	code, stdout, stderr := runCLI(t, args...)
	require.Equal(t, ExitOK, code)
	assert.Empty(t, stderr, "no progress when stderr is not a terminal")
	assert.Equal(t, stdout, out.String(), "progress changes nothing on stdout")
}
