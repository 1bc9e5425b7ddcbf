package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

// Stats are the totals of one point of a series over its seeds.
type Stats struct {
	Runs          int `json:"runs"`
	ViolatingRuns int `json:"violating_runs"`
	Duplicates    int `json:"duplicates"`
	Lost          int `json:"lost"`
	Stuck         int `json:"stuck"`
	// Dead counts dead-lettered events (run.Result.Dead); left out of the
	// JSON when 0.
	Dead int `json:"dead,omitempty"`
	// Ghosts counts the downstream events applied for an upstream effect
	// that rolled back (run.Result.Ghosts); left out of the JSON when 0.
	// The downstream's missing events count in Lost, its duplicates in
	// Duplicates.
	Ghosts int `json:"ghosts,omitempty"`
}

// DuplicatesPerRun is the mean number of duplicates per run: applications
// beyond the first, summed over a run's events. It is 0 without runs.
func (s Stats) DuplicatesPerRun() float64 {
	if s.Runs == 0 {
		return 0
	}
	return float64(s.Duplicates) / float64(s.Runs)
}

// add counts one run.
func (s *Stats) add(o outcome) {
	s.merge(Stats{Runs: 1, Duplicates: o.duplicates, Lost: o.lost, Stuck: o.stuck, Dead: o.dead, Ghosts: o.ghosts})
	if o.violating {
		s.ViolatingRuns++
	}
}

// merge adds o, the counts of other runs, to s.
func (s *Stats) merge(o Stats) {
	s.Runs += o.Runs
	s.ViolatingRuns += o.ViolatingRuns
	s.Duplicates += o.Duplicates
	s.Lost += o.Lost
	s.Stuck += o.Stuck
	s.Dead += o.Dead
	s.Ghosts += o.Ghosts
}

// InstancesPoint is one strategy with one number of instances.
type InstancesPoint struct {
	Instances int `json:"instances"`
	Stats
}

// InstancesSeries is one strategy's points, by growing instance count.
type InstancesSeries struct {
	Strategy string           `json:"strategy"`
	Points   []InstancesPoint `json:"points"`
}

// InstancesData is the instances series: duplicates as the number of
// consumer instances grows, under one scenario, over seeds 1..Seeds. It is
// what results/sweep-instances.json holds.
type InstancesData struct {
	Scenario string            `json:"scenario"`
	Seeds    int               `json:"seeds"`
	Events   int               `json:"events"`
	Series   []InstancesSeries `json:"series"`
}

// TTLPoint is one strategy with one mark TTL.
type TTLPoint struct {
	MarkTTLMS int64 `json:"mark_ttl_ms"`
	Stats
}

// MarkTTL is the point's mark TTL.
func (p TTLPoint) MarkTTL() time.Duration { return time.Duration(p.MarkTTLMS) * time.Millisecond }

// TTLSeries is one strategy's points, by growing mark TTL.
type TTLSeries struct {
	Strategy string     `json:"strategy"`
	Points   []TTLPoint `json:"points"`
}

// TTLData is the TTL series: duplicates as Redis marks live shorter than
// the late copies take to arrive, under the ttl scenario with the mark TTL
// fixed (run.Config.MarkTTL), over seeds 1..Seeds. LateMinMS and LateMaxMS
// bound when the ttl fault's late copies arrive after the first copy: the
// redelivery horizon. It is what results/sweep-ttl.json holds.
type TTLData struct {
	Scenario  string      `json:"scenario"`
	Seeds     int         `json:"seeds"`
	Instances int         `json:"instances"`
	Events    int         `json:"events"`
	LateMinMS int64       `json:"late_min_ms"`
	LateMaxMS int64       `json:"late_max_ms"`
	Series    []TTLSeries `json:"series"`
}

// SeriesConfig sizes the series of Instances and TTL. Zero values mean the
// defaults.
type SeriesConfig struct {
	Seeds  int // seeds 1..Seeds at every point; default DefaultSeriesSeeds
	Events int // events per run; default 200
	// Workers and MaxMemory bound the runs at once, as in Options; the
	// result depends on neither.
	Workers   int
	MaxMemory int64
}

