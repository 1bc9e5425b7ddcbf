package explain

import (
	"fmt"
	"strings"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// words names what a story tells in the strategy's own words, where its
// description (strategies.Teaching) gives them, and in neutral words
// elsewhere: a strategy registered by a user is told from its store calls.
type words struct {
	st strategies.Strategy
	t  strategies.Teaching
}

func wordsOf(st strategies.Strategy) words { return words{st: st, t: st.Teaching} }

// neutralCalls names the store calls of any strategy, by what the store
// does: run.Op's meaning, not a strategy's.
var neutralCalls = map[run.Op]strategies.CallWords{
	run.SetNX:    {Name: "SET NX", Does: "sets event {event}'s key in Redis with SET NX", Fails: "tries to set event {event}'s key in Redis with SET NX"},
	run.Exists:   {Name: "key check", Does: "checks Redis for event {event}'s key"},
	run.Set:      {Name: "SET", Does: "sets event {event}'s key in Redis"},
	run.Insert:   {Name: "insert of the id", Does: "inserts event {event} into the processed-ids table"},
	run.Apply:    {Name: "Apply (the effect)", Does: "applies event {event}'s effect"},
	run.Commit:   {Name: "Commit", Does: "commits its transaction"},
	run.Rollback: {Name: "Rollback", Does: "rolls back its transaction"},
	run.InsertApply: {Name: "insert-and-apply statement", Does: "inserts event {event}'s id and applies its effect, in one statement",
		Fails: "tries to insert event {event}'s id and apply its effect, in one statement"},
	run.Get:       {Name: "GET {key}", Does: "reads {key} with GET"},
	run.Put:       {Name: "SET {key}", Does: "sets {key} to {value} with SET"},
	run.PutNX:     {Name: "SET NX {key}", Does: "sets {key} to {value} with SET NX", Fails: "tries to set {key} to {value} with SET NX"},
	run.PutXX:     {Name: "SET XX {key}", Does: "sets {key} to {value} with SET XX", Fails: "tries to set {key} to {value} with SET XX"},
	run.Del:       {Name: "DEL {key}", Does: "deletes {key} with DEL", Fails: "tries to delete {key} with DEL"},
	run.DelIfEq:   {Name: "DEL {key} if it holds {expect}", Does: "deletes {key} if it holds {expect}, in one step", Fails: "tries to delete {key} if it holds {expect}, in one step"},
	run.SetIfEq:   {Name: "SET {key} if it holds {expect}", Does: "sets {key} to {value} if it holds {expect}, in one step", Fails: "tries to set {key} to {value} if it holds {expect}, in one step"},
	run.SAdd:      {Name: "SADD {key}", Does: "adds {value} to the set {key} with SADD", Fails: "tries to add {value} to the set {key} with SADD"},
	run.SIsMember: {Name: "SISMEMBER {key}", Does: "asks whether the set {key} holds {value}, with SISMEMBER"},
	run.SRem:      {Name: "SREM {key}", Does: "removes {value} from the set {key} with SREM", Fails: "tries to remove {value} from the set {key} with SREM"},
	run.Read:      {Name: "read of the id's row", Does: "reads event {event}'s row of the processed-ids table, locking it (SELECT ... FOR UPDATE)"},
	run.Delete:    {Name: "delete of the id's row", Does: "deletes event {event}'s row of the processed-ids table", Fails: "tries to delete event {event}'s row of the processed-ids table"},
	run.Update: {Name: "update of the id's row", Does: "sets the state of event {event}'s row to {value} if it is {expect}",
		Fails: "tries to set the state of event {event}'s row to {value} if it is {expect}"},
	run.ReadOffset: {Name: "read of the partition's offset", Does: "reads partition {partition}'s stored offset, locking its row (SELECT ... FOR UPDATE)"},
	run.AdvanceOffset: {Name: "advance of the partition's offset", Does: "advances partition {partition}'s stored offset from {expect} to {value}",
		Fails: "tries to advance partition {partition}'s stored offset from {expect} to {value}"},
}

// Label is how a story and a strategy's description (Teaching.Calls) name
// a call: its operation as traces name it, then, for a call on a key,
// the key with the event's id written {event}, as "SET NX idem:lock:{event}".
// A key that holds the id only as part of a longer number, or not at all,
// stays as it is. op alone is the label of a call on no key.
func Label(op run.Op, key string, ev uint32) string {
	if key == "" {
		return op.String()
	}
	return op.String() + " " + eventPattern(key, ev)
}

// eventPattern writes key with each whole number equal to ev as {event}.
func eventPattern(key string, ev uint32) string {
	id := fmt.Sprint(ev)
	var b strings.Builder
	for i := 0; i < len(key); {
		j := i
		for j < len(key) && key[j] >= '0' && key[j] <= '9' {
			j++
		}
		if j == i {
			b.WriteByte(key[i])
			i++
			continue
		}
		if key[i:j] == id {
			b.WriteString("{event}")
		} else {
			b.WriteString(key[i:j])
		}
		i = j
	}
	return b.String()
}

// own is the description's words for call c: those of a label with c's
// key (the key written with {event} for c's event), which win, else those
// of c's operation alone; false if it gives none.
func (w words) own(c *Call) (strategies.CallWords, bool) {
	op := c.Op.String()
	if c.Key != "" {
		for label, cw := range w.t.Calls {
			if rest, ok := strings.CutPrefix(label, op+" "); ok && strings.ReplaceAll(rest, "{event}", fmt.Sprint(c.Event)) == c.Key {
				return cw, true
			}
		}
	}
	cw, ok := w.t.Calls[op]
	return cw, ok
}

// call returns the words for call c: the strategy's, each missing one
// filled in neutrally.
func (w words) call(c *Call) strategies.CallWords {
	cw, known := neutralCalls[c.Op]
	if !known {
		// An operation this package predates: named as traces name it.
		cw = strategies.CallWords{Name: c.Op.String(), Does: fmt.Sprintf("calls %s about event {event}", c.Op)}
	}
	if own, ok := w.own(c); ok {
		if own.Name != "" {
			cw.Name = own.Name
		}
		if own.Does != "" {
			cw.Does, cw.Fails = own.Does, own.Fails
		}
	}
	if cw.Fails == "" {
		cw.Fails = cw.Does
	}
	if cw.Name == "" {
		cw.Name = c.Op.String()
	}
	return cw
}

// callName names call c, as "SET NX (the claim)" or "GET lease:1".
func (w words) callName(c *Call) string {
	return w.fill(w.call(c).Name, fills{event: c.Event, key: c.Key, value: c.Value, expect: c.Expect, ttl: c.TTL})
}

// opName names a call of op whose key the trace does not show (the call a
// crash came before): the description's words for op alone, or op as
// traces name it.
func (w words) opName(op run.Op, ev uint32) string {
	if own, ok := w.t.Calls[op.String()]; ok && own.Name != "" && !strings.Contains(own.Name, "{key}") {
		return w.fill(own.Name, fills{event: ev})
	}
	if cw, ok := neutralCalls[op]; ok && !strings.Contains(cw.Name, "{") {
		return cw.Name
	}
	return op.String() + " call"
}

// does says what a call of op about ev does, or tries to do when the store
// answers no.
func (w words) does(op run.Op, ev uint32, no bool) string {
	return w.doesCall(&Call{Op: op, Event: ev}, no)
}

// doesCall says what call c does, or tries to do when the store answers
// no, with its key, value and TTL filled in.
func (w words) doesCall(c *Call, no bool) string {
	cw := w.call(c)
	s := cw.Does
	if no {
		s = cw.Fails
	}
	return w.fill(s, fills{event: c.Event, key: c.Key, value: c.Value, expect: c.Expect, ttl: c.TTL, partition: c.Part})
}

// meaning says what value v of a key means, in the strategy's words, as
// " (a handler holds the lease)"; "" if it does not say.
func (w words) meaning(v string) string {
	if m := w.t.Values[v]; m != "" {
		return " (" + m + ")"
	}
	return ""
}

// mark names what the strategy keeps to remember an event.
func (w words) mark() string { return or(w.t.Mark, "mark") }

// memory names the memory of a strategy with Memory, and memories its
// plural.
func (w words) memory() string { return or(w.t.MemoryName, "memory") }

func (w words) memories() string {
	m := w.memory()
	if strings.HasSuffix(m, "y") {
		return m[:len(m)-1] + "ies"
	}
	return m + "s"
}

// marked says what taking the mark on ev did, in the past tense: the
// strategy's words, or the call's (a Redis write, or the commit of a
// transaction that inserted the id).
func (w words) marked(c *Call, ev uint32) string {
	if w.t.Marked != "" {
		return w.fill(w.t.Marked, fills{event: ev})
	}
	if c.Op.KV() {
		return "set " + c.Key
	}
	if c.Op.Store() == run.Redis {
		return fmt.Sprintf("set event %d's key in Redis", ev)
	}
	return fmt.Sprintf("committed event %d's id", ev)
}

// why is the strategy's own lead for a violation of kind in situation, ""
// if it gives none.
func (w words) why(kind Kind, situation string, fl fills) string {
	if s, ok := w.t.Why[kind.String()+":"+situation]; ok && situation != "" {
		return w.fill(s, fl)
	}
	return w.fill(w.t.Why[kind.String()], fl)
}

// fills are the values of a teaching text's placeholders.
type fills struct {
	event              uint32
	first, second      int32
	key, value, expect string
	ttl                int64
	partition          int32
}

// fill replaces the placeholders of s.
func (w words) fill(s string, fl fills) string {
	if !strings.Contains(s, "{") {
		return s
	}
	return strings.NewReplacer(
		"{strategy}", w.st.Name,
		"{event}", fmt.Sprint(fl.event),
		"{first}", fmt.Sprint(fl.first),
		"{second}", fmt.Sprint(fl.second),
		"{mark}", w.mark(),
		"{memory}", w.memory(),
		"{key}", fl.key,
		"{value}", shown(fl.value),
		"{expect}", shown(fl.expect),
		"{ttl}", ttlWords(fl.ttl),
		"{partition}", fmt.Sprint(fl.partition),
	).Replace(s)
}

// placeholders are the names fill knows; a test holds the built-ins'
// texts to them.
var placeholders = []string{"{strategy}", "{event}", "{first}", "{second}", "{mark}", "{memory}", "{key}", "{value}", "{expect}", "{ttl}", "{partition}"}

// shown renders a value a story names: as it is, or "" for the empty
// string, so that a sentence never has a hole.
func shown(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// eventID is ev as the strategies package types it.
func eventID(ev uint32) strategies.EventID { return strategies.EventID(ev) }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// usesRedis reports whether the strategy called name keeps marks or keys
// in Redis, by its description.
func usesRedis(name string) bool {
	st, _ := strategies.Lookup(name)
	return st.Needs.Has(strategies.NeedsMarks) || st.Needs.Has(strategies.NeedsKV)
}
