package explain

import (
	"cmp"
	"math"
	"slices"

	"github.com/idemsim/idemsim/run"
)

// redisServe records Redis executing call c at record i: a write that set
// a mark or a key, or a DEL that deleted a key. Reads change nothing; a
// GET's Serve carries the value it found.
func (d *deriver) redisServe(i int, r *run.Record, c *Call) {
	if c.Op == run.Get && r.Answer == run.Yes {
		c.Value = r.Value
	}
	if r.Answer != run.Yes {
		return
	}
	switch c.Op {
	case run.SetNX, run.Set, run.Put, run.PutNX, run.PutXX:
		d.setKey(i, r, c)
	case run.Del:
		// It answers yes only if the key was there, live.
		if k := d.kvLive(c.Key); k >= 0 {
			key := &d.f.Keys[k]
			key.EndRec, key.EndCall = i, c.ID
			d.liveKV[c.Key] = -1
		}
	}
}

// setKey records a Redis write that set event c.Event's mark, or the key
// c.Key: it replaces the value before it.
func (d *deriver) setKey(i int, r *run.Record, c *Call) {
	f := d.f
	ev := c.Event
	prev := -1
	if c.Op.KV() {
		prev = d.kvLive(c.Key)
		d.liveKV[c.Key] = len(f.Keys)
	} else {
		prev, d.liveKey[ev] = d.liveKey[ev], len(f.Keys)
	}
	if prev >= 0 {
		f.Keys[prev].EndRec, f.Keys[prev].EndCall = i, c.ID
	}
	exp := int64(math.MaxInt64)
	if r.Dur > 0 {
		exp = r.At + r.Dur
	}
	if ev > 0 && int(ev) < len(f.Events) {
		f.Events[ev].Keys = append(f.Events[ev].Keys, len(f.Keys))
	}
	key := Key{Event: ev, Op: c.Op, Call: c.ID, Inst: c.Inst, At: r.At, Rec: i, TTL: r.Dur, Expires: exp, EndRec: -1, Lost: -1}
	if c.Op.KV() {
		key.Name, key.Value = c.Key, c.Value
	}
	f.Keys = append(f.Keys, key)
}

// storeLoss records Redis losing data. A restart loses everything; a
// failover what was written within the replica's lag, that is, what was
// written last. The record counts what it lost: every mark written within
// the lag, expired or not (as the simulator counts marks), and every key
// written within it that was still live. So the candidates are the marks
// Redis held and the keys live at the loss, and the lost ones are the
// Count written last: a suffix of the writes in time order, which the count
// names exactly (values written at the same instant are lost together or
// not at all, so the count never splits them).
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
		if key.Name != "" {
			d.liveKV[key.Name] = -1
		} else {
			d.liveKey[key.Event] = -1
		}
	}
	o.Lost = held
	f.Outages = append(f.Outages, o)
}

// kvLive is the last write of key name not lost, deleted or replaced, -1
// if none; the first call about a key adds it to kvNames.
func (d *deriver) kvLive(name string) int {
	k, seen := d.liveKV[name]
	if !seen {
		d.kvNames = append(d.kvNames, name)
		d.liveKV[name] = -1
		return -1
	}
	return k
}
