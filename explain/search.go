package explain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// DefaultSeeds is how many seeds Search and Shrink try, 1..DefaultSeeds,
// for each shape of run.
const DefaultSeeds = 200

// Kind is a kind of violation of exactly-once.
type Kind uint8

// The kinds of violation, in the order KindOf prefers them.
const (
	NoViolation Kind = iota // exactly-once held
	Duplicate               // an event's effect was applied more than once
	Lost                    // the broker considers an event done, its effect was never applied
	Stuck                   // an event never settled
	// The downstream's, for a strategy that sends events on:
	Ghost  // a downstream event was applied for an effect that never committed
	Unsent // an effect committed, and its downstream event never reached the downstream ("lost", as the table counts it)
)

// String names the kind as the outcome table does.
func (k Kind) String() string {
	switch k {
	case Duplicate:
		return "dup"
	case Lost, Unsent:
		return "lost"
	case Stuck:
		return "stuck"
	case Ghost:
		return "ghost"
	}
	return "ok"
}

// KindOf returns the kind of violation r shows: a duplicate before a lost
// event before a stuck one, or NoViolation.
func KindOf(r *sim.Result) Kind {
	switch {
	case r.Duplicates > 0:
		return Duplicate
	case r.Lost > 0:
		return Lost
	case r.DownstreamLost > 0:
		return Unsent
	case r.Ghosts > 0:
		return Ghost
	case r.Stuck > 0:
		return Stuck
	}
	return NoViolation
}

// In reports whether r shows at least one violation of kind k.
func (k Kind) In(r *sim.Result) bool {
	switch k {
	case Duplicate:
		return r.Duplicates > 0
	case Lost:
		// As the table counts it: a downstream event lost too.
		return r.Lost > 0 || r.DownstreamLost > 0
	case Unsent:
		return r.DownstreamLost > 0
	case Ghost:
		return r.Ghosts > 0
	case Stuck:
		return r.Stuck > 0
	}
	return false
}

// ParseKind parses a kind of violation as the outcome table names it:
// "dup", "lost" or "stuck".
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{Duplicate, Lost, Stuck, Ghost} {
		if s == k.String() {
			return k, nil
		}
	}
	return NoViolation, fmt.Errorf("unknown kind of violation %q (accepted: %s)", s, strings.Join(KindNames(), ", "))
}

// KindNames lists the names ParseKind accepts.
func KindNames() []string {
	return []string{Duplicate.String(), Lost.String(), Stuck.String(), Ghost.String()}
}

// Scenarios lists the scenarios explain tries, in order, for strategy when
// the user names none: the strategy's lesson first, if its description
// names one (local-cache's textbook failure is redeliver); then every
// scenario its description expects to fail (Strategy.Expected: any but
// "ok", or not named), in table order. A strategy expected to survive
// every scenario gets them all, so that the search shows it.
func Scenarios(strategy string) []faults.Set { return ScenariosOn(strategy, run.DefaultBroker) }

