package broker

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/run"
)

// showLog writes an effect of the log as the tables below expect it: g is
// the group's generation (Tag), p2@3 is partition 2, offset 3.
func showLog(e Effect) string {
	causes := map[run.Cause]string{
		run.Graceful: " graceful", run.MaxPollPassed: " max-poll passed",
		run.SessionExpired: " session expired", run.RejoinTimedOut: " rejoin timed out",
		run.StaleGeneration: " stale generation", run.UnknownMember: " unknown member",
	}
	switch e.Kind {
	case Record:
		s := e.Record.String()
		if e.Msg != 0 {
			s += fmt.Sprintf(" m%d", e.Msg)
		}
		if e.Inst >= 0 {
			s += fmt.Sprintf(" i%d", e.Inst)
		}
		if e.Record != run.Publish {
			s += fmt.Sprintf(" g%d", e.Tag)
		}
		if e.Part != 0 {
			s += fmt.Sprintf(" p%d@%d", e.Part, e.Offset)
		}
		if e.Record == run.Assign {
			var ps []string
			for p := 1; p <= 64; p++ {
				if e.Parts&(1<<(p-1)) != 0 {
					ps = append(ps, fmt.Sprint(p))
				}
			}
			s += " [" + strings.Join(ps, ",") + "]"
		}
		return s + causes[e.Cause]
	case Arm:
		switch e.Timer {
		case Session:
			return fmt.Sprintf("arm session member%d silence%d in %v", e.Tag, e.Msg, e.After)
		case MaxPoll:
			return fmt.Sprintf("arm max-poll member%d poll%d in %v", e.Tag, e.Msg, e.After)
		case RebalanceTimeout:
			return fmt.Sprintf("arm rebalance-timeout r%d in %v", e.Tag, e.After)
		}
		return fmt.Sprintf("arm timer %d m%d t%d in %v", e.Timer, e.Msg, e.Tag, e.After)
	case Send:
		s := fmt.Sprintf("send m%d i%d inc%d g%d p%d@%d", e.Msg, e.Inst, e.Gen, e.Tag, e.Part, e.Offset)
		if e.After != 0 {
			s += fmt.Sprintf(" deadline %v", e.After)
		}
		if e.Last {
			s += " last"
		}
		return s
	case Accepted:
		return fmt.Sprintf("accepted m%d i%d sent %d", e.Msg, e.Inst, e.Sent)
	}
	return fmt.Sprintf("effect kind %d", e.Kind)
}

// logStep is one input to the log and the effects it must return.
type logStep struct {
	in   string
	do   func(l *Log) []Effect
	want []string
}

func lPublish(m uint32, want ...string) logStep {
	return logStep{fmt.Sprintf("publish m%d", m), func(l *Log) []Effect { return l.Publish(m) }, want}
}

func lUp(i int32, gen uint32, want ...string) logStep {
	return logStep{fmt.Sprintf("up i%d inc%d", i, gen), func(l *Log) []Effect { return l.Up(i, gen) }, want}
}

func lDown(i int32, want ...string) logStep {
	return logStep{fmt.Sprintf("down i%d", i), func(l *Log) []Effect { return l.Down(i) }, want}
}

func lLeave(i int32, want ...string) logStep {
	return logStep{fmt.Sprintf("leave i%d", i), func(l *Log) []Effect { return l.Leave(i) }, want}
}

func lFetch(i int32, want ...string) logStep {
	return logStep{fmt.Sprintf("fetch i%d", i), func(l *Log) []Effect { return l.Fetch(i) }, want}
}

// lCommit: instance i's commit after m, fetched in generation g, arrives.
func lCommit(m, g uint32, i int32, want ...string) logStep {
	return logStep{fmt.Sprintf("commit m%d g%d from i%d", m, g, i), func(l *Log) []Effect { return l.Ack(m, g, i, 7) }, want}
}

func lFire(t Timer, m, tag uint32, want ...string) logStep {
	return logStep{fmt.Sprintf("fire timer %d m%d t%d", t, m, tag), func(l *Log) []Effect { return l.Fire(t, m, tag) }, want}
}

func lDisconnect(i int32, want ...string) logStep {
	return logStep{fmt.Sprintf("disconnect i%d", i), func(l *Log) []Effect { return l.Disconnect(i) }, want}
}

