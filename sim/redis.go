package sim

import (
	"math"

	"github.com/idemsim/idemsim/run"
)

// redis is the simulated Redis: one mark per event id, with an expiry time
// on the simulated clock, and the time it was written so that a failover can
// lose the writes a lagging replica had not seen.
type redis struct {
	exp       []int64 // expiry per event id; 0: no mark
	written   []int64
	kv        kvStore // keys and values, for strategies with a KV store
	downUntil int64   // calls are refused before this time
}

func (r *redis) init(events int) {
	r.exp = resize(r.exp, events+1)
	r.written = resize(r.written, events+1)
	r.kv.reset()
	r.downUntil = 0
}

func (r *redis) live(id uint64, now int64) bool { return r.exp[id] > now }

func (r *redis) set(id uint64, ttl, now int64) {
	r.exp[id] = math.MaxInt64
	if ttl > 0 {
		r.exp[id] = now + ttl
	}
	r.written[id] = now
}

// do executes a mark call and returns its boolean answer.
func (r *redis) do(c *call, now int64) bool {
	id := uint64(c.ev.ID)
	switch c.op {
	case run.SetNX:
		if r.live(id, now) {
			return false
		}
		r.set(id, c.ttl, now)
		return true
	case run.Exists:
		return r.live(id, now)
	case run.Set:
		r.set(id, c.ttl, now)
		return true
	}
	panic("sim: invariant broken: not a Redis call: " + c.op.String())
}

// flush drops every mark and key written at or after since (0: all of
// them), as a restart with no persistence or a failover to a lagging
// replica would, and returns how many it dropped: the marks written since
// (live or expired, as a store loss counts them) and the live keys.
func (r *redis) flush(since, now int64) int {
	lost := 0
	for id := range r.exp {
		if r.exp[id] != 0 && r.written[id] >= since {
			lost++
			r.exp[id] = 0
		}
	}
	return lost + r.kv.flush(since, now)
}
