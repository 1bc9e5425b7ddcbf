package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