func lReconnect(i int32, want ...string) logStep {
	return logStep{fmt.Sprintf("reconnect i%d", i), func(l *Log) []Effect { return l.Reconnect(i) }, want}
}

func lDeliver(m uint32, i int32, want ...string) logStep {
	return logStep{fmt.Sprintf("deliver m%d to i%d", m, i), func(l *Log) []Effect { return l.Deliver(m, i) }, want}
}

func lNack(m, tag uint32, want ...string) logStep {
	return logStep{fmt.Sprintf("nack m%d t%d", m, tag), func(l *Log) []Effect { return l.Nack(m, tag) }, want}
}

func lSeekOnAssign(i int32) logStep {
	return logStep{fmt.Sprintf("i%d seeks on assignment", i), func(l *Log) []Effect { l.SeekOnAssign(i); return nil }, nil}
}

func lSeek(i, part, next int32, gen uint32, want ...string) logStep {
	return logStep{fmt.Sprintf("seek i%d p%d to %d for g%d", i, part, next, gen), func(l *Log) []Effect { return l.Seek(i, part, next, gen) }, want}
}

func lSought(i int32, gen uint32, want ...string) logStep {
	return logStep{fmt.Sprintf("i%d sought for g%d", i, gen), func(l *Log) []Effect { return l.Sought(i, gen) }, want}
}

// The effects of the first member's join, with 6 partitions: it is alone
// and idle, so the rebalance ends at once.
var firstJoin = []string{"join i0 g0", "rebalance g0", "assign i0 g1 [1,2,3,4,5,6]"}

