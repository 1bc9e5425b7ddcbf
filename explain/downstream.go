package explain

import (
	"fmt"
	"slices"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// Events sent on. A strategy that publishes (strategies.NeedsPublisher)
// has a downstream topic and consumer, whose records the trace marks
// (run.Record.Downstream), and, for the outbox, a relay, the instance
// numbered after the consumers. Their records are told here, apart from
// the upstream's, which they would confuse (the downstream numbers its
// messages on its own): the downstream consumer's handlings of the focus
// event (DownApply), the relay's calls about it, and the two violations
// only the downstream shows: a ghost (a downstream event applied for an
// effect whose transaction never committed) and a downstream event lost
// (an effect committed, and no event announcing it ever reached the
// downstream). Each is stated by claims Verify holds to the records:
// ClaimDownApply, ClaimTxEffect, ClaimNoPublish.

// The actors of the downstream's steps.
const (
	actorRelay      = "relay"
	actorDownstream = "downstream"
)

// DownApply is the downstream consumer's handling of a downstream event:
// the upstream event it is about, the transaction whose effect it
// announces, whether the consumer applied it (or skipped a copy), and
// whether that transaction committed an effect of the event.
type DownApply struct {
	Event     uint32
	Tx        uint32
	Applied   bool
	Committed bool
	At        int64
	Rec       int
}

// relayOf reports whether inst is the relay of the run of cfg (the
// instance after the consumers, for a strategy with a relay).
func relayOf(cfg run.Config, inst int32) bool {
	if inst != int32(cfg.Instances) {
		return false
	}
	st, _ := strategies.Lookup(cfg.Strategy)
	return st.Relay != nil
}

// downstream takes record i, of the downstream or of the relay, apart from
// the upstream's facts.
func (d *deriver) downstream(i int, r *run.Record) {
	f := d.f
	if r.Kind == run.DownApply && r.Stores == run.Downstream && r.Event > 0 && int(r.Event) < len(f.Events) {
		f.Down = append(f.Down, DownApply{Event: r.Event, Tx: r.Tx, Applied: r.Answer == run.Yes, At: r.At, Rec: i})
		f.Events[r.Event].LastRec = i
	}
	if !r.Downstream() && r.Event > 0 && int(r.Event) < len(f.Events) && r.Kind == run.Serve && r.Op == run.PublishDown {
		f.RelayPublishes = append(f.RelayPublishes, i)
	}
}

// finishDown marks each downstream handling with whether its transaction
// committed an effect of its event.
func (f *Facts) finishDown() {
	for k := range f.Down {
		da := &f.Down[k]
		da.Committed = f.committedEffect(da.Tx, da.Event)
	}
}

// committedEffect reports whether transaction tx committed an effect of
// event ev.
func (f *Facts) committedEffect(tx, ev uint32) bool {
	if tx == 0 || int(tx) >= len(f.Txs) {
		return false
	}
	t := &f.Txs[tx]
	return t.Status == TxCommitted && slices.Contains(t.Applied, ev)
}

// downKind is the downstream's violation of event id, if any: a ghost (a
// downstream event applied for an effect that never committed), or a
// downstream event lost (an effect committed, and none announcing a
// committed effect was applied).
func (a *analysis) downKind(id uint32) Kind {
	f := a.facts
	if !a.strategy.Needs.Has(strategies.NeedsPublisher) {
		return NoViolation
	}
	applied := false
	for _, da := range f.Down {
		if da.Event != id || !da.Applied {
			continue
		}
		if !da.Committed {
			return Ghost
		}
		applied = true
	}
	if !applied && len(f.Events[id].Applications) > 0 {
		return Unsent
	}
	return NoViolation
}

// firstGhost is the focus event's first ghost applied downstream.
func (a *analysis) firstGhost(id uint32) *DownApply {
	for k := range a.facts.Down {
		if da := &a.facts.Down[k]; da.Event == id && da.Applied && !da.Committed {
			return da
		}
	}
	return nil
}

// downRecord tells record i of the downstream or the relay, if it is
// about the focus event: the relay's publish of it, and the downstream
// consumer's handlings of it.
func (n *narrator) downRecord(i int, r *run.Record) {
	if r.Event != n.focus || !n.inSpan(r.At) {
		return
	}
	switch {
	case r.Kind == run.DownApply && r.Stores == run.Downstream:
		c := downApplyClaim(i, r)
		n.claim(c)
		what := "applies"
		if r.Answer != run.Yes {
			what = "skips a copy of"
		}
		n.sayAs(i, r.At, -1, actorDownstream, fmt.Sprintf("the downstream consumer %s event %d's downstream event, which announces the effect of tx%d", what, r.Event, r.Tx), false)
	case !r.Downstream() && r.Kind == run.Serve && r.Op == run.PublishDown:
		n.sayAs(i, r.At, -1, actorRelay, fmt.Sprintf("the relay's publish of event %d's downstream event (read from the outbox) reaches the downstream topic", r.Event), false)
	}
}

// downApplyClaim states DownApply record i as the trace has it.
func downApplyClaim(i int, r *run.Record) Claim {
	c := claim(ClaimDownApply)
	c.Rec, c.Event, c.Tx, c.Yes = i, r.Event, r.Tx, r.Answer == run.Yes
	return c
}

// txEffectClaim states that tx committed an effect of ev (yes), or not.
func txEffectClaim(tx, ev uint32, yes bool) Claim {
	c := claim(ClaimTxEffect)
	c.Tx, c.Event, c.Yes = tx, ev, yes
	return c
}

// downViolation says what went wrong downstream with the focus event.
func (n *narrator) downViolation() string {
	e := n.ev
	switch n.a.kind {
	case Ghost:
		g := n.a.firstGhost(e.ID)
		n.claim(downApplyClaim(g.Rec, &n.f.Trace[g.Rec]), txEffectClaim(g.Tx, e.ID, false))
		return fmt.Sprintf("event %d's downstream event is a ghost: the downstream consumer applied it at %s, announcing the effect of tx%d, and tx%d never committed an effect of event %d.", e.ID, at(g.At), g.Tx, g.Tx, e.ID)
	case Unsent:
		ap := e.Applications[0]
		np := claim(ClaimNoPublish)
		np.Event = e.ID
		n.claim(appliedClaim(e.ID, ap), np)
		return fmt.Sprintf("event %d's downstream event is lost: its effect committed (tx%d, by instance %d at %s), and no downstream event announcing a committed effect of it ever reached the downstream topic.", e.ID, ap.Tx, ap.Inst, at(ap.At))
	}
	return ""
}

// whyDown says why the strategy let the downstream violation through: the
// strategy's words, then what the run shows.
func (n *narrator) whyDown() string {
	e, f := n.ev, n.f
	lead := n.w.why(n.a.kind, "", fills{event: n.focus})
	switch n.a.kind {
	case Ghost:
		g := n.a.firstGhost(e.ID)
		// The publish that announced tx g.Tx's effect.
		for k := 1; k < len(f.Calls); k++ {
			c := &f.Calls[k]
			if c.Op != run.PublishDown || c.Event != e.ID || c.Tx != g.Tx {
				continue
			}
			cc := claim(ClaimCall)
			cc.Call, cc.Inst, cc.Op, cc.Event = c.ID, c.Inst, c.Op, e.ID
			if c.ServeRec >= 0 {
				cc.Answer = c.Answer
			}
			n.claim(cc, txEffectClaim(g.Tx, e.ID, false))
			return sentences(lead, fmt.Sprintf("Instance %d published event %d's downstream event (c%d) while tx%d was open, and tx%d ended without committing it: the broker kept the event, the database did not keep the effect.", c.Inst, e.ID, c.ID, g.Tx, g.Tx))
		}
		n.claim(txEffectClaim(g.Tx, e.ID, false))
		return sentences(lead, fmt.Sprintf("Tx%d, whose effect the event announces, never committed it.", g.Tx))
	case Unsent:
		ap := e.Applications[0]
		np := claim(ClaimNoPublish)
		np.Event, np.Tx = e.ID, ap.Tx
		n.claim(appliedClaim(e.ID, ap), np)
		return sentences(lead, fmt.Sprintf("Instance %d committed event %d's effect in tx%d at %s, and no publish announcing tx%d's effect ever reached the downstream topic.", ap.Inst, e.ID, ap.Tx, at(ap.At), ap.Tx))
	}
	return lead
}

// checkDown holds a claim about the downstream to the trace, reading the
// records itself.
func (x *traceIndex) checkDown(c Claim) error {
	switch c.Kind {
	case ClaimDownApply:
		r := x.rec(c.Rec)
		if r == nil || r.Kind != run.DownApply || r.Stores != run.Downstream || r.Event != c.Event || r.Tx != c.Tx || (r.Answer == run.Yes) != c.Yes {
			return fmt.Errorf("record %d is no downstream handling of event %d's downstream event of tx%d (applied %v)", c.Rec, c.Event, c.Tx, c.Yes)
		}
	case ClaimTxEffect:
		if x.txEffect(c.Tx, c.Event) != c.Yes {
			return fmt.Errorf("tx%d committed an effect of event %d: %v", c.Tx, c.Event, !c.Yes)
		}
	case ClaimNoPublish:
		// No publish of a downstream event of Event reached the topic
		// announcing a committed effect (with Tx: that one).
		for _, r := range x.trace {
			if r.Kind == run.Serve && r.Op == run.PublishDown && r.Event == c.Event && !r.Downstream() && x.txEffect(r.Tx, c.Event) && (c.Tx == 0 || r.Tx == c.Tx) {
				return fmt.Errorf("a publish of event %d's downstream event announcing tx%d's effect reached the topic", c.Event, r.Tx)
			}
		}
	}
	return nil
}

// txEffect reports, from the records, whether transaction tx committed an
// effect of event ev: an Apply of ev served in it and its commit served
// (or one InsertApply that applied).
func (x *traceIndex) txEffect(tx, ev uint32) bool {
	if tx == 0 {
		return false
	}
	applied, committed := false, false
	for _, r := range x.trace {
		if r.Kind != run.Serve || r.Tx != tx || r.Downstream() {
			continue
		}
		switch {
		case r.Op == run.InsertApply && r.Event == ev && r.Answer == run.Yes:
			return true
		case r.Op == run.Apply && r.Event == ev && r.Answer == run.Yes:
			applied = true
		case r.Op == run.Commit && r.Answer == run.Yes:
			committed = true
		}
	}
	return applied && committed
}
