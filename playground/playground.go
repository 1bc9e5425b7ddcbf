package playground

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/explain/page"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// File is the playground page's name in the site.
const File = "playground.html"

// Flags are a run's flags, as the playground's URL carries them.
type Flags struct {
	Strategy  string `json:"strategy"`
	Faults    string `json:"faults"`
	Seed      uint64 `json:"seed"`
	Instances int    `json:"instances"`
	Events    int    `json:"events"`
	Broker    string `json:"broker"`
	// Drop lists fault decisions not to inject ("crash@3,slow@12"), as a
	// shrunk run's reproduce line carries them; "" for none.
	Drop string `json:"drop,omitempty"`
}

// ParseQuery reads the flags of a URL's query ("strategy=local-cache&
// faults=redeliver&seed=1"; a leading "?" is allowed). strategy, faults and
// seed are required; instances (3), events (200) and broker (queue) have
// the command line's defaults. The flags are checked as `idemsim run`
// checks them.
func ParseQuery(query string) (Flags, error) {
	q, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		return Flags{}, fmt.Errorf("bad query %q: %v", query, err)
	}
	f := Flags{Strategy: strings.TrimSpace(q.Get("strategy")), Faults: strings.TrimSpace(q.Get("faults")),
		Instances: 3, Events: 200, Broker: run.DefaultBroker, Drop: strings.TrimSpace(q.Get("drop"))}
	if f.Strategy == "" {
		return f, fmt.Errorf("no strategy: name one of %s", strings.Join(strategies.Names(), ", "))
	}
	if f.Faults == "" {
		return f, fmt.Errorf("no faults: name one or more of %s, or %s", faultNames(), faults.None)
	}
	s := strings.TrimSpace(q.Get("seed"))
	if s == "" {
		return f, fmt.Errorf("no seed: give a whole number from 0 to %d", uint64(math.MaxUint64))
	}
	if f.Seed, err = strconv.ParseUint(s, 10, 64); err != nil {
		return f, fmt.Errorf("seed %q: want a whole number from 0 to %d", s, uint64(math.MaxUint64))
	}
	if f.Instances, err = intParam(q, "instances", f.Instances, 1, run.MaxInstances); err != nil {
		return f, err
	}
	if f.Events, err = intParam(q, "events", f.Events, 1, run.MaxEvents); err != nil {
		return f, err
	}
	if b := strings.TrimSpace(q.Get("broker")); b != "" {
		f.Broker = b
	}
	_, err = f.Config()
	return f, err
}

// intParam reads q's whole number name, def when absent, and checks that it
// lies in min..max.
func intParam(q url.Values, name string, def, min, max int) (int, error) {
	s := strings.TrimSpace(q.Get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%s %q: want a whole number from %d to %d", name, s, min, max)
	}
	return n, nil
}

// faultNames lists the faults a run may name.
func faultNames() string {
	var names []string
	for _, f := range faults.All() {
		names = append(names, f.String())
	}
	return strings.Join(names, ", ")
}

// Config is the run the flags name, checked; an error says what is wrong.
func (f Flags) Config() (sim.Config, error) {
	fs, err := faults.Parse(f.Faults)
	if err != nil {
		return sim.Config{}, fmt.Errorf("faults: %v", err)
	}
	drop, err := faults.ParseDecisions(f.Drop)
	if err != nil {
		return sim.Config{}, fmt.Errorf("drop: %v", err)
	}
	cfg := sim.Config{Strategy: f.Strategy, Faults: fs, Seed: f.Seed, Instances: f.Instances, Events: f.Events,
		BrokerModel: f.Broker, Drop: drop}
	if err := cfg.Validate(); err != nil {
		return cfg, errors.New(strings.TrimPrefix(err.Error(), sim.ErrBadConfig.Error()+": "))
	}
	return cfg, nil
}

// FlagsOf returns the flags of cfg (its broker's parameters are the
// model's defaults: the playground names only the model).
func FlagsOf(cfg sim.Config) Flags {
	cfg = cfg.WithDefaults()
	return Flags{Strategy: cfg.Strategy, Faults: cfg.Faults.String(), Seed: cfg.Seed, Instances: cfg.Instances,
		Events: cfg.Events, Broker: cfg.BrokerModel, Drop: faults.FormatDecisions(cfg.Drop)}
}

