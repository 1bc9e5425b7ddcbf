package explain

import (
	"fmt"
	"time"

	"github.com/idemsim/idemsim/run"
)

// kvText tells a key-value call c that Redis executed: what the instance
// did, in the strategy's words, and what Redis did, from its answer. A
// key is named as a key; it is called the event's mark only if the
// strategy's description says it is (Teaching.MarkKey).
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
			return what, key + " is already there: nothing is set" + n.then(c)
		}
		return what, fmt.Sprintf("%s was not there, so it is set%s", key, n.markTaken(c))
	case run.PutXX:
		if no {
			return what, key + " is not there: nothing is set" + n.then(c)
		}
		return what, fmt.Sprintf("%s was there, so it now holds %s", key, c.Value)
	case run.Put:
		if n.appliedBefore(c) {
			what += ", now that the effect is committed"
		}
		return what, fmt.Sprintf("%s now holds %s", key, c.Value)
	case run.Del:
		if no {
			return what, key + " was not there" + n.then(c)
		}
		return what, fmt.Sprintf("%s was there, and it is gone", key)
	case run.DelIfEq:
		if no {
			return what, fmt.Sprintf("%s does not hold %s (or is not there): nothing is deleted%s", key, shown(c.Expect), n.then(c))
		}
		return what, fmt.Sprintf("%s held %s, and it is gone", key, shown(c.Expect))
	case run.SetIfEq:
		if no {
			return what, fmt.Sprintf("%s does not hold %s (or is not there): nothing is set%s", key, shown(c.Expect), n.then(c))
		}
		return what, fmt.Sprintf("%s held %s, so it now holds %s", key, shown(c.Expect), shown(c.Value))
	case run.SAdd:
		if no {
			return what, fmt.Sprintf("%s is already in %s%s", c.Value, key, n.then(c))
		}
		return what, fmt.Sprintf("%s was not in %s, so it is added%s", c.Value, key, n.markTaken(c))
	case run.SIsMember:
		if no {
			return what, fmt.Sprintf("%s is not in %s%s%s", c.Value, key, n.then(c), n.thenApplies(c))
		}
		return what, fmt.Sprintf("%s is in %s%s", c.Value, key, n.then(c))
	case run.SRem:
		if no {
			return what, fmt.Sprintf("%s was not in %s%s", c.Value, key, n.then(c))
		}
		return what, fmt.Sprintf("%s was in %s, and it is removed", c.Value, key)
	}
	return what, "the answer is " + c.Answer.String() + n.then(c)
}

// markTaken says ", and the lease is taken" when the key that call c set
// is its event's mark by the strategy's description; "" otherwise.
func (n *narrator) markTaken(c *Call) string {
	if !n.isMarkCall(c) {
		return ""
	}
	n.claim(n.markKeyClaim(c))
	return " and the " + n.w.mark() + " is taken"
}

// markKey is event ev's mark key by the strategy's description, and false
// if the description names none.
func (n *narrator) markKey(ev uint32) (string, bool) {
	if f := n.w.t.MarkKey; f != nil {
		return f(eventID(ev)), true
	}
	return "", false
}

// isMarkCall reports whether call c is about its event's mark: a
// MarkStore call, an insert of the id, or a key-value call on the key the
// description names the mark.
func (n *narrator) isMarkCall(c *Call) bool {
	switch {
	case c.Op.Store() == run.Redis && !c.Op.KV():
		return true
	case c.Op == run.Insert || c.Op == run.InsertApply:
		return true
	case c.Op.KV():
		k, ok := n.markKey(c.Event)
		return ok && k == c.Key && c.Op != run.SAdd && c.Op != run.SIsMember && c.Op != run.SRem
	}
	return false
}

// markKeyClaim states what makes call c's key its event's mark: the
// description's MarkKey, for a key-value call; nothing else needs saying.
func (n *narrator) markKeyClaim(c *Call) Claim {
	cl := claim(ClaimMarkKey)
	cl.Key, cl.Event = c.Key, c.Event
	return cl
}

// insertApplyText tells the database executing call c, a statement that
// inserts the event's id and applies its effect only if it inserted it.
func (n *narrator) insertApplyText(i int, c *Call) (what, result string) {
	f, ev := n.f, c.Event
	if c.Answer == run.No {
		return n.w.doesCall(c, true), fmt.Sprintf("event %d's id is already there (the unique constraint), so nothing is applied%s", ev, n.then(c))
	}
	what = n.w.doesCall(c, false)
	if len(c.Parks) > 0 {
		h := &f.Txs[c.Parks[len(c.Parks)-1].Holder]
		who := fmt.Sprintf("instance %d's transaction %s", h.Inst, n.endWords(h, i))
		if h.Inst == c.Inst {
			who = "its own earlier transaction " + n.endWords(h, i)
		}
		what = "the statement it waited with goes through: " + who
	}
	lc := claim(ClaimLedger)
	lc.Rec, lc.Event, lc.N = i, ev, f.Ledger(ev, i)
	ic := claim(ClaimIDCommitted)
	ic.Rec, ic.Event, ic.Yes = i, ev, true
	n.claim(lc, ic)
	return what, fmt.Sprintf("event %d's id is in the processed-ids table and its effect in the ledger (%s), committed together", ev, times(lc.N))
}

