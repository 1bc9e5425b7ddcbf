package sim

import (
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// simMemory is an instance's own memory (strategies.Memory), as its
// strategy's Deps give it. Its calls are no store calls: they take no
// simulated time and yield nothing to the world, so no other instance
// and no fault comes between them. Each is recorded (run.Memory) when the
// run records at all, so that a trace shows what the memory held when the
// handler asked.
//
// What it holds lives in the instance, not in the handle: start empties
// it, as a restarted process starts with nothing in memory, and a handler
// unwinding after its crash finds it empty and changes nothing, as a dead
// process does.
type simMemory struct{ in *instance }

// Contains reports whether the memory holds id.
func (m simMemory) Contains(id strategies.EventID) bool {
	in := m.in
	if in.dead {
		return false
	}
	held := in.holds(id)
	in.w.recordMemory(in, run.MemHas, id, held)
	return held
}

// Add puts id into the memory.
func (m simMemory) Add(id strategies.EventID) {
	in := m.in
	if in.dead {
		return
	}
	added := !in.holds(id)
	if added {
		in.remember(id, true)
	}
	in.w.recordMemory(in, run.MemAdd, id, added)
}

// Remove takes id out of the memory.
func (m simMemory) Remove(id strategies.EventID) {
	in := m.in
	if in.dead {
		return
	}
	removed := in.holds(id)
	if removed {
		in.remember(id, false)
	}
	in.w.recordMemory(in, run.MemDel, id, removed)
}

// recordMemory records in's memory call op about id with the memory's
// answer. A sweep, which records nothing, builds no record.
func (w *world) recordMemory(in *instance, op run.Op, id strategies.EventID, answer bool) {
	if w.rec.On() {
		rec := run.MemoryRecord(w.now, in.idx, in.cur.msg, op, id, answer)
		w.rec.Add(&rec)
	}
}

// holds reports whether in's memory holds id. The ids of the run's events
// live in a bitset, made at the first Add, so that a strategy that never
// uses its memory costs nothing; any other id a strategy asks about, in a
// map.
func (in *instance) holds(id strategies.EventID) bool {
	if id < strategies.EventID(len(in.mem))*64 {
		return in.mem[id/64]&(1<<(id%64)) != 0
	}
	_, ok := in.memOther[id]
	return ok
}

// remember puts id into in's memory, or takes it out.
func (in *instance) remember(id strategies.EventID, held bool) {
	if in.mem == nil {
		in.mem = make([]uint64, in.w.cfg.Events/64+1)
	}
	if id < strategies.EventID(len(in.mem))*64 {
		if held {
			in.mem[id/64] |= 1 << (id % 64)
		} else {
			in.mem[id/64] &^= 1 << (id % 64)
		}
		return
	}
	if !held {
		delete(in.memOther, id)
		return
	}
	if in.memOther == nil {
		in.memOther = map[strategies.EventID]struct{}{}
	}
	in.memOther[id] = struct{}{}
}

// forget empties in's memory: a new incarnation starts with nothing.
func (in *instance) forget() {
	clear(in.mem)
	clear(in.memOther)
}
