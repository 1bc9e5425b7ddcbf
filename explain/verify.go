package explain

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// The story-vs-trace check. A story states facts as typed claims (see
// Claim), and Verify holds each to the run's trace. The checker reads the
// records itself (which attempt a call belongs to, whether an instance
// was up or cut off, what a store answered, how many times the producer
// published an event) and shares nothing with the narrator: it uses the
// facts (NewFacts) only for what the facts tests hold to the run's own
// audit and to every answer Redis gave (the ledger, the keys' lives, the
// transactions' contents).

// Verify checks that every claim of the story holds in the run's trace:
// the claims of its header, its steps (and their state lines), its
// violation, its why, its note and its fix's steps, each against the
// trace of the run it tells (Result.Trace; the fix's, for the fix). It
// also checks that every instance, event, message, time and key a text
// names is one its claims state, that a state line shows only events the
// story has told of, and that a step happens when its record does. It
// returns nil if all hold, else a *FalseClaimsError that lists what does
// not; an error too for a story not told from a run, whose trace it
// cannot read.
//
// So a story of any strategy, a user's own included, can be held to its
// trace: tell a run (Tell, TellKind, TellEvent), then Verify the story.
// The checks that rest on the strategy's description (Teaching.MarkKey,
// Teaching.Remembers) look the strategy up in the registry, as Tell does.
func (s *Story) Verify() error {
	if s.Result == nil || len(s.Result.Trace) == 0 {
		return fmt.Errorf("explain: the story of %s has no trace to check: verify a story that Tell, TellKind or TellEvent told", s.Config.Reproduce())
	}
	if s.Fix != nil && (s.Fix.Result == nil || len(s.Fix.Result.Trace) == 0) {
		return fmt.Errorf("explain: the fix of the story of %s has no trace to check", s.Config.Reproduce())
	}
	if problems := s.falseClaims(); len(problems) > 0 {
		return &FalseClaimsError{Run: s.Config.Reproduce(), Event: s.Event, Problems: problems}
	}
	return nil
}

// FalseClaimsError is Verify's error for a story that states what its
// run's trace does not show.
type FalseClaimsError struct {
	// Run is the command that replays the run told; Event is the event
	// whose story it is.
	Run   string
	Event uint32
	// Problems are what does not hold, one a line: a claim, with the part
	// of the story that makes it (a step, the violation, the why, the
	// note, a step of the fix) and what the trace shows instead, or a name
	// a text mentions that none of its claims states.
	Problems []string
}

func (e *FalseClaimsError) Error() string {
	return fmt.Sprintf("explain: the story of event %d of %s states %d things its trace does not show:\n%s",
		e.Event, e.Run, len(e.Problems), strings.Join(e.Problems, "\n"))
}

// falseClaims holds every claim of s to the trace of the run each part
// tells; it returns the claims that do not hold, and the names a text
// mentions that none of its claims states.
func (s *Story) falseClaims() []string {
	x := newTraceIndex(s.Config.WithDefaults(), s.Result.Trace, lookupStrategy(s.Config.Strategy))
	var problems []string
	told := map[int]bool{}
	named := map[uint32]bool{s.Event: true} // the events the story has named so far
	if s.Header != "" {
		where := fmt.Sprintf("header (%q)", s.Header)
		problems = append(problems, x.checkAll(where, s.HeaderClaims, told)...)
		// The run's line names the strategy, the scenario and the run's
		// size, from the config, not from the trace.
		problems = append(problems, x.mentions(where, strings.TrimPrefix(s.Header, runLine(s.Config)), s.HeaderClaims, -1, -1)...)
	}
	for _, step := range s.Steps {
		if step.Record >= 0 {
			told[step.Record] = true
		}
		for _, c := range step.Claims {
			if c.Kind != ClaimKey && c.Kind != ClaimLedger && c.Kind != ClaimIDCommitted && c.Kind != ClaimMemory && c.Kind != ClaimMemHeld {
				named[c.Event] = true
			}
		}
		// A state line shows only events the story has told of.
		for _, m := range stateEvent.FindAllStringSubmatch(step.State, -1) {
			if n, _ := strconv.Atoi(m[1]); !named[uint32(n)] {
				problems = append(problems, fmt.Sprintf("step %d's state (%q) shows event %d, which no step has told of", step.N, step.State, n))
			}
		}
		where := fmt.Sprintf("step %d (%q)", step.N, step.Text)
		if r := x.rec(step.Record); step.Record >= 0 && (r == nil || r.At != step.At.Nanoseconds()) {
			problems = append(problems, where+": not at its record's time")
		}
		problems = append(problems, x.checkAll(where, step.Claims, told)...)
		problems = append(problems, x.mentions(where, step.Text, step.Claims, int32(step.Inst), step.At.Nanoseconds())...)
	}
	for _, part := range []struct {
		name, text string
		claims     []Claim
	}{{"violation", s.Violation, s.ViolationClaims}, {"why", s.Why, s.WhyClaims}, {"note", s.Note, s.NoteClaims}} {
		where := part.name + fmt.Sprintf(" (%q)", part.text)
		problems = append(problems, x.checkAll(where, part.claims, told)...)
		if part.name != "note" {
			// The note is about the faults of the scenario and the
			// shrinker, not about the run's records.
			problems = append(problems, x.mentions(where, part.text, part.claims, -1, -1)...)
		}
	}
	if fx := s.Fix; fx != nil {
		fxi := newTraceIndex(fx.Config.WithDefaults(), fx.Result.Trace, lookupStrategy(fx.Config.Strategy))
		fxTold := map[int]bool{}
		for _, step := range fx.Steps {
			if step.Record >= 0 {
				fxTold[step.Record] = true
			}
			where := fmt.Sprintf("fix step %d (%q)", step.N, step.Text)
			problems = append(problems, fxi.checkAll(where, step.Claims, fxTold)...)
			problems = append(problems, fxi.mentions(where, step.Text, step.Claims, int32(step.Inst), step.At.Nanoseconds())...)
		}
	}
	return problems
}

