package sweep

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
)

// notAPart begins the message about a file that is not a whole part.
const notAPart = "not a slice written by 'idemsim compare --shard K/N'"

// ReadPart reads one part in its JSON form; source names it in messages,
// as its file. Anything else, a compare.json included, or a part whose
// numbers do not add up, is an error that matches ErrBadMerge.
func ReadPart(r io.Reader, source string) (*Part, error) {
	var p Part
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, mergeErrorf("%s: %s: %v", source, notAPart, err)
	}
	if dec.More() {
		return nil, mergeErrorf("%s: %s: more than one JSON value", source, notAPart)
	}
	p.Source = source
	if err := p.check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// check reports whether p is a whole slice: its seed range is its shard's,
// and its cells are its strategies under its scenarios, in result order,
// each with one run per seed of the range.
func (p *Part) check() error {
	bad := func(format string, args ...any) error {
		return mergeErrorf("%s: %s: %s", p.name(), notAPart, fmt.Sprintf(format, args...))
	}
	switch {
	case p.Shard.N == 0:
		return bad("no shard")
	case p.Seeds < 1 || p.Seeds > MaxSeeds:
		return bad("seeds must be 1 to %d, not %d", MaxSeeds, p.Seeds)
	case p.Command == "":
		return bad("no command")
	case len(p.Strategies) == 0 || len(p.Scenarios) == 0:
		return bad("no strategy or no scenario")
	}
	// A strategy that does not run on the part's broker has no cells.
	rows := runsOn(p.Strategies, p.Broker)
	if len(p.Results) != len(rows)*len(p.Scenarios) {
		return bad("%d cells for %d strategies x %d scenarios on the %s broker", len(p.Results), len(rows), len(p.Scenarios), brokerName(p.Broker))
	}
	if err := p.Shard.check(p.Seeds); err != nil {
		return bad("%v", err)
	}
	first, last := p.Shard.Seeds(p.Seeds)
	if p.FirstSeed != first || p.LastSeed != last {
		return bad("slice %s of seeds 1..%d is seeds %d..%d, not %d..%d", p.Shard, p.Seeds, first, last, p.FirstSeed, p.LastSeed)
	}
	for i, c := range p.Results {
		st, name := rows[i/len(p.Scenarios)], p.Scenarios[i%len(p.Scenarios)]
		sc, err := faults.Parse(name)
		if err != nil || sc.String() != name {
			return bad("scenario %q is not a scenario's name", name)
		}
		model, params, err := p.BrokerNaming.Params()
		if err != nil {
			return bad("%v", err)
		}
		if err := (run.Config{Strategy: st, Faults: sc, Instances: p.Instances, Events: p.Events, BrokerModel: model, Broker: params}).Validate(); err != nil {
			return bad("%v", err)
		}
		failed := c.FirstFailingSeed != nil
		switch {
		case c.Strategy != st || c.Scenario != name || !slices.Equal(c.Faults, sc.Names()):
			return bad("cell %d is %s under %s, not %s under %s", i+1, c.Strategy, c.Scenario, st, name)
		case c.BrokerNaming != p.BrokerNaming:
			return bad("%s/%s has broker %+v, not %+v", st, name, c.BrokerNaming, p.BrokerNaming)
		case c.Instances != p.Instances || c.Events != p.Events:
			return bad("%s/%s has %d instances and %d events, not %d and %d", st, name, c.Instances, c.Events, p.Instances, p.Events)
		case c.Runs != last-first+1:
			return bad("%s/%s has %d runs, not %d", st, name, c.Runs, last-first+1)
		case failed != (c.ViolatingRuns > 0),
			failed && (*c.FirstFailingSeed < uint64(first) || *c.FirstFailingSeed > uint64(last)):
			return bad("%s/%s: its first failing seed and violating runs do not agree with seeds %d..%d", st, name, first, last)
		}
	}
	return nil
}

