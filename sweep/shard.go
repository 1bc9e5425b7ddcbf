package sweep

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/idemsim/idemsim/run"
)

// Shard is slice K of N of a comparison's seeds. The seeds 1..S are cut
// into N contiguous ranges, in order, whose sizes differ by one at most;
// slice K (1 <= K <= N) is the K-th of them. Its text form is "K/N".
type Shard struct{ K, N int }

// Whole is the one slice that holds every seed.
var Whole = Shard{1, 1}

// shardSyntax says what a shard's text must be, for messages.
const shardSyntax = "want K/N, slice K of N, two whole numbers with K from 1 to N, e.g. 3/16"

// ParseShard reads "K/N". An error says what is accepted.
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, errK := strconv.Atoi(ks)
	n, errN := strconv.Atoi(ns)
	if !ok || errK != nil || errN != nil || k < 1 || k > n {
		return Shard{}, run.BadConfigf("shard %q: %s", s, shardSyntax)
	}
	return Shard{k, n}, nil
}

// String is "K/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// MarshalText writes "K/N", as a part's JSON holds it.
func (s Shard) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "K/N".
func (s *Shard) UnmarshalText(b []byte) error {
	p, err := ParseShard(string(b))
	*s = p
	return err
}

// Seeds is the range of seeds first..last that the slice covers of seeds
// 1..seeds. With N <= seeds, no slice is empty.
func (s Shard) Seeds(seeds int) (first, last int) {
	return (s.K-1)*seeds/s.N + 1, s.K * seeds / s.N
}

// check reports whether s is a slice of seeds 1..seeds, none empty.
func (s Shard) check(seeds int) error {
	if s.K < 1 || s.K > s.N {
		return run.BadConfigf("shard %s: %s", s, shardSyntax)
	}
	if s.N > seeds {
		return run.BadConfigf("shard %s: seeds 1..%d cannot be cut into %d slices: N must be 1 to %d, the number of seeds", s, seeds, s.N, seeds)
	}
	return nil
}

// Part is one slice of a comparison: its cells over the slice's seeds
// only, and what the whole comparison is, so that Merge can check that
// parts belong together. Its JSON form is the output of
// `idemsim compare --shard K/N`.
type Part struct {
	Shard     Shard `json:"shard"`
	FirstSeed int   `json:"first_seed"`
	LastSeed  int   `json:"last_seed"`
	// Seeds, Instances and Events are the whole comparison's, as in
	// Comparison: the whole runs seeds 1..Seeds.
	Seeds     int `json:"seeds"`
	Instances int `json:"instances"`
	Events    int `json:"events"`
	// BrokerNaming names the broker of every run, as in Comparison.
	run.BrokerNaming
	// Brokers lists the broker models of the whole comparison, in table
	// order, when it has more than one (compare --broker queue,log): each
	// slice is then one part per model, and MergeBrokers wants them all.
	// Empty for a comparison of one model.
	Brokers []string `json:"brokers,omitempty"`
	// Strategies are the table's rows: a strategy that does not run on
	// the part's broker is among them, with no cells.
	Strategies []string `json:"strategies"`
	Scenarios  []string `json:"scenarios"`
	// Command is the `idemsim compare` command line of the whole
	// comparison, without --shard and --out, which the files of a merge
	// name; Compare leaves it to the caller, and Merge does not read it.
	Command string `json:"command"`
	// Results are the cells over seeds FirstSeed..LastSeed, in result
	// order, as in Comparison.
	Results []Cell `json:"results"`

	// Source says where the part was read from, for Merge's messages.
	Source string `json:"-"`
}

// CompareShard runs slice s of the comparison cc: every cell over the
// slice's seeds only. The cells add up, over the slices 1/N..N/N, to what
// Compare finds (see Merge). Bad config, such as more slices than seeds,
// is an error that matches run.ErrBadConfig.
func CompareShard(cc CompareConfig, s Shard) (*Part, error) {
	cc = cc.withDefaults()
	if err := cc.validate(); err != nil {
		return nil, err
	}
	if err := s.check(cc.Seeds); err != nil {
		return nil, err
	}
	first, last := s.Seeds(cc.Seeds)
	cells, err := compareSeeds(cc, first, last)
	if err != nil {
		return nil, err
	}
	p := &Part{Shard: s, FirstSeed: first, LastSeed: last, Seeds: cc.Seeds, Instances: cc.Instances, Events: cc.Events,
		BrokerNaming: run.NameBroker(cc.BrokerModel, cc.Broker), Strategies: slices.Clone(cc.Strategies), Results: cells}
	for _, sc := range cc.Scenarios {
		p.Scenarios = append(p.Scenarios, sc.String())
	}
	return p, nil
}

// ErrBadMerge is matched (errors.Is) by every error of Merge and ReadPart.
// Those errors read as the problem alone, naming the parts by Source.
var ErrBadMerge = errors.New("sweep: bad merge")

// mergeError is an error of Merge or ReadPart.
type mergeError struct{ msg string }

func (e *mergeError) Error() string { return e.msg }

// Is reports whether target is ErrBadMerge.
func (e *mergeError) Is(target error) bool { return target == ErrBadMerge }

// mergeErrorf returns a mergeError with a formatted message.
func mergeErrorf(format string, args ...any) error {
	return &mergeError{msg: fmt.Sprintf(format, args...)}
}

// name is how messages call p: its Source, or its shard.
func (p *Part) name() string {
	if p.Source != "" {
		return p.Source
	}
	return "slice " + p.Shard.String()
}
