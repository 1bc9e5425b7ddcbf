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
	// Steps are the story's steps, numbered from 1, in time order.
	Steps []Step
	// Violation says what went wrong with Event; Why says why the
	// strategy could not prevent it; Note, if not empty, names the faults of
	// the scenario that played no part.
	Violation, Why, Note string

	a *analysis // the replay the story was told from
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
	// State is the state that matters after the step (local caches, Redis
	// keys or processed ids, committed ledger rows), or "" when it has not
	// changed and the step does not read it.
	State string
	// Record is the index in Result.Trace of the record the step tells, or
	// -1 for a step derived from the records (a Redis key expiring).
	Record int
}

// Tell replays cfg with its trace and history kept and tells it as a
// Story. It fails only if cfg is invalid.
func Tell(cfg sim.Config) (*Story, error) {
	cfg = normalize(cfg)
	run := cfg
	run.KeepTrace, run.KeepHistory = true, true
	res, err := sim.Run(run)
	if err != nil {
		return nil, err
	}
	s := analyze(cfg, res.Trace, KindOf(res)).story()
	s.Result = res
	return s, nil
}

// story builds the story of the analysis's focus event.
func (a *analysis) story() *Story {
	if a.told != nil {
		return a.told
	}
	s := &Story{Config: a.cfg, Event: a.focus, Kind: a.focusKind, a: a}
	var items []item
	r := a.replay(a.focus, func(it item) {
		if it.at > a.cut {
			return
		}
		if it.merge >= 0 {
			for k := len(items) - 1; k >= 0; k-- {
				if items[k].rec == it.merge {
					items = append(items[:k], items[k+1:]...)
					break
				}
			}
		}
		items = append(items, it)
	})
	last := r.initial
	for _, it := range items {
		st := Step{N: len(s.Steps) + 1, At: time.Duration(it.at), Inst: int(it.inst), Actor: it.actor, Text: it.text, Record: it.rec}
		if it.showState || it.state != last {
			st.State = it.state
			last = it.state
		}
		s.Steps = append(s.Steps, st)
	}
	s.Violation = a.violationText()
	s.Why = a.whyText()
	s.Note = a.noteText()
	a.told = s
	return s
}