// TestLog drives the log alone, input by input, and checks every effect it
// returns, then which messages it considers done.
func TestLog(t *testing.T) {
	record := &LogParams{Partitions: 6, Batch: 5, Commit: run.CommitRecord, SessionTimeout: DefaultSessionTimeout, MaxPollInterval: DefaultMaxPollInterval}
	cases := []struct {
		name      string
		instances int
		keys      []uint32 // one message per key, numbered from 1
		scripted  bool
		params    *LogParams // nil: DefaultLog
		steps     []logStep
		done      []uint32 // the messages done at the end; the others are not
	}{{
		name: "a key picks its partition: every copy of an event lands in one, at the next offset", instances: 1,
		keys: []uint32{7, 13, 0, 7, 5},
		steps: []logStep{
			lPublish(1, "publish m1 p2@0"),
			lPublish(2, "publish m2 p2@1"),
			lPublish(3, "publish m3 p1@0"),
			lPublish(4, "publish m4 p2@2"), // a producer's duplicate of m1: a new offset
			lPublish(5, "publish m5 p6@0"),
		},
	}, {
		name: "the first member joins, is given every partition, and is served when a record comes", instances: 1,
		keys: []uint32{1, 1},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p2@0", "send m1 i0 inc1 g1 p2@0 last", "arm max-poll member1 poll1 in 5s"),
			lPublish(2, "publish m2 p2@1"), // busy: it waits for its poll
			lFetch(0, "send m2 i0 inc1 g1 p2@1 last", "arm max-poll member1 poll2 in 5s"),
			lFetch(0), // nothing to read: it waits
		},
	}, {
		name: "a poll returns up to a batch of one partition; the last record of each batch is Last", instances: 1,
		keys: []uint32{0, 0, 0, 0, 0, 0, 0},
		steps: []logStep{
			lPublish(1, "publish m1 p1@0"), lPublish(2, "publish m2 p1@1"), lPublish(3, "publish m3 p1@2"),
			lPublish(4, "publish m4 p1@3"), lPublish(5, "publish m5 p1@4"), lPublish(6, "publish m6 p1@5"),
			lPublish(7, "publish m7 p1@6"),
			lUp(0, 1, append(firstJoin,
				"send m1 i0 inc1 g1 p1@0", "send m2 i0 inc1 g1 p1@1", "send m3 i0 inc1 g1 p1@2",
				"send m4 i0 inc1 g1 p1@3", "send m5 i0 inc1 g1 p1@4 last", "arm max-poll member1 poll1 in 5s")...),
			lFetch(0, "send m6 i0 inc1 g1 p1@5", "send m7 i0 inc1 g1 p1@6 last", "arm max-poll member1 poll2 in 5s"),
		},
	}, {
		name: "commit per record: every record is Last", instances: 1, params: record,
		keys: []uint32{0, 0},
		steps: []logStep{
			lPublish(1, "publish m1 p1@0"), lPublish(2, "publish m2 p1@1"),
			lUp(0, 1, append(firstJoin,
				"send m1 i0 inc1 g1 p1@0 last", "send m2 i0 inc1 g1 p1@1 last", "arm max-poll member1 poll1 in 5s")...),
			lCommit(1, 1, 0, "committed m1 i0 g1 p1@1", "accepted m1 i0 sent 7"),
			lCommit(2, 1, 0, "committed m2 i0 g1 p1@2", "accepted m2 i0 sent 7"),
		},
		done: []uint32{1, 2},
	}, {
		name: "polls take the member's partitions in turn, so none starves", instances: 1,
		params: &LogParams{Partitions: 6, Batch: 2, Commit: run.CommitBatch, SessionTimeout: time.Second, MaxPollInterval: time.Second},
		keys:   []uint32{0, 0, 0, 0, 0, 1, 1},
		steps: []logStep{
			lPublish(1, "publish m1 p1@0"), lPublish(2, "publish m2 p1@1"), lPublish(3, "publish m3 p1@2"),
			lPublish(4, "publish m4 p1@3"), lPublish(5, "publish m5 p1@4"),
			lPublish(6, "publish m6 p2@0"), lPublish(7, "publish m7 p2@1"),
			lUp(0, 1, append(firstJoin, "send m1 i0 inc1 g1 p1@0", "send m2 i0 inc1 g1 p1@1 last", "arm max-poll member1 poll1 in 1s")...),
			lFetch(0, "send m6 i0 inc1 g1 p2@0", "send m7 i0 inc1 g1 p2@1 last", "arm max-poll member1 poll2 in 1s"),
			lFetch(0, "send m3 i0 inc1 g1 p1@2", "send m4 i0 inc1 g1 p1@3 last", "arm max-poll member1 poll3 in 1s"),
			lFetch(0, "send m5 i0 inc1 g1 p1@4 last", "arm max-poll member1 poll4 in 1s"),
			lFetch(0),
		},
	}, {
		name: "a consumer that seeks on assignment is served only once it has sought, from where it sought", instances: 1,
		keys: []uint32{0, 0, 0},
		steps: []logStep{
			lSeekOnAssign(0),
			lPublish(1, "publish m1 p1@0"), lPublish(2, "publish m2 p1@1"), lPublish(3, "publish m3 p1@2"),
			lUp(0, 1, firstJoin...), // assigned, but held: nothing is sent
			lFetch(0),
			lSeek(0, 9, 1, 1),                    // no such partition
			lSeek(0, 1, 2, 0),                    // another generation's assignment
			lSeek(0, 1, 2, 1, "seek i0 g1 p1@2"), // m1 and m2 are passed
			lSought(0, 0),                        // another generation's: still held
			lSought(0, 1, "send m3 i0 inc1 g1 p1@2 last", "arm max-poll member1 poll1 in 5s"),
			lSeek(0, 1, 0, 1), // sought already: a seek now is no seek on assignment
		},
	}, {
		name: "a seek past the partition's end stops at its end", instances: 1,
		keys: []uint32{0},
		steps: []logStep{
			lSeekOnAssign(0),
			lPublish(1, "publish m1 p1@0"),
			lUp(0, 1, firstJoin...),
			lSeek(0, 1, 7, 1, "seek i0 g1 p1@1"),
			lSought(0, 1),
		},
	}, {
		name: "a commit accepts each record it newly covers; done is the committed offset past the record", instances: 1,
		keys: []uint32{0, 0, 0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lPublish(2, "publish m2 p1@1"), lPublish(3, "publish m3 p1@2"),
			lFetch(0, "send m2 i0 inc1 g1 p1@1", "send m3 i0 inc1 g1 p1@2 last", "arm max-poll member1 poll2 in 5s"),
			// The commit after m3 covers m1 too, whose own commit was
			// lost: one Accepted each.
			lCommit(3, 1, 0, "committed m3 i0 g1 p1@3", "accepted m1 i0 sent 7", "accepted m2 i0 sent 7", "accepted m3 i0 sent 7"),
			lCommit(3, 1, 0, "committed m3 i0 g1 p1@3"), // nothing newly covered
		},
		done: []uint32{1, 2, 3},
	}, {
		name: "a current member's commit may move the committed offset back; records covered again are not accepted twice", instances: 1,
		keys: []uint32{0, 0, 0},
		steps: []logStep{
			lPublish(1, "publish m1 p1@0"), lPublish(2, "publish m2 p1@1"), lPublish(3, "publish m3 p1@2"),
			lUp(0, 1, append(firstJoin, "send m1 i0 inc1 g1 p1@0", "send m2 i0 inc1 g1 p1@1", "send m3 i0 inc1 g1 p1@2 last", "arm max-poll member1 poll1 in 5s")...),
			lCommit(3, 1, 0, "committed m3 i0 g1 p1@3", "accepted m1 i0 sent 7", "accepted m2 i0 sent 7", "accepted m3 i0 sent 7"),
			lCommit(1, 1, 0, "committed m1 i0 g1 p1@1"), // a regress: accepted
			lCommit(2, 1, 0, "committed m2 i0 g1 p1@2"),
		},
		done: []uint32{1, 2},
	}, {
		name: "range assignment: a second member joins an idle group, which rebalances at once", instances: 2,
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lUp(1, 1, "join i1 g1", "rebalance g1", "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"),
		},
	}, {
		name: "a rebalance waits for a busy member until it polls; its commit meanwhile is accepted", instances: 2,
		keys: []uint32{0, 5},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lUp(1, 1, "join i1 g1", "rebalance g1", "arm rebalance-timeout r2 in 5s"),
			lPublish(2, "publish m2 p6@0"), // no one is served during a rebalance
			lFetch(1),                      // already rejoined: it waits
			lCommit(1, 1, 0, "committed m1 i0 g1 p1@1", "accepted m1 i0 sent 7"),
			lFetch(0, "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]", "send m2 i1 inc1 g2 p6@0 last", "arm max-poll member2 poll1 in 5s"),
			lFire(RebalanceTimeout, 0, 2), // the rebalance is over: nothing
		},
		done: []uint32{1},
	}, {
		name: "the rebalance timeout evicts a member that did not rejoin; its commit is then fenced as unknown, and its next poll joins again", instances: 2,
		keys: []uint32{0, 0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lUp(1, 1, "join i1 g1", "rebalance g1", "arm rebalance-timeout r2 in 5s"),
			lFire(RebalanceTimeout, 0, 2, "evict i0 g1 rejoin timed out", "assign i1 g2 [1,2,3,4,5,6]", "send m1 i1 inc1 g2 p1@0 last", "arm max-poll member2 poll1 in 5s"),
			lFire(MaxPoll, 1, 1), // i0's max-poll: it is no member
			lCommit(1, 1, 0, "fenced m1 i0 g1 p1@1 unknown member"),
			lFetch(0, "join i0 g2", "rebalance g2", "arm rebalance-timeout r3 in 5s"),
			lCommit(1, 2, 1, "committed m1 i1 g2 p1@1", "accepted m1 i1 sent 7"),
			lFetch(1, "assign i0 g3 [1,2,3]", "assign i1 g3 [4,5,6]"),
			lPublish(2, "publish m2 p1@1", "send m2 i0 inc1 g3 p1@1 last", "arm max-poll member3 poll1 in 5s"),
		},
		done: []uint32{1},
	}, {
		name: "a commit from an older generation, by a member still in the group, is fenced as stale", instances: 2,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lUp(1, 1, "join i1 g1", "rebalance g1", "arm rebalance-timeout r2 in 5s"),
			lFetch(0, "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]", "send m1 i0 inc1 g2 p1@0 last", "arm max-poll member1 poll2 in 5s"),
			lCommit(1, 1, 0, "fenced m1 i0 g1 p1@1 stale generation"),
			lCommit(1, 2, 0, "committed m1 i0 g2 p1@1", "accepted m1 i0 sent 7"),
		},
		done: []uint32{1},
	}, {
		name: "fencing is by member and generation only: a member commits a partition it does not own", instances: 2,
		keys: []uint32{5},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lUp(1, 1, "join i1 g1", "rebalance g1", "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"),
			lPublish(1, "publish m1 p6@0", "send m1 i1 inc1 g2 p6@0 last", "arm max-poll member2 poll1 in 5s"),
			lCommit(1, 2, 0, "committed m1 i0 g2 p6@1", "accepted m1 i0 sent 7"),
		},
		done: []uint32{1},
	}, {
		name: "a crashed member is evicted when its session expires, and its partitions move", instances: 2,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lUp(1, 1, "join i1 g1", "rebalance g1", "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g2 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lDown(0, "arm session member1 silence1 in 3s"),
			lFire(MaxPoll, 1, 1), // dead: its session decides
			lFire(Session, 1, 1, "evict i0 g2 session expired", "rebalance g2", "assign i1 g3 [1,2,3,4,5,6]",
				"send m1 i1 inc1 g3 p1@0 last", "arm max-poll member2 poll1 in 5s"),
			lFire(Session, 1, 1), // a second firing: nothing
		},
	}, {
		name: "a restarted instance joins as a new member while its old one waits for its session", instances: 1,
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lDown(0, "arm session member1 silence1 in 3s"),
			lUp(0, 2, "join i0 g1", "rebalance g1", "arm rebalance-timeout r2 in 5s"),
			lFire(Session, 1, 1, "evict i0 g1 session expired", "assign i0 g2 [1,2,3,4,5,6]"),
		},
	}, {
		name: "an Up with no Down before it ends the last incarnation as a crash would", instances: 1,
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lUp(0, 2, "arm session member1 silence1 in 3s", "join i0 g1", "rebalance g1", "arm rebalance-timeout r2 in 5s"),
			lFire(Session, 1, 1, "evict i0 g1 session expired", "assign i0 g2 [1,2,3,4,5,6]"),
		},
	}, {
		name: "a crashed member blocks a rebalance until the rebalance timeout", instances: 2,
		params: &LogParams{Partitions: 6, Batch: 5, Commit: run.CommitBatch, SessionTimeout: 10 * time.Second, MaxPollInterval: 5 * time.Second},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lDown(0, "arm session member1 silence1 in 10s"),
			lUp(1, 1, "join i1 g1", "rebalance g1", "arm rebalance-timeout r2 in 5s"),
			lFire(RebalanceTimeout, 0, 2, "evict i0 g1 rejoin timed out", "assign i1 g2 [1,2,3,4,5,6]"),
			lFire(Session, 1, 1),
		},
	}, {
		name: "heartbeats that resume before the session timeout keep the member", instances: 1,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lDisconnect(0, "arm session member1 silence1 in 3s"),
			lDisconnect(0), // already silent
			lReconnect(0),
			lFire(Session, 1, 1),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
		},
	}, {
		name: "a second silence's timer counts, not the first's", instances: 1,
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lDisconnect(0, "arm session member1 silence1 in 3s"),
			lReconnect(0),
			lDisconnect(0, "arm session member1 silence2 in 3s"),
			lFire(Session, 1, 1),
			lFire(Session, 2, 1, "evict i0 g1 session expired", "rebalance g1"),
		},
	}, {
		name: "a zombie: evicted while cut off, it finishes its batch; its commit is fenced, and its poll joins again", instances: 2,
		keys: []uint32{0, 0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lUp(1, 1, "join i1 g1", "rebalance g1", "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g2 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lDisconnect(0, "arm session member1 silence1 in 3s"),
			lFire(Session, 1, 1, "evict i0 g2 session expired", "rebalance g2", "assign i1 g3 [1,2,3,4,5,6]",
				"send m1 i1 inc1 g3 p1@0 last", "arm max-poll member2 poll1 in 5s"),
			lReconnect(0),
			lCommit(1, 2, 0, "fenced m1 i0 g2 p1@1 unknown member"),
			lFetch(0, "join i0 g3", "rebalance g3", "arm rebalance-timeout r4 in 5s"),
			lCommit(1, 3, 1, "committed m1 i1 g3 p1@1", "accepted m1 i1 sent 7"),
			lFetch(1, "assign i0 g4 [1,2,3]", "assign i1 g4 [4,5,6]"),
			lPublish(2, "publish m2 p1@1", "send m2 i0 inc1 g4 p1@1 last", "arm max-poll member3 poll1 in 5s"),
		},
		done: []uint32{1},
	}, {
		name: "a member cut off cannot poll: it is served when it reconnects", instances: 1,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lDisconnect(0, "arm session member1 silence1 in 3s"),
			lPublish(1, "publish m1 p1@0"),
			lFetch(0),
			lReconnect(0, "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
		},
	}, {
		name: "an instance started while cut off joins when it reconnects", instances: 1,
		steps: []logStep{
			lDisconnect(0),
			lUp(0, 1),
			lReconnect(0, firstJoin...),
		},
	}, {
		name: "a member that does not poll within the max-poll interval leaves; its next poll joins again", instances: 2,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lUp(1, 1, "join i1 g1", "rebalance g1", "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g2 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lFire(MaxPoll, 1, 1, "leave i0 g2 max-poll passed", "rebalance g2", "assign i1 g3 [1,2,3,4,5,6]",
				"send m1 i1 inc1 g3 p1@0 last", "arm max-poll member2 poll1 in 5s"),
			lCommit(1, 2, 0, "fenced m1 i0 g2 p1@1 unknown member"),
			lFetch(0, "join i0 g3", "rebalance g3", "arm rebalance-timeout r4 in 5s"),
		},
	}, {
		name: "a member that polled since is not timed out, nor one waiting in a poll", instances: 1,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lFetch(0),
			lFire(MaxPoll, 1, 1),
		},
	}, {
		name: "a max-poll interval that passes while cut off makes the member leave when it reconnects, unless it polls first", instances: 1,
		keys:   []uint32{0},
		params: &LogParams{Partitions: 6, Batch: 5, Commit: run.CommitBatch, SessionTimeout: 10 * time.Second, MaxPollInterval: 5 * time.Second},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lDisconnect(0, "arm session member1 silence1 in 10s"),
			lFire(MaxPoll, 1, 1),
			lReconnect(0, "leave i0 g1 max-poll passed", "rebalance g1"),
		},
	}, {
		name: "a graceful leave rebalances at once; the last member's leave empties the group, and the next join rebalances", instances: 2,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lUp(1, 1, "join i1 g1", "rebalance g1", "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"),
			lLeave(0, "leave i0 g2 graceful", "rebalance g2", "assign i1 g3 [1,2,3,4,5,6]"),
			lLeave(1, "leave i1 g3 graceful", "rebalance g3"),
			lPublish(1, "publish m1 p1@0"),
			lUp(0, 2, "join i0 g4", "rebalance g4", "assign i0 g5 [1,2,3,4,5,6]", "send m1 i0 inc2 g5 p1@0 last", "arm max-poll member3 poll1 in 5s"),
		},
	}, {
		name: "a graceful leave while cut off is lost: the session timer evicts the member", instances: 1,
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lDisconnect(0, "arm session member1 silence1 in 3s"),
			lLeave(0),
			lReconnect(0), // the instance is down: its member stays silent
			lFire(Session, 1, 1, "evict i0 g1 session expired", "rebalance g1"),
		},
	}, {
		name: "an assignment resets positions to the committed offsets: what was sent and not committed is sent again", instances: 2,
		keys: []uint32{0, 0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lCommit(1, 1, 0, "committed m1 i0 g1 p1@1", "accepted m1 i0 sent 7"),
			lFetch(0),
			lPublish(2, "publish m2 p1@1", "send m2 i0 inc1 g1 p1@1 last", "arm max-poll member1 poll2 in 5s"),
			lUp(1, 1, "join i1 g1", "rebalance g1", "arm rebalance-timeout r2 in 5s"),
			lFetch(0, "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]", "send m2 i0 inc1 g2 p1@1 last", "arm max-poll member1 poll3 in 5s"),
		},
		done: []uint32{1},
	}, {
		name: "nacks are ignored", instances: 1,
		keys: []uint32{0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0", "send m1 i0 inc1 g1 p1@0 last", "arm max-poll member1 poll1 in 5s"),
			lNack(1, 1),
		},
	}, {
		name: "scripted: nothing goes out but what the world requests", instances: 2, scripted: true,
		keys: []uint32{0, 0},
		steps: []logStep{
			lUp(0, 1, firstJoin...),
			lPublish(1, "publish m1 p1@0"),
			lPublish(2, "publish m2 p1@1"),
			lFetch(0),
			lDeliver(2, 1), // i1 is not up: nothing
			lUp(1, 1, "join i1 g1", "rebalance g1", "assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"),
			lDeliver(2, 1, "send m2 i1 inc1 g2 p1@1 last", "arm max-poll member2 poll1 in 5s"),
			lCommit(2, 2, 1, "committed m2 i1 g2 p1@2", "accepted m1 i1 sent 7", "accepted m2 i1 sent 7"),
		},
		done: []uint32{1, 2},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultLog
			if c.params != nil {
				p = *c.params
			}
			l, err := NewLog(p)
			require.NoError(t, err)
			l.Reset(Setup{Instances: c.instances, Pick: rand.New(rand.NewPCG(1, 2)), Scripted: c.scripted})
			for i, k := range c.keys {
				require.Equal(t, uint32(i+1), l.Add(k))
			}
			for i, s := range c.steps {
				var got []string
				for _, e := range s.do(l) {
					got = append(got, showLog(e))
				}
				require.Equal(t, s.want, got, "step %d, %s", i+1, s.in)
			}
			for m := uint32(1); m <= uint32(len(c.keys)); m++ {
				want := false
				for _, d := range c.done {
					want = want || d == m
				}
				assert.Equal(t, want, l.Done(m), "message %d done", m)
				assert.False(t, l.Dead(m), "message %d dead", m)
			}
		})
	}
}

