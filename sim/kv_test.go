package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
)

// kvStep is one call on the simulated Redis's keys at time at (ms): op on
// key with value (a SET's value, a member), expect (what DEL IFEQ and SET
// IFEQ compare with) and ttl (ms); want is its answer, "wrong type" for
// WRONGTYPE, or for a GET that finds its key the value found.
type kvStep struct {
	at                 int64
	op                 run.Op
	key, value, expect string
	ttl                int64
	want               string
}

// TestKVCalls plays the key-value calls on the simulated Redis, call by
// call, as Redis answers them.
func TestKVCalls(t *testing.T) {
	get := func(at int64, key, want string) kvStep { return kvStep{at: at, op: run.Get, key: key, want: want} }
	set := func(at int64, key, value string, ttl int64) kvStep {
		return kvStep{at: at, op: run.Put, key: key, value: value, ttl: ttl, want: "true"}
	}
	for _, tc := range []struct {
		name  string
		steps []kvStep
	}{
		{"DEL IFEQ deletes only on the token", []kvStep{
			set(0, "lock", "tok1", 0),
			{at: 1, op: run.DelIfEq, key: "lock", expect: "tok2", want: "false"},
			get(2, "lock", `"tok1"`),
			{at: 3, op: run.DelIfEq, key: "lock", expect: "tok1", want: "true"},
			get(4, "lock", "false"),
			{at: 5, op: run.DelIfEq, key: "lock", expect: "tok1", want: "false"},
			{at: 6, op: run.DelIfEq, key: "lock", expect: "", want: "false"},
		}},
		{"DEL IFEQ of an expired key finds none", []kvStep{
			set(0, "lock", "tok1", 10),
			{at: 10, op: run.DelIfEq, key: "lock", expect: "tok1", want: "false"},
		}},
		{"SET IFEQ extends the lease of the token's holder, with its TTL", []kvStep{
			set(0, "lock", "tok1", 10),
			{at: 5, op: run.SetIfEq, key: "lock", expect: "tok2", value: "tok2", ttl: 100, want: "false"},
			{at: 6, op: run.SetIfEq, key: "lock", expect: "tok1", value: "tok1", ttl: 100, want: "true"},
			get(50, "lock", `"tok1"`),
			get(106, "lock", "false"),
			{at: 107, op: run.SetIfEq, key: "lock", expect: "tok1", value: "tok1", want: "false"},
			{at: 108, op: run.SetIfEq, key: "lock", expect: "", value: "x", want: "false"},
		}},
		{"SET IFEQ with no TTL makes the key last", []kvStep{
			set(0, "lock", "a", 10),
			{at: 1, op: run.SetIfEq, key: "lock", expect: "a", value: "b", want: "true"},
			get(1_000_000, "lock", `"b"`),
		}},
		{"SADD reports a new member; a new set does not expire, a TTL > 0 sets the set's", []kvStep{
			{at: 0, op: run.SAdd, key: "s", value: "1", want: "true"},
			{at: 1, op: run.SAdd, key: "s", value: "1", want: "false"},
			{at: 2, op: run.SIsMember, key: "s", value: "1", want: "true"},
			{at: 1_000_000, op: run.SIsMember, key: "s", value: "1", want: "true"},
			{at: 1_000_001, op: run.SAdd, key: "s", value: "2", ttl: 10, want: "true"},
			{at: 1_000_005, op: run.SAdd, key: "s", value: "3", want: "true"},
			{at: 1_000_010, op: run.SIsMember, key: "s", value: "1", want: "true"},
			{at: 1_000_011, op: run.SIsMember, key: "s", value: "1", want: "false"},
			{at: 1_000_012, op: run.SAdd, key: "s", value: "2", want: "true"},
			{at: 1_000_013, op: run.SIsMember, key: "s", value: "1", want: "false"},
		}},
		{"SADD of a member already there still sets the TTL", []kvStep{
			{at: 0, op: run.SAdd, key: "s", value: "1", want: "true"},
			{at: 1, op: run.SAdd, key: "s", value: "1", ttl: 10, want: "false"},
			{at: 11, op: run.SIsMember, key: "s", value: "1", want: "false"},
		}},
		{"SREM removes a member; the last one gone deletes the set", []kvStep{
			{at: 0, op: run.SAdd, key: "s", value: "1", ttl: 100, want: "true"},
			{at: 1, op: run.SAdd, key: "s", value: "2", want: "true"},
			{at: 2, op: run.SRem, key: "s", value: "3", want: "false"},
			{at: 3, op: run.SRem, key: "s", value: "1", want: "true"},
			{at: 4, op: run.SIsMember, key: "s", value: "1", want: "false"},
			{at: 5, op: run.SIsMember, key: "s", value: "2", want: "true"},
			{at: 6, op: run.SRem, key: "s", value: "2", want: "true"},
			{at: 7, op: run.SRem, key: "s", value: "2", want: "false"},
			// The set is gone: a GET finds no key, not a set, and a
			// new SADD makes a set that does not expire.
			get(8, "s", "false"),
			{at: 9, op: run.SAdd, key: "s", value: "9", want: "true"},
			{at: 500, op: run.SIsMember, key: "s", value: "9", want: "true"},
		}},
		{"set calls on an absent key", []kvStep{
			{at: 0, op: run.SIsMember, key: "none", value: "1", want: "false"},
			{at: 0, op: run.SRem, key: "none", value: "1", want: "false"},
		}},
		{"WRONGTYPE: a set call on a string, a string read on a set", []kvStep{
			set(0, "str", "v", 0),
			{at: 1, op: run.SAdd, key: "str", value: "1", ttl: 5, want: "wrong type"},
			{at: 2, op: run.SIsMember, key: "str", value: "1", want: "wrong type"},
			{at: 3, op: run.SRem, key: "str", value: "1", want: "wrong type"},
			get(100, "str", `"v"`), // SADD's PEXPIRE did not happen
			{at: 4, op: run.SAdd, key: "set", value: "1", want: "true"},
			get(5, "set", "wrong type"),
			{at: 6, op: run.DelIfEq, key: "set", expect: "1", want: "wrong type"},
			{at: 7, op: run.SetIfEq, key: "set", expect: "1", value: "2", want: "wrong type"},
			{at: 8, op: run.SIsMember, key: "set", value: "1", want: "true"},
		}},
		{"SET replaces a set, SET NX finds it, DEL deletes it, as in Redis", []kvStep{
			{at: 0, op: run.SAdd, key: "k", value: "1", want: "true"},
			{at: 1, op: run.PutNX, key: "k", value: "v", want: "false"},
			{at: 2, op: run.PutXX, key: "k", value: "v", want: "true"},
			get(3, "k", `"v"`),
			{at: 4, op: run.SIsMember, key: "k", value: "1", want: "wrong type"},
			{at: 5, op: run.Del, key: "k", want: "true"},
			{at: 6, op: run.SAdd, key: "k", value: "2", want: "true"},
			{at: 7, op: run.SIsMember, key: "k", value: "1", want: "false"},
			{at: 8, op: run.Del, key: "k", want: "true"},
			{at: 9, op: run.Del, key: "k", want: "false"},
		}},
		{"an expired string makes way for a set, and an expired set for a string", []kvStep{
			set(0, "k", "v", 10),
			{at: 10, op: run.SAdd, key: "k", value: "1", ttl: 10, want: "true"},
			{at: 20, op: run.PutNX, key: "k", value: "w", want: "true"},
			get(21, "k", `"w"`),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s kvStore
			s.reset()
			for i, st := range tc.steps {
				c := kvCall{key: st.key, value: st.value, aux: st.expect}
				ok, wrong := s.do(st.op, &c, st.ttl*int64(time.Millisecond), st.at*int64(time.Millisecond))
				got := fmt.Sprint(ok)
				switch {
				case wrong:
					got = "wrong type"
				case ok && st.op == run.Get:
					got = fmt.Sprintf("%q", c.aux)
				}
				require.Equal(t, st.want, got, "step %d: %+v", i, st)
			}
		})
	}
}