// Query is the flags as the playground's URL carries them, in a fixed
// order: strategy, faults, seed, instances, events, broker, drop.
func (f Flags) Query() string {
	var b strings.Builder
	add := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + url.QueryEscape(v))
	}
	add("strategy", f.Strategy)
	add("faults", f.Faults)
	add("seed", strconv.FormatUint(f.Seed, 10))
	add("instances", strconv.Itoa(f.Instances))
	add("events", strconv.Itoa(f.Events))
	add("broker", f.Broker)
	if f.Drop != "" {
		add("drop", f.Drop)
	}
	// Commas read better unescaped, and a query keeps them as they are.
	return strings.ReplaceAll(b.String(), "%2C", ",")
}

// Link is the playground's link that replays the run: File?Query.
func (f Flags) Link() string { return File + "?" + f.Query() }

// Outcome is what the playground shows of a run.
type Outcome struct {
	Flags Flags `json:"flags"`
	// Link replays the run in the playground; Reproduce on the command
	// line.
	Link      string `json:"link"`
	Reproduce string `json:"reproduce"`
	// Verdict is the outcome table's word for the run: "ok", or the kinds
	// of violation it shows ("dup", "lost", "dup+lost", "stuck"...).
	Verdict string `json:"verdict"`
	// ExactlyOnce is "held" or "VIOLATED", as `idemsim run` says it.
	ExactlyOnce string `json:"exactly_once"`
	Duplicates  int    `json:"duplicates"`
	Lost        int    `json:"lost"`
	Stuck       int    `json:"stuck"`
	Dead        int    `json:"dead,omitempty"`
	// Porcupine and Audit are the two checkers' verdicts, in the words of
	// `idemsim run`.
	Porcupine string  `json:"porcupine"`
	Audit     string  `json:"audit"`
	TraceHash string  `json:"trace_hash"`
	SimTimeMS float64 `json:"sim_time_ms"`
	// Shrunk says, for a shrunk run, how it came from the run asked for.
	Shrunk string `json:"shrunk,omitempty"`
	// Story is the story page's document of the run, when asked for.
	Story *page.Doc `json:"story,omitempty"`
}

// Run simulates the run f names and returns its outcome, with its story's
// document when story is set.
func Run(f Flags, story bool) (*Outcome, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	return outcome(cfg, story)
}

// outcome runs cfg and returns its outcome, with its story with story set.
func outcome(cfg sim.Config, story bool) (*Outcome, error) {
	// A story replays the run itself: its result is the run's, so the run
	// is not simulated twice.
	var s *explain.Story
	var res *sim.Result
	var err error
	if story {
		if s, err = explain.Tell(cfg); err != nil {
			return nil, err
		}
		res = s.Result
	} else if res, err = sim.Run(cfg); err != nil {
		return nil, err
	}
	f := FlagsOf(cfg)
	o := &Outcome{Flags: f, Link: f.Link(), Reproduce: cfg.Reproduce(), Verdict: verdict(res),
		ExactlyOnce: "held", Duplicates: res.Duplicates, Lost: res.Lost, Stuck: res.Stuck, Dead: res.Dead,
		Porcupine: porcupineText(res.Linearizable), Audit: "ok", TraceHash: res.TraceHash, SimTimeMS: res.SimTimeMS}
	if res.Violating() {
		o.ExactlyOnce = "VIOLATED"
	}
	if !res.AuditOK {
		o.Audit = "NOT ok"
	}
	if story {
		if o.Story, err = page.FromStory(s, ""); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// verdict is the outcome table's word for r.
func verdict(r *sim.Result) string {
	c := sweep.Cell{}
	c.Duplicates, c.Lost, c.Stuck, c.Dead = r.Duplicates, r.Lost, r.Stuck, r.Dead
	return c.Verdict()
}

// porcupineText is porcupine's verdict in the words of `idemsim run`.
func porcupineText(linearizable *bool) string {
	switch {
	case linearizable == nil:
		return "unknown (timed out)"
	case *linearizable:
		return "linearizable"
	}
	return "NOT linearizable"
}

// Shrink shrinks the run f names as `idemsim explain` does (fewer events,
// instances and faults, then the seed whose story has the fewest steps,
// then fewer fault decisions) and returns the shrunk run's outcome and
// story. A run that breaks nothing is returned as it is.
func Shrink(f Flags) (*Outcome, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	shrunk, err := explain.Shrink(cfg)
	if err != nil {
		return nil, err
	}
	o, err := outcome(shrunk, true)
	if err != nil {
		return nil, err
	}
	if o.ExactlyOnce == "VIOLATED" {
		o.Shrunk = "shrunk to " + explain.ShrunkWords(cfg, shrunk)
	} else {
		o.Shrunk = "nothing to shrink: the run breaks nothing"
	}
	return o, nil
}

// MaxSweepSeeds bounds a sweep in the browser.
const MaxSweepSeeds = 10_000

// Sweep runs the strategy of f under its faults, instances, events and
// broker over seeds 1..seeds (f's seed aside), as `idemsim compare` runs
// one cell, and returns the cell; progress, when set, is called after each
// run with the number done.
func Sweep(f Flags, seeds int, progress func(done, total int)) (*sweep.Cell, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	if seeds < 1 || seeds > MaxSweepSeeds {
		return nil, fmt.Errorf("seeds %d: want 1 to %d", seeds, MaxSweepSeeds)
	}
	cmp, err := sweep.Compare(sweep.CompareConfig{Strategies: []string{cfg.Strategy}, Scenarios: []faults.Set{cfg.Faults},
		Seeds: seeds, Instances: cfg.Instances, Events: cfg.Events, BrokerModel: cfg.BrokerModel, Workers: 1, Progress: progress})
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), sim.ErrBadConfig.Error()+": "))
	}
	return &cmp.Results[0], nil
}