// TestLogRangeAssignment: n members over 6 partitions get contiguous
// ranges in instance order, the first 6%n one more, whatever the order
// they joined in.
func TestLogRangeAssignment(t *testing.T) {
	want := map[int][]string{
		1: {"assign i0 g1 [1,2,3,4,5,6]"},
		2: {"assign i0 g2 [1,2,3]", "assign i1 g2 [4,5,6]"},
		3: {"assign i0 g3 [1,2]", "assign i1 g3 [3,4]", "assign i2 g3 [5,6]"},
		4: {"assign i0 g4 [1,2]", "assign i1 g4 [3,4]", "assign i2 g4 [5]", "assign i3 g4 [6]"},
	}
	for n := 1; n <= 4; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l, err := NewLog(DefaultLog)
			require.NoError(t, err)
			l.Reset(Setup{Instances: n})
			var got []string
			// Join in reverse instance order.
			for i := n - 1; i >= 0; i-- {
				got = got[:0]
				for _, e := range l.Up(int32(i), 1) {
					if e.Record == run.Assign {
						got = append(got, showLog(e))
					}
				}
			}
			assert.Equal(t, want[n], got)
			assert.Equal(t, uint32(n), l.Generation())
		})
	}
	t.Run("more members than partitions", func(t *testing.T) {
		l, err := NewLog(LogParams{Partitions: 2, Batch: 1, Commit: run.CommitBatch, SessionTimeout: time.Second, MaxPollInterval: time.Second})
		require.NoError(t, err)
		l.Reset(Setup{Instances: 3})
		l.Up(0, 1)
		l.Up(1, 1)
		var got []string
		for _, e := range l.Up(2, 1) {
			got = append(got, showLog(e))
		}
		assert.Equal(t, []string{"join i2 g2", "rebalance g2", "assign i0 g3 [1]", "assign i1 g3 [2]", "assign i2 g3 []"}, got)
	})
}

