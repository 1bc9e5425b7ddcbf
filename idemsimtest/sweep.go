package idemsimtest

import (
	"fmt"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/sweep"
)

// cell is one scenario of a sweep: what it allows, and what its seeds
// showed.
type cell struct {
	set     faults.Set
	allowed kinds

	runs, violating int
	seen            kinds
	// firstSeed is, per kind, the first seed that showed it (0: none).
	firstSeed [len(kindNames)]uint64
	// storySeed is the first seed whose violation explain would tell is
	// not allowed: explain tells a duplicate before a lost event before a
	// stuck one (explain.KindOf). 0 if none.
	storySeed uint64
	// disagree counts the runs whose checkers disagreed, a bug in idemsim;
	// disagreeSeed is the first of them.
	disagree     int
	disagreeSeed uint64
}

// unexpected returns the kinds seen that the cell does not allow.
func (c *cell) unexpected() kinds { return c.seen &^ c.allowed }

// failed reports whether the cell fails the test.
func (c *cell) failed() bool { return c.unexpected() != 0 || c.disagree > 0 }

// seed is the seed a failure of c names: the one whose story is told, else
// the first that showed a kind not allowed.
func (c *cell) seed() uint64 {
	if c.storySeed != 0 {
		return c.storySeed
	}
	for i, s := range c.firstSeed {
		if c.unexpected()&(1<<i) != 0 && s != 0 {
			return s
		}
	}
	return c.disagreeSeed
}

// outcome is what one run showed.
type outcome struct {
	kinds, told kinds // told: the kind explain would tell
	agree       bool
}

// sweepPlan runs every seed of every cell of p on the sweep engine and
// fills in the cells. The result does not depend on the number of workers.
func sweepPlan(p *plan) error {
	n := p.seeds()
	opts := sweep.Options{Workers: p.workers, RunMemory: sweep.EstimateRunMemory(p.events, p.instances)}
	do := func(i int) (outcome, error) {
		cfg := p.config(p.cells[i/n], p.first+uint64(i%n))
		cfg.NoTraceHash = true
		res, err := sim.Run(cfg)
		if err != nil {
			return outcome{}, fmt.Errorf("%s: %w", cfg.Reproduce(), err)
		}
		return outcome{kinds: kindsOf(res), told: toldOf(res), agree: res.CheckersAgree()}, nil
	}
	yield := func(i int, o outcome) bool {
		p.cells[i/n].record(p.first+uint64(i%n), o)
		return true
	}
	return sweep.Run(opts, len(p.cells)*n, do, yield)
}

// record counts what the run of seed showed in c.
func (c *cell) record(seed uint64, o outcome) {
	c.runs++
	if o.kinds != 0 {
		c.violating++
	}
	for k := range kindNames {
		if o.kinds&(1<<k) != 0 && c.firstSeed[k] == 0 {
			c.firstSeed[k] = seed
		}
	}
	c.seen |= o.kinds
	if o.told&^c.allowed != 0 && c.storySeed == 0 {
		c.storySeed = seed
	}
	if !o.agree {
		c.disagree++
		if c.disagreeSeed == 0 {
			c.disagreeSeed = seed
		}
	}
}

// story shrinks the run of cell c's story seed and tells it, as idemsim
// explain does; nil if c has no seed whose violation explain would tell.
func story(p *plan, c *cell) (*explain.Story, error) {
	if c.storySeed == 0 {
		return nil, nil
	}
	shrunk, err := explain.Shrink(p.config(c, c.storySeed))
	if err != nil {
		return nil, err
	}
	return explain.Tell(shrunk)
}

// rerun is the run a failure names: its seed at the sweep's size.
func rerun(p *plan, c *cell) run.Config { return p.config(c, c.seed()) }