// lookupStrategy is the registered strategy called name; one with only
// that name if none is (the claims that rest on a description then fail).
func lookupStrategy(name string) strategies.Strategy {
	st, ok := strategies.Lookup(name)
	if !ok {
		st.Name = name
	}
	return st
}

// traceIndex is what the checker reads of a trace: the records of each
// call, attempt and instance, found from the records alone.
type traceIndex struct {
	cfg   run.Config
	trace []run.Record
	st    strategies.Strategy
	f     *Facts
	calls map[uint32]*callRecs
	// attempts by their Receive record.
	attempts map[int]*attemptRecs
	keys     map[string]bool // every key a key-value call named
	// late is the instance the run's faults start late, nil if none.
	late *LateStart
}

type callRecs struct {
	call, serve, reply, timeout int
	parks, holds                []int
	attempt                     int // the Receive of its attempt, -1 if none
}

type attemptRecs struct {
	receive, handled, end int // end: the record that ended it (Handled or Crash), -1 if none
	calls                 []uint32
}

func newTraceIndex(cfg run.Config, trace []run.Record, st strategies.Strategy) *traceIndex {
	x := &traceIndex{cfg: cfg, trace: upstreamView(trace), st: st, f: NewFacts(cfg, trace), calls: map[uint32]*callRecs{}, attempts: map[int]*attemptRecs{}, keys: map[string]bool{}, late: startRecord(trace)}
	trace = x.trace
	open := map[int32]int{} // instance -> Receive of its open attempt
	for i, r := range trace {
		switch r.Kind {
		case run.Receive:
			x.attempts[i] = &attemptRecs{receive: i, handled: -1, end: -1}
			open[r.Inst] = i
		case run.Call:
			a := -1
			if k, ok := open[r.Inst]; ok {
				a = k
				x.attempts[k].calls = append(x.attempts[k].calls, r.Call)
			}
			x.calls[r.Call] = &callRecs{call: i, serve: -1, reply: -1, timeout: -1, attempt: a}
			if r.Op.KV() {
				x.keys[r.Key] = true
			}
		case run.Serve:
			x.calls[r.Call].serve = i
		case run.Reply:
			x.calls[r.Call].reply = i
		case run.Timeout:
			x.calls[r.Call].timeout = i
		case run.Park:
			x.calls[r.Call].parks = append(x.calls[r.Call].parks, i)
		case run.CallHeld:
			x.calls[r.Call].holds = append(x.calls[r.Call].holds, i)
		case run.Handled:
			if k, ok := open[r.Inst]; ok {
				x.attempts[k].handled, x.attempts[k].end = i, i
				delete(open, r.Inst)
			}
		case run.Crash:
			if k, ok := open[r.Inst]; ok {
				x.attempts[k].end = i
				delete(open, r.Inst)
			}
		}
	}
	return x
}

// down reports whether instance inst was down just after record i: it
// crashed or left gracefully and had not restarted, or it is the
// scale-out's instance and had not started yet.
func (x *traceIndex) down(inst int32, i int) bool {
	return x.stopped(inst, i) != 0
}

// stopped is why instance inst was down just after record i: run.Crash,
// run.Leave (a graceful leave), run.Restart (it had not started yet: a
// scale-out), or 0 if it was up.
func (x *traceIndex) stopped(inst int32, i int) run.Kind {
	return x.stoppedAt(inst, i, 0)
}

// stoppedAt is stopped at time t (0: at record i's), just after record i
// (-1: before the first).
func (x *traceIndex) stoppedAt(inst int32, i int, t int64) run.Kind {
	var d run.Kind
	if r := x.rec(i); t == 0 && r != nil {
		t = r.At
	}
	if x.late != nil && x.late.Inst == inst && t < x.late.At {
		d = run.Restart
	}
	for j := 0; j <= i && j < len(x.trace); j++ {
		if r := &x.trace[j]; r.Inst == inst {
			switch {
			case r.Kind == run.Crash:
				d = run.Crash
			case r.Kind == run.Leave && r.Cause == run.Graceful:
				d = run.Leave
			case r.Kind == run.Restart:
				d = 0
			}
		}
	}
	return d
}

// cut is what instance inst was cut off from just after record i: the
// union of its partition windows open then, each paired by its id.
func (x *traceIndex) cut(inst int32, i int) run.Stores {
	open := map[uint32]run.Stores{}
	for j := 0; j <= i && j < len(x.trace); j++ {
		r := &x.trace[j]
		switch {
		case r.Kind == run.Heal:
			clear(open)
		case r.Kind == run.Partition && r.Inst == inst && r.Stores != 0:
			open[r.Window] = r.Stores
		case r.Kind == run.Partition && r.Inst == inst:
			delete(open, r.Window)
		}
	}
	var s run.Stores
	for _, w := range open {
		s |= w
	}
	return s
}

// stopping reports whether instance inst had stopped gracefully at record
// i, its leave not yet recorded: on the log the group records a graceful
// leave when it reaches the broker, a moment after the process stopped, so
// the instance's next record of its own after i is that leave (a broker's
// sending to it meanwhile is not its own doing).
func stopping(trace []run.Record, inst int32, i int) bool {
	for j := i + 1; j < len(trace); j++ {
		o := &trace[j]
		if o.Inst != inst || o.Kind == run.Deliver || o.Kind == run.DeliverDrop || o.Kind == run.Partition {
			continue
		}
		return o.Kind == run.Leave && o.Cause == run.Graceful
	}
	return false
}

// ends reports whether record o ends its instance's process, and with it
// the process's memory: a crash, a graceful leave, or the restart of a new
// process.
func ends(o *run.Record) bool {
	return o.Kind == run.Crash || o.Kind == run.Restart || o.Kind == run.Leave && o.Cause == run.Graceful
}

// crashedBetween reports whether instance inst crashed between records a
// and b.
func (x *traceIndex) crashedBetween(inst int32, a, b int) bool {
	for j := a + 1; j < b && j < len(x.trace); j++ {
		if r := &x.trace[j]; r.Kind == run.Crash && r.Inst == inst {
			return true
		}
	}
	return false
}

