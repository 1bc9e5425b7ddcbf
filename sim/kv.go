package sim

import (
	"math"

	"github.com/idemsim/idemsim/run"
)

// kvStore is the simulated Redis's keys and values: any key, a string
// value, an expiry on the simulated clock, and when it was written, so that
// a failover can lose the writes a lagging replica had not seen.
//
// Keys are looked up in a map, but every walk over them (a store loss)
// follows keys, the order in which keys were first written, so that no map
// order reaches the trace.
type kvStore struct {
	m    map[string]*kvEntry
	keys []string // every key ever written, in order of its first write
}

type kvEntry struct {
	value   string
	exp     int64 // expiry; 0: absent (deleted, expired or lost)
	written int64
}

func (s *kvStore) reset() {
	if s.m == nil {
		s.m = map[string]*kvEntry{}
	}
	clear(s.m)
	s.keys = s.keys[:0]
}

func (s *kvStore) live(key string, now int64) (*kvEntry, bool) {
	e := s.m[key]
	return e, e != nil && e.exp > now
}

func (s *kvStore) set(key, value string, ttl, now int64) {
	e := s.m[key]
	if e == nil {
		e = &kvEntry{}
		s.m[key] = e
		s.keys = append(s.keys, key)
	}
	e.value, e.exp, e.written = value, math.MaxInt64, now
	if ttl > 0 {
		e.exp = now + ttl
	}
}

// do executes a key-value call: its answer (found, set or deleted) and,
// for a GET that found the key, the value.
func (s *kvStore) do(op run.Op, c *kvCall, ttl, now int64) (ok bool, value string) {
	e, live := s.live(c.key, now)
	switch op {
	case run.Get:
		if live {
			return true, e.value
		}
		return false, ""
	case run.Put:
	case run.PutNX:
		if live {
			return false, ""
		}
	case run.PutXX:
		if !live {
			return false, ""
		}
	case run.Del:
		if live {
			e.exp = 0
		}
		return live, ""
	default:
		panic("sim: invariant broken: not a key-value call: " + op.String())
	}
	s.set(c.key, c.value, ttl, now)
	return true, ""
}

// flush drops every key written at or after since, as redis.flush does for
// marks, and returns how many were still live.
func (s *kvStore) flush(since, now int64) int {
	lost := 0
	for _, k := range s.keys {
		e := s.m[k]
		if e.exp != 0 && e.written >= since {
			if e.exp > now {
				lost++
			}
			e.exp = 0
		}
	}
	return lost
}