// DefaultSeriesSeeds is a series' default number of seeds per point.
const DefaultSeriesSeeds = 50

// InstancesScenario is the instances series' scenario: redeliver, where
// two copies of one event can be in flight on two instances at once. The
// series runs every strategy (InstancesStrategies) with 1 to InstancesMax
// instances.
var InstancesScenario = faults.Of(faults.Redeliver)

// InstancesStrategies lists the instances series' strategies: every
// registered one that runs on the queue, where the series runs, in table
// order.
func InstancesStrategies() []string { return strategies.NamesOn(run.DefaultBroker) }

// TTLStrategies lists the TTL series' strategies: those whose marks live
// in Redis, where a TTL can expire them.
func TTLStrategies() []string {
	var names []string
	for _, s := range strategies.All() {
		if s.Needs.Has(strategies.NeedsMarks) {
			names = append(names, s.Name)
		}
	}
	return names
}

// InstancesMax is the largest instance count of the instances series.
const InstancesMax = 8

// The TTL series' shape: the strategies with Redis marks (TTLStrategies),
// under scenario ttl, with TTLInstances instances, at each of TTLValues.
var (
	TTLScenario = faults.Of(faults.TTL)
	TTLValues   = []time.Duration{
		500 * time.Millisecond, 1 * time.Second, 2 * time.Second, 3 * time.Second,
		4 * time.Second, 6 * time.Second, 8 * time.Second, 10 * time.Second,
		12 * time.Second, 16 * time.Second, 20 * time.Second, 25 * time.Second,
		30 * time.Second, 45 * time.Second, 60 * time.Second,
	}
)

// TTLInstances is the TTL series' instance count, compare's default.
const TTLInstances = 3

// SeriesRuns is how many runs Instances and TTL make together over seeds
// 1..seeds.
func SeriesRuns(seeds int) int {
	return seeds * (len(InstancesStrategies())*InstancesMax + len(TTLStrategies())*len(TTLValues))
}

// withDefaults fills in the zero fields.
func (c SeriesConfig) withDefaults() SeriesConfig {
	if c.Seeds == 0 {
		c.Seeds = DefaultSeriesSeeds
	}
	if c.Events == 0 {
		c.Events = 200
	}
	return c
}

// validate reports what is wrong with c, defaults filled in; the error
// matches run.ErrBadConfig.
func (c SeriesConfig) validate() error {
	if c.Seeds < 1 || c.Seeds > MaxSeeds {
		return run.BadConfigf("seeds must be 1 to %d, not %d", MaxSeeds, c.Seeds)
	}
	if c.Events < 1 || c.Events > run.MaxEvents {
		return run.BadConfigf("events must be 1 to %d, not %d", run.MaxEvents, c.Events)
	}
	if c.MaxMemory < 0 {
		return run.BadConfigf("memory budget must be positive, not %d bytes", c.MaxMemory)
	}
	return nil
}

// Instances runs the instances series: every strategy of
// InstancesStrategies with 1 to InstancesMax instances under
// InstancesScenario, seeds 1..Seeds each. The result is the same whatever
// the number of workers.
func Instances(c SeriesConfig) (*InstancesData, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	d := &InstancesData{Scenario: InstancesScenario.String(), Seeds: c.Seeds, Events: c.Events}
	var cfgs []run.Config
	for _, st := range InstancesStrategies() {
		s := InstancesSeries{Strategy: st}
		for n := 1; n <= InstancesMax; n++ {
			s.Points = append(s.Points, InstancesPoint{Instances: n})
			cfgs = append(cfgs, run.Config{Strategy: st, Faults: InstancesScenario, Instances: n, Events: c.Events, NoTraceHash: true})
		}
		d.Series = append(d.Series, s)
	}
	stats, err := points(c, cfgs)
	if err != nil {
		return nil, err
	}
	for si := range d.Series {
		for pi := range d.Series[si].Points {
			d.Series[si].Points[pi].Stats, stats = stats[0], stats[1:]
		}
	}
	return d, nil
}