func TestLogParams(t *testing.T) {
	require.NoError(t, DefaultLog.Validate())
	assert.Equal(t, DefaultLog, LogParamsOf(run.BrokerParams{}))
	assert.Equal(t, LogParams{Partitions: 3, Batch: 1, Commit: run.CommitRecord, SessionTimeout: time.Second, MaxPollInterval: 2 * time.Second},
		LogParamsOf(run.BrokerParams{Partitions: 3, Batch: 1, Commit: run.CommitRecord, SessionTimeout: time.Second, MaxPollInterval: 2 * time.Second, Prefetch: 9}))
	for _, p := range []LogParams{
		{Partitions: 0, Batch: 1, Commit: run.CommitBatch, SessionTimeout: time.Second, MaxPollInterval: time.Second},
		{Partitions: run.MaxPartitions + 1, Batch: 1, Commit: run.CommitBatch, SessionTimeout: time.Second, MaxPollInterval: time.Second},
		{Partitions: 1, Batch: 0, Commit: run.CommitBatch, SessionTimeout: time.Second, MaxPollInterval: time.Second},
		{Partitions: 1, Batch: 1, Commit: 0, SessionTimeout: time.Second, MaxPollInterval: time.Second},
		{Partitions: 1, Batch: 1, Commit: run.CommitBatch, SessionTimeout: 0, MaxPollInterval: time.Second},
		{Partitions: 1, Batch: 1, Commit: run.CommitBatch, SessionTimeout: time.Second, MaxPollInterval: 0},
	} {
		assert.Error(t, p.Validate(), "%+v", p)
		_, err := NewLog(p)
		assert.Error(t, err, "%+v", p)
	}
	l, err := NewLog(DefaultLog)
	require.NoError(t, err)
	require.NoError(t, l.Configure(run.BrokerParams{SessionTimeout: time.Second, MaxPollInterval: 7 * time.Second}))
	assert.Equal(t, time.Second, l.Liveness())
	assert.Equal(t, 7*time.Second, l.Stall())
	assert.Error(t, l.Configure(run.BrokerParams{Commit: 9}))
	assert.Equal(t, 7*time.Second, l.Stall(), "a refused configuration leaves the parameters as they were")
}