func (x *traceIndex) rec(i int) *run.Record {
	if i < 0 || i >= len(x.trace) {
		return nil
	}
	return &x.trace[i]
}

// checkAll checks claims, naming where they come from; told are the
// records the story has told so far.
func (x *traceIndex) checkAll(where string, cs []Claim, told map[int]bool) []string {
	var out []string
	for _, c := range cs {
		if err := x.checkOne(c, told); err != nil {
			out = append(out, fmt.Sprintf("%s: %s claim %+v: %v", where, c.Kind, c, err))
		}
	}
	return out
}

// checkOne is check, which a claim that names what the run does not have
// (a record, an event, a transaction past the trace's) fails rather than
// panics.
func (x *traceIndex) checkOne(c Claim, told map[int]bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("it names what the run does not have (%v)", r)
		}
	}()
	return x.check(c, told)
}

// deletes reports whether a served call of op that found what it asked
// for deletes a value: a DEL, a delete-if-equal, an SREM.
func deletes(op run.Op) bool { return op == run.Del || op == run.DelIfEq || op == run.SRem }

// writes reports whether a served call of op writes a value.
func writes(op run.Op) bool {
	switch op {
	case run.SetNX, run.Set, run.Put, run.PutNX, run.PutXX, run.SetIfEq, run.SAdd:
		return true
	}
	return false
}