// TTL runs the TTL series: each strategy of TTLStrategies under
// TTLScenario with the mark TTL fixed at each of TTLValues, seeds 1..Seeds
// each. The result is the same whatever the number of workers.
func TTL(c SeriesConfig) (*TTLData, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	// The horizon is the ttl fault's: its bounds do not depend on the seed.
	p := faults.Draw(TTLScenario, 1)
	d := &TTLData{
		Scenario: TTLScenario.String(), Seeds: c.Seeds, Instances: TTLInstances, Events: c.Events,
		LateMinMS: p.LateMin.Milliseconds(), LateMaxMS: p.LateMax.Milliseconds(),
	}
	var cfgs []run.Config
	for _, st := range TTLStrategies() {
		s := TTLSeries{Strategy: st}
		for _, ttl := range TTLValues {
			s.Points = append(s.Points, TTLPoint{MarkTTLMS: ttl.Milliseconds()})
			cfgs = append(cfgs, run.Config{Strategy: st, Faults: TTLScenario, Instances: TTLInstances, Events: c.Events, MarkTTL: ttl, NoTraceHash: true})
		}
		d.Series = append(d.Series, s)
	}
	stats, err := points(c, cfgs)
	if err != nil {
		return nil, err
	}
	for si := range d.Series {
		for pi := range d.Series[si].Points {
			d.Series[si].Points[pi].Stats, stats = stats[0], stats[1:]
		}
	}
	return d, nil
}

// points runs each of cfgs over seeds 1..c.Seeds and returns each one's
// totals, in the order of cfgs.
func points(c SeriesConfig, cfgs []run.Config) ([]Stats, error) {
	largest := int64(0)
	for _, cfg := range cfgs {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		largest = max(largest, EstimateRunMemory(cfg.Events, cfg.Instances))
	}
	stats := make([]Stats, len(cfgs))
	// Job i is config i/Seeds with seed 1+i%Seeds.
	o := Options{Workers: c.Workers, MaxMemory: c.MaxMemory, RunMemory: largest}
	err := Run(o, len(cfgs)*c.Seeds, func(i int) (outcome, error) {
		cfg := cfgs[i/c.Seeds]
		cfg.Seed = uint64(1 + i%c.Seeds)
		r, err := sim.Run(cfg)
		if err != nil {
			return outcome{}, runError(cfg, err)
		}
		return outcomeOf(r), nil
	}, func(i int, o outcome) bool {
		stats[i/c.Seeds].add(o)
		return true
	})
	if err != nil {
		return nil, err
	}
	return stats, nil
}

// ErrBadData reports a file that does not hold a series' data.
var ErrBadData = errors.New("not the data of a sweep")

// ReadInstances reads an instances series in its JSON form.
func ReadInstances(r io.Reader) (*InstancesData, error) {
	var d InstancesData
	if err := decodeStrict(r, &d); err != nil {
		return nil, err
	}
	if d.Seeds < 1 || len(d.Series) == 0 {
		return nil, fmt.Errorf("%w: no seeds or no series", ErrBadData)
	}
	for _, s := range d.Series {
		if s.Strategy == "" || len(s.Points) == 0 {
			return nil, fmt.Errorf("%w: a series without a strategy or points", ErrBadData)
		}
	}
	return &d, nil
}

// ReadTTL reads a TTL series in its JSON form.
func ReadTTL(r io.Reader) (*TTLData, error) {
	var d TTLData
	if err := decodeStrict(r, &d); err != nil {
		return nil, err
	}
	if d.Seeds < 1 || len(d.Series) == 0 {
		return nil, fmt.Errorf("%w: no seeds or no series", ErrBadData)
	}
	for _, s := range d.Series {
		if s.Strategy == "" || len(s.Points) == 0 {
			return nil, fmt.Errorf("%w: a series without a strategy or points", ErrBadData)
		}
		for _, p := range s.Points {
			if p.MarkTTLMS <= 0 {
				return nil, fmt.Errorf("%w: mark TTL %d ms is not positive", ErrBadData, p.MarkTTLMS)
			}
		}
	}
	return &d, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields, so
// that a file of another kind is not mistaken for a series.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadData, err)
	}
	return nil
}