// Choices are what the playground's form offers: the strategies, by
// broker, the faults, the scenarios of the outcome table and the brokers.
type Choices struct {
	Strategies []Strategy `json:"strategies"`
	Faults     []string   `json:"faults"`
	Scenarios  []string   `json:"scenarios"`
	Brokers    []string   `json:"brokers"`
	// NoneName is how a run names no injected fault ("none"); None says
	// what that means.
	NoneName string `json:"none_name"`
	None     string `json:"none"`
}

// Strategy is one strategy the playground offers.
type Strategy struct {
	Name    string   `json:"name"`
	Summary string   `json:"summary"`
	Brokers []string `json:"brokers"`
}

// ChoicesNow returns the playground's choices, from the registries.
func ChoicesNow() Choices {
	c := Choices{Brokers: run.BrokerNames, NoneName: faults.None, None: faults.NoneMeaning}
	for _, st := range strategies.All() {
		s := Strategy{Name: st.Name, Summary: st.Summary}
		for _, b := range run.BrokerNames {
			if st.RunsOn(b) {
				s.Brokers = append(s.Brokers, b)
			}
		}
		c.Strategies = append(c.Strategies, s)
	}
	for _, f := range faults.All() {
		c.Faults = append(c.Faults, f.String())
	}
	for _, sc := range faults.Scenarios() {
		c.Scenarios = append(c.Scenarios, sc.String())
	}
	return c
}

// Call answers one call of the playground's script: op "run" (story
// "1" in the query asks for the story too), "shrink", "sweep" (seeds N in
// the query, default 200) or "choices", its flags in query. The answer is
// JSON: the outcome, the cell or the choices, or {"error": "..."}.
func Call(op, query string) string {
	v, err := call(op, query, nil)
	return encode(v, err)
}

// CallSweep is Call of "sweep" with progress, called after each run with
// the number done (the browser draws its progress bar from it).
func CallSweep(query string, progress func(done, total int)) string {
	v, err := call("sweep", query, progress)
	return encode(v, err)
}

// encode is the JSON answer of v, or of err.
func encode(v any, err error) string {
	if err != nil {
		v = map[string]string{"error": err.Error()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return string(b)
}

// call is Call before the answer is encoded.
func call(op, query string, progress func(done, total int)) (any, error) {
	if op == "choices" {
		return ChoicesNow(), nil
	}
	f, err := ParseQuery(query)
	if err != nil {
		return nil, err
	}
	q, _ := url.ParseQuery(strings.TrimPrefix(query, "?")) // ParseQuery checked it
	switch op {
	case "run":
		return Run(f, q.Get("story") == "1")
	case "shrink":
		return Shrink(f)
	case "sweep":
		n, err := intParam(q, "seeds", 200, 1, MaxSweepSeeds)
		if err != nil {
			return nil, err
		}
		return Sweep(f, n, progress)
	}
	return nil, fmt.Errorf("unknown call %q (accepted: run, shrink, sweep, choices)", op)
}

//go:embed assets/playground.html
var pageHTML string

//go:embed assets/playground.js
var pageJS string

//go:embed assets/playground.css
var pageCSS string

// Assets are the playground's own files, by name, which `idemsim site`
// writes beside the story page's script and style (story.js, story.css),
// Go's wasm_exec.js and the simulator (WasmFile).
func Assets() map[string]string {
	return map[string]string{File: pageHTML, "playground.js": pageJS, "playground.css": pageCSS}
}

// WasmFile is the simulator compiled to WebAssembly, gzipped: the page
// unpacks it (a plain static server serves it as it is).
const WasmFile = "idemsim.wasm.gz"