// check holds one claim to the trace.
func (x *traceIndex) check(c Claim, told map[int]bool) error {
	f := x.f
	bad := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	r := x.rec(c.Rec)
	if int(c.Event) >= len(f.Events) {
		return bad("the run has no event %d", c.Event)
	}
	if int(c.Tx) >= len(f.Txs) && c.Tx != 0 {
		return bad("the run has no tx%d", c.Tx)
	}
	needRec := func(kind run.Kind) error {
		if r == nil || r.Kind != kind {
			return bad("record %d is not a %s", c.Rec, kind)
		}
		return nil
	}
	if c.Part != 0 && (c.Kind == ClaimDeliver || c.Kind == ClaimReceive) && r != nil && (r.Part != c.Part || r.Count != c.Offset) {
		return bad("record %d is at offset %d of partition %d", c.Rec, r.Count, r.Part)
	}
	switch c.Kind {
	case ClaimOwner, ClaimCommitted, ClaimFenced, ClaimNoCommit, ClaimJoin, ClaimEvict:
		return x.checkGroup(c)
	case ClaimDownApply, ClaimTxEffect, ClaimNoPublish:
		return x.checkDown(c)
	case ClaimReusedID:
		return x.checkReusedID(c)
	case ClaimStep:
		if r == nil || r.Kind != c.Record || r.At != c.At || r.Inst != c.Inst || r.Msg != c.Msg || r.Event != c.Event {
			return bad("the record differs")
		}
	case ClaimPublish:
		if c.Msg == 0 {
			n := 0
			for _, p := range x.trace {
				if p.Kind == run.Publish && p.Event == c.Event {
					n++
				}
			}
			if n != c.N {
				return bad("the producer published event %d %d times", c.Event, n)
			}
			return nil
		}
		copyN, first := 0, int64(-1)
		for _, p := range x.trace {
			if p.Kind != run.Publish || p.Event != c.Event {
				continue
			}
			if first < 0 {
				first = p.At
			}
			if p.Msg == c.Msg {
				if p.At != c.At || copyN != c.N || p.At-first != c.Dur {
					return bad("m%d is copy %d at %d, %d after the first", p.Msg, copyN, p.At, p.At-first)
				}
				if c.Part != 0 && (p.Part != c.Part || p.Count != c.Offset) {
					return bad("m%d is at offset %d of partition %d", p.Msg, p.Count, p.Part)
				}
				return nil
			}
			copyN++
		}
		return bad("no publication of m%d of event %d", c.Msg, c.Event)
	case ClaimDeliver:
		if err := needRec(run.Deliver); err != nil {
			return err
		}
		if r.Msg != c.Msg || r.Inst != c.Inst || int(r.Tag) != c.N {
			return bad("another delivery")
		}
	case ClaimNotArrived:
		if err := needRec(run.DeliverDrop); err != nil {
			return err
		}
		if r.Msg != c.Msg || r.Inst != c.Inst {
			return bad("another delivery")
		}
		if c.Yes && x.cut(c.Inst, c.Rec)&run.Broker == 0 {
			return bad("instance %d was not cut off from the broker", c.Inst)
		}
		switch why := x.stopped(c.Inst, c.Rec); {
		case c.Yes:
		case c.Record == run.Leave && why != run.Leave && !stopping(x.trace, c.Inst, c.Rec):
			return bad("instance %d had not left", c.Inst)
		case c.Record != run.Leave && why != run.Crash:
			return bad("instance %d was not down after a crash", c.Inst)
		}
	case ClaimReceive:
		if err := needRec(run.Receive); err != nil {
			return err
		}
		if r.Msg != c.Msg || r.Inst != c.Inst || r.Event != c.Event || int(r.Tag) != c.N || c.At != 0 && r.At != c.At {
			return bad("another receive")
		}
	case ClaimCall:
		cr := x.calls[c.Call]
		if cr == nil {
			return bad("no call c%d", c.Call)
		}
		call := &x.trace[cr.call]
		if call.Op != c.Op || call.Inst != c.Inst || call.Event != c.Event || call.Key != c.Key {
			return bad("c%d is %s %q by instance %d about event %d", c.Call, call.Op, call.Key, call.Inst, call.Event)
		}
		if c.Answer == 0 {
			if cr.serve >= 0 {
				return bad("c%d was served", c.Call)
			}
			return nil
		}
		if cr.serve < 0 || x.trace[cr.serve].Answer != c.Answer {
			return bad("c%d was not answered %s", c.Call, c.Answer)
		}
		serve := &x.trace[cr.serve]
		want := call.Value
		if (c.Op == run.Get || c.Op == run.Read || c.Op == run.ReadOffset) && c.Answer == run.Yes || c.Op == run.Charge {
			want = serve.Value
		}
		if c.Value != "" && c.Value != want {
			return bad("c%d's value is %q", c.Call, want)
		}
		if c.Dur != 0 && serve.Dur != c.Dur {
			return bad("c%d's TTL is %d", c.Call, serve.Dur)
		}
	case ClaimCallLate:
		cr := x.calls[c.Call]
		if cr == nil || cr.serve < 0 {
			return bad("c%d was not served", c.Call)
		}
		if c.Yes && (cr.timeout < 0 || cr.timeout > cr.serve) {
			return bad("c%d was not given up on before it was served", c.Call)
		}
		if !c.Yes && !x.crashedBetween(x.trace[cr.call].Inst, cr.call, cr.serve) {
			return bad("c%d's instance did not crash before it was served", c.Call)
		}
	case ClaimNoReply:
		if cr := x.calls[c.Call]; cr == nil || cr.reply >= 0 {
			return bad("c%d's reply reached its instance", c.Call)
		}
	case ClaimTimeout:
		cr := x.calls[c.Call]
		if cr == nil || cr.timeout < 0 {
			return bad("c%d was not given up on", c.Call)
		}
		if d := x.trace[cr.timeout].At - x.trace[cr.call].At; d != c.Dur || x.trace[cr.timeout].Inst != c.Inst {
			return bad("c%d was given up on after %d", c.Call, d)
		}
	case ClaimHeld:
		cr := x.calls[c.Call]
		if cr == nil {
			return bad("no call c%d", c.Call)
		}
		for _, h := range cr.holds {
			reply := cr.serve >= 0 && cr.serve < h
			if reply == c.Yes {
				return nil
			}
		}
		return bad("c%d was not held that way", c.Call)
	case ClaimPark:
		cr := x.calls[c.Call]
		if cr == nil {
			return bad("no call c%d", c.Call)
		}
		for _, p := range cr.parks {
			if x.trace[p].Holder == c.Tx {
				return x.txOf(c.Tx, c.Inst)
			}
		}
		return bad("c%d never waited behind tx%d", c.Call, c.Tx)
	case ClaimOutcome:
		a := x.attempts[c.Rec]
		if a == nil {
			return bad("no attempt began at %d", c.Rec)
		}
		if a.handled < 0 {
			if c.Outcome != 0 {
				return bad("the attempt never returned")
			}
			return nil
		}
		if h := &x.trace[a.handled]; h.Outcome != c.Outcome || h.At != c.At {
			return bad("the attempt returned %s at %d", h.Outcome, h.At)
		}
	case ClaimLastCall:
		a := x.attempts[c.Rec]
		if a == nil || a.handled < 0 {
			return bad("no attempt that returned began at %d", c.Rec)
		}
		calls := a.calls
		for len(calls) > 1 && x.trace[x.calls[calls[len(calls)-1]].call].Op == run.Rollback {
			calls = calls[:len(calls)-1]
		}
		if len(calls) == 0 || calls[len(calls)-1] != c.Call {
			return bad("c%d is not its last call", c.Call)
		}
	case ClaimNextCall:
		cr := x.calls[c.Call]
		if cr == nil || cr.attempt < 0 {
			return bad("c%d has no attempt", c.Call)
		}
		calls := x.attempts[cr.attempt].calls
		k := slices.Index(calls, c.Call)
		if k < 0 || k+1 >= len(calls) || x.trace[x.calls[calls[k+1]].call].Op != c.Op {
			return bad("the call after c%d is not a %s", c.Call, c.Op)
		}
	case ClaimCalls:
		a := x.attempts[c.Rec]
		if a == nil {
			return bad("no attempt began at %d", c.Rec)
		}
		if c.Op != 0 {
			for _, id := range a.calls {
				if op := x.trace[x.calls[id].call].Op; op == run.Apply || op == run.InsertApply {
					return bad("the attempt sent c%d, a %s", id, op)
				}
			}
			return nil
		}
		if len(a.calls) != c.N && !(c.Yes && len(a.calls) >= c.N) {
			return bad("the attempt made %d calls", len(a.calls))
		}
	case ClaimAttemptApplied:
		if r == nil {
			return bad("no record %d", c.Rec)
		}
		applied := false
		for _, ap := range f.Events[x.trace[c.Rec].Event].Applications {
			cr := x.calls[x.trace[ap.Rec].Call]
			applied = applied || cr != nil && cr.attempt == c.Rec
		}
		if applied != c.Yes {
			return bad("the attempt applied the effect: %v", applied)
		}
	case ClaimNack:
		a := x.attempts[c.Rec]
		if a == nil || a.handled < 0 {
			return bad("no attempt that returned began at %d", c.Rec)
		}
		for j := a.handled + 1; j < len(x.trace); j++ {
			r := &x.trace[j]
			if r.Inst != c.Inst {
				continue
			}
			if r.Kind == run.Nack && r.Msg == c.Msg {
				return nil
			}
			if r.Kind == run.Receive || r.Kind == run.Crash {
				break
			}
		}
		return bad("instance %d sent no nack of m%d after the attempt", c.Inst, c.Msg)
	case ClaimAck:
		for j, r := range x.trace {
			if r.Kind != run.AckSend || r.Inst != c.Inst || r.Msg != c.Msg || c.At != 0 && r.At != c.At {
				continue
			}
			for k := j + 1; k < len(x.trace); k++ {
				o := &x.trace[k]
				if o.Inst != r.Inst || o.Msg != r.Msg || o.Tag != r.Tag {
					continue
				}
				// On the log an ack is a commit, accepted by a
				// Committed record.
				accepted := o.Kind == run.Acked || o.Kind == run.Committed
				if c.Yes && accepted && (c.To == 0 || o.At == c.To) || !c.Yes && o.Kind == run.AckLost {
					return nil
				}
			}
		}
		return bad("no such ack of m%d by instance %d", c.Msg, c.Inst)
	case ClaimRequeue:
		if err := needRec(run.Requeue); err != nil {
			return err
		}
		if r.Msg != c.Msg || c.Inst >= 0 && r.Inst != c.Inst || c.Yes != (r.Cause == run.DeadlinePassed) || !c.Yes && r.Cause != run.AfterNack {
			return bad("another requeue (%s)", r.Detail())
		}
		if c.Dur != 0 && x.sinceDelivery(c.Rec) != c.Dur {
			return bad("m%d waited %d", c.Msg, x.sinceDelivery(c.Rec))
		}
	case ClaimChannelClosed:
		if err := needRec(run.Requeue); err != nil {
			return err
		}
		if r.Cause != run.ChannelClosed || r.Msg != c.Msg || r.Inst != c.Inst {
			return bad("another requeue (m%d of instance %d, %s)", r.Msg, r.Inst, r.Detail())
		}
		if c.N >= 0 {
			if closedBy(x.trace, c.Rec-1, r) != c.N {
				return bad("record %d is not why instance %d's channel closed", c.N, c.Inst)
			}
		}
	case ClaimDeadLetter:
		if err := needRec(run.DeadLetter); err != nil {
			return err
		}
		if r.Msg != c.Msg || r.Event != c.Event || int(r.Tag) != c.N {
			return bad("another dead-letter (m%d of event %d, %s)", r.Msg, r.Event, r.Detail())
		}
		n := 0
		for j := 0; j < c.Rec; j++ {
			if o := &x.trace[j]; o.Kind == run.Deliver && o.Msg == c.Msg {
				n++
			}
		}
		if n != c.N {
			return bad("m%d had %d deliveries", c.Msg, n)
		}
	case ClaimDead:
		dead := false
		for j := range x.trace {
			switch o := &x.trace[j]; {
			case o.Kind == run.DeadLetter && o.Event == c.Event:
				dead = true
			case o.Kind == run.Acked && o.Event == c.Event:
				return bad("record %d: the broker took an ack of m%d", j, o.Msg)
			}
		}
		if !dead {
			return bad("no copy of event %d was dead-lettered", c.Event)
		}
		if aps := f.Events[c.Event].Applications; len(aps) > 0 {
			return bad("applied at %d", aps[0].Rec)
		}
	case ClaimDeadline:
		for j, r := range x.trace {
			if r.Kind == run.Requeue && r.Cause == run.DeadlinePassed && x.sinceDelivery(j) == c.Dur {
				return nil
			}
		}
		return bad("no message waited %d for its ack", c.Dur)
	case ClaimCrash:
		if err := needRec(run.Crash); err != nil {
			return err
		}
		if r.Inst != c.Inst || int(r.Step) != c.N || r.Op != c.Op || r.InFlight != c.Yes || r.Call != c.Call {
			return bad("another crash")
		}
	case ClaimRestart:
		if err := needRec(run.Restart); err != nil {
			return err
		}
		if r.Inst != c.Inst {
			return bad("another instance")
		}
	case ClaimStall:
		if err := needRec(run.Stall); err != nil {
			return err
		}
		if r.Inst != c.Inst || r.Dur != c.Dur || (r.Cause == run.Paused) != c.Yes || c.Msg != 0 && r.Msg != c.Msg {
			return bad("another stall")
		}
	case ClaimLeave:
		if err := needRec(run.Leave); err != nil {
			return err
		}
		if r.Inst != c.Inst || (r.Cause == run.Graceful) != c.Yes {
			return bad("another leave: %s", r.Detail())
		}
		if c.Yes {
			// Graceful: it finished what it was handling first.
			for _, a := range x.attempts {
				if x.trace[a.receive].Inst == c.Inst && a.receive < c.Rec && (a.end < 0 || a.end > c.Rec) {
					return bad("its attempt that began at %d was still open", a.receive)
				}
			}
		}
	case ClaimLateStart:
		if x.late == nil || x.late.Inst != c.Inst || x.late.At != c.At {
			return bad("the trace starts no instance %d late at %d", c.Inst, c.At)
		}
		for j, o := range x.trace {
			// A partition's windows are the network's, drawn for every
			// instance, started or not.
			if o.Inst == c.Inst && o.At < c.At && o.Kind != run.Partition {
				return bad("record %d is of instance %d before", j, c.Inst)
			}
		}
	case ClaimCut:
		s := x.cut(c.Inst, c.Rec)
		if c.Yes && s&run.Stores(c.N) != run.Stores(c.N) || !c.Yes && s != 0 {
			return bad("instance %d was cut off from %s", c.Inst, s)
		}
	case ClaimStoreLoss:
		if err := needRec(run.StoreLoss); err != nil {
			return err
		}
		if c.Yes != (r.Cause == run.Failover) {
			return bad("another loss")
		}
		for _, o := range f.Outages {
			if o.Rec != c.Rec {
				continue
			}
			n, found := 0, c.Key == "" && c.Event == 0
			for _, k := range o.Lost {
				key := &f.Keys[k]
				if key.Expires <= r.At {
					continue
				}
				n++
				if c.Key != "" && key.Name == c.Key && (!key.Set || key.Value == c.Value) || c.Key == "" && c.Event != 0 && key.Name == "" && key.Event == c.Event {
					found = true
				}
			}
			if n != c.N || !found {
				return bad("it lost %d values, the one claimed among them: %v", n, found)
			}
		}
	case ClaimStoreUp:
		return needRec(run.StoreUp)
	case ClaimTxAbort:
		if err := needRec(run.TxAbort); err != nil {
			return err
		}
		if r.Tx != c.Tx {
			return bad("another transaction")
		}
		return x.txOf(c.Tx, c.Inst)
	case ClaimHeal:
		return needRec(run.Heal)
	case ClaimKey:
		live := false
		for k := range f.Keys {
			key := &f.Keys[k]
			same := c.Key != "" && key.Name == c.Key || c.Key == "" && key.Name == "" && key.Event == c.Event
			if !same || c.Rec < 0 || !f.Live(k, c.Rec, c.At) || c.Value != "" && key.Value != c.Value {
				continue
			}
			live = true
			if c.Yes && c.To != 0 && key.Expires != c.To {
				return bad("it expires at %d", key.Expires)
			}
		}
		if live != c.Yes {
			return bad("live: %v", live)
		}
	case ClaimExpired:
		cr := x.calls[c.Call]
		if cr == nil || cr.serve < 0 {
			return bad("c%d was not served", c.Call)
		}
		s := &x.trace[cr.serve]
		if s.Answer != run.Yes || s.At != c.At || s.Dur != c.Dur && !x.isMember(c) || c.To != c.At+c.Dur {
			return bad("c%d set %q at %d for %d", c.Call, s.Key, s.At, s.Dur)
		}
		// Nothing ended it before it expired: no later write or delete
		// of the same key (or member, or mark) served before then, and
		// no loss of it.
		for j := cr.serve + 1; j < len(x.trace) && x.trace[j].At < c.To; j++ {
			o := &x.trace[j]
			if o.Kind != run.Serve || o.Answer != run.Yes || !x.sameSlot(o, s) {
				continue
			}
			if writes(o.Op) || deletes(o.Op) {
				return bad("record %d ended it first", j)
			}
		}
		for k := range f.Keys {
			if key := &f.Keys[k]; key.Call == c.Call && key.Lost >= 0 && x.trace[key.EndRec].At < c.To {
				return bad("Redis lost it first")
			}
		}
	case ClaimKeyEnded:
		for k := range f.Keys {
			if key := &f.Keys[k]; key.Call == c.Call {
				if key.EndRec != c.Rec || c.Op == 0 && key.Lost < 0 || c.Op != 0 && (key.EndCall == 0 || f.Calls[key.EndCall].Op != c.Op) {
					return bad("it ended at %d", key.EndRec)
				}
				return nil
			}
		}
		return bad("c%d wrote no value", c.Call)
	case ClaimNoWrite:
		to := c.To
		if to == 0 {
			to = math.MaxInt64
		}
		for j, o := range x.trace {
			if o.Kind != run.Serve || o.Answer != run.Yes || !writes(o.Op) || o.At <= c.At || o.At >= to {
				continue
			}
			if c.Key != "" && o.Key != c.Key || c.Key == "" && (o.Op.KV() || o.Event != c.Event) {
				continue
			}
			if c.Rec < 0 || x.calls[o.Call].attempt == c.Rec {
				return bad("record %d wrote it", j)
			}
		}
	case ClaimLedger:
		got := len(f.Events[c.Event].Applications)
		if c.Rec >= 0 {
			got = f.Ledger(c.Event, c.Rec)
		}
		if got != c.N {
			return bad("the ledger holds it %d times", got)
		}
	case ClaimApplied:
		for _, ap := range f.Events[c.Event].Applications {
			if ap.Tx == c.Tx && ap.Inst == c.Inst && ap.At == c.At && ap.Rec == c.Rec {
				if s := x.rec(c.Rec); s == nil || s.Kind != run.Serve || s.Tx != c.Tx || s.Answer != run.Yes {
					return bad("record %d is not the serve of tx%d's commit", c.Rec, c.Tx)
				}
				return nil
			}
		}
		return bad("no such application")
	case ClaimNotApplied:
		for _, ap := range f.Events[c.Event].Applications {
			if c.Rec < 0 || ap.Rec <= c.Rec {
				return bad("applied at %d", ap.Rec)
			}
		}
	case ClaimIDCommitted:
		if c.Rec >= 0 && f.IDCommitted(c.Event, c.Rec) != c.Yes || c.Rec < 0 && c.Yes {
			return bad("committed: %v", !c.Yes)
		}
	case ClaimTxHolds:
		if int(c.Tx) >= len(f.Txs) || !f.Txs[c.Tx].Holds(c.Op, c.Event) {
			return bad("tx%d does not hold %s of event %d", c.Tx, c.Op, c.Event)
		}
	case ClaimTxEnd:
		t := &f.Txs[c.Tx]
		if TxStatus(c.N) == TxOpen {
			if t.EndRec >= 0 && t.EndRec <= c.Rec {
				return bad("tx%d ended at %d", c.Tx, t.EndRec)
			}
		} else if t.Status != TxStatus(c.N) || t.EndRec != c.Rec {
			return bad("tx%d ended %d at %d", c.Tx, t.Status, t.EndRec)
		}
		if c.Inst >= 0 {
			return x.txOf(c.Tx, c.Inst)
		}
	case ClaimStalled:
		for _, o := range x.trace {
			if o.Kind == run.Stall && o.Inst == c.Inst && o.At <= c.At && c.At < o.At+o.Dur {
				return nil
			}
		}
		return bad("instance %d was not stalled at %d", c.Inst, c.At)
	case ClaimMemory:
		if !x.st.Memory || x.st.Teaching.Remembers != strategies.MemoryOnApplied {
			return bad("%s's description does not say when it writes its memory", x.st.Name)
		}
		holds := false
		for j := 0; j <= c.Rec && j < len(x.trace); j++ {
			o := &x.trace[j]
			switch {
			case o.Inst != c.Inst:
			case ends(o):
				holds = false
			case o.Kind == run.Handled && o.Outcome == run.Applied && o.Event == c.Event:
				holds = true
			}
		}
		if holds != c.Yes {
			return bad("by its rule, the memory holds it: %v", holds)
		}
		// And what the attempt that began there did must not belie it: a
		// handler whose memory did not hold the event cannot have skipped
		// it without asking any store.
		if a := x.attempts[c.Rec]; a != nil && x.trace[a.receive].Inst == c.Inst && x.trace[a.receive].Event == c.Event && !c.Yes && a.handled >= 0 && x.trace[a.handled].Outcome == run.Skipped && len(a.calls) == 0 {
			return bad("the attempt skipped without asking any store: its memory held the event, whatever the rule says")
		}
	case ClaimUp:
		why := x.stoppedAt(c.Inst, c.Rec, c.At)
		if (why == 0) != c.Yes || c.Record != 0 && why != c.Record {
			return bad("up: %v (%v)", why == 0, why)
		}
	case ClaimNotAcked:
		part, off := int32(0), int32(0)
		for _, o := range x.trace {
			if o.Kind == run.Publish && o.Msg == c.Msg {
				part, off = o.Part, o.Count
			}
		}
		for _, o := range x.trace {
			if o.Kind == run.Acked && o.Msg == c.Msg {
				return bad("m%d was acked", c.Msg)
			}
			// On the log, a commit past it is its ack.
			if o.Kind == run.Committed && part != 0 && o.Part == part && o.Count > off {
				return bad("a commit passed m%d", c.Msg)
			}
		}
	case ClaimHandledBefore:
		n := 0
		for j := 0; j < c.Rec && j < len(x.trace); j++ {
			o := &x.trace[j]
			switch {
			case o.Inst != c.Inst:
			case ends(o) && !c.Yes:
				n = 0
			case o.Kind == run.Receive && o.Event == c.Event:
				n++
			}
		}
		if n != c.N {
			return bad("it had begun %d", n)
		}
	case ClaimMarkKey:
		if x.st.Teaching.MarkKey == nil || x.st.Teaching.MarkKey(strategies.EventID(c.Event)) != c.Key {
			return bad("%s's description does not name %q event %d's mark", x.st.Name, c.Key, c.Event)
		}
	case ClaimRefers:
		if !told[c.Rec] {
			return bad("the story has not told record %d", c.Rec)
		}
	case ClaimBefore:
		if c.Rec < 0 || c.N < 0 || c.Rec >= c.N {
			return bad("record %d does not come before record %d", c.Rec, c.N)
		}

	// The claims about an instance's own memory, from its recorded calls:
	// checked by checkMemory, from the records.
	case ClaimMemCall, ClaimMemHeld, ClaimMemNone:
		return x.checkMemory(c)

	default:
		return bad("unknown kind")
	}
	return nil
}

