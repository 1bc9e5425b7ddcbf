package explain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// state renders the state that matters at record i, at time t: the
// instances' memories (for a strategy with Memory), the Redis keys and
// the processed ids (where the run used them), and the committed ledger
// rows. It reads the facts; i -1 is the state before the first record.
func (n *narrator) state(i int, t int64) string {
	f := n.f
	var parts []string
	if n.memory {
		var ms []string
		for inst := int32(0); int(inst) < n.a.cfg.Instances; inst++ {
			if i >= 0 && !f.Up(inst, i) {
				ms = append(ms, fmt.Sprintf("i%d down", inst))
				continue
			}
			ms = append(ms, fmt.Sprintf("i%d %s", inst, idSet(f.Remembered(inst, i))))
		}
		parts = append(parts, n.w.memories()+": "+strings.Join(ms, ", "))
	}
	if n.marks {
		type live struct {
			ev  uint32
			exp int64
		}
		var keys []live
		for k := range f.Keys {
			if f.Keys[k].Name == "" && f.Live(k, i, t) {
				keys = append(keys, live{f.Keys[k].Event, f.Keys[k].Expires})
				// A key that outlives any run (the default TTL is a
				// day) shows no expiry; one the ttl fault shortened does.
				if f.Keys[k].TTL == 0 || f.Keys[k].TTL >= int64(time.Hour) {
					keys[len(keys)-1].exp = -1
				}
			}
		}
		slices.SortFunc(keys, func(a, b live) int { return int(a.ev) - int(b.ev) })
		var ks []string
		for _, k := range keys {
			s := fmt.Sprintf("e%d", k.ev)
			if k.exp >= 0 {
				s += fmt.Sprintf(" (expires at %.3f ms)", ms(k.exp))
			}
			ks = append(ks, s)
		}
		parts = append(parts, "redis keys: "+orNone(ks))
	}
	if n.kv {
		parts = append(parts, n.kvState(i, t))
	}
	if n.ids {
		var ids []uint32
		for id := uint32(1); int(id) < len(f.Events); id++ {
			if f.IDCommitted(id, i) {
				ids = append(ids, id)
			}
		}
		parts = append(parts, "processed ids: "+idSet(ids))
	}
	var ls []string
	for id := uint32(1); int(id) < len(f.Events); id++ {
		if c := f.Ledger(id, i); c > 0 {
			ls = append(ls, fmt.Sprintf("e%d ×%d", id, c))
		}
	}
	parts = append(parts, "ledger: "+orNone(ls))
	return strings.Join(parts, " | ")
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
