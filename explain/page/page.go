package page

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
)

// File is the name of the story page in an --out directory.
const File = "index.html"

// Version is the version of Doc's JSON: a renderer reads the documents of
// its own version.
const Version = 1

// Doc is everything the story page shows, as one JSON document: the run,
// its steps with the state after each, the timeline's marks, the
// violation and why, the fix beside each step, and how to replay it. It
// is built from a story (FromStory); the page's script only draws it.
type Doc struct {
	Version int    `json:"version"`
	Title   string `json:"title"`
	// Heading is the page's first heading: "How local-cache under
	// redeliver applies event 1 more than once".
	Heading string `json:"heading"`
	// Run is the run told.
	Run Run `json:"run"`
	// Header is the story's first line; Key says how to read its names
	// (i0, e1, m1).
	Header string `json:"header"`
	Key    string `json:"key"`
	// Copies, when the event came more than once only because the
	// producer published it more than once and the broker redelivered
	// none of its messages, says so, for the top of the page: a scenario
	// named redeliver leads a reader to look for a redelivery that did not
	// happen. "" otherwise.
	Copies string `json:"copies,omitempty"`
	// Event is the event whose story this is, Kind its violation
	// as --kind names it ("dup", "lost", "stuck"; "ok" for none).
	Event uint32 `json:"event"`
	Kind  string `json:"kind"`
	// Initial is the state before the first record; Steps are the
	// story's numbered steps.
	Initial explain.Snapshot `json:"initial"`
	Steps   []Step           `json:"steps"`
	// Violation, WholeRun, Why and Note are the story's closing lines
	// (WholeRun and Note may be empty); for a run without a violation
	// (Kind "ok"), Violation is the outcome, without the text story's
	// "none: " (the page heads it "Outcome").
	Violation string `json:"violation"`
	WholeRun  string `json:"whole_run,omitempty"`
	Why       string `json:"why"`
	Note      string `json:"note,omitempty"`
	// Fix is the same run under the strategy the story shows as the fix
	// (db-unique, which survives every scenario but id-reuse), nil when
	// there is none to show.
	Fix *Fix `json:"fix,omitempty"`
	// Timeline is the timeline picture's marks.
	Timeline *explain.TimelineView `json:"timeline"`
	// Reproduce is the command that replays the run; TraceHash the run's
	// trace hash, which the same command prints.
	Reproduce string `json:"reproduce"`
	TraceHash string `json:"trace_hash"`
	// History is the relative link of porcupine's page of the run's
	// history, "" for none; Text is the whole story as the command line
	// writes it (the page's fallback without script).
	History string `json:"history,omitempty"`
	Text    string `json:"text"`
}

// Run names a run: the flags that replay it.
type Run struct {
	Strategy  string `json:"strategy"`
	Faults    string `json:"faults"`
	Instances int    `json:"instances"`
	Events    int    `json:"events"`
	Seed      uint64 `json:"seed"`
	Broker    string `json:"broker"`
}

// Step is one numbered step of the story and the state after it.
type Step struct {
	N     int    `json:"n"`
	At    string `json:"at"` // "9.630 ms"
	AtNS  int64  `json:"at_ns"`
	Inst  int    `json:"inst"` // the instance that acted, -1 for none
	Actor string `json:"actor"`
	Text  string `json:"text"`
	// Line is the state line the text story prints under the step, ""
	// where it prints none (the state did not change); State is the
	// state after the step, in parts, whose Line it is.
	Line  string           `json:"line"`
	State explain.Snapshot `json:"state"`
}

// Fix is the fix beside the story: the same run under another strategy.
type Fix struct {
	Strategy string `json:"strategy"`
	// Verdict says what it did with the event; Applied how often its
	// effect is in that run's ledger.
	Verdict string `json:"verdict"`
	Applied int    `json:"applied"`
	// Steps are its decisive steps; Reproduce replays it.
	Steps     []Step `json:"steps"`
	Reproduce string `json:"reproduce"`
	TraceHash string `json:"trace_hash"`
	// States is, for each step of the story (States[0] for step 1), the
	// fix's run at the same moment (explain.Fix.SnapshotBeside); Same
	// whether the two runs were still record for record the same by then,
	// so that both panels must show the same broker, instances and
	// ledger; Through how many of its decisive steps had happened by then.
	States  []explain.Snapshot `json:"states"`
	Same    []bool             `json:"same"`
	Through []int              `json:"through"`
}

