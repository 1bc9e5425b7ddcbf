package explain

import (
	"fmt"
	"strings"
)

// Snapshot is the state a step of a story speaks of, in parts rather than
// in one line: each instance (running or not, the message it is
// handling, what its memory holds), the Redis marks or keys, the
// processed ids, the ledger, and the broker's queue or, on a partitioned
// log, its partitions. The state line of a step (Step.State) is its
// Line, so that the text and a page drawn from a snapshot say the same.
//
// Like the state line, a snapshot speaks of the events the story has
// named by then (Events), and counts the others. Times are simulated
// nanoseconds since the start of the run, each beside the words the story
// writes for it, so that no reader formats a number differently.
type Snapshot struct {
	// Rec is the record the state is just after (-1: before the first);
	// At is its time.
	Rec int   `json:"rec"`
	At  int64 `json:"at_ns"`
	// Events are the events the story has named by then, in order.
	Events []uint32 `json:"events"`
	// Instances are the run's instances, by number.
	Instances []InstanceState `json:"instances"`
	// Memories is what the story calls the instances' memories
	// ("caches"), "" when it does not tell what they hold (a strategy
	// without one): InstanceState.Memory is then empty.
	Memories string `json:"memories,omitempty"`
	// Marks, KV and IDs are there where the run used them: the events'
	// Redis marks, the key-value keys the story's event named, the
	// processed-ids table.
	Marks *MarkState `json:"marks,omitempty"`
	KV    *KVState   `json:"kv,omitempty"`
	IDs   *IDState   `json:"ids,omitempty"`
	// Ledger counts each named event's effects.
	Ledger LedgerState `json:"ledger"`
	// Queue is the broker's queue (the queue broker): each message of a
	// named event and where it is. Partitions are the log's partitions
	// instead. Both are filled by Story.Snapshots, not in Step.State.
	Queue      []MessageState   `json:"queue,omitempty"`
	Partitions []PartitionState `json:"partitions,omitempty"`
}

// InstanceState is one instance in a Snapshot.
type InstanceState struct {
	Inst int `json:"inst"`
	// Status is "up", or why it is not running: "down" (crashed),
	// "left" (a graceful leave), "not started" (a late start).
	Status string `json:"status"`
	// Memory are the named events its memory holds (Snapshot.Memories),
	// empty when it is not running.
	Memory []uint32 `json:"memory"`
	// Handling is the delivery it is handling, nil if none (filled by
	// Story.Snapshots).
	Handling *Handling `json:"handling,omitempty"`
}

// Handling is a delivery an instance is handling: received, its handler
// not yet returned.
type Handling struct {
	Msg   uint32 `json:"msg"`
	Event uint32 `json:"event"`
	Since string `json:"since"` // when it was received, as "9.630 ms"
}

// MarkState is the events' Redis marks: for each named event, whether its
// mark is in Redis and, where the ttl fault shortened it, when it
// expires.
type MarkState struct {
	Marks  []Mark `json:"marks"`
	Others int    `json:"others"` // live marks of events not named
}

// Mark is one event's Redis mark.
type Mark struct {
	Event   uint32 `json:"event"`
	Live    bool   `json:"live"`
	Expires string `json:"expires,omitempty"` // "12.000 ms", for a TTL under an hour
}

// KVState is the key-value keys the story's event named, with their
// values.
type KVState struct {
	Label string    `json:"label"` // "redis", or "redis, event 1's keys"
	Keys  []KVEntry `json:"keys"`  // the live ones, in the order of their first write
}

// KVEntry is one live key: a value, or a set's members.
type KVEntry struct {
	Name    string   `json:"name"`
	Value   string   `json:"value,omitempty"`
	Set     bool     `json:"set,omitempty"`
	Members []string `json:"members,omitempty"` // a set's
	Until   string   `json:"until,omitempty"`   // its expiry, for a TTL under an hour
}

// IDState is the processed-ids table: which named events' ids are in it.
type IDState struct {
	IDs    []EventYes `json:"ids"`
	Others int        `json:"others"`
}

// EventYes says whether something holds for an event.
type EventYes struct {
	Event uint32 `json:"event"`
	Yes   bool   `json:"yes"`
}

// LedgerState is the ledger (or, for a strategy that charges a payment
// provider, its charges): how often each named event's effect is in it.
type LedgerState struct {
	Label  string      `json:"label"` // "ledger" or "charges"
	Rows   []LedgerRow `json:"rows"`
	Others int         `json:"others"` // events not named with an effect
}