// ScenariosOn is Scenarios on the broker model called broker, by the
// strategy's expected row there (Strategy.ExpectedRow); its lesson comes
// first only where that row does not expect it to pass.
func ScenariosOn(strategy, broker string) []faults.Set {
	st, ok := strategies.Lookup(strategy)
	row := st.ExpectedRow(broker)
	var out []faults.Set
	if ok && st.Lesson != "" && row[st.Lesson] != "ok" && row[st.Lesson] != "dead" {
		if s, err := faults.Parse(st.Lesson); err == nil {
			out = append(out, s)
		}
	}
	for i, sc := range faults.Scenarios() {
		if slices.Contains(out, sc) {
			continue
		}
		if want, named := row[faults.ScenarioNames()[i]]; named && (want == "ok" || want == "dead") {
			// dead (a refusal, a dead-letter) is no violation either.
			continue
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return faults.Scenarios()
	}
	return out
}

// Search runs seeds 1..seeds of strategy under fs, with instances consumer
// instances and the default 200 events, and returns the config of the
// smallest seed that violates exactly-once. It reports false if none does.
// A run that fails with an error (an invalid config, a strategy whose New
// fails or that panics) ends the search with that error: a search that
// could not run a seed found nothing about it. Seeds run in parallel, on
// the sweep engine, which gives the answer a search of one seed after the
// other would: the smallest seed that violates, or the error of a smaller
// seed.
func Search(strategy string, fs faults.Set, instances, seeds int) (sim.Config, bool, error) {
	return SearchWith(strategy, fs, instances, seeds, SearchOptions{})
}

// SearchKind is Search for a run that shows a violation of kind (any kind
// for NoViolation).
func SearchKind(strategy string, fs faults.Set, instances, seeds int, kind Kind) (sim.Config, bool, error) {
	return SearchWith(strategy, fs, instances, seeds, SearchOptions{Kind: kind})
}

// SearchOptions are what SearchWith takes beyond Search's arguments.
type SearchOptions struct {
	// Kind is the kind of violation to find; NoViolation for any.
	Kind Kind
	// Progress, if set, is called as seeds finish, with how many have
	// finished and the seeds to search, on the goroutine that called
	// SearchWith. It never changes what the search finds; a search that
	// finds a seed stops short of the total.
	Progress func(done, total int)
	// BrokerModel is the broker model the runs use ("": the queue), and
	// Broker its parameters (the zero value: the model's defaults); the
	// config found carries both, so that Shrink, Tell and the reproduce
	// line keep them.
	BrokerModel string
	Broker      run.BrokerParams
}

// SearchWith is Search with options: a kind of violation, and whom to tell
// how far the search got.
func SearchWith(strategy string, fs faults.Set, instances, seeds int, o SearchOptions) (sim.Config, bool, error) {
	cfg := normalize(sim.Config{Strategy: strategy, Faults: fs, Instances: instances, BrokerModel: o.BrokerModel, Broker: o.Broker})
	if err := cfg.Validate(); err != nil {
		return cfg, false, err
	}
	opts := seedOptions(cfg)
	opts.Progress = o.Progress
	var first uint64
	err := sweep.Run(opts, seeds, func(i int) (bool, error) {
		c := cfg
		c.Seed = uint64(i + 1)
		res, err := sim.Run(c)
		if err != nil {
			return false, err
		}
		return res.Violating() && (o.Kind == NoViolation || o.Kind.In(res)), nil
	}, func(i int, ok bool) bool {
		if ok {
			first = uint64(i + 1)
		}
		return !ok
	})
	if err != nil {
		return cfg, false, err
	}
	cfg.Seed = first
	return cfg, first != 0, nil
}

// Shrink returns the smallest run it can find that breaks exactly-once the
// same way as cfg (a duplicate stays a duplicate, a lost event stays lost).
// It is greedy, bounded and deterministic. It repeatedly tries fewer events
// (1, 2, 3, 4, 6, ... up to the current count), fewer instances (down to
// 1) and fewer faults (dropping one at a time, keeping at least one), each
// shape over seeds 1..DefaultSeeds, and keeps the first smaller shape that
// still fails; when no shape is smaller, it takes, of that shape, the seed
// whose story has the fewest steps. So the seed changes as the run
// shrinks: a seed draws the run's faults and timings, and a smaller run
// draws them anew (ShrunkWords says so). It prefers runs in which the faults of
// the set play a part in the violating event's story (so that a fault that
// plays none is dropped), and of the last shape a seed in which every one
// does; if there is none it settles for any run that fails the same way. A
// cfg that does not violate is returned as it is, with the defaults filled
// in. A cfg whose run fails with an error (an invalid config, a strategy
// whose New fails) returns that error; a smaller run that fails with one
// is no candidate.
func Shrink(cfg sim.Config) (sim.Config, error) { return ShrinkKind(cfg, NoViolation) }

// ShrinkKind is Shrink keeping a violation of kind (for NoViolation, the
// kind KindOf gives the run); a cfg that shows none of kind is returned as
// it is, with the defaults filled in.
func ShrinkKind(cfg sim.Config, kind Kind) (sim.Config, error) {
	cfg = normalize(cfg)
	res, err := sim.Run(cfg)
	if err != nil {
		return cfg, err
	}
	if !res.Violating() {
		return cfg, nil
	}
	if kind == NoViolation {
		kind = KindOf(res)
	}
	if !kind.In(res) {
		return cfg, nil
	}
	if involvable(cfg) {
		// Shrink keeping at least one fault in the story, so that the
		// faults dropping one of which would break the run stay; then take
		// a seed in whose story every fault left plays a part, if any.
		if out, ok := shrinkTo(cfg, target{kind: kind, involve: someFault}, DefaultSeeds); ok {
			if all, ok := fewestSteps(out, target{kind: kind, involve: everyFault}, DefaultSeeds); ok {
				return dropDecisions(all, target{kind: kind, involve: everyFault}), nil
			}
			return dropDecisions(out, target{kind: kind, involve: someFault}), nil
		}
	}
	out, _ := shrinkTo(cfg, target{kind: kind}, DefaultSeeds)
	return dropDecisions(out, target{kind: kind}), nil
}

// maxDropTries bounds the runs dropDecisions makes: a shrunk run makes a
// few dozen decisions at most, and each drop it keeps leaves one fewer.
const maxDropTries = 256

// dropDecisions shrinks the fault schedule of cfg, a run that meets t: it
// tries dropping the run's fault decisions (Result.Decisions) one at a
// time, in the order the run made them, and keeps each drop after which
// the run still meets t (the same kind of violation, and the faults that
// must play a part in its story still do). A run that drops a decision
// goes on differently from there and may reach new ones, which are tried
// in turn. So the story is told with the fewest strikes, and its
// reproduce line carries the drops (--drop). It returns cfg as it is if
// no decision can go.
func dropDecisions(cfg sim.Config, t target) sim.Config {
	res, err := sim.Run(cfg)
	if err != nil {
		return cfg
	}
	tried := make(map[faults.Decision]bool)
	pending := slices.Clone(res.Decisions)
	for n := 0; len(pending) > 0 && n < maxDropTries; n++ {
		d := pending[0]
		pending = pending[1:]
		if tried[d] {
			continue
		}
		tried[d] = true
		c := cfg
		c.Drop = append(slices.Clone(cfg.Drop), d)
		if !t.holds(c) {
			continue
		}
		cfg = c
		// The run goes on differently after the drop: what it decides
		// now, and has not been tried, comes next.
		if res, err := sim.Run(cfg); err == nil {
			pending = slices.DeleteFunc(slices.Clone(res.Decisions), func(d faults.Decision) bool { return tried[d] })
		}
	}
	return cfg
}

// involvable reports whether every fault of cfg's set can play a part in a
// story of its strategy: a Redis data loss cannot, for a strategy that
// keeps nothing in Redis.
func involvable(cfg sim.Config) bool {
	return !cfg.Faults.Has(faults.StoreLoss) || usesRedis(cfg.Strategy)
}

// involveMaxEvents bounds the runs in which Shrink looks for a story in
// which the faults play a part; past it, any run that fails the same way
// will do.
const involveMaxEvents = 16

// normalize fills in the defaults and drops what a search must not keep.
func normalize(cfg sim.Config) sim.Config {
	if cfg.Instances == 0 {
		cfg.Instances = 3
	}
	if cfg.Events == 0 {
		cfg.Events = 200
	}
	cfg.KeepTrace, cfg.KeepHistory = false, false
	return cfg
}

// target is what a shrunk run must keep: the kind of violation and, maybe,
// a violating event in whose story faults of the set play a part.
type target struct {
	kind    Kind
	involve involvement
}

// involvement is how many faults of the set must play a part in the story.
type involvement uint8

const (
	anyRun     involvement = iota // none need to
	someFault                     // at least one (any, for an empty set)
	everyFault                    // every one
)

// holds reports whether the run cfg meets t.
func (t target) holds(cfg sim.Config) bool {
	res, err := sim.Run(cfg)
	if err != nil || !t.kind.In(res) {
		return false
	}
	if t.involve == anyRun {
		return true
	}
	a := t.analyze(cfg)
	switch {
	case a == nil:
		return false
	case t.involve == everyFault:
		return a.allInvolved
	}
	return len(a.involved) > 0 || cfg.Faults == 0
}

// analyze replays cfg with its trace and analyzes it for t's kind; nil if
// the run does not show that kind.
func (t target) analyze(cfg sim.Config) *analysis {
	cfg.KeepTrace = true
	res, err := sim.Run(cfg)
	if err != nil || !t.kind.In(res) {
		return nil
	}
	return analyze(cfg, res.Trace, t.kind)
}

// maxRounds bounds the greedy loop; every round that goes on has made the
// run strictly smaller, so it ends long before.
const maxRounds = 64

// shrinkTo shrinks cfg while t holds, trying seeds 1..seeds per shape. It
// reports false if no run of cfg's shape or smaller meets t.
func shrinkTo(cfg sim.Config, t target, seeds int) (sim.Config, bool) {
	cur := cfg
	try := func(c sim.Config) bool {
		// A drop names an injection point of one run: another shape
		// numbers its points anew.
		c.Drop = nil
		s, ok := firstSeed(c, seeds, func(s uint64) bool {
			c := c
			c.Seed = s
			return t.holds(c)
		})
		if ok {
			c.Seed = s
			cur = c
		}
		return ok
	}
	for round := 0; round < maxRounds; round++ {
		changed := false
		for _, n := range eventSizes(cur.Events) {
			if t.involve != anyRun && n > involveMaxEvents {
				break
			}
			c := cur
			c.Events = n
			if try(c) {
				changed = true
				break
			}
		}
		for n := 1; n < cur.Instances; n++ {
			c := cur
			c.Instances = n
			if try(c) {
				changed = true
				break
			}
		}
		if fs := cur.Faults.Faults(); len(fs) > 1 {
			for _, f := range fs {
				c := cur
				c.Faults = cur.Faults &^ faults.Of(f)
				if try(c) {
					changed = true
					break
				}
			}
		}
		if !changed {
			break
		}
	}
	if t.involve != anyRun && cur.Events > involveMaxEvents {
		return cur, false
	}
	return fewestSteps(cur, t, seeds)
}

// eventSizes lists the event counts worth trying below n, smallest first.
func eventSizes(n int) []int {
	var out []int
	for _, k := range []int{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 50, 64, 100, 128} {
		if k < n {
			out = append(out, k)
		}
	}
	return out
}

// fewestSteps returns, among seeds 1..seeds of cfg's shape that meet t, the
// one whose story has the fewest steps, then the fewest trace records, then
// the smallest seed. It reports false, returning cfg, if no seed meets t.
func fewestSteps(cfg sim.Config, t target, seeds int) (sim.Config, bool) {
	type score struct {
		ok             bool
		steps, records int
	}
	best, top := 0, score{}
	// The seeds come in order, so a tie keeps the smaller one.
	_ = sweep.Run(seedOptions(cfg), seeds, func(i int) (score, error) {
		c := cfg
		c.Seed = uint64(i + 1)
		if c.Seed != cfg.Seed {
			c.Drop = nil // cfg's drops name its seed's points
		}
		if !t.holds(c) {
			return score{}, nil
		}
		a := t.analyze(c)
		if a == nil {
			return score{}, nil
		}
		return score{ok: true, steps: len(a.story().Steps), records: len(a.facts.Trace)}, nil
	}, func(i int, sc score) bool {
		if sc.ok && (best == 0 || sc.steps < top.steps || sc.steps == top.steps && sc.records < top.records) {
			best, top = i+1, sc
		}
		return true
	})
	if best == 0 {
		return cfg, false
	}
	if uint64(best) != cfg.Seed {
		cfg.Drop = nil
	}
	cfg.Seed = uint64(best)
	return cfg, true
}

// firstSeed returns the smallest seed in 1..seeds of cfg's shape for which
// hit holds. hit is called from several goroutines at once, and for a few
// seeds past the first hit, whose answers are dropped.
func firstSeed(cfg sim.Config, seeds int, hit func(seed uint64) bool) (uint64, bool) {
	var first uint64
	_ = sweep.Run(seedOptions(cfg), seeds, func(i int) (bool, error) {
		return hit(uint64(i + 1)), nil
	}, func(i int, ok bool) bool {
		if ok {
			first = uint64(i + 1)
		}
		return !ok
	})
	return first, first != 0
}

// seedOptions run the seeds of cfg's shape one per CPU, as many at once as
// the default memory budget allows. Their jobs never fail, so neither does
// sweep.Run with them.
func seedOptions(cfg sim.Config) sweep.Options {
	return sweep.Options{RunMemory: sweep.EstimateRunMemory(cfg.Events, cfg.Instances)}
}

// ShrunkWords says how Shrink went from the run found to the run shrunk,
// and why the seed changed when it did: as "2 instances, 1 event, faults
// redeliver, seed 2 (seed 2 is, of seeds 1..200 of this smaller run, ...)".
func ShrunkWords(found, shrunk sim.Config) string {
	s := fmt.Sprintf("%s, %s, faults %s, seed %d", plural(shrunk.Instances, "instance"), plural(shrunk.Events, "event"), shrunk.Faults, shrunk.Seed)
	if len(shrunk.Drop) > 0 {
		s += fmt.Sprintf(", %s dropped (--drop %s: the run fails the same way without %s)",
			plural(len(shrunk.Drop), "fault decision"), faults.FormatDecisions(shrunk.Drop), verb(len(shrunk.Drop), "it", "them"))
	}
	if shrunk.Seed != found.Seed {
		s += fmt.Sprintf(" (the seed draws a run's faults and timings, so a smaller run draws them anew: seed %d is, of seeds 1..%d of this smaller run that fail the same way, the one whose story has the fewest steps)",
			shrunk.Seed, DefaultSeeds)
	}
	return s
}