// differs says how q differs from p as a comparison, "" if it does not.
func (p *Part) differs(q *Part) string {
	switch {
	case p.Shard.N != q.Shard.N:
		return fmt.Sprintf("cut into %d and %d slices", p.Shard.N, q.Shard.N)
	case p.Seeds != q.Seeds:
		return fmt.Sprintf("seeds 1..%d and seeds 1..%d", p.Seeds, q.Seeds)
	case p.Instances != q.Instances:
		return fmt.Sprintf("%d and %d instances", p.Instances, q.Instances)
	case p.Events != q.Events:
		return fmt.Sprintf("%d and %d events", p.Events, q.Events)
	case p.BrokerNaming != q.BrokerNaming:
		return fmt.Sprintf("brokers %+v and %+v", p.BrokerNaming, q.BrokerNaming)
	case !slices.Equal(p.Strategies, q.Strategies):
		return fmt.Sprintf("strategies %s and %s", strings.Join(p.Strategies, ","), strings.Join(q.Strategies, ","))
	case !slices.Equal(p.Scenarios, q.Scenarios):
		return fmt.Sprintf("scenarios %s and %s", strings.Join(p.Scenarios, " "), strings.Join(q.Scenarios, " "))
	}
	return ""
}

// Merge joins the parts of one comparison, given in any order, into the
// Comparison that Compare finds for the whole: every count is the sum of
// the slices', and a cell's first failing seed is that of the first slice,
// in seed order, that has one. Each slice 1/N..N/N must be there exactly
// once. Parts of different comparisons, a slice missing or repeated, or a
// part that is not a whole slice are errors that match ErrBadMerge and
// name the parts.
func Merge(parts []*Part) (*Comparison, error) {
	if len(parts) == 0 {
		return nil, mergeErrorf("no slice to merge")
	}
	for _, p := range parts {
		if err := p.check(); err != nil {
			return nil, err
		}
	}
	head := parts[0]
	for _, p := range parts[1:] {
		if d := head.differs(p); d != "" {
			return nil, mergeErrorf("%s and %s are slices of different comparisons: %s; give the slices of one comparison", head.name(), p.name(), d)
		}
	}
	n := head.Shard.N
	byK := make([][]*Part, n+1)
	for _, p := range parts {
		byK[p.Shard.K] = append(byK[p.Shard.K], p)
	}
	var problems, missing []string
	for k := 1; k <= n; k++ {
		switch len(byK[k]) {
		case 0:
			first, last := Shard{k, n}.Seeds(head.Seeds)
			missing = append(missing, fmt.Sprintf("%d/%d (seeds %d..%d)", k, n, first, last))
		case 1:
		default:
			var names []string
			for _, p := range byK[k] {
				names = append(names, p.name())
			}
			problems = append(problems, fmt.Sprintf("slice %d/%d is given %d times: %s", k, n, len(byK[k]), strings.Join(names, ", ")))
		}
	}
	if len(missing) > 0 {
		what := "slice"
		if len(missing) > 1 {
			what = "slices"
		}
		problems = append(problems, fmt.Sprintf("%s missing: %s", what, strings.Join(missing, ", ")))
	}
	if len(problems) > 0 {
		return nil, mergeErrorf("cannot merge: %s; give each slice 1/%d to %d/%d once", strings.Join(problems, "; "), n, n, n)
	}

	cells := make([]Cell, len(head.Results))
	for i, c := range head.Results {
		sc, _ := faults.Parse(c.Scenario) // check parsed it
		cells[i] = Cell{Strategy: c.Strategy, Faults: sc.Names(), Scenario: c.Scenario, BrokerNaming: head.BrokerNaming, Instances: c.Instances, Events: c.Events}
	}
	for k := 1; k <= n; k++ { // in seed order, so the first failing seed is the smallest
		for i, c := range byK[k][0].Results {
			cells[i].merge(c)
		}
	}
	for i := range cells {
		cells[i].ReproduceCmd = cells[i].Reproduce()
	}
	return &Comparison{Seeds: head.Seeds, Instances: head.Instances, Events: head.Events, BrokerNaming: head.BrokerNaming, Results: cells}, nil
}

// merge adds o, the same cell over later seeds, to c.
func (c *Cell) merge(o Cell) {
	c.Stats.merge(o.Stats)
	c.Disagreements += o.Disagreements
	if c.FirstFailingSeed == nil && o.FirstFailingSeed != nil {
		seed := *o.FirstFailingSeed
		c.FirstFailingSeed = &seed
	}
}
