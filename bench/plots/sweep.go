package plots

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
)

// Stats are the totals of one point of a sweep over its seeds.
type Stats struct {
	Runs          int `json:"runs"`
	ViolatingRuns int `json:"violating_runs"`
	Duplicates    int `json:"duplicates"`
	Lost          int `json:"lost"`
	Stuck         int `json:"stuck"`
}

// DuplicatesPerRun is the mean number of duplicates per run: applications
// beyond the first, summed over a run's events. It is 0 without runs.
func (s Stats) DuplicatesPerRun() float64 {
	if s.Runs == 0 {
		return 0
	}
	return float64(s.Duplicates) / float64(s.Runs)
}

// add counts one run's result.
func (s *Stats) add(r *sim.Result) {
	s.Runs++
	s.Duplicates += r.Duplicates
	s.Lost += r.Lost
	s.Stuck += r.Stuck
	if r.Violating() {
		s.ViolatingRuns++
	}
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

// InstancesData is the instances sweep: duplicates as the number of
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

// TTLData is the TTL sweep: duplicates as Redis marks live shorter than
// the late copies take to arrive, under the ttl scenario with the mark TTL
// fixed (sim.Config.MarkTTL), over seeds 1..Seeds. LateMinMS and LateMaxMS
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

// SweepConfig sizes a sweep. Zero values mean the defaults.
type SweepConfig struct {
	Seeds  int // seeds 1..Seeds at every point; default DefaultSweepSeeds
	Events int // events per run; default 200
	// Workers is how many runs go at once; 0 means one per CPU. The result
	// does not depend on it.
	Workers int
}

// DefaultSweepSeeds is a sweep's default number of seeds per point.
const DefaultSweepSeeds = 50

// The instances sweep's shape: every strategy, 1 to MaxSweepInstances
// instances, under scenario redeliver, where two copies of one event can
// be in flight on two instances at once.
var (
	InstancesStrategies = []string{"none", "local-cache", "redis", "redis-after", "db-unique", "db-unique-split"}
	InstancesScenario   = faults.Of(faults.Redeliver)
)

// MaxSweepInstances is the largest instance count of the instances sweep.
const MaxSweepInstances = 8

// The TTL sweep's shape: the two Redis strategies, under scenario ttl, with
// 3 instances, at each of TTLSweepValues.
var (
	TTLStrategies  = []string{"redis", "redis-after"}
	TTLScenario    = faults.Of(faults.TTL)
	TTLSweepValues = []time.Duration{
		500 * time.Millisecond, 1 * time.Second, 2 * time.Second, 3 * time.Second,
		4 * time.Second, 6 * time.Second, 8 * time.Second, 10 * time.Second,
		12 * time.Second, 16 * time.Second, 20 * time.Second, 25 * time.Second,
		30 * time.Second, 45 * time.Second, 60 * time.Second,
	}
)

// ttlSweepInstances is the TTL sweep's instance count, compare's default.
const ttlSweepInstances = 3

func (sc SweepConfig) withDefaults() SweepConfig {
	if sc.Seeds == 0 {
		sc.Seeds = DefaultSweepSeeds
	}
	if sc.Events == 0 {
		sc.Events = 200
	}
	if sc.Workers <= 0 {
		sc.Workers = runtime.GOMAXPROCS(0)
	}
	return sc
}

func (sc SweepConfig) validate() error {
	if sc.Seeds < 1 || sc.Seeds > sim.MaxSeeds {
		return fmt.Errorf("%w: seeds must be 1 to %d, not %d", sim.ErrBadConfig, sim.MaxSeeds, sc.Seeds)
	}
	if sc.Events < 1 || sc.Events > sim.MaxEvents {
		return fmt.Errorf("%w: events must be 1 to %d, not %d", sim.ErrBadConfig, sim.MaxEvents, sc.Events)
	}
	return nil
}

// SweepInstances runs the instances sweep: every strategy of
// InstancesStrategies with 1 to MaxSweepInstances instances under
// InstancesScenario, seeds 1..Seeds each. The result is the same whatever
// the number of workers.
func SweepInstances(sc SweepConfig) (*InstancesData, error) {
	sc = sc.withDefaults()
	if err := sc.validate(); err != nil {
		return nil, err
	}
	d := &InstancesData{Scenario: InstancesScenario.String(), Seeds: sc.Seeds, Events: sc.Events}
	var cfgs []sim.Config
	for _, st := range InstancesStrategies {
		s := InstancesSeries{Strategy: st}
		for n := 1; n <= MaxSweepInstances; n++ {
			s.Points = append(s.Points, InstancesPoint{Instances: n})
			cfgs = append(cfgs, sim.Config{Strategy: st, Faults: InstancesScenario, Instances: n, Events: sc.Events})
		}
		d.Series = append(d.Series, s)
	}
	stats, err := runPoints(cfgs, sc.Seeds, sc.Workers)
	if err != nil {
		return nil, err
	}
	i := 0
	for si := range d.Series {
		for pi := range d.Series[si].Points {
			d.Series[si].Points[pi].Stats = stats[i]
			i++
		}
	}
	return d, nil
}

// SweepTTL runs the TTL sweep: each strategy of TTLStrategies under
// TTLScenario with the mark TTL fixed at each of TTLSweepValues, seeds
// 1..Seeds each. The result is the same whatever the number of workers.
func SweepTTL(sc SweepConfig) (*TTLData, error) {
	sc = sc.withDefaults()
	if err := sc.validate(); err != nil {
		return nil, err
	}
	// The horizon is the ttl fault's: its bounds do not depend on the seed.
	p := faults.Draw(TTLScenario, 1)
	d := &TTLData{
		Scenario: TTLScenario.String(), Seeds: sc.Seeds, Instances: ttlSweepInstances, Events: sc.Events,
		LateMinMS: p.LateMin.Milliseconds(), LateMaxMS: p.LateMax.Milliseconds(),
	}
	var cfgs []sim.Config
	for _, st := range TTLStrategies {
		s := TTLSeries{Strategy: st}
		for _, ttl := range TTLSweepValues {
			s.Points = append(s.Points, TTLPoint{MarkTTLMS: ttl.Milliseconds()})
			cfgs = append(cfgs, sim.Config{Strategy: st, Faults: TTLScenario, Instances: ttlSweepInstances, Events: sc.Events, MarkTTL: ttl})
		}
		d.Series = append(d.Series, s)
	}
	stats, err := runPoints(cfgs, sc.Seeds, sc.Workers)
	if err != nil {
		return nil, err
	}
	i := 0
	for si := range d.Series {
		for pi := range d.Series[si].Points {
			d.Series[si].Points[pi].Stats = stats[i]
			i++
		}
	}
	return d, nil
}

// runPoints runs each config with seeds 1..seeds on workers goroutines and
// returns each config's totals. Each run is deterministic and lands in its
// own slot, so the totals do not depend on the order runs finish in.
func runPoints(cfgs []sim.Config, seeds, workers int) ([]Stats, error) {
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	total := len(cfgs) * seeds
	results := make([]*sim.Result, total)
	var next atomic.Int64
	var failed atomic.Bool
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range min(workers, total) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				cfg := cfgs[i/seeds]
				cfg.Seed = uint64(i%seeds) + 1
				r, err := sim.Run(cfg)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("plots: sweep run %s: %w", cfg.Reproduce(), err) })
					failed.Store(true)
					return
				}
				// Keep only the counts: a sweep holds thousands of runs.
				results[i] = &sim.Result{Duplicates: r.Duplicates, Lost: r.Lost, Stuck: r.Stuck}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	stats := make([]Stats, len(cfgs))
	for i, r := range results {
		stats[i/seeds].add(r)
	}
	return stats, nil
}

