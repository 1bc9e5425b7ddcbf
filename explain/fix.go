package explain

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// Fix is a violating run replayed under the strategy that survives every
// scenario (the first whose description sets strategies.Teaching.Fix):
// the same seed, instances, events and faults, so the same publications
// and the same fault draws, under another strategy. It shows, from the
// replayed run's own facts, what that strategy did with the story's event.
type Fix struct {
	// Config is the replayed run; Result its outcome, with its trace.
	Config sim.Config
	Result *sim.Result
	// Event is the story's event; Applied how often its effect is in the
	// replayed run's ledger.
	Event   uint32
	Applied int
	// Steps are the decisive steps for Event in the replayed run, in time
	// order: the commits of its effect or id; the first wait for its id,
	// the first call given up on, the first rollback that discarded them
	// and the first copy that found the id and skipped, each with one line
	// that counts the others like it (separate calls, never merged into
	// one).
	// Skipped counts the copies that skipped after the first.
	Steps   []Step
	Skipped int
	// Refused reports that a handler refused Event to a dead-letter
	// queue and none applied it: dead, a conflict surfaced (under
	// id-reuse, db-unique-payload's answer to a reused id).
	Refused bool

	a *analysis // the replayed run's facts
}

// fixStrategy is the strategy a violation of strategy name is replayed
// under, and false if none is marked as the fix, or name is it: the first
// marked one whose effect lives where name's does, in the ledger or at the
// payment provider (strategies.NeedsProvider), so that the fix does what
// the broken strategy meant to do.
func fixStrategy(name string) (strategies.Strategy, bool) {
	broken, _ := strategies.Lookup(name)
	charges := broken.Needs.Has(strategies.NeedsProvider)
	publishes := broken.Needs.Has(strategies.NeedsPublisher)
	for _, st := range strategies.All() {
		// One that sends events on is fixed by one that does too
		// (outbox), so that the fix does all the broken one meant to.
		if st.Teaching.Fix && st.Needs.Has(strategies.NeedsProvider) == charges && st.Needs.Has(strategies.NeedsPublisher) == publishes {
			return st, st.Name != name
		}
	}
	return strategies.Strategy{}, false
}

// fix replays the story's run under the fix's strategy and tells what it
// did with the story's event; nil if there is no fix to show.
func (s *Story) fix() *Fix {
	st, ok := fixFor(s.Config.Strategy, s.Config.Faults, s.Config.BrokerModel)
	if !ok || s.Kind == NoViolation || s.Event == 0 {
		return nil
	}
	cfg := s.Config
	cfg.Strategy = st.Name
	cfg.KeepTrace, cfg.KeepHistory = true, false
	res, err := sim.Run(cfg)
	if err != nil {
		return nil
	}
	cfg.KeepTrace = false
	a := analyzeEvent(cfg, res.Trace, s.Event)
	fx := &Fix{Config: cfg, Result: res, Event: s.Event, Applied: len(a.facts.Events[s.Event].Applications), Refused: a.facts.Events[s.Event].Refused, a: a}
	n := newNarrator(a)
	type told struct {
		it   item
		skip bool
	}
	var shown []told
	// Of the waits, the timeouts, the rollbacks and the skips, the first
	// is told; the rest in one line that counts them, each told by its
	// own claims.
	var same [numFixKinds][]item
	for _, it := range n.tell() {
		kind := decisive(a.facts, it.rec, s.Event)
		if kind == fixHide {
			continue
		}
		if kind == fixShow || len(same[kind]) == 0 {
			shown = append(shown, told{it, kind == fixSkip})
		}
		same[kind] = append(same[kind], it)
	}
	fx.Skipped = max(len(same[fixSkip])-1, 0)
	for kind, its := range same {
		if kind == fixShow || len(its) < 2 {
			continue
		}
		last, more := its[len(its)-1], len(its)-1
		last.claims = nil
		for _, it := range its[1:] {
			last.claims = append(last.claims, it.claims...)
		}
		last.text = fixMore(kind, more, s.Event, a.facts, its[1:])
		last.actor, last.inst = "-", -1
		shown = append(shown, told{last, kind == fixSkip})
	}
	// The database answers the inserts that waited for a commit as it
	// commits, before the commit's own answer: at one instant, tell the
	// commit first.
	slices.SortStableFunc(shown, func(x, y told) int {
		return cmp.Or(cmp.Compare(x.it.at, y.it.at), cmp.Compare(boolInt(x.skip), boolInt(y.skip)))
	})
	for k, t := range shown {
		it := t.it
		fx.Steps = append(fx.Steps, Step{N: k + 1, At: time.Duration(it.at), Inst: int(it.inst), Actor: it.actor, Text: it.text, Record: it.rec, Claims: it.claims, snap: it.snap})
	}
	return fx
}