// isMember reports whether claim c is about a set member, whose TTL is the
// set's.
func (x *traceIndex) isMember(c Claim) bool {
	cr := x.calls[c.Call]
	return cr != nil && x.trace[cr.call].Op == run.SAdd
}

// sameSlot reports whether served record o is about what serve s wrote:
// the same key (or member), or the same event's mark.
func (x *traceIndex) sameSlot(o, s *run.Record) bool {
	if s.Op.KV() != o.Op.KV() {
		return false
	}
	if !s.Op.KV() {
		return o.Event == s.Event
	}
	if o.Key != s.Key {
		return false
	}
	if s.Op == run.SAdd {
		return o.Op == run.Del || (o.Op == run.SAdd || o.Op == run.SRem) && x.trace[x.calls[o.Call].call].Value == x.trace[x.calls[s.Call].call].Value
	}
	return o.Op != run.SAdd && o.Op != run.SRem
}

// txOf checks that transaction tx is instance inst's.
func (x *traceIndex) txOf(tx uint32, inst int32) error {
	for _, r := range x.trace {
		if r.Kind == run.Call && r.Tx == tx {
			if r.Inst != inst {
				return fmt.Errorf("tx%d is instance %d's", tx, r.Inst)
			}
			return nil
		}
	}
	return fmt.Errorf("no tx%d", tx)
}