// rowText tells the database executing call c on event c.Event's
// processed row: a read FOR UPDATE, a delete or a conditional update.
func (n *narrator) rowText(c *Call) (what, result string) {
	ev := c.Event
	no := c.Answer == run.No
	what = n.w.doesCall(c, no)
	switch c.Op {
	case run.Read:
		if no {
			return what, fmt.Sprintf("event %d has no row there%s%s", ev, n.then(c), n.thenApplies(c))
		}
		state := "an empty state"
		if c.Value != "" {
			state = "the state " + c.Value + n.w.meaning(c.Value)
		}
		return what, fmt.Sprintf("event %d's row is there, with %s; the transaction holds its lock until it ends%s", ev, state, n.then(c))
	case run.Delete:
		if no {
			return what, fmt.Sprintf("event %d has no row there%s", ev, n.then(c))
		}
		return what, fmt.Sprintf("event %d's row is deleted, once the transaction commits", ev)
	}
	if no {
		return what, fmt.Sprintf("event %d's row does not hold %s (or is not there): nothing changes%s", ev, shown(c.Expect), n.then(c))
	}
	return what, fmt.Sprintf("event %d's row held %s, so it now holds %s, once the transaction commits", ev, shown(c.Expect), shown(c.Value))
}

// kvState renders the focus event's key-value keys live at record i, at
// time t, as "redis: lease:1=INPROGRESS (until 10018.042 ms)", in the
// order of their first write, with the claims it states; a key that
// outlives any run (a TTL of an hour or more) shows no end, and a set
// shows its members, as "seen:1={a,b}". The keys are those the event's
// calls named; when the run has others, the label says so.
func (n *narrator) kvState(i int, t int64) (*KVState, []Claim) {
	f := n.f
	kv := &KVState{Keys: []KVEntry{}}
	var cs claims
	for _, name := range n.kvNames {
		if !n.focusKeys[name] {
			continue
		}
		var members []string
		var until int64 = -1
		found := false
		for k := range f.Keys {
			key := &f.Keys[k]
			if key.Name != name || !f.Live(k, i, t) {
				continue
			}
			found = true
			c := claim(ClaimKey)
			c.Rec, c.At, c.Key, c.Value, c.Yes, c.To = i, t, name, key.Value, true, key.Expires
			cs.add(c)
			if key.Set {
				members = append(members, key.Value)
				if key.TTL > 0 && key.TTL < int64(time.Hour) {
					until = key.Expires
				}
				continue
			}
			e := KVEntry{Name: name, Value: key.Value}
			if key.TTL > 0 && key.TTL < int64(time.Hour) {
				e.Until = at(key.Expires)
			}
			kv.Keys = append(kv.Keys, e)
		}
		if len(members) > 0 {
			e := KVEntry{Name: name, Set: true, Members: members}
			if until >= 0 {
				e.Until = at(until)
			}
			kv.Keys = append(kv.Keys, e)
		}
		if !found {
			c := claim(ClaimKey)
			c.Rec, c.At, c.Key = i, t, name
			cs.add(c)
		}
	}
	kv.Label = "redis"
	if len(n.focusKeys) < len(n.kvNames) {
		kv.Label = fmt.Sprintf("redis, event %d's keys", n.focus)
	}
	return kv, cs
}

// offsetText tells an offset call of the log's offsets table that the
// database answered: what it read, or whether the advance matched.
func (n *narrator) offsetText(c *Call) (what, result string) {
	if c.Op == run.ReadOffset {
		what = n.w.doesCall(c, false)
		return what, fmt.Sprintf("partition %d's stored offset is %s (0: no row yet); the transaction holds its row's lock until it ends%s", c.Part, shown(c.Value), n.then(c))
	}
	if c.Answer == run.No {
		return n.w.doesCall(c, true), fmt.Sprintf("partition %d's stored offset is not %s: nothing changes%s", c.Part, shown(c.Expect), n.then(c))
	}
	return n.w.doesCall(c, false), fmt.Sprintf("partition %d's stored offset was %s, so it is %s once the transaction commits", c.Part, shown(c.Expect), shown(c.Value))
}