// fixMore tells, in one line, the more steps of one kind its after the
// first: how many, and, for the calls given up on, after how long.
func fixMore(kind, more int, ev uint32, f *Facts, its []item) string {
	switch kind {
	case fixSkip:
		if more == 1 {
			return fmt.Sprintf("1 more delivery found event %d's id and skipped the same way", ev)
		}
		return fmt.Sprintf("%d more deliveries found event %d's id and skipped the same way, the last now", more, ev)
	case fixWait:
		if more == 1 {
			return fmt.Sprintf("1 more call about event %d waited the same way for a transaction that had inserted its id", ev)
		}
		return fmt.Sprintf("%d more calls about event %d waited the same way for a transaction that had inserted its id, the last now", more, ev)
	case fixGaveUp:
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		for _, it := range its {
			c := &f.Calls[f.Trace[it.rec].Call]
			d := time.Duration(c.TimedOut - c.Sent)
			lo, hi = min(lo, d), max(hi, d)
		}
		after := "after " + durWords(lo)
		if hi != lo {
			after = fmt.Sprintf("after %s to %s", durWords(lo), durWords(hi))
		}
		if more == 1 {
			return fmt.Sprintf("1 more call about event %d was given up on %s without a reply, as a separate call", ev, after)
		}
		return fmt.Sprintf("%d more calls about event %d were given up on, each %s without a reply, each a separate call, the last now", more, ev, after)
	case fixDiscard:
		if more == 1 {
			return fmt.Sprintf("1 more transaction that held event %d's id or effect was rolled back the same way", ev)
		}
		return fmt.Sprintf("%d more transactions that held event %d's id or effect were rolled back the same way, the last now", more, ev)
	}
	return ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// How a step of the replayed run counts for the fix.
const (
	fixHide    = iota
	fixShow    // a commit of the event's effect or id
	fixDiscard // a rollback that discards them
	fixSkip    // a copy that found the id and skipped
	fixWait    // a copy that waits for the id another transaction inserted
	fixGaveUp  // an instance that gave up on a call about the event
	numFixKinds
)

// decisive says how record rec of the replayed run counts for event ev.
func decisive(f *Facts, rec int, ev uint32) int {
	if rec < 0 {
		return fixHide
	}
	r := &f.Trace[rec]
	switch {
	case r.Downstream() && r.Kind == run.DownApply:
		// The downstream consumer's handling of the event's downstream
		// event (downstream.go tells only the focus event's).
		return fixShow
	case !r.Downstream() && r.Kind == run.Serve && r.Op == run.PublishDown && relayOf(f.Config, r.Inst):
		return fixShow
	}
	switch r.Kind {
	case run.Handled:
		// A refusal to the dead-letter queue (db-unique-payload, under
		// id-reuse): the conflict surfaced.
		if r.Outcome == run.Rejected && r.Event == ev {
			return fixShow
		}
	case run.TxAbort:
		if t := &f.Txs[r.Tx]; t.Holds(run.Insert, ev) || t.Holds(run.Apply, ev) {
			return fixDiscard
		}
	case run.Park:
		// The first wait for the id another transaction inserted.
		if c := &f.Calls[r.Call]; c.Parks[0].Rec == rec && c.Parks[0].ID {
			return fixWait
		}
	case run.Timeout:
		if f.Calls[r.Call].Event == ev {
			return fixGaveUp
		}
	case run.Serve:
		c := &f.Calls[r.Call]
		switch {
		case c.Op == run.Commit || c.Op == run.InsertApply && c.Answer == run.Yes:
			if t := &f.Txs[c.Tx]; t.Status == TxCommitted && t.EndRec == rec && (t.Holds(run.Insert, ev) || t.Holds(run.Apply, ev)) {
				return fixShow
			}
		case c.Op == run.Rollback:
			if t := &f.Txs[c.Tx]; t.Holds(run.Insert, ev) || t.Holds(run.Apply, ev) {
				return fixDiscard
			}
		case (c.Op == run.Insert || c.Op == run.InsertApply) && c.Answer == run.No:
			return fixSkip
		case c.Op == run.Charge && c.Event == ev && (c.Answer == run.Yes || c.Answer == run.Replayed):
			// A strategy that charges: its charge, and a repeat the
			// provider answered from the key.
			return fixShow
		}
	}
	return fixHide
}

// analyzeEvent derives the facts of trace, the run of cfg, to tell event
// ev, whatever it shows.
func analyzeEvent(cfg run.Config, trace []run.Record, ev uint32) *analysis {
	f := NewFacts(cfg, trace)
	st, _ := strategies.Lookup(cfg.Strategy)
	a := &analysis{cfg: f.Config, facts: f, strategy: st, focus: ev, cut: math.MaxInt64}
	a.kind = a.kindOf(ev)
	a.allInvolved = true // no note, unless a violation says which faults play no part
	if a.kind != NoViolation {
		a.cut = a.cutoff(ev)
		a.involved, a.allInvolved = a.involvement(ev)
	}
	return a
}

// Verdict says what the replayed run did with the event, as the fix's
// first line does: "with db-unique instead, the same run (same seed,
// instances, events and faults) applies event 1 once".
func (fx *Fix) Verdict() string {
	verdict := "applies event %d once"
	switch {
	case fx.Applied == 0 && fx.Refused:
		verdict = "never applies event %d, and says so: it refuses it to the dead-letter queue, a conflict surfaced (dead), not a silent loss"
	case fx.Applied == 0:
		verdict = "never applies event %d"
	case fx.Applied > 1:
		verdict = "applies event %d " + strings.TrimPrefix(times(fx.Applied), "applied ") + " too"
	}
	whole := ""
	switch {
	case fx.Refused && !fx.Result.Violating():
		whole = "; the run breaks exactly-once for no event"
	case fx.Applied != 1:
	case fx.Result.Violating():
		whole = ", though the run still breaks exactly-once for another event"
	case fx.Config.Events > 1:
		whole = ", and every other event exactly once too"
	}
	return fmt.Sprintf("with %s instead, the same run (same seed, instances, events and faults) "+verdict+"%s", fx.Config.Strategy, fx.Event, whole)
}

// write writes the fix: what the replayed run did with the event, its
// decisive steps, and the command that replays it.
func (fx *Fix) write(b *strings.Builder) {
	fmt.Fprintf(b, "fix: %s:\n", fx.Verdict())
	width, actorW := 0, 0
	for _, st := range fx.Steps {
		width = max(width, len(fmt.Sprintf("%.3f", ms(int64(st.At)))))
		actorW = max(actorW, len(st.Actor))
	}
	for _, st := range fx.Steps {
		fmt.Fprintf(b, "  %*.3f ms  %-*s  %s\n", width, ms(int64(st.At)), actorW, st.Actor, st.Text)
	}
	fmt.Fprintf(b, "  replay it with: %s\n", fx.Config.Reproduce())
}