// sinceDelivery is how long after its latest delivery the message of
// requeue record i was put back.
func (x *traceIndex) sinceDelivery(i int) int64 {
	r := &x.trace[i]
	for j := i - 1; j >= 0; j-- {
		if d := &x.trace[j]; d.Kind == run.Deliver && d.Msg == r.Msg {
			return r.At - d.At
		}
	}
	return -1
}

var (
	mentionInst  = regexp.MustCompile(`\b[Ii]nstance (\d+)`)
	mentionEvent = regexp.MustCompile(`\b[Ee]vent (\d+)`)
	mentionMsg   = regexp.MustCompile(`\bm(\d+)\b`)
	mentionTime  = regexp.MustCompile(`\b(\d+\.\d{3}) ms\b`)
	stateEvent   = regexp.MustCompile(`\be(\d+)\b`)
)

// mentions checks that every instance, event, message, key and time a
// text names is one its claims state (or the step's own instance and
// time): a text names only what it claims.
func (x *traceIndex) mentions(where, text string, cs []Claim, inst int32, at int64) []string {
	var out []string
	has := func(pred func(Claim) bool) bool { return slices.ContainsFunc(cs, pred) }
	for _, m := range mentionInst.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		if int32(n) != inst && !has(func(c Claim) bool { return c.Inst == int32(n) }) {
			out = append(out, fmt.Sprintf("%s: names instance %d, which no claim states", where, n))
		}
	}
	for _, m := range mentionEvent.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		if !has(func(c Claim) bool { return c.Event == uint32(n) }) {
			out = append(out, fmt.Sprintf("%s: names event %d, which no claim states", where, n))
		}
	}
	for _, m := range mentionMsg.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		if !has(func(c Claim) bool { return c.Msg == uint32(n) || x.msgOfCall(c) == uint32(n) }) {
			out = append(out, fmt.Sprintf("%s: names m%d, which no claim states", where, n))
		}
	}
	for _, m := range mentionTime.FindAllStringSubmatch(text, -1) {
		v := m[1]
		same := func(ns int64) bool { return ns != 0 && fmt.Sprintf("%.3f", ms(ns)) == v }
		if !same(at) && !has(func(c Claim) bool { return same(c.At) || same(c.To) || same(c.Dur) || x.timeOf(c, same) }) {
			out = append(out, fmt.Sprintf("%s: names %s ms, which no claim states", where, v))
		}
	}
	for key := range x.keys {
		if containsWord(text, key) && !has(func(c Claim) bool { return c.Key == key }) {
			out = append(out, fmt.Sprintf("%s: names key %s, which no claim states", where, key))
		}
	}
	return out
}