func TestLogDescription(t *testing.T) {
	d, ok := Lookup(run.LogBroker)
	require.True(t, ok)
	assert.True(t, d.Pull)
	var names []string
	for _, p := range d.Params {
		names = append(names, p.Name+"="+p.Default)
	}
	assert.Equal(t, []string{"partitions=6", "batch=5", "commit=batch", "session-timeout=3s", "max-poll-interval=5s"}, names)
	l, ok := d.New().(*Log)
	require.True(t, ok)
	assert.Equal(t, DefaultLog, l.Params())
	var models []string
	for _, m := range Models() {
		models = append(models, m.Name)
	}
	assert.Equal(t, run.BrokerNames, models, "run's list of brokers and broker's agree")
}

// TestLogMemberGeneration: a member's generation is its last assignment's;
// an evicted member has none; commits tagged with it from a rejoined
// ex-zombie move the committed offset back (BROKER-FACTS row 11).
func TestLogMemberGeneration(t *testing.T) {
	l, err := NewLog(DefaultLog)
	require.NoError(t, err)
	l.Reset(Setup{Instances: 2})
	assert.Zero(t, l.MemberGeneration(0))
	l.Up(0, 1)
	assert.Equal(t, uint32(1), l.MemberGeneration(0))
	for range 3 {
		l.Publish(l.Add(0)) // partition 1, offsets 0 to 2, sent to i0
	}
	l.Up(1, 1) // a rebalance waits for i0, busy
	assert.Equal(t, uint32(1), l.MemberGeneration(0), "the rebalance has not ended")
	fx := l.Fire(RebalanceTimeout, 0, 2) // i0 is evicted; i1 gets everything and is sent the three
	require.Len(t, fx, 6)
	assert.Equal(t, "send m3 i1 inc1 g2 p1@2 last", showLog(fx[4]))
	assert.Zero(t, l.MemberGeneration(0))
	l.Ack(3, 2, 1, 0) // i1 commits offset 3
	require.Equal(t, int32(3), l.Committed(1))
	l.Fetch(0) // i0 rejoins
	l.Fetch(1) // i1 too: generation 3
	assert.Equal(t, uint32(3), l.MemberGeneration(0))
	fx = l.Ack(1, l.MemberGeneration(0), 0, 0) // i0's late commit of its old record
	assert.Equal(t, "committed m1 i0 g3 p1@1", showLog(fx[0]))
	assert.Equal(t, int32(1), l.Committed(1), "moved back")
}
