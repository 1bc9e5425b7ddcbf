package cli

import (
	"fmt"
	"io"
	"time"
)

// progressInterval is the least time between two progress updates.
const progressInterval = 100 * time.Millisecond

// progress shows compare's progress as one line on a terminal, rewritten in
// place with '\r': runs done of the total, and the wall time elapsed. It
// reads the wall clock, which nothing on the simulated path does; its
// output goes to stderr and never changes a result.
type progress struct {
	w       io.Writer
	now     func() time.Time
	start   time.Time
	last    time.Time
	shown   bool
	lastLen int
}

// newProgress starts a progress line on w, timed by now.
func newProgress(w io.Writer, now func() time.Time) *progress {
	t := now()
	return &progress{w: w, now: now, start: t}
}

// update shows done of total, at most once per progressInterval except for
// the last run, which is always shown. The sweep engine calls it on the
// goroutine that started the sweep, never two at once.
func (p *progress) update(done, total int) {
	t := p.now()
	if p.shown && done < total && t.Sub(p.last) < progressInterval {
		return
	}
	p.last, p.shown = t, true
	pct := 0
	if total > 0 {
		pct = done * 100 / total
	}
	line := fmt.Sprintf("compare: %d/%s (%d%%), %.1fs elapsed", done, plural(total, "run"), pct, t.Sub(p.start).Seconds())
	pad := ""
	if n := p.lastLen - len(line); n > 0 {
		pad = fmt.Sprintf("%*s", n, "") // erase what a longer line left
	}
	p.lastLen = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

// finish ends the progress line, if one was shown, so that what follows
// starts on a line of its own.
func (p *progress) finish() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