// upstreamView is trace with the downstream topic's broker records (its
// publishes, deliveries, acks, ..., run.Record.Downstream) made of no
// kind, at their indexes, so that the checker's own readings of the
// upstream broker never count them; the downstream consumer's handlings
// (run.DownApply) stay, for checkDown. A trace without a downstream is
// returned as it is.
func upstreamView(trace []run.Record) []run.Record {
	if !slices.ContainsFunc(trace, func(r run.Record) bool { return r.Downstream() }) {
		return trace
	}
	out := slices.Clone(trace)
	for i := range out {
		if out[i].Downstream() && out[i].Kind != run.DownApply {
			out[i].Kind = 0
		}
	}
	return out
}

// msgOfCall is the message of the attempt a call claim's call was made
// in, 0 for another claim.
func (x *traceIndex) msgOfCall(c Claim) uint32 {
	if c.Kind != ClaimCall {
		return 0
	}
	if cr := x.calls[c.Call]; cr != nil {
		return x.trace[cr.call].Msg
	}
	return 0
}

// timeOf reports whether a call claim's call was sent, served or given up
// on at a time same accepts, or a record a claim names took place then.
func (x *traceIndex) timeOf(c Claim, same func(int64) bool) bool {
	if r := x.rec(c.Rec); r != nil && same(r.At) {
		return true
	}
	if c.Kind == ClaimCall || c.Kind == ClaimTimeout || c.Kind == ClaimCallLate {
		if cr := x.calls[c.Call]; cr != nil {
			for _, j := range []int{cr.call, cr.serve, cr.timeout} {
				if j >= 0 && same(x.trace[j].At) {
					return true
				}
			}
		}
	}
	return false
}

