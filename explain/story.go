package explain

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
)

// Story is one run told step by step: the steps that matter for the event
// whose violation it shows, that violation, and why the strategy let it
// through.
type Story struct {
	// Config is the run told; Result is its outcome, with its trace and
	// history kept.
	Config sim.Config
	Result *sim.Result
	// Event is the event whose violation the story tells; Kind is that
	// violation (NoViolation if the run has none).
	Event uint32
	Kind  Kind
	// Header is the story's first line: the strategy, the scenario, the
	// run's size and seed and, when the producer published Event more
	// than once, how many times (a duplicate under redeliver is often
	// that, not a redelivery: the scenario's name does not say it).
	// HeaderClaims are the facts it states beyond the run's config. Empty
	// for a story not told from a run: WriteTo then writes the config's
	// line.
	Header       string
	HeaderClaims []Claim
	// Steps are the story's steps, numbered from 1, in time order.
	Steps []Step
	// Violation says what went wrong with Event; Why says why the
	// strategy could not prevent it; Note, if not empty, names the faults of
	// the scenario that played no part.
	Violation, Why, Note string
	// Fix, for a violation, is the same run replayed under the strategy
	// that survives every scenario, and what it did with Event; nil if
	// there is nothing to fix or no such strategy (see Fix).
	Fix *Fix
	// ViolationClaims, WhyClaims and NoteClaims are the facts Violation,
	// Why and Note state (see Claim).
	ViolationClaims, WhyClaims, NoteClaims []Claim

	a *analysis // the facts the story was told from
}

// Step is one numbered step of a Story.
type Step struct {
	N  int
	At time.Duration // simulated time since the start of the run
	// Inst is the instance that acted, or -1; Actor names who acted:
	// "instance 0", "producer", "broker", "redis", "database" or "-".
	Inst  int
	Actor string
	// Text says what happened, in plain words.
	Text string
	// State is the state that matters after the step (the instances'
	// memories, Redis keys or processed ids, committed ledger rows), or ""
	// when it has not changed and the step does not read it.
	State string
	// Record is the index in Result.Trace of the record the step tells, or
	// -1 for a step derived from the records (a Redis key expiring).
	Record int
	// Claims are the facts Text and, when it is shown, State state, each
	// naming the records it comes from (see Claim).
	Claims []Claim

	// snap is the state after the step in parts (Story.Snapshots); State,
	// when shown, is its line.
	snap *Snapshot
}

// Facts returns the facts the story was told from, nil for a story not
// told from a run.
func (s *Story) Facts() *Facts {
	if s.a == nil {
		return nil
	}
	return s.a.facts
}

// Tell replays cfg with its trace and history kept and tells it as a
// Story. It fails only if cfg is invalid.
func Tell(cfg sim.Config) (*Story, error) { return TellKind(cfg, NoViolation) }

// TellKind is Tell of an event whose violation is of kind, where the run
// shows one (for NoViolation, or a kind the run does not show, the kind
// KindOf gives it).
func TellKind(cfg sim.Config, kind Kind) (*Story, error) {
	cfg = normalize(cfg)
	run := cfg
	run.KeepTrace, run.KeepHistory = true, true
	res, err := sim.Run(run)
	if err != nil {
		return nil, err
	}
	if kind == NoViolation || !kind.In(res) {
		kind = KindOf(res)
	}
	a := analyze(cfg, res.Trace, kind)
	a.decisions = res.Decisions
	s := a.story()
	s.Result = res
	s.Fix = s.fix()
	return s, nil
}

// TellEvent replays cfg and tells event ev's story, whatever it shows: a
// violation, or the event applied exactly once (how a strategy came
// through a run that breaks another). It fails if cfg is invalid or the
// run has no event ev.
func TellEvent(cfg sim.Config, ev uint32) (*Story, error) {
	cfg = normalize(cfg)
	run := cfg
	run.KeepTrace, run.KeepHistory = true, true
	res, err := sim.Run(run)
	if err != nil {
		return nil, err
	}
	a := analyzeEvent(cfg, res.Trace, ev)
	a.decisions = res.Decisions
	if a.facts.Event(ev) == nil {
		return nil, fmt.Errorf("explain: the run has no event %d (it has %d)", ev, cfg.Events)
	}
	s := a.story()
	s.Result = res
	s.Fix = s.fix()
	return s, nil
}

