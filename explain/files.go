package explain

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/idemsim/idemsim/check"
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
// and stalls as spans; Redis outages and expired or lost keys on a row of
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

// annotations lists the faults of the story's run for porcupine.
func annotations(s *Story) []porcupine.Annotation {
	var out []porcupine.Annotation
	add := func(client int, tag string, start, end int64, desc, details, bg string) {
		out = append(out, porcupine.Annotation{ClientId: client, Tag: tag, Start: start, End: end, Description: desc, Details: details, BackgroundColor: bg})
	}
	cutSince := map[int32]int64{}
	var downSince int64 = -1
	for _, r := range legacy(s.Result.Trace) {
		inst := int(r.Inst)
		switch r.Kind {
		case recCrash:
			add(inst, "", r.At, r.At, "crash", detail(r), colorFault)
		case recRestart:
			add(inst, "", r.At, r.At, "restart", detail(r), colorHeal)
		case recAckLost:
			add(inst, "", r.At, r.At, fmt.Sprintf("ack of m%d lost", r.Msg), detail(r), colorFault)
		case recTimeout:
			add(inst, "", r.At, r.At, "timeout", detail(r), colorFault)
		case recStall:
			add(inst, "", r.At, r.At+r.Arg, "stalled", detail(r), colorFault)
		case recPartition:
			if r.Arg != 0 {
				if _, cut := cutSince[r.Inst]; !cut {
					cutSince[r.Inst] = r.At
				}
			} else if since, cut := cutSince[r.Inst]; cut {
				add(inst, "", since, r.At, "cut off", "partition from "+fmt.Sprint(since)+" to "+fmt.Sprint(r.At)+" ns", colorFault)
				delete(cutSince, r.Inst)
			}
		case recStoreLoss:
			downSince = r.At
			add(-1, "redis", r.At, r.At, "data lost", detail(r), colorLoss)
		case recStoreUp:
			if downSince >= 0 {
				add(-1, "redis", downSince, r.At, "down", "Redis refuses calls", colorLoss)
				downSince = -1
			}
		case recRequeue:
			add(-1, "broker", r.At, r.At, fmt.Sprintf("m%d requeued", r.Msg), detail(r), "")
		case recHeal:
			for i := int32(0); i < int32(s.Config.Instances); i++ {
				if since, cut := cutSince[i]; cut {
					add(int(i), "", since, r.At, "cut off", "partition until the heal", colorFault)
					delete(cutSince, i)
				}
			}
			add(-1, "faults", r.At, r.At, "faults heal", detail(r), colorHeal)
		}
	}
	for _, id := range s.a.ids() {
		for _, e := range s.a.facts[id].expired {
			if e <= s.a.end() {
				add(-1, "redis", e, e, fmt.Sprintf("key e%d expired", id), "the mark lived its TTL", colorLoss)
			}
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

// detail is a trace record as the visualization's tooltip shows it.
func detail(r legacyRecord) string { return strings.Join(strings.Fields(r.rec.String()), " ") }

// Names of the files WriteFiles writes.
const (
	HistoryFile     = "history.html"
	TimelinePNGFile = "timeline.png"
	TimelineSVGFile = "timeline.svg"
)

// WriteFiles writes the story's history visualization and its timeline,
// as PNG and SVG, into dir, which must exist, and returns the paths written.
func WriteFiles(dir string, s *Story) ([]string, error) {
	var paths []string
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{HistoryFile, func(w io.Writer) error { return WriteHistoryHTML(w, s) }},
		{TimelinePNGFile, func(w io.Writer) error { return WriteTimeline(w, s, PNG) }},
		{TimelineSVGFile, func(w io.Writer) error { return WriteTimeline(w, s, SVG) }},
	} {
		path := filepath.Join(dir, f.name)
		if err := writeFile(path, f.write); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

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