// containsWord reports whether key appears in text as a whole word: not
// inside a longer key ("idem:1" is not in "idem:12" or "idem:lock:1"'s
// "lock:1").
func containsWord(text, key string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], key)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !keyChar(text[j-1])
		end := j + len(key)
		after := end == len(text) || !keyChar(text[end]) || text[end] == ':' && (end+1 == len(text) || text[end+1] == ' ')
		if before && after {
			return true
		}
		i = j + 1
	}
}

func keyChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == ':' || b == '_' || b == '-' || b == '.'
}

// checkMemory holds a claim about an instance's own memory to the trace's
// memory records alone: what each call asked and was answered, and what
// the memory held, replayed from them (an Add puts an id in, a Remove
// takes it out, a Contains tells, a crash empties it).
func (x *traceIndex) checkMemory(c Claim) error {
	bad := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	r := x.rec(c.Rec)
	switch c.Kind {
	case ClaimMemCall:
		if r == nil || r.Kind != run.Memory {
			return bad("record %d is not a memory call", c.Rec)
		}
		if r.Inst != c.Inst || r.Op != c.Op || r.Event != c.Event || (r.Answer == run.Yes) != c.Yes {
			return bad("record %d is instance %d's %s", c.Rec, r.Inst, r.Detail())
		}
	case ClaimMemHeld:
		recorded := false
		for _, o := range x.trace {
			recorded = recorded || o.Kind == run.Memory
		}
		if !recorded {
			return bad("the trace records no memory call")
		}
		held := false
		for j := 0; j <= c.Rec && j < len(x.trace); j++ {
			o := &x.trace[j]
			switch {
			case o.Inst != c.Inst:
			case ends(o):
				held = false
			case o.Kind == run.Memory && o.Event == c.Event && o.Op == run.MemHas:
				held = o.Answer == run.Yes
			case o.Kind == run.Memory && o.Event == c.Event:
				held = o.Op == run.MemAdd
			}
		}
		if held != c.Yes {
			return bad("its memory held event %d: %v", c.Event, held)
		}
	case ClaimMemNone:
		from, to := 0, c.N
		if c.Rec >= 0 {
			a := x.attempts[c.Rec]
			if a == nil || x.trace[a.receive].Inst != c.Inst {
				return bad("no attempt of instance %d began at %d", c.Inst, c.Rec)
			}
			from = a.receive
			if a.end >= 0 {
				to = min(to, a.end)
			}
		}
		for j := from; j < to && j < len(x.trace); j++ {
			if o := &x.trace[j]; o.Kind == run.Memory && o.Inst == c.Inst && o.Op == c.Op && o.Event == c.Event {
				return bad("record %d is one", j)
			}
		}
	}
	return nil
}

// closedBy is the record at or before index from, and at requeue r's
// time, that closed r's instance's channel: the instance's crash, its cut
// from the broker or its lost ack; -1 if none. The world records the cause
// first, then the broker's requeues (sim: Down, Disconnect).
func closedBy(trace []run.Record, from int, r *run.Record) int {
	for j := from; j >= 0 && trace[j].At == r.At; j-- {
		o := &trace[j]
		if o.Inst != r.Inst {
			continue
		}
		switch {
		case o.Kind == run.Crash, o.Kind == run.AckLost, o.Kind == run.Partition && o.Stores&run.Broker != 0,
			o.Kind == run.Stall && o.Cause == run.Paused:
			return j
		}
	}
	// A graceful leave closes the channel when the leave reaches the
	// broker, a moment after the instance stopped: the instance's last
	// record before the requeue is its leave.
	for j := from; j >= 0; j-- {
		if o := &trace[j]; o.Inst == r.Inst && o.Kind != run.Requeue && o.Kind != run.Deliver && o.Kind != run.DeliverDrop {
			if o.Kind == run.Leave && o.Cause == run.Graceful {
				return j
			}
			break
		}
	}
	return -1
}

// startRecord is the late start the trace records (its Start record), nil
// if none.
func startRecord(trace []run.Record) *LateStart {
	for _, r := range trace {
		if r.Kind == run.Start {
			return &LateStart{Inst: r.Inst, At: r.At}
		}
	}
	return nil
}
