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
// reads the facts; i -1 is the state before the first record.
func (n *narrator) state(i int, t int64) (string, []Claim) {
	f := n.f
	var parts []string
	var cs claims
	known := n.knownEvents()
	if n.memKnown() {
		var mem []string
		for inst := int32(0); int(inst) < n.a.cfg.Instances; inst++ {
			up := claim(ClaimUp)
			why := f.DownWhyAt(inst, i, t)
			up.Rec, up.Inst, up.At, up.Yes = i, inst, t, why == 0
			if !up.Yes {
				up.Record = why
				cs.add(up)
				mem = append(mem, fmt.Sprintf("i%d %s", inst, downWords[why]))
				continue
			}
			var held []uint32
			for _, ev := range known {
				c := n.memHeldClaim(i, inst, ev)
				cs.add(c)
				if c.Yes {
					held = append(held, ev)
				}
			}
			mem = append(mem, fmt.Sprintf("i%d %s", inst, idSet(held)))
		}
		parts = append(parts, n.w.memories()+": "+strings.Join(mem, ", "))
	}
	if n.marks {
		var ks []string
		other := map[uint32]bool{}
		for _, ev := range known {
			c := claim(ClaimKey)
			c.Rec, c.At, c.Event = i, t, ev
			for k := range f.Keys {
				key := &f.Keys[k]
				if key.Name != "" || key.Event != ev || !f.Live(k, i, t) {
					continue
				}
				c.Yes, c.To = true, key.Expires
				s := fmt.Sprintf("e%d", ev)
				// A key that outlives any run (the default TTL is a
				// day) shows no expiry; one the ttl fault shortened does.
				if key.TTL > 0 && key.TTL < int64(time.Hour) {
					s += fmt.Sprintf(" (expires at %.3f ms)", ms(key.Expires))
				}
				ks = append(ks, s)
			}
			cs.add(c)
		}
		for k := range f.Keys {
			if key := &f.Keys[k]; key.Name == "" && !n.known[key.Event] && f.Live(k, i, t) {
				other[key.Event] = true
			}
		}
		parts = append(parts, "redis keys: "+orNone(ks)+others(len(other)))
	}
	if n.kv {
		s, c := n.kvState(i, t)
		parts = append(parts, s)
		cs.add(c...)
	}
	if n.ids {
		var ids []uint32
		other := 0
		for id := uint32(1); int(id) < len(f.Events); id++ {
			in := f.IDCommitted(id, i)
			if !n.known[id] {
				if in {
					other++
				}
				continue
			}
			c := claim(ClaimIDCommitted)
			c.Rec, c.Event, c.Yes = i, id, in
			cs.add(c)
			if in {
				ids = append(ids, id)
			}
		}
		parts = append(parts, "processed ids: "+idSet(ids)+others(other))
	}
	var ls []string
	other := 0
	for id := uint32(1); int(id) < len(f.Events); id++ {
		count := f.Ledger(id, i)
		if !n.known[id] {
			if count > 0 {
				other++
			}
			continue
		}
		c := claim(ClaimLedger)
		c.Rec, c.Event, c.N = i, id, count
		cs.add(c)
		if count > 0 {
			ls = append(ls, fmt.Sprintf("e%d ×%d", id, count))
		}
	}
	effects := "ledger: "
	if st, _ := strategies.Lookup(f.Config.Strategy); st.Needs.Has(strategies.NeedsProvider) {
		// Its effects are the provider's charges (Facts' Applications).
		effects = "charges: "
	}
	parts = append(parts, effects+orNone(ls)+others(other))
	return strings.Join(parts, " | "), cs
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