// ErrBadSweep reports a sweep file that does not hold a sweep.
var ErrBadSweep = errors.New("plots: bad sweep data")

// WriteJSON writes v, a sweep's data, as indented JSON with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ReadInstances reads an instances sweep written by WriteJSON.
func ReadInstances(r io.Reader) (*InstancesData, error) {
	var d InstancesData
	if err := decodeStrict(r, &d); err != nil {
		return nil, err
	}
	if d.Seeds < 1 || len(d.Series) == 0 {
		return nil, fmt.Errorf("%w: no seeds or no series", ErrBadSweep)
	}
	for _, s := range d.Series {
		if s.Strategy == "" || len(s.Points) == 0 {
			return nil, fmt.Errorf("%w: a series without a strategy or points", ErrBadSweep)
		}
	}
	return &d, nil
}

// ReadTTL reads a TTL sweep written by WriteJSON.
func ReadTTL(r io.Reader) (*TTLData, error) {
	var d TTLData
	if err := decodeStrict(r, &d); err != nil {
		return nil, err
	}
	if d.Seeds < 1 || len(d.Series) == 0 {
		return nil, fmt.Errorf("%w: no seeds or no series", ErrBadSweep)
	}
	for _, s := range d.Series {
		if s.Strategy == "" || len(s.Points) == 0 {
			return nil, fmt.Errorf("%w: a series without a strategy or points", ErrBadSweep)
		}
		for _, p := range s.Points {
			if p.MarkTTLMS <= 0 {
				return nil, fmt.Errorf("%w: mark TTL %d ms is not positive", ErrBadSweep, p.MarkTTLMS)
			}
		}
	}
	return &d, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields, so
// that a file of another kind is not mistaken for a sweep.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSweep, err)
	}
	return nil
}