// story tells the analysis's focus event.
func (a *analysis) story() *Story {
	if a.told != nil {
		return a.told
	}
	n := newNarrator(a)
	s := &Story{Config: a.cfg, Event: a.focus, Kind: a.kind, a: a}
	s.Header, s.HeaderClaims = a.header()
	last, _, _ := n.state(-1, 0)
	for _, it := range n.tell() {
		st := Step{N: len(s.Steps) + 1, At: time.Duration(it.at), Inst: int(it.inst), Actor: it.actor, Text: it.text, Record: it.rec, Claims: it.claims, snap: it.snap}
		if it.showState || it.state != last {
			st.State = it.state
			st.Claims = append(st.Claims, it.stateClaims...)
			last = it.state
		}
		s.Steps = append(s.Steps, st)
	}
	n.take()
	s.Violation = n.violation()
	s.ViolationClaims = n.take()
	s.Why = n.why()
	s.WhyClaims = n.take()
	s.Note, s.NoteClaims = a.note()
	a.told = s
	return s
}

// WriteTo writes the story: the steps, numbered, each with its simulated
// time, who acted, what happened and the state that matters; then the
// violation, why it happened, what the strategy that survives it did in
// the same run (Fix), and the command that replays the run.
func (s *Story) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	cfg := s.Config
	header := s.Header
	if header == "" {
		header = runLine(cfg)
	}
	fmt.Fprintf(&b, "%s\n", header)
	fmt.Fprintf(&b, "%s\n\n", NamesKey)
	width, actorW := 0, 0
	for _, st := range s.Steps {
		width = max(width, len(fmt.Sprintf("%.3f", ms(int64(st.At)))))
		actorW = max(actorW, len(st.Actor))
	}
	numW := len(fmt.Sprint(len(s.Steps)))
	indent := strings.Repeat(" ", numW+2+width+4+actorW+2)
	for _, st := range s.Steps {
		fmt.Fprintf(&b, "%*d. %*.3f ms  %-*s  %s\n", numW, st.N, width, ms(int64(st.At)), actorW, st.Actor, st.Text)
		if st.State != "" {
			fmt.Fprintf(&b, "%s[%s]\n", indent, st.State)
		}
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "violation: %s\n", s.Violation)
	if whole := s.WholeRun(); whole != "" {
		fmt.Fprintf(&b, "the whole run: %s\n", whole)
	}
	fmt.Fprintf(&b, "why: %s\n", s.Why)
	if s.Note != "" {
		fmt.Fprintf(&b, "note: %s\n", s.Note)
	}
	if s.Fix != nil {
		s.Fix.write(&b)
	}
	fmt.Fprintf(&b, "reproduce with: %s\n", s.Config.Reproduce())
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// WholeRun counts the violations of the whole run, as "3 duplicates, 0
// lost, 0 stuck", when it has more than the story's one; "" otherwise.
func (s *Story) WholeRun() string {
	r := s.Result
	if r == nil || s.Kind == NoViolation {
		return ""
	}
	if other := r.Duplicates + r.Lost + r.Stuck; other <= 1 {
		return ""
	}
	dead := ""
	if r.Dead > 0 {
		// Not a violation, but what became of events all the same.
		dead = fmt.Sprintf(", %d dead", r.Dead)
	}
	return fmt.Sprintf("%s, %d lost, %d stuck%s", plural(r.Duplicates, "duplicate"), r.Lost, r.Stuck, dead)
}

// NamesKey says how a story names times, instances, events and messages; the
// text writes it under its header, broken where it breaks it.
const NamesKey = "Times are simulated milliseconds since the start; i0, i1, ... are the instances,\ne1, e2, ... the events, m1, m2, ... the broker's messages (copies of an event)."

// runLine names the run cfg as a story's header starts: "local-cache
// under redeliver: 2 instances, 1 event, seed 2."
func runLine(cfg sim.Config) string {
	return fmt.Sprintf("%s %s: %s, %s, seed %d.", cfg.Strategy, Under(cfg.Faults), plural(cfg.Instances, "instance"), plural(cfg.Events, "event"), cfg.Seed)
}

