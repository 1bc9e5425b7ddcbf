package check

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Porcupine's verdict on one event's operations depends only on their shape:
// the kinds and results of the operations, and which returned before which
// was called. Absolute times, the event id and the instances do not matter.
// Across the runs of a sweep, and within one run, the same few shapes come
// up again and again (applied once and acked; skipped, then acked; ...), so
// Linearizable asks porcupine once per shape and remembers its answer.
//
// The answer is exact, not a guess: porcupine's check is a complete search
// over the orders that respect real time, so two histories with the same
// shape get the same verdict. TestMemoAgreesWithPorcupine compares the two
// on random histories, and sim's TestMemoizedCheckMatchesPorcupine on runs.

// maxShapes bounds the memo. Runs rarely produce more than a few hundred
// shapes; past the bound, new shapes are checked but not remembered.
const maxShapes = 1 << 16

var shapes = struct {
	sync.RWMutex
	verdict map[string]bool // shape key -> linearizable
}{verdict: make(map[string]bool)}

func lookupShape(key []byte) (linearizable, known bool) {
	shapes.RLock()
	linearizable, known = shapes.verdict[string(key)]
	shapes.RUnlock()
	return linearizable, known
}

func rememberShape(key []byte, linearizable bool) {
	shapes.Lock()
	if len(shapes.verdict) < maxShapes {
		shapes.verdict[string(key)] = linearizable
	}
	shapes.Unlock()
}

// Linearizable checks history against Model, one event at a time, asking
// porcupine only about shapes it has not judged before. It returns Ok,
// Illegal, or Unknown when the timeout (0: none) ran out first; Unknown is
// never remembered.
func Linearizable(history []Op, timeout time.Duration) porcupine.CheckResult {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	c := checkers.Get().(*checker)
	defer checkers.Put(c)
	reduced := c.reduce(history)
	c.ids = c.ids[:0]
	for _, o := range reduced {
		c.ids = append(c.ids, o.Event)
	}
	verdict := porcupine.Ok
	for _, ops := range c.events.group(reduced, c.ids) {
		key := c.sh.key(ops)
		if ok, known := lookupShape(key); known {
			if !ok {
				return porcupine.Illegal
			}
			continue
		}
		var left time.Duration
		if timeout > 0 {
			if left = time.Until(deadline); left <= 0 {
				verdict = porcupine.Unknown
				continue
			}
		}
		switch porcupine.CheckOperationsTimeout(Model, Operations(ops), left) {
		case porcupine.Ok:
			rememberShape(key, true)
		case porcupine.Illegal:
			rememberShape(key, false)
			return porcupine.Illegal
		default:
			verdict = porcupine.Unknown
		}
	}
	return verdict
}

// checker holds the buffers of one Linearizable call, pooled so that a
// sweep of thousands of runs checks them without allocating.
type checker struct {
	reducer
	ids    []uint64 // the event id of each reduced operation
	events grouper[Op]
	sh     shaper
}

var checkers = sync.Pool{New: func() any { return new(checker) }}

// Porcupine checks the whole history in one call to porcupine, without the
// memo: the reference that Linearizable is tested against, and what
// BenchmarkPorcupine measures.
func Porcupine(history []Op, timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(Model, Operations(Reduce(history)), timeout)
}

// shaper builds shape keys, reusing its buffers from one event to the next.
type shaper struct {
	ents []shapeEntry
	num  []int // operation index -> its number in call order
	buf  []byte
}

type shapeEntry struct {
	at  int64
	ret bool // a return; at equal times calls come first, as in porcupine
	op  int
}

// key encodes the shape of one event's operations: their call and return
// entries in time order (calls before returns at equal times, as porcupine
// orders them), operations numbered by the order of their calls, each call
// with the operation's kind, each return with its operation's number and
// outcome. Equal keys mean the same real-time order and the same values.
func (s *shaper) key(ops []Op) []byte {
	s.ents = s.ents[:0]
	for i, o := range ops {
		s.ents = append(s.ents, shapeEntry{at: o.Call, op: i}, shapeEntry{at: o.Return, ret: true, op: i})
	}
	slices.SortFunc(s.ents, func(a, b shapeEntry) int {
		switch {
		case a.at != b.at:
			return cmp.Compare(a.at, b.at)
		case a.ret != b.ret:
			if b.ret {
				return -1
			}
			return 1
		}
		return a.op - b.op
	})
	s.num = slices.Grow(s.num[:0], len(ops))[:len(ops)]
	calls := 0
	b := s.buf[:0]
	for _, e := range s.ents {
		o := ops[e.op]
		if !e.ret {
			s.num[e.op] = calls
			calls++
			b = append(b, 'c', byte(o.Kind))
			continue
		}
		b = append(b, 'r')
		b = binary.AppendUvarint(b, uint64(s.num[e.op]))
		b = append(b, byte(o.Result))
		b = binary.AppendUvarint(b, uint64(o.Count))
	}
	s.buf = b
	return b
}
