package explain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// downWords name, in a state line, why an instance is not running
// (Facts.DownWhy).
var downWords = map[run.Kind]string{run.Crash: "down", run.Leave: "left", run.Restart: "not started"}

// state renders the state that matters at record i, at time t, with the
// claims it states: the instances' memories (where the trace records
// them, or the strategy's description says when it writes its memory),
// the Redis keys and the
// processed ids (where the run used them), and the committed ledger rows.
// It shows the events the story has named only, and counts the others. It
// reads the facts; i -1 is the state before the first record. The line is
// the snapshot's (Snapshot.Line), which state returns too.
func (n *narrator) state(i int, t int64) (string, []Claim, *Snapshot) {
	s, cs := n.snapshot(i, t)
	return s.Line(), cs, s
}

// snapshot is the state at record i, at time t, in parts, with the claims
// its line states.
func (n *narrator) snapshot(i int, t int64) (*Snapshot, []Claim) {
	f := n.f
	var cs claims
	known := n.knownEvents()
	s := &Snapshot{Rec: i, At: t, Events: known}
	memKnown := n.memKnown()
	if memKnown {
		s.Memories = n.w.memories()
	}
	for inst := int32(0); int(inst) < n.a.cfg.Instances; inst++ {
		why := f.DownWhyAt(inst, i, t)
		in := InstanceState{Inst: int(inst), Status: "up", Memory: []uint32{}}
		if why != 0 {
			in.Status = downWords[why]
		}
		s.Instances = append(s.Instances, in)
		if !memKnown {
			continue
		}
		up := claim(ClaimUp)
		up.Rec, up.Inst, up.At, up.Yes = i, inst, t, why == 0
		if !up.Yes {
			up.Record = why
			cs.add(up)
			continue
		}
		for _, ev := range known {
			c := n.memHeldClaim(i, inst, ev)
			cs.add(c)
			if c.Yes {
				s.Instances[inst].Memory = append(s.Instances[inst].Memory, ev)
			}
		}
	}
	if n.marks {
		m := &MarkState{Marks: []Mark{}}
		other := map[uint32]bool{}
		for _, ev := range known {
			c := claim(ClaimKey)
			c.Rec, c.At, c.Event = i, t, ev
			live := false
			for k := range f.Keys {
				key := &f.Keys[k]
				if key.Name != "" || key.Event != ev || !f.Live(k, i, t) {
					continue
				}
				c.Yes, c.To = true, key.Expires
				mk := Mark{Event: ev, Live: true}
				// A key that outlives any run (the default TTL is a
				// day) shows no expiry; one the ttl fault shortened does.
				if key.TTL > 0 && key.TTL < int64(time.Hour) {
					mk.Expires = at(key.Expires)
				}
				m.Marks = append(m.Marks, mk)
				live = true
			}
			if !live {
				m.Marks = append(m.Marks, Mark{Event: ev})
			}
			cs.add(c)
		}
		for k := range f.Keys {
			if key := &f.Keys[k]; key.Name == "" && !n.known[key.Event] && f.Live(k, i, t) {
				other[key.Event] = true
			}
		}
		m.Others = len(other)
		s.Marks = m
	}
	if n.kv {
		kv, c := n.kvState(i, t)
		s.KV = kv
		cs.add(c...)
	}
	if n.ids {
		ids := &IDState{IDs: []EventYes{}}
		for id := uint32(1); int(id) < len(f.Events); id++ {
			in := f.IDCommitted(id, i)
			if !n.known[id] {
				if in {
					ids.Others++
				}
				continue
			}
			c := claim(ClaimIDCommitted)
			c.Rec, c.Event, c.Yes = i, id, in
			cs.add(c)
			ids.IDs = append(ids.IDs, EventYes{Event: id, Yes: in})
		}
		s.IDs = ids
	}
	s.Ledger = LedgerState{Label: "ledger", Rows: []LedgerRow{}}
	for id := uint32(1); int(id) < len(f.Events); id++ {
		count := f.Ledger(id, i)
		if !n.known[id] {
			if count > 0 {
				s.Ledger.Others++
			}
			continue
		}
		c := claim(ClaimLedger)
		c.Rec, c.Event, c.N = i, id, count
		cs.add(c)
		s.Ledger.Rows = append(s.Ledger.Rows, LedgerRow{Event: id, Count: count})
	}
	if st, _ := strategies.Lookup(f.Config.Strategy); st.Needs.Has(strategies.NeedsProvider) {
		// Its effects are the provider's charges (Facts' Applications).
		s.Ledger.Label = "charges"
	}
	return s, cs
}

// knownEvents lists the events the story has named, in order.
func (n *narrator) knownEvents() []uint32 {
	var out []uint32
	for ev := range n.known {
		if ev != 0 && n.f.Event(ev) != nil {
			out = append(out, ev)
		}
	}
	slices.Sort(out)
	return out
}

// others counts the events a state line leaves out, as " (+2 others)";
// "" for none.
func others(k int) string {
	if k == 0 {
		return ""
	}
	return fmt.Sprintf(" (+%d other%s)", k, map[bool]string{true: "s"}[k != 1])
}

// idSet renders ids, sorted, as "{1,2}".
func idSet(ids []uint32) string {
	s := make([]string, len(ids))
	for k, id := range ids {
		s[k] = fmt.Sprint(id)
	}
	return "{" + strings.Join(s, ",") + "}"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