// header is the story's first line, with its claims: the run's line and,
// if the producer published the focus event more than once, how many
// times and as which messages, as the trace's Publish records show.
func (a *analysis) header() (string, []Claim) {
	line := runLine(a.cfg)
	ev := a.facts.Event(a.focus)
	if ev == nil || len(ev.Copies) < 2 {
		return line, nil
	}
	count := claim(ClaimPublish)
	count.Event, count.N = ev.ID, len(ev.Copies)
	cs := []Claim{count}
	names := make([]string, len(ev.Copies))
	first := a.facts.Messages[ev.Copies[0]].At
	for i, id := range ev.Copies {
		m := &a.facts.Messages[id]
		c := claim(ClaimPublish)
		c.Msg, c.Event, c.N, c.At, c.Dur = m.ID, m.Event, m.Copy, m.At, m.At-first
		cs = append(cs, c)
		names[i] = fmt.Sprintf("m%d", m.ID)
	}
	list := strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	return fmt.Sprintf("%s The producer published event %d %s, as %s.", line, ev.ID, timesWord(len(ev.Copies)), list), cs
}

// timesWord says n times in words: "twice", "3 times".
func timesWord(n int) string {
	if n == 2 {
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// Under names a scenario as a story's header does: "under crash", or
// "with no injected fault" for the empty set (the broker's ordinary lost
// acks only).
func Under(fs faults.Set) string {
	if fs == 0 {
		return "with no injected fault"
	}
	return "under " + fs.String()
}

// note names the faults of the set that play no part in the story.
func (a *analysis) note() (string, []Claim) {
	if a.allInvolved || a.cfg.Faults == 0 {
		return "", nil
	}
	var idle []string
	for _, f := range a.cfg.Faults.Faults() {
		if !a.plays(f) {
			idle = append(idle, f.String())
		}
	}
	list := strings.Join(idle, ", ")
	if len(a.involved) == 0 {
		return fmt.Sprintf("%s played no part in this story: the broker's ordinary at-least-once delivery was enough (the shrinker keeps at least one fault of the scenario).%s", list, a.schedule(idle)), nil
	}
	return fmt.Sprintf("%s %s no direct part in event %d's story (a shrunk run keeps a fault when no run as small fails the same way without it: it changes the run, for instance how long the faults last).%s", list, verb(len(idle), "plays", "play"), a.focus, a.schedule(idle)), nil
}

// schedule says, from the run's fault decisions, which of the faults idle
// struck in the run and where (their decisions, as --drop names them), and
// which never did: " In this run's fault schedule, ttl struck at ttl@0;
// crash never struck." It is "" when the decisions are not known.
func (a *analysis) schedule(idle []string) string {
	if a.decisions == nil && len(a.cfg.Drop) == 0 {
		return ""
	}
	var struck, never []string
	for _, name := range idle {
		var ds []faults.Decision
		for _, d := range a.decisions {
			if d.Fault.String() == name {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			never = append(never, name)
			continue
		}
		struck = append(struck, fmt.Sprintf("%s struck at %s", name, strings.Join(strings.Split(faults.FormatDecisions(ds), ","), ", ")))
	}
	var parts []string
	if len(struck) > 0 {
		parts = append(parts, strings.Join(struck, "; "))
	}
	if len(never) > 0 {
		parts = append(parts, strings.Join(never, ", ")+" never struck")
	}
	return " In this run's fault schedule, " + strings.Join(parts, "; ") + "."
}

// plays reports whether fault f plays a part in the focus event's story.
func (a *analysis) plays(f faults.Fault) bool {
	for _, g := range a.involved {
		if g == f {
			return true
		}
	}
	return false
}

// verb is one or many, as n asks.
func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// at renders a simulated time for the text of a story.
func at(t int64) string { return fmt.Sprintf("%.3f ms", ms(t)) }

// ms converts simulated nanoseconds to milliseconds.
func ms(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }

// times says n applications in words.
func times(n int) string {
	switch n {
	case 1:
		return "applied once"
	case 2:
		return "applied twice"
	}
	return fmt.Sprintf("applied %d times", n)
}

// durWords renders a duration the run showed, as "1 s", "5 s" or "1.250 s".
func durWords(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	case d >= time.Second:
		return fmt.Sprintf("%.3f s", d.Seconds())
	}
	return fmt.Sprintf("%.3f ms", ms(int64(d)))
}

// ttlWords renders a TTL, rounded to the millisecond, as "10s", "1.25s"
// or "24h".
func ttlWords(ttl int64) string {
	s := time.Duration(ttl).Round(time.Millisecond).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