// FromStory builds the page's document of a story told from a run
// (explain.Tell and its kin); history is the relative link of its
// porcupine page, "" for none.
func FromStory(s *explain.Story, history string) (*Doc, error) {
	if s.Result == nil || s.Facts() == nil {
		return nil, fmt.Errorf("page: the story has no replayed run to show (use explain.Tell)")
	}
	var text strings.Builder
	if _, err := s.WriteTo(&text); err != nil {
		return nil, err
	}
	cfg := s.Config
	d := &Doc{
		Version: Version,
		Title:   explain.HistoryTitle(cfg),
		Run: Run{Strategy: cfg.Strategy, Faults: cfg.Faults.String(), Instances: cfg.Instances, Events: cfg.Events,
			Seed: cfg.Seed, Broker: cfg.BrokerModel},
		Header:    s.Header,
		Key:       strings.ReplaceAll(explain.NamesKey, "\n", " "),
		Event:     s.Event,
		Kind:      s.Kind.String(),
		Initial:   s.InitialSnapshot(),
		Violation: s.Violation,
		WholeRun:  s.WholeRun(),
		Why:       s.Why,
		Note:      s.Note,
		Timeline:  s.Timeline(),
		Reproduce: cfg.Reproduce(),
		TraceHash: s.Result.TraceHash,
		History:   history,
		Text:      text.String(),
	}
	d.Title = strings.TrimSuffix(d.Title, " (idemsim, porcupine)") + " (idemsim)"
	d.Heading = heading(s)
	d.Copies = copies(s)
	if s.Kind == explain.NoViolation {
		d.Violation = outcome(d.Violation)
	}
	if d.Run.Broker == "" {
		d.Run.Broker = "queue"
	}
	if d.Header == "" {
		d.Header = d.Title
	}
	snaps := s.Snapshots()
	for k, st := range s.Steps {
		d.Steps = append(d.Steps, step(st, snaps[k]))
	}
	if fx := s.Fix; fx != nil {
		f := &Fix{Strategy: fx.Config.Strategy, Verdict: fx.Verdict(), Applied: fx.Applied,
			Reproduce: fx.Config.Reproduce(), TraceHash: fx.Result.TraceHash}
		for _, st := range fx.Steps {
			f.Steps = append(f.Steps, step(st, explain.Snapshot{}))
		}
		for k, st := range s.Steps {
			snap, same := fx.SnapshotBeside(s, k)
			f.States = append(f.States, snap)
			f.Same = append(f.Same, same)
			n := 0
			for _, fs := range fx.Steps {
				if fs.At <= st.At {
					n++
				}
			}
			f.Through = append(f.Through, n)
		}
		d.Fix = f
	}
	return d, nil
}

// heading says what the story shows, as the page's first heading.
func heading(s *explain.Story) string {
	what := fmt.Sprintf("handles event %d", s.Event)
	switch s.Kind {
	case explain.Duplicate:
		what = fmt.Sprintf("applies event %d more than once", s.Event)
	case explain.Lost:
		what = fmt.Sprintf("loses event %d", s.Event)
	case explain.Stuck:
		what = fmt.Sprintf("leaves event %d unsettled", s.Event)
	}
	return fmt.Sprintf("How %s %s %s", s.Config.Strategy, explain.Under(s.Config.Faults), what)
}

// copies says, when the story's event came more than once and every
// copy was a message of its own that the producer published, none sent
// twice by the broker, that nothing was redelivered: "" otherwise.
func copies(s *explain.Story) string {
	f := s.Facts()
	var msgs []string
	for id := 1; id < len(f.Messages); id++ {
		m := &f.Messages[id]
		if m.Event != s.Event {
			continue
		}
		if len(m.Deliveries) > 1 {
			return "" // the broker did redeliver a copy
		}
		msgs = append(msgs, fmt.Sprintf("m%d", m.ID))
	}
	if len(msgs) < 2 {
		return ""
	}
	text := fmt.Sprintf("Nothing was redelivered here: the broker delivered each message once. The copies of event %d came from the producer, which published it %s, as %s.",
		s.Event, countWord(len(msgs)), strings.Join(msgs[:len(msgs)-1], ", ")+" and "+msgs[len(msgs)-1])
	if s.Config.Faults.Has(faults.Redeliver) {
		text += " The scenario redeliver does both: it loses more acks, so that the broker redelivers, and it makes the producer publish some events twice; in this run only the producer's copies played a part."
	}
	return text
}

