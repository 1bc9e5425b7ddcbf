package explain

import (
	"fmt"
	"time"

	"github.com/idemsim/idemsim/run"
)

// kvText tells a key-value call c that Redis executed: what the instance
// did, in the strategy's words, and what Redis did, from its answer.
func (n *narrator) kvText(c *Call) (what, result string) {
	w, key := n.w, c.Key
	no := c.Answer == run.No
	what = w.doesCall(c, no)
	switch c.Op {
	case run.Get:
		if no {
			return what, key + " is not there" + n.then(c) + n.thenApplies(c)
		}
		return what, fmt.Sprintf("%s = %s%s%s", key, c.Value, w.meaning(c.Value), n.then(c))
	case run.PutNX:
		if no {
			return what, key + " is already there, so nothing is set" + n.then(c)
		}
		return what, fmt.Sprintf("%s was not there, so it is set and the %s is taken", key, w.mark())
	case run.PutXX:
		if no {
			return what, key + " is not there, so nothing is set" + n.then(c)
		}
		return what, fmt.Sprintf("%s was there, so it now holds %s", key, c.Value)
	case run.Put:
		if n.appliedBefore(c) {
			what += ", now that the effect is committed"
		}
		return what, fmt.Sprintf("%s now holds %s", key, c.Value)
	}
	// DEL
	if no {
		return what, key + " was not there" + n.then(c)
	}
	return what, fmt.Sprintf("%s was there, and it is gone", key)
}

// insertApplyText tells the database executing call c, a statement that
// inserts the event's id and applies its effect only if it inserted it.
func (n *narrator) insertApplyText(i int, c *Call) (what, result string) {
	f, ev := n.f, c.Event
	if c.Answer == run.No {
		return n.w.does(c.Op, ev, true), fmt.Sprintf("event %d's id is already there (the unique constraint), so nothing is applied%s", ev, n.then(c))
	}
	what = n.w.does(c.Op, ev, false)
	if len(c.Parks) > 0 {
		h := &f.Txs[c.Parks[len(c.Parks)-1].Holder]
		who := fmt.Sprintf("instance %d's transaction %s", h.Inst, n.endWords(h, i))
		if h.Inst == c.Inst {
			who = "its own earlier transaction " + n.endWords(h, i)
		}
		what = "the statement it waited with goes through: " + who
	}
	return what, fmt.Sprintf("event %d's id is in the processed-ids table and its effect in the ledger (%s), committed together", ev, times(f.Ledger(ev, i)))
}

// kvState renders the focus event's key-value keys live at record i, at
// time t, as "redis: lease:1=INPROGRESS (until 10018.042 ms)", in the
// order of their first write; a key that outlives any run (a TTL of an
// hour or more) shows no end. The keys are those the event's calls named;
// when the run has others, the label says so.
func (n *narrator) kvState(i int, t int64) string {
	f := n.f
	var ks []string
	for _, name := range n.kvNames {
		if !n.focusKeys[name] {
			continue
		}
		for k := range f.Keys {
			key := &f.Keys[k]
			if key.Name != name || !f.Live(k, i, t) {
				continue
			}
			s := fmt.Sprintf("%s=%s", name, key.Value)
			if key.TTL > 0 && key.TTL < int64(time.Hour) {
				s += fmt.Sprintf(" (until %s)", at(key.Expires))
			}
			ks = append(ks, s)
		}
	}
	label := "redis"
	if len(n.focusKeys) < len(n.kvNames) {
		label = fmt.Sprintf("redis, event %d's keys", n.focus)
	}
	return label + ": " + orNone(ks)
}
