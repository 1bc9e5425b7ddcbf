package explain

import (
	"cmp"
	"math"
	"slices"

	"github.com/idemsim/idemsim/run"
)

// redisServe records Redis executing call c at record i: a write that set
// a mark, a key or a set's member, or a delete that ended one. Reads
// change nothing; a GET's Serve carries the value it found.
func (d *deriver) redisServe(i int, r *run.Record, c *Call) {
	if c.Op == run.Get && r.Answer == run.Yes {
		c.Value = r.Value
	}
	if r.Answer != run.Yes {
		return
	}
	switch c.Op {
	case run.SetNX, run.Set, run.Put, run.PutNX, run.PutXX, run.SetIfEq, run.SAdd:
		d.setKey(i, r, c)
	case run.Del, run.DelIfEq, run.SRem:
		// It answers yes only if the key (or the member) was there, live:
		// a DEL IFEQ only if it also held the value compared with.
		slot := c.Key
		if c.Op == run.SRem {
			slot = memberSlot(c.Key, c.Value)
		}
		if k := d.kvLive(slot); k >= 0 {
			key := &d.f.Keys[k]
			key.EndRec, key.EndCall = i, c.ID
			d.liveKV[slot] = -1
		}
		if c.Op == run.Del {
			// DEL deletes a set too, with every member.
			d.endMembers(i, c)
		}
	}
}

// memberSlot is the slot of member m of the set at key in liveKV: a key
// cannot hold a NUL, so no string key takes it.
func memberSlot(key, m string) string { return key + "\x00" + m }

// endMembers ends the live members of the set at c.Key, deleted by c.
func (d *deriver) endMembers(i int, c *Call) {
	for _, slot := range d.kvNames {
		if k := d.liveKV[slot]; k >= 0 && d.f.Keys[k].Set && d.f.Keys[k].Name == c.Key {
			d.f.Keys[k].EndRec, d.f.Keys[k].EndCall = i, c.ID
			d.liveKV[slot] = -1
		}
	}
}

// setKey records a Redis write that set event c.Event's mark, the key
// c.Key, or the member c.Value of the set c.Key: it replaces the value
// before it.
func (d *deriver) setKey(i int, r *run.Record, c *Call) {
	f := d.f
	ev := c.Event
	prev := -1
	exp := int64(math.MaxInt64)
	if r.Dur > 0 {
		exp = r.At + r.Dur
	}
	ttl := r.Dur
	switch {
	case c.Op == run.SAdd:
		slot := memberSlot(c.Key, c.Value)
		prev = d.kvLive(slot)
		// One TTL per set: a SADD with a TTL gives it to every member; one
		// without keeps the set's.
		for _, s := range d.kvNames {
			if k := d.liveKV[s]; k >= 0 && f.Keys[k].Set && f.Keys[k].Name == c.Key {
				if r.Dur > 0 {
					f.Keys[k].Expires, f.Keys[k].TTL = exp, exp-f.Keys[k].At
				} else if f.Keys[k].Expires != math.MaxInt64 && f.Keys[k].Expires > r.At {
					exp, ttl = f.Keys[k].Expires, f.Keys[k].Expires-r.At
				}
			}
		}
		d.liveKV[slot] = len(f.Keys)
	case c.Op.KV():
		prev = d.kvLive(c.Key)
		d.liveKV[c.Key] = len(f.Keys)
	default:
		prev, d.liveKey[ev] = d.liveKey[ev], len(f.Keys)
	}
	if prev >= 0 {
		f.Keys[prev].EndRec, f.Keys[prev].EndCall = i, c.ID
	}
	if ev > 0 && int(ev) < len(f.Events) {
		f.Events[ev].Keys = append(f.Events[ev].Keys, len(f.Keys))
	}
	key := Key{Event: ev, Op: c.Op, Call: c.ID, Inst: c.Inst, At: r.At, Rec: i, TTL: ttl, Expires: exp, EndRec: -1, Lost: -1}
	if c.Op.KV() {
		key.Name, key.Value, key.Set = c.Key, c.Value, c.Op == run.SAdd
	}
	f.Keys = append(f.Keys, key)
}

// storeLoss records Redis losing data. A restart loses everything; a
// failover what was written within the replica's lag, that is, what was
// written last. The record counts what it lost: every mark written within
// the lag, expired or not (as the simulator counts marks), and every key
// (or set member) written within it that was still live. So the
// candidates are the marks Redis held and the keys live at the loss, and
// the lost ones are the Count written last: a suffix of the writes in time
// order, which the count names exactly (values written at the same
// instant are lost together or not at all, so the count never splits
// them).
func (d *deriver) storeLoss(i int, r *run.Record) {
	f := d.f
	o := Outage{Cause: r.Cause, At: r.At, Rec: i, Count: int(r.Count), UpRec: -1, Up: -1}
	var held []int
	for _, k := range d.liveKey {
		if k >= 0 {
			held = append(held, k)
		}
	}
	for _, name := range d.kvNames {
		if k := d.kvLive(name); k >= 0 && f.Keys[k].Expires > r.At {
			held = append(held, k)
		}
	}
	slices.Sort(held)
	if r.Cause == run.Failover {
		// Newest first; held is in write order, so a stable sort keeps
		// equal times in a fixed order.
		slices.SortStableFunc(held, func(a, b int) int { return cmp.Compare(f.Keys[b].At, f.Keys[a].At) })
		held = held[:min(len(held), o.Count)]
		slices.Sort(held)
	}
	for _, k := range held {
		key := &f.Keys[k]
		key.EndRec, key.Lost = i, len(f.Outages)
		switch {
		case key.Set:
			d.liveKV[memberSlot(key.Name, key.Value)] = -1
		case key.Name != "":
			d.liveKV[key.Name] = -1
		default:
			d.liveKey[key.Event] = -1
		}
	}
	o.Lost = held
	f.Outages = append(f.Outages, o)
}

// kvLive is the last write of the key (or set member) in slot not lost,
// deleted or replaced, -1 if none; the first call about a slot adds it to
// kvNames.
func (d *deriver) kvLive(slot string) int {
	k, seen := d.liveKV[slot]
	if !seen {
		d.kvNames = append(d.kvNames, slot)
		d.liveKV[slot] = -1
		return -1
	}
	return k
}
