package explain

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"os"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/idemsim/idemsim/check"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
)

// checkTimeout bounds porcupine's check of a story's history; a shrunk
// history has a handful of operations, so it is never reached.
const checkTimeout = 30 * time.Second

// Colors of the fault annotations in the HTML visualization.
const (
	colorFault = "#f8c8c8"
	colorHeal  = "#c8ecc8"
	colorLoss  = "#e0d0f0"
)

// WriteHistoryHTML writes porcupine's visualization of the story's
// history, an HTML page with its script and data inlined: one row per
// instance (and one for the final reads), each attempt and ack as a bar
// from its call to its return, the partial linearizations, and where the
// model rejects the history. The faults of the run are annotated: crashes
// and restarts, lost acks and timeouts on their instance's row; partitions
// and stalls as spans; Redis outages and expired or deleted keys on a row of
// their own. The page's title names the strategy, the scenario and the
// seed (HistoryTitle).
func WriteHistoryHTML(w io.Writer, s *Story) error {
	if s.Result == nil {
		return fmt.Errorf("explain: the story has no replayed run to draw (use Tell)")
	}
	_, info := check.Verbose(s.Result.History, checkTimeout)
	info.AddAnnotations(annotations(s))
	var buf bytes.Buffer
	if err := porcupine.Visualize(check.Model, info, &buf); err != nil {
		return err
	}
	_, err := w.Write(retitle(buf.Bytes(), HistoryTitle(s.Config)))
	return err
}

// porcupineTitle is the fixed title of porcupine's page, which its API
// cannot set.
const porcupineTitle = "<title>Porcupine</title>"

// HistoryTitle is the title of the history page of the run cfg, such as
// "local-cache under redeliver, seed 2: 2 instances, 1 event (idemsim,
// porcupine)".
func HistoryTitle(cfg sim.Config) string {
	return fmt.Sprintf("%s %s, seed %d: %s, %s (idemsim, porcupine)",
		cfg.Strategy, Under(cfg.Faults), cfg.Seed, plural(cfg.Instances, "instance"), plural(cfg.Events, "event"))
}

// retitle replaces the first <title> of porcupine's page, which comes
// before its script and data, with title, HTML-escaped; a page without it
// is returned as it is.
func retitle(page []byte, title string) []byte {
	i := bytes.Index(page, []byte(porcupineTitle))
	if i < 0 {
		return page
	}
	out := make([]byte, 0, len(page)+len(title))
	out = append(out, page[:i]...)
	out = append(out, "<title>"+html.EscapeString(title)+"</title>"...)
	return append(out, page[i+len(porcupineTitle):]...)
}

// annotations lists the faults of the story's run for porcupine, from its
// facts.
func annotations(s *Story) []porcupine.Annotation {
	f := s.a.facts
	var out []porcupine.Annotation
	add := func(client int, tag string, start, end int64, desc, details, bg string) {
		out = append(out, porcupine.Annotation{ClientId: client, Tag: tag, Start: start, End: end, Description: desc, Details: details, BackgroundColor: bg})
	}
	detail := func(rec int) string { return strings.Join(strings.Fields(f.Trace[rec].String()), " ") }
	for _, c := range f.Crashes {
		add(int(c.Inst), "", c.At, c.At, "crash", detail(c.Rec), colorFault)
		if c.RestartRec >= 0 {
			add(int(c.Inst), "", c.Restart, c.Restart, "restart", detail(c.RestartRec), colorHeal)
		}
	}
	for _, a := range f.Acks {
		if a.LostRec >= 0 {
			add(int(a.Inst), "", a.At, a.At, fmt.Sprintf("ack of m%d lost", a.Msg), detail(a.LostRec), colorFault)
		}
	}
	for k := 1; k < len(f.Calls); k++ {
		if c := &f.Calls[k]; c.TimeoutRec >= 0 {
			add(int(c.Inst), "", c.TimedOut, c.TimedOut, "timeout", detail(c.TimeoutRec), colorFault)
		}
	}
	for _, st := range f.Stalls {
		what := "stalled"
		if st.Paused {
			what = "paused whole (zombie)"
		}
		add(int(st.Inst), "", st.At, st.At+st.Dur, what, detail(st.Rec), colorFault)
	}
	for _, l := range f.Leaves {
		if l.Stops() {
			add(int(l.Inst), "", l.At, l.At, "left gracefully", detail(l.Rec), colorFault)
			if l.RestartRec >= 0 {
				add(int(l.Inst), "", l.Restart, l.Restart, "back as a new process", detail(l.RestartRec), colorHeal)
			}
		}
	}
	if g := f.Group; g != nil {
		for _, c := range g.Commits {
			if c.Fenced {
				add(int(c.Inst), "", c.At, c.At, fmt.Sprintf("commit of partition %d fenced", c.Part), detail(c.Rec), colorFault)
			}
		}
	}
	for i := int32(0); int(i) < s.Config.Instances; i++ {
		for _, sp := range f.CutSpans(i) {
			details := fmt.Sprintf("partition from %d to %d ns", sp.From, sp.To)
			if sp.EndRec == f.HealRec {
				details = "partition until the heal"
			}
			add(int(i), "", sp.From, sp.To, "cut off", details, colorFault)
		}
	}
	for _, o := range f.Outages {
		add(-1, actorRedis, o.At, o.At, "data lost", detail(o.Rec), colorLoss)
	}
	for _, sp := range f.OutageSpans() {
		add(-1, actorRedis, sp.From, sp.To, "down", "Redis refuses calls", colorLoss)
	}
	for _, r := range f.Requeues {
		add(-1, actorBroker, r.At, r.At, fmt.Sprintf("m%d requeued", r.Msg), detail(r.Rec), "")
	}
	for _, d := range f.DeadLetters {
		add(-1, actorBroker, d.At, d.At, fmt.Sprintf("m%d dead-lettered", d.Msg), detail(d.Rec), colorLoss)
	}
	if f.HealRec >= 0 {
		add(-1, "faults", f.Heal, f.Heal, "faults heal", detail(f.HealRec), colorHeal)
	}
	end := f.LastRecord()
	for k, key := range f.Keys {
		if e := f.Expiry(k); e >= 0 && e <= end {
			if key.Name != "" {
				add(-1, actorRedis, e, e, fmt.Sprintf("key %s expired", key.Name), fmt.Sprintf("%s = %s lived its TTL", key.Name, key.Value), colorLoss)
			} else {
				add(-1, actorRedis, e, e, fmt.Sprintf("key e%d expired", key.Event), "the mark lived its TTL", colorLoss)
			}
		}
		if key.EndCall != 0 && f.Calls[key.EndCall].Op == run.Del {
			add(-1, actorRedis, key.End(f), key.End(f), fmt.Sprintf("key %s deleted", key.Name), detail(key.EndRec), colorLoss)
		}
	}
	// Annotations with a tag need no client; porcupine keys on either.
	for i := range out {
		if out[i].Tag != "" {
			out[i].ClientId = 0
		}
	}
	return out
}

// Names of the files WriteFiles (draw.go) writes.
const (
	HistoryFile     = "history.html"
	TimelinePNGFile = "timeline.png"
	TimelineSVGFile = "timeline.svg"
)

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer) error) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(file)
	if err := write(bw); err != nil {
		file.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		file.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return file.Close()
}