// WriteTo writes the story: the steps, numbered, each with its simulated
// time, who acted, what happened and the state that matters; then the
// violation, why it happened, and the command that replays the run.
func (s *Story) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	cfg := s.Config
	fmt.Fprintf(&b, "%s %s: %s, %s, seed %d.\n", cfg.Strategy, Under(cfg.Faults), plural(cfg.Instances, "instance"), plural(cfg.Events, "event"), cfg.Seed)
	fmt.Fprintf(&b, "Times are simulated milliseconds since the start; i0, i1, ... are the instances,\ne1, e2, ... the events, m1, m2, ... the broker's messages (copies of an event).\n\n")
	width := 0
	for _, st := range s.Steps {
		width = max(width, len(fmt.Sprintf("%.3f", ms(int64(st.At)))))
	}
	actorW := 0
	for _, st := range s.Steps {
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
	if r := s.Result; r != nil && s.Kind != NoViolation {
		if other := r.Duplicates + r.Lost + r.Stuck; other > 1 {
			fmt.Fprintf(&b, "the whole run: %s, %d lost, %d stuck\n", plural(r.Duplicates, "duplicate"), r.Lost, r.Stuck)
		}
	}
	fmt.Fprintf(&b, "why: %s\n", s.Why)
	if s.Note != "" {
		fmt.Fprintf(&b, "note: %s\n", s.Note)
	}
	fmt.Fprintf(&b, "reproduce with: %s\n", s.Config.Reproduce())
	n, err := io.WriteString(w, b.String())
	return int64(n), err
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

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// at renders a simulated time for the text of a story.
func at(t int64) string { return fmt.Sprintf("%.3f ms", ms(t)) }

// violationText says what went wrong with the focus event.
func (a *analysis) violationText() string {
	id := a.focus
	f := a.facts[id]
	if f == nil {
		return "none: exactly-once held"
	}
	switch a.focusKind {
	case Duplicate:
		var by []string
		for _, ap := range f.applied {
			by = append(by, fmt.Sprintf("by instance %d at %s", ap.inst, at(ap.at)))
		}
		n := a.ledger[id]
		return fmt.Sprintf("event %d was %s (%s): %s.", id, times(n), strings.Join(by, ", "), plural(n-1, "duplicate"))
	case Lost:
		ack := f.acked[0]
		return fmt.Sprintf("event %d is lost: the broker considers it done (instance %d's ack reached it at %s), but its effect was never applied.", id, ack.inst, at(ack.at))
	case Stuck:
		var open []string
		for _, m := range f.msgs {
			if !a.done[m] {
				open = append(open, fmt.Sprintf("m%d", m))
			}
		}
		return fmt.Sprintf("event %d never settled: %s still had no ack when the run ended, 120 s after the faults healed.", id, strings.Join(open, ", "))
	}
	return fmt.Sprintf("none: event %d was applied exactly once.", id)
}

// attemptAt returns the last attempt of inst on the focus event that
// started at or before t.
func (f *facts) attemptAt(inst int32, t int64) *attempt {
	var best *attempt
	for i := range f.attempts {
		at := &f.attempts[i]
		if at.inst == inst && at.start <= t {
			best = at
		}
	}
	return best
}

// failureAfter returns the first failure of inst at or after t.
func (f *facts) failureAfter(inst int32, t int64) *failure {
	for i := range f.failures {
		if fl := &f.failures[i]; fl.inst == inst && fl.at >= t {
			return fl
		}
	}
	return nil
}

// copyCause says how the copy handled by second reached an instance again
// after first had handled the event. It returns the failure of first's
// instance that caused it, if one did, so that a caller that has told that
// failure already can say it shorter.
func (a *analysis) copyCause(first, second *attempt) (string, *failure) {
	f := a.facts[a.focus]
	if first == nil || second == nil {
		return "the broker delivered it again (at-least-once)", nil
	}
	if second.msg != first.msg {
		for i, m := range f.msgs {
			if m != second.msg || i == 0 {
				continue
			}
			gap := f.publishes[i].at - f.publishes[0].at
			if gap < int64(time.Second) {
				return fmt.Sprintf("the producer published event %d twice, as m%d and m%d, %.3f ms apart, so two copies were in flight at once", a.focus, f.msgs[0], m, ms(gap)), nil
			}
			return fmt.Sprintf("a late copy of event %d, m%d, was published %.3f s after the first", a.focus, m, float64(gap)/1e9), nil
		}
	}
	for _, l := range f.ackLost {
		if l.inst == first.inst && l.at >= first.start && l.at <= second.start {
			return fmt.Sprintf("instance %d's ack of m%d was lost, so after its 5 s ack deadline the broker delivered m%d again", first.inst, first.msg, first.msg), nil
		}
	}
	if fl := f.failureAfter(first.inst, first.start); fl != nil && fl.at <= second.start {
		return fmt.Sprintf("instance %d %s and never acked m%d, so the broker delivered m%d again", first.inst, fl.what, first.msg, first.msg), fl
	}
	if len(f.stalls) > 0 {
		return fmt.Sprintf("instance %d stalled past m%d's 5 s ack deadline, so the broker delivered m%d again while it still ran", first.inst, first.msg, first.msg), nil
	}
	return fmt.Sprintf("the broker delivered m%d again (at-least-once)", second.msg), nil
}

// whyText says why the strategy let the focus event's violation through.
func (a *analysis) whyText() string {
	f := a.facts[a.focus]
	if f == nil {
		return "nothing went wrong."
	}
	switch a.focusKind {
	case Duplicate:
		return a.whyDuplicate(f)
	case Lost:
		return a.whyLost(f)
	case Stuck:
		return fmt.Sprintf("the broker never got an ack of event %d's last delivery: every attempt failed or was cut off, and the liveness bound ran out.", a.focus)
	}
	return "exactly-once held."
}

func (a *analysis) whyDuplicate(f *facts) string {
	id := a.focus
	if len(f.applied) < 2 {
		return fmt.Sprintf("event %d's effect was committed more than once.", id)
	}
	p, q := f.applied[0], f.applied[1]
	first, second := f.attemptAt(p.inst, p.at), f.attemptAt(q.inst, q.at)
	cause, causeFail := a.copyCause(first, second)
	A, B := p.inst, q.inst
	came := fmt.Sprintf("The second copy reached instance %d because %s.", B, cause)
	switch a.cfg.Strategy {
	case "none":
		return fmt.Sprintf("none keeps no record of what it has processed, so every copy that reaches an instance applies the effect. Event %d reached the consumers twice because %s.", id, cause)
	case "local-cache":
		if first != nil && first.result != "applied" {
			fl := f.failureAfter(A, first.start)
			what := "failed"
			if fl != nil {
				what = fl.what
			}
			s := fmt.Sprintf("instance %d %s, but its commit had landed: event %d's effect was applied, yet the handler never returned applied, so event %d never entered instance %d's cache", A, what, id, id, A)
			if strings.HasPrefix(what, "crashed") {
				s += " (and the crash emptied that cache anyway)"
			}
			s += "."
			if causeFail != nil && causeFail == fl {
				s += fmt.Sprintf(" With no ack, the broker delivered m%d again", first.msg)
			} else {
				s += " " + strings.TrimSuffix(came, ".")
			}
			if A == B {
				return s + fmt.Sprintf("; instance %d's cache could not know event %d was done, so it said new, and the effect was applied a second time.", B, id)
			}
			return s + fmt.Sprintf("; instance %d had never seen event %d, so its cache said new, and the effect was applied a second time.", B, id)
		}
		if A != B {
			already := ""
			if second != nil && second.start > p.at {
				already = fmt.Sprintf(", though instance %d had applied it %.3f ms earlier", A, ms(second.start-p.at))
			}
			return fmt.Sprintf("instance %d remembers the events it handled in its own cache, in instance %d's memory, which no other instance can read. Instance %d had never seen event %d, so its own cache said new%s, and it applied the effect a second time. %s", A, A, B, id, already, came)
		}
		for _, w := range f.wiped {
			if w.inst == A && w.at > p.at && w.at < q.at {
				return fmt.Sprintf("instance %d remembered event %d in its cache, but it crashed at %s and restarted with empty memory: the cache that knew event %d was gone, so when the event came again its cache said new, and it applied the effect a second time. %s", A, id, at(w.at), id, came)
			}
		}
		return fmt.Sprintf("instance %d's cache did not hold event %d when the second copy came. %s", B, id, came)
	case "redis", "redis-after":
		mark, took := "claim", fmt.Sprintf("instance %d claimed event %d anew and applied the effect a second time", B, id)
		if a.cfg.Strategy == "redis-after" {
			if s := a.whyRedisAfter(f, p, q, came, causeFail); s != "" {
				return s
			}
			mark, took = "mark", fmt.Sprintf("instance %d applied the effect a second time", B)
		}
		for _, l := range f.keyLost {
			if l.at > p.at-int64(time.Second) && l.at < q.at {
				how := "restarted empty"
				if l.inst == 2 {
					how = "failed over to a replica that lagged behind"
				}
				return fmt.Sprintf("%s's %s on event %d lived only in Redis, and Redis %s at %s, losing it. When the next copy came, no key was there, so %s. %s", a.cfg.Strategy, mark, id, how, at(l.at), took, came)
			}
		}
		for _, e := range f.expired {
			if e < q.at {
				return fmt.Sprintf("%s's %s on event %d lives only its TTL of %s: it expired at %s, before the next copy came. That copy found no key, so %s. %s", a.cfg.Strategy, mark, id, ttlWords(a.ttl), at(e), took, came)
			}
		}
		return fmt.Sprintf("the %s on event %d was not in Redis when the second copy came. %s", mark, id, came)
	}
	return fmt.Sprintf("event %d's effect was committed by two transactions. %s", id, came)
}

// whyRedisAfter explains a duplicate of redis-after: check and set are
// separate, or the set never happened. It returns "" if neither fits.
func (a *analysis) whyRedisAfter(f *facts, p, q instAt, came string, causeFail *failure) string {
	id := a.focus
	A, B := p.inst, q.inst
	var check *instAt
	for i := range f.checks {
		if c := f.checks[i]; c.inst == B && c.at <= q.at {
			check = &f.checks[i]
		}
	}
	if check == nil {
		return ""
	}
	// The key A set after its own effect, in the same attempt.
	firstAtt := f.attemptAt(A, p.at)
	setBefore, setAfter := false, int64(-1)
	for _, s := range f.keySets {
		switch {
		case s.at <= check.at:
			setBefore = true
		case s.inst == A && setAfter < 0 && s.at > p.at && firstAtt != nil && (firstAtt.end < 0 || s.at <= firstAtt.end):
			setAfter = s.at
		}
	}
	if setBefore {
		return ""
	}
	if setAfter >= 0 && A != B {
		return fmt.Sprintf("redis-after checks for the key, applies the effect, and only then sets the key: three separate steps. Instance %d checked at %s and found no key, because instance %d, which was applying event %d too, set it only at %s. Both checks found nothing, so both applied the effect. %s", B, at(check.at), A, id, at(setAfter), came)
	}
	what := "it never set the key"
	start := p.at
	if firstAtt != nil {
		start = firstAtt.start
	}
	if fl := f.failureAfter(A, start); fl != nil {
		what = fmt.Sprintf("then %s, so it never set the key", fl.what)
		if fl == causeFail && firstAtt != nil {
			came = fmt.Sprintf("With no ack, the broker delivered m%d again.", firstAtt.msg)
		}
	}
	return fmt.Sprintf("redis-after sets the key only after the effect: instance %d applied event %d at %s, %s. The next copy found no key at %s, so instance %d applied the effect a second time. %s", A, id, at(p.at), what, at(check.at), B, came)
}

func (a *analysis) whyLost(f *facts) string {
	id := a.focus
	claim := func(c stored, did, store, mark, how string) string {
		skip := fmt.Sprintf("every later copy found the %s and skipped", mark)
		if len(f.skips) > 0 {
			s := f.skips[0]
			skip = fmt.Sprintf("every later copy found the %s and skipped (instance %d at %s)", mark, s.inst, at(s.at))
		}
		start := c.sent
		if att := f.attemptAt(c.inst, c.sent); att != nil {
			start = att.start
		}
		var story string
		switch fl := f.failureAfter(c.inst, start); {
		case fl != nil && fl.lock != "" && fl.at > c.at:
			// The effect's Apply waited for a row lock another
			// transaction held, past the call timeout.
			story = fmt.Sprintf("Instance %d %s at %s, but %s. An Apply updates its account's row, and the database lets one open transaction at a time hold a row's lock, until it commits or aborts. After 1 s instance %d gave up on its Apply, so the effect never committed.", c.inst, did, at(c.at), fl.lock, c.inst)
		case fl == nil:
			story = fmt.Sprintf("Instance %d %s at %s, and its effect never committed.", c.inst, did, at(c.at))
		case fl.at < c.at:
			story = fmt.Sprintf("Instance %d %s; yet the request still reached %s at %s, so the %s was taken, and no one applied the effect.", c.inst, fl.what, store, at(c.at), mark)
		default:
			story = fmt.Sprintf("Instance %d %s at %s, then %s before the effect committed.", c.inst, did, at(c.at), fl.what)
		}
		return fmt.Sprintf("%s. %s After that %s, and the ack told the broker event %d was done: no one will ever apply it.", how, story, skip, id)
	}
	switch {
	case a.cfg.Strategy == "redis" && len(f.keySets) > 0:
		return claim(f.keySets[0], fmt.Sprintf("claimed event %d in Redis", id), "Redis", "claim", "redis takes the claim before it applies the effect, and nothing ties the two together")
	case a.cfg.Strategy == "db-unique-split" && len(f.idCommits) > 0:
		return claim(f.idCommits[0], fmt.Sprintf("committed event %d's id", id), "the database", "id", "db-unique-split commits the id in one transaction and applies the effect in a second one")
	}
	return fmt.Sprintf("event %d was marked as processed without its effect, and every later copy skipped it.", id)
}

// noteText names the faults of the set that play no part in the story.
func (a *analysis) noteText() string {
	if a.allInvolved || a.cfg.Faults == 0 {
		return ""
	}
	var idle []string
	for _, f := range a.cfg.Faults.Faults() {
		if !containsFault(a.involved, f) {
			idle = append(idle, f.String())
		}
	}
	list := strings.Join(idle, ", ")
	if len(a.involved) == 0 {
		return fmt.Sprintf("%s played no part in this story: the broker's ordinary at-least-once delivery was enough (the shrinker keeps at least one fault of the scenario).", list)
	}
	return fmt.Sprintf("%s plays no direct part in event %d's story; it stays because no run this small fails the same way without it (it changes the run, for instance how long the faults last).", list, a.focus)
}

func containsFault(fs []faults.Fault, f faults.Fault) bool {
	for _, g := range fs {
		if g == f {
			return true
		}
	}
	return false
}