// LedgerRow is one event's count of effects.
type LedgerRow struct {
	Event uint32 `json:"event"`
	Count int    `json:"count"`
}

// MessageState is where one message is, on the queue broker.
type MessageState struct {
	Msg   uint32 `json:"msg"`
	Event uint32 `json:"event"`
	// Where is "queued" (ready to deliver), "delivered" (to Inst, not
	// yet acked), "lost" (its delivery to Inst was lost on the way),
	// "acked" (done, by Inst) or "dead-lettered".
	Where string `json:"where"`
	Inst  int    `json:"inst"` // -1 when no instance is meant
	// Deliveries is how many times the broker has sent it so far.
	Deliveries int `json:"deliveries"`
}

// PartitionState is one partition of a log, at a step.
type PartitionState struct {
	Part int32 `json:"part"`
	// Owner is the instance its generation Gen gives it to, -1 for none.
	Owner int    `json:"owner"`
	Gen   uint32 `json:"gen"`
	// Committed is the group's committed offset (the next to read);
	// Records the messages in it by offset, so far.
	Committed int32       `json:"committed"`
	Records   []RecordRef `json:"records"`
}

// RecordRef is a message at its offset of a partition.
type RecordRef struct {
	Offset int32  `json:"offset"`
	Msg    uint32 `json:"msg"`
	Event  uint32 `json:"event"`
}

// Line renders the parts of the snapshot that a step's state line shows,
// as Step.State has them: "caches: i0 {1}, i1 {} | ledger: e1 ×1".
func (s *Snapshot) Line() string {
	var parts []string
	if s.Memories != "" {
		mem := make([]string, len(s.Instances))
		for k, in := range s.Instances {
			if in.Status != "up" {
				mem[k] = fmt.Sprintf("i%d %s", in.Inst, in.Status)
				continue
			}
			mem[k] = fmt.Sprintf("i%d %s", in.Inst, idSet(in.Memory))
		}
		parts = append(parts, s.Memories+": "+strings.Join(mem, ", "))
	}
	if m := s.Marks; m != nil {
		var ks []string
		for _, mk := range m.Marks {
			if !mk.Live {
				continue
			}
			k := fmt.Sprintf("e%d", mk.Event)
			if mk.Expires != "" {
				k += fmt.Sprintf(" (expires at %s)", mk.Expires)
			}
			ks = append(ks, k)
		}
		parts = append(parts, "redis keys: "+orNone(ks)+others(m.Others))
	}
	if kv := s.KV; kv != nil {
		ks := make([]string, len(kv.Keys))
		for k, e := range kv.Keys {
			if e.Set {
				ks[k] = fmt.Sprintf("%s={%s}", e.Name, strings.Join(e.Members, ","))
			} else {
				ks[k] = fmt.Sprintf("%s=%s", e.Name, e.Value)
			}
			if e.Until != "" {
				ks[k] += fmt.Sprintf(" (until %s)", e.Until)
			}
		}
		parts = append(parts, kv.Label+": "+orNone(ks))
	}
	if ids := s.IDs; ids != nil {
		var in []uint32
		for _, id := range ids.IDs {
			if id.Yes {
				in = append(in, id.Event)
			}
		}
		parts = append(parts, "processed ids: "+idSet(in)+others(ids.Others))
	}
	var ls []string
	for _, r := range s.Ledger.Rows {
		if r.Count > 0 {
			ls = append(ls, fmt.Sprintf("e%d ×%d", r.Event, r.Count))
		}
	}
	parts = append(parts, s.Ledger.Label+": "+orNone(ls)+others(s.Ledger.Others))
	return strings.Join(parts, " | ")
}

// Snapshots returns the state after each of the story's steps, by step,
// in parts, with what the state line leaves out filled in from the same
// facts: the delivery each instance is handling, and the broker's queue
// (each message of a named event and where it is) or the log's
// partitions. It is nil for a story not told from a run.
func (s *Story) Snapshots() []Snapshot {
	if s.a == nil {
		return nil
	}
	out := make([]Snapshot, len(s.Steps))
	for k, st := range s.Steps {
		if st.snap != nil {
			out[k] = s.a.facts.fill(*st.snap)
		}
	}
	return out
}

// InitialSnapshot is the state before the run's first record, as
// Snapshots has it: what the first step changed is told against it.
func (s *Story) InitialSnapshot() Snapshot {
	if s.a == nil {
		return Snapshot{}
	}
	snap, _ := newNarrator(s.a).snapshot(-1, 0)
	return s.a.facts.fill(*snap)
}