// countWord says how many times: "twice", "3 times".
func countWord(n int) string {
	if n == 2 {
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// outcome rewords the text story's line of a run without a violation
// ("none: event 197 was applied exactly once.") to follow the page's
// "Outcome:" ("Event 197 was applied exactly once.").
func outcome(v string) string {
	for _, p := range []string{"none: ", "none, but "} {
		if rest, ok := strings.CutPrefix(v, p); ok && rest != "" {
			return strings.ToUpper(rest[:1]) + rest[1:]
		}
	}
	return v
}

// step is a story's step in the document.
func step(st explain.Step, snap explain.Snapshot) Step {
	return Step{N: st.N, At: fmt.Sprintf("%.3f ms", float64(st.At.Nanoseconds())/1e6), AtNS: st.At.Nanoseconds(),
		Inst: st.Inst, Actor: st.Actor, Text: st.Text, Line: st.State, State: snap}
}

// Term is a word the pages use, and what it means in plain words.
type Term struct {
	Word    string `json:"word"`
	Meaning string `json:"meaning"`
}

// Terms are the words the story page, the playground and the site's
// index use without saying what they are: each page shows them in a small
// box, from this one list (the story page's script gets them through
// Script).
var Terms = []Term{
	{"instance", "one running copy of the consumer service (instance 0, instance 1, ...); several share the broker's messages"},
	{"handler", "the instance's code that handles one delivered message: it checks whether the event was seen, applies the effect, and returns applied or skipped"},
	{"message", "one published copy of an event (m1, m2, ...); the producer may publish an event more than once, and the broker may deliver a message more than once"},
	{"ack", "the instance telling the broker a message is done; a message not acked in time (or whose ack is lost) is delivered again"},
	{"effect", "what handling an event does that must happen exactly once: a row written to the ledger"},
	{"ledger", "the table of effects: ×2 beside an event means its effect was applied twice, a duplicate"},
	{"processed-ids table / marks / cache", "where a strategy remembers the events it has handled, to skip a copy: a database table, Redis keys (marks), or each instance's own memory (cache)"},
	{"trace hash", "a fingerprint of everything the simulated run did: the same flags and seed give the same hash, in the browser and on the command line"},
	{"linearizable / porcupine", "porcupine is the checker that looks for an order of the handlings in which every event takes effect once; a run with none is not linearizable: exactly-once is broken"},
}

//go:embed assets/page.html
var pageHTML string

//go:embed assets/story.css
var storyCSS string

//go:embed assets/story.js
var storyJSRaw string

// termsSlot is where story.js takes Terms.
const termsSlot = "/* Terms, from Go */ []"

// storyJS is story.js with Terms in its slot.
var storyJS = func() string {
	b, err := json.Marshal(Terms)
	if err != nil || !strings.Contains(storyJSRaw, termsSlot) {
		panic("page: story.js has no slot for the terms")
	}
	return strings.Replace(storyJSRaw, termsSlot, string(b), 1)
}()

// Style returns the page's style sheet, and Script its script, which
// draws a document: window.idemsimStory.render(container, doc). A page of
// another kind (a playground) can serve them as they are.
func Style() string { return storyCSS }

// Script returns the page's script (see Style).
func Script() string { return storyJS }

// tmpl is the page: its style, its script and the document, inlined.
var tmpl = template.Must(template.New(File).Parse(pageHTML))

// Write writes the page of d: one HTML file with its style, its script
// and d inlined, which needs no network and no server.
func Write(w io.Writer, d *Doc) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, struct {
		Title string
		Text  string
		CSS   template.CSS
		JS    template.JS
		Data  template.JS
	}{d.Title, d.Text, template.CSS(storyCSS), template.JS(storyJS), template.JS(data)})
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// WriteFile writes the page of story s into dir as File (index.html),
// linking porcupine's page explain.HistoryFile beside it, and returns its
// path.
func WriteFile(dir string, s *explain.Story) (string, error) {
	d, err := FromStory(s, explain.HistoryFile)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		return "", err
	}
	path := filepath.Join(dir, File)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}
