package sim

import (
	"math"

	"github.com/idemsim/idemsim/run"
)

// kvStore is the simulated Redis's keys: each holds a string or a set of
// strings, with an expiry on the simulated clock and the time it was last
// written, so that a failover can lose the writes a lagging replica had
// not seen.
//
// Keys are looked up in a map, but every walk over them (a store loss)
// follows keys, the order in which keys were first written, so that no map
// order reaches the trace. A set's members sit in a map too, which nothing
// walks: a call asks about one member.
type kvStore struct {
	m    map[string]*kvEntry
	keys []string // every key ever written, in order of its first write
}

type kvEntry struct {
	value string
	// members is a set's members; nil when the key holds a string.
	members map[string]struct{}
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

// entry returns key's entry, making it if the key was never written.
func (s *kvStore) entry(key string) *kvEntry {
	e := s.m[key]
	if e == nil {
		e = &kvEntry{}
		s.m[key] = e
		s.keys = append(s.keys, key)
	}
	return e
}

// set makes key a string: as Redis's SET, whatever the key held before,
// a set included, and whatever its expiry was.
func (s *kvStore) set(key, value string, ttl, now int64) {
	e := s.entry(key)
	e.value, e.members, e.exp, e.written = value, nil, math.MaxInt64, now
	if ttl > 0 {
		e.exp = now + ttl
	}
}

// do executes a key-value call c and returns its answer (found, set,
// deleted, added, a member, removed), or wrong for Redis's WRONGTYPE: a
// string call on a set, a set call on a string, which changes nothing. A
// GET that finds its key leaves the value in c.aux.
//
// As in Redis, SET replaces whatever its key holds, a set included (SET
// NX finds the set there), DEL deletes either kind, and GET, DEL IFEQ and
// SET IFEQ, which read the key's string (the latter two are Lua scripts
// that GET it), fail on a set. SADD's PEXPIRE goes with the SADD: a
// WRONGTYPE stops both, as in a script.
func (s *kvStore) do(op run.Op, c *kvCall, ttl, now int64) (ok, wrong bool) {
	e, live := s.live(c.key, now)
	switch op {
	case run.Get:
		switch {
		case !live:
			return false, false
		case e.members != nil:
			return false, true
		}
		c.aux = e.value
		return true, false
	case run.Put:
	case run.PutNX:
		if live {
			return false, false
		}
	case run.PutXX:
		if !live {
			return false, false
		}
	case run.Del:
		if live {
			e.exp = 0
		}
		return live, false
	default:
		return s.doCompareOrSet(op, c, e, live, ttl, now)
	}
	s.set(c.key, c.value, ttl, now)
	return true, false
}

// doCompareOrSet executes the compare-and-act calls and the set calls, do's
// rarer half: e is c.key's entry, live whether it holds a value.
func (s *kvStore) doCompareOrSet(op run.Op, c *kvCall, e *kvEntry, live bool, ttl, now int64) (ok, wrong bool) {
	isSet := live && e.members != nil
	isString := live && e.members == nil
	switch op {
	case run.DelIfEq:
		switch {
		case isSet:
			return false, true
		case isString && e.value == c.aux:
			e.exp = 0
			return true, false
		}
		return false, false
	case run.SetIfEq:
		switch {
		case isSet:
			return false, true
		case !isString || e.value != c.aux:
			return false, false
		}
		s.set(c.key, c.value, ttl, now)
		return true, false
	case run.SAdd:
		if isString {
			return false, true
		}
		return s.sadd(e, live, c.key, c.value, ttl, now), false
	case run.SIsMember:
		if isString {
			return false, true
		}
		if !isSet {
			return false, false
		}
		_, in := e.members[c.value]
		return in, false
	case run.SRem:
		if isString {
			return false, true
		}
		return isSet && s.srem(e, c.value, now), false
	}
	panic("sim: invariant broken: not a key-value call: " + op.String())
}

// sadd adds member to the set e (live: it holds one; else a new set is
// made at key), gives the set a TTL if ttl > 0, and reports whether
// member is new. A new set does not expire; a TTL of 0 leaves the
// expiry as it was.
func (s *kvStore) sadd(e *kvEntry, live bool, key, member string, ttl, now int64) bool {
	if !live {
		e = s.entry(key)
		e.value, e.members, e.exp = "", map[string]struct{}{}, math.MaxInt64
	}
	_, had := e.members[member]
	if !had {
		e.members[member] = struct{}{}
		e.written = now
	}
	if ttl > 0 {
		e.exp, e.written = now+ttl, now
	}
	return !had
}

// srem removes member from the live set e and reports whether it was
// there. A set whose last member goes is deleted, as in Redis.
func (s *kvStore) srem(e *kvEntry, member string, now int64) bool {
	if _, in := e.members[member]; !in {
		return false
	}
	delete(e.members, member)
	e.written = now
	if len(e.members) == 0 {
		e.exp = 0
	}
	return true
}

// flush drops every key written at or after since, as redis.flush does for
// marks, and returns how many were still live. A set is one key: a write
// to any of its members since loses the whole set, as a write since loses
// a string, its earlier value included.
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