// A store loss treats a set as a key: a restart empty loses every set, a
// failover loses the sets written since the replica's lag, whatever was
// written to them, and counts each set lost once.
func TestStoreLossLosesSetsAsKeys(t *testing.T) {
	var s kvStore
	s.reset()
	do := func(op run.Op, key, value string, ttl, at int64) bool {
		ok, wrong := s.do(op, &kvCall{key: key, value: value}, ttl, at)
		require.False(t, wrong)
		return ok
	}
	do(run.SAdd, "old", "1", 0, 10)
	do(run.SAdd, "new", "1", 0, 10)
	do(run.SAdd, "new", "2", 0, 50) // written since the failover's point
	do(run.SAdd, "ttl", "1", 0, 10)
	do(run.SAdd, "ttl", "1", 1000, 60) // a new TTL is a write too
	do(run.Put, "str", "v", 0, 70)
	do(run.SAdd, "gone", "1", 0, 10)
	do(run.SRem, "gone", "1", 0, 80) // deleted since: nothing to lose

	assert.Equal(t, 3, s.flush(40, 100), "new, ttl and str were written since 40")
	assert.True(t, do(run.SIsMember, "old", "1", 0, 101), "old was written before")
	assert.False(t, do(run.SIsMember, "new", "1", 0, 101), "the whole set goes, its earlier member too")
	assert.False(t, do(run.SIsMember, "ttl", "1", 0, 101))

	assert.Equal(t, 1, s.flush(0, 102), "a restart empty loses what is left")
	assert.False(t, do(run.SIsMember, "old", "1", 0, 103))
	assert.True(t, do(run.SAdd, "old", "1", 0, 104), "the set starts anew")
}
