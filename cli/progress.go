package cli

import (
	"fmt"
	"io"
	"time"
)

// progressInterval is the least time between two progress updates.
const progressInterval = 100 * time.Millisecond

// progress shows how far a sweep got as one line on a terminal, rewritten
// in place with '\r': jobs done of the total, and the wall time elapsed.
// compare shows its runs, explain the seeds of each search. It reads the
// wall clock, which nothing on the simulated path does; its output goes to
// stderr and never changes a result.
type progress struct {
	w       io.Writer
	now     func() time.Time
	what    string // what the line is about, as "compare"
	unit    string // what a job is, as "run"
	start   time.Time
	last    time.Time
	shown   bool
	lastLen int
}

// newProgress starts compare's progress line on w, timed by now.
func newProgress(w io.Writer, now func() time.Time) *progress {
	return newProgressOf(w, now, "compare", "run")
}

// newProgressOf starts a progress line on w, timed by now, that says
// "what: done/total units".
func newProgressOf(w io.Writer, now func() time.Time, what, unit string) *progress {
	t := now()
	return &progress{w: w, now: now, what: what, unit: unit, start: t}
}

// update shows done of total, at most once per progressInterval except for
// the last job, which is always shown. The sweep engine calls it on the
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
	line := fmt.Sprintf("%s: %d/%s (%d%%), %.1fs elapsed", p.what, done, plural(total, p.unit), pct, t.Sub(p.start).Seconds())
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

// erase ends the progress line, if one was shown, by blanking it and
// going back to its start, so that what follows is written over it: a
// line of explain's search, which says what the progress said.
func (p *progress) erase() {
	if p.shown {
		fmt.Fprintf(p.w, "\r%*s\r", p.lastLen, "")
	}
}