// fill fills in a snapshot's parts that its line leaves out: handlings
// and the queue or the partitions, at its record.
func (f *Facts) fill(s Snapshot) Snapshot {
	i := s.Rec
	s.Instances = append([]InstanceState(nil), s.Instances...)
	for k := range f.Attempts {
		a := &f.Attempts[k]
		if a.Rec > i || (a.EndRec >= 0 && a.EndRec <= i) || int(a.Inst) >= len(s.Instances) {
			continue
		}
		if a.Crash >= 0 && f.Crashes[a.Crash].Rec <= i {
			continue
		}
		if s.Instances[a.Inst].Status != "up" {
			continue
		}
		// The latest receive wins: an instance handles one delivery at
		// a time.
		s.Instances[a.Inst].Handling = &Handling{Msg: a.Msg, Event: a.Event, Since: at(a.At)}
	}
	named := map[uint32]bool{}
	for _, ev := range s.Events {
		named[ev] = true
	}
	if g := f.Group; g != nil {
		for p := int32(1); p <= g.Partitions; p++ {
			inst, gen, _ := g.Owner(p, i)
			ps := PartitionState{Part: p, Owner: int(inst), Gen: gen, Committed: g.CommittedAt(p, i), Records: []RecordRef{}}
			for _, id := range g.recs[p-1] {
				if m := &f.Messages[id]; m.Rec <= i {
					ps.Records = append(ps.Records, RecordRef{Offset: m.Offset, Msg: m.ID, Event: m.Event})
				}
			}
			s.Partitions = append(s.Partitions, ps)
		}
		return s
	}
	s.Queue = []MessageState{}
	for id := 1; id < len(f.Messages); id++ {
		m := &f.Messages[id]
		if m.Rec > i || !named[m.Event] {
			continue
		}
		ms := MessageState{Msg: m.ID, Event: m.Event, Where: "queued", Inst: -1}
		var last *Delivery
		for _, d := range m.Deliveries {
			if dl := &f.Deliveries[d]; dl.Rec <= i {
				ms.Deliveries++
				last = dl
			}
		}
		requeued := -1
		for _, r := range f.Requeues {
			if r.Msg == m.ID && r.Rec <= i {
				requeued = r.Rec
			}
		}
		switch {
		case m.AckedRec >= 0 && m.AckedRec <= i:
			ms.Where, ms.Inst = "acked", int(m.AckedBy)
		case m.DeadRec >= 0 && m.DeadRec <= i:
			ms.Where = "dead-lettered"
		case last != nil && last.Rec > requeued && last.DropRec >= 0 && last.DropRec <= i:
			ms.Where, ms.Inst = "lost", int(last.Inst)
		case last != nil && last.Rec > requeued:
			ms.Where, ms.Inst = "delivered", int(last.Inst)
		}
		s.Queue = append(s.Queue, ms)
	}
	return s
}

// SnapshotBeside returns the state of the fix's run, in parts, beside
// step k (from 0) of story s, and whether the two runs are still the
// same by then. While the fix's trace is the story's record for record
// through the record the step's state is just after, that is the fix's
// state just after the same record, so that both say the same of the
// same moment. Once the runs differ, it is the fix's state at the step's
// time: the records before it and, of those at exactly that time (a
// publish and the broker's send of the copy share a nanosecond), only as
// many as the story had reached by its step, so that the fix is never
// shown ahead of the story at one moment.
func (fx *Fix) SnapshotBeside(s *Story, k int) (Snapshot, bool) {
	st := s.Steps[k]
	rec := st.Record
	if st.snap != nil {
		rec = st.snap.Rec
	}
	t := int64(st.At)
	mine, theirs := s.a.facts.Trace, fx.a.facts.Trace
	same := rec < len(mine) && rec < len(theirs)
	for j := 0; same && j <= rec; j++ {
		same = mine[j] == theirs[j]
	}
	i := rec
	if !same {
		tied := 0 // the story's records at time t through rec
		for j := rec; j >= 0 && j < len(mine) && mine[j].At == t; j-- {
			tied++
		}
		i = -1
		for j := range theirs {
			if theirs[j].At > t || (theirs[j].At == t && tied == 0) {
				break
			}
			if theirs[j].At == t {
				tied--
			}
			i = j
		}
	}
	n := newNarrator(fx.a)
	snap, _ := n.snapshot(i, t)
	return fx.a.facts.fill(*snap), same
}
