package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/explain/page"
	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/playground"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// siteSynopsis is the usage line of `idemsim site`.
const siteSynopsis = "idemsim site --out DIR [--results DIR] [--src DIR] [--wasm FILE]"

const siteAbout = `
Write a static site into DIR: index.html with the outcome tables of the
saved comparisons (--results: compare.json, and compare-log.json where
it exists), each broken cell linking to the story page of its smallest
failing run (under stories/, told as 'idemsim explain --strategy S
--faults F --broker B' tells it, from the cell's first failing seed), the
plots saved beside them (their SVG files, under plots/), and
playground.html: the simulator itself, compiled to WebAssembly, which runs
in the browser any run the user picks, shows its verdict, trace hash and
story, and shrinks a failure. Nothing is fetched from outside the site.

The playground's WebAssembly is built at site time with the Go toolchain
(go on PATH; GOOS=js GOARCH=wasm go build ./cmd/idemsim-wasm) from
idemsim's source (--src, by default the module found from the current
directory up), and written gzipped (idemsim.wasm.gz; the page unpacks
it); Go's wasm_exec.js comes from the same toolchain. Without Go, site
fails (exit status 1). --wasm takes an idemsim-wasm binary built before
instead of building it.

Serve the site over http (WebAssembly does not load from file://), for
example: python3 -m http.server --bind 127.0.0.1 -d DIR
`

// siteOrder is the order in which site's help lists its flags.
var siteOrder = []string{"out DIR", "results DIR", "src DIR", "wasm FILE"}

// siteOpts are the flags of `idemsim site`.
type siteOpts struct {
	out, results, src, wasm string
}

// modulePath is idemsim's module path, which --src's go.mod must name.
const modulePath = "github.com/idemsim/idemsim"

// wasmBuildTimeout bounds the build of the WebAssembly (a cold build of
// the simulator's packages takes minutes on a small machine).
const wasmBuildTimeout = 15 * time.Minute

func (o *siteOpts) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("site", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "write the site into DIR, creating it (required)")
	fs.StringVar(&o.results, "results", "results",
		"read the saved comparisons (compare.json, compare-log.json) and plots (*.svg) from DIR")
	fs.StringVar(&o.src, "src", "",
		"idemsim's source, to build the playground's WebAssembly from\n(default: the module "+modulePath+" found from the current directory up)")
	fs.StringVar(&o.wasm, "wasm", "",
		"use FILE, an idemsim-wasm binary built before (GOOS=js GOARCH=wasm go build ./cmd/idemsim-wasm),\ninstead of building it (default: build it)")
	return fs
}

// siteCmd is `idemsim site`.
func (e *env) siteCmd(args []string) error {
	var o siteOpts
	fs := o.flagSet()
	help, err := parseFlags(fs, args)
	if help {
		return printCommandHelp(e.stdout, siteSynopsis, siteAbout, fs, siteOrder)
	}
	if err != nil {
		return err
	}
	if o.out == "" {
		return usagef("missing --out DIR (accepted: the directory to write the site into, created if needed)")
	}
	if o.results == "" {
		return usagef("--results needs a directory (default: results)")
	}
	// Read the tables first: bad input fails before anything is built.
	var cmps []*sweep.Comparison
	for _, model := range brokerNames() {
		path := filepath.Join(o.results, compareFile(model, "json"))
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && model != run.DefaultBroker {
			continue
		}
		if err != nil {
			return fmt.Errorf("--results: %w (run 'idemsim compare --out %s' to make it)", err, o.results)
		}
		cmp, err := decodeComparison(b)
		if err != nil {
			return usagef("--results: %s is not a comparison (idemsim compare --json): %v", path, err)
		}
		cmps = append(cmps, cmp)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the playground's WebAssembly is built with the Go toolchain, and go is not on PATH (install Go, https://go.dev/dl/): %v", err)
	}
	if err := checkOutDir(o.out); err != nil {
		return err
	}
	if err := prepareOutDir(o.out); err != nil {
		return err
	}
	start := time.Now()
	stories, err := writeSiteStories(o.out, cmps)
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	for name, body := range playground.Assets() {
		files[name] = []byte(body)
	}
	for name, body := range playground.StoryFiles() {
		files[name] = []byte(body)
	}
	plots, err := copyPlots(o.results, files)
	if err != nil {
		return err
	}
	var index bytes.Buffer
	if err := playground.WriteIndex(&index, siteTables(cmps, stories), plots); err != nil {
		return err
	}
	files["index.html"] = index.Bytes()
	if files["wasm_exec.js"], err = wasmExec(goTool); err != nil {
		return err
	}
	wasm, err := o.buildWasm(goTool)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(wasm)
	if err := zw.Close(); err != nil {
		return err
	}
	files[playground.WasmFile] = gz.Bytes()
	for name, body := range files {
		path := filepath.Join(o.out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return err
		}
	}
	size, n, err := dirSize(o.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s: %d files, %.1f MB (the WebAssembly %.1f MB gzipped, %.1f MB unpacked; %s), in %.0f s\n",
		o.out, n, float64(size)/1e6, float64(gz.Len())/1e6, float64(len(wasm))/1e6, plural(len(stories), "story page"), time.Since(start).Seconds())
	fmt.Fprintf(e.stderr, "serve it over http, for example: python3 -m http.server --bind 127.0.0.1 -d %s\n", o.out)
	return nil
}

// cellKey names a cell: broker, strategy, scenario.
type cellKey struct{ broker, strategy, scenario string }

// writeSiteStories writes, for each broken cell of cmps, the story page of
// its smallest failing run into out/stories, one per CPU at a time, and
// returns their paths in the site by cell.
func writeSiteStories(out string, cmps []*sweep.Comparison) (map[cellKey]string, error) {
	if err := os.MkdirAll(filepath.Join(out, "stories"), 0o755); err != nil {
		return nil, err
	}
	var cells []sweep.Cell
	for _, cmp := range cmps {
		for _, c := range cmp.Results {
			if c.FirstFailingSeed != nil {
				cells = append(cells, c)
			}
		}
	}
	paths := map[cellKey]string{}
	err := sweep.Run(sweep.Options{}, len(cells), func(i int) (string, error) {
		return writeCellStory(out, cells[i])
	}, func(i int, name string) bool {
		c := cells[i]
		model, _, _ := c.BrokerNaming.Params() // read by writeCellStory
		paths[cellKey{model, c.Strategy, c.Scenario}] = name
		return true
	})
	return paths, err
}

// writeCellStory writes the story page of c's smallest failing run, told
// as `idemsim explain --strategy S --faults F --broker B` tells it: its
// first failing seed, shrunk. It returns the page's path in the site.
func writeCellStory(out string, c sweep.Cell) (string, error) {
	model, params, err := c.BrokerNaming.Params()
	if err != nil {
		return "", err
	}
	fset, err := faults.Parse(c.Scenario)
	if err != nil {
		return "", err
	}
	cfg := sim.Config{Strategy: c.Strategy, Faults: fset, Seed: *c.FirstFailingSeed, Instances: c.Instances,
		Events: c.Events, BrokerModel: model, Broker: params}
	shrunk, err := explain.Shrink(cfg)
	if err != nil {
		return "", fmt.Errorf("%s: %w", cfg.Reproduce(), err)
	}
	story, err := explain.Tell(shrunk)
	if err != nil {
		return "", fmt.Errorf("%s: %w", shrunk.Reproduce(), err)
	}
	d, err := page.FromStory(story, "")
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	text := fmt.Sprintf("idemsim explain --strategy %s --faults %s --instances %d --broker %s", c.Strategy, c.Scenario, c.Instances, model)
	if err := playground.WriteStory(&buf, d, playground.FlagsOf(shrunk), text); err != nil {
		return "", err
	}
	name := "stories/" + model + "-" + c.Strategy + "-" + c.Scenario + ".html"
	return name, os.WriteFile(filepath.Join(out, filepath.FromSlash(name)), buf.Bytes(), 0o644)
}

// siteTables are the index's tables of cmps: every strategy, a row; every
// scenario, a column.
func siteTables(cmps []*sweep.Comparison, stories map[cellKey]string) []playground.Table {
	var tables []playground.Table
	for _, cmp := range cmps {
		model := cmp.Broker
		if model == "" {
			model = run.DefaultBroker
		}
		var scenarios []faults.Set
		seen := map[string]bool{}
		for _, c := range cmp.Results {
			if !seen[c.Scenario] {
				seen[c.Scenario] = true
				sc, _ := faults.Parse(c.Scenario)
				scenarios = append(scenarios, sc)
			}
		}
		t := playground.Table{Broker: model, Seeds: cmp.Seeds, Instances: cmp.Instances, Events: cmp.Events}
		for _, sc := range scenarios {
			t.Scenarios = append(t.Scenarios, sc.String())
		}
		for _, st := range strategies.Names() {
			row := playground.Row{Strategy: st}
			for _, sc := range scenarios {
				c := cmp.Cell(st, sc)
				if c == nil {
					row.Cells = append(row.Cells, playground.Cell{Text: "-"})
					continue
				}
				cell := playground.Cell{Text: c.Verdict()}
				if path, ok := stories[cellKey{model, st, sc.String()}]; ok {
					cell.Story = path
					cell.Title = fmt.Sprintf("the story of %s under %s: %d of %d seeds fail", st, sc, c.ViolatingRuns, c.Runs)
				}
				row.Cells = append(row.Cells, cell)
			}
			t.Rows = append(t.Rows, row)
		}
		tables = append(tables, t)
	}
	return tables
}

// copyPlots adds the SVG plots of dir to files, under plots/, and returns
// them for the index, sorted by name.
func copyPlots(dir string, files map[string][]byte) ([]playground.Plot, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.svg"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var plots []playground.Plot
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(n)
		files["plots/"+base] = b
		plots = append(plots, playground.Plot{File: "plots/" + base, Alt: plotAlt(base)})
	}
	return plots, nil
}

// plotAlt says what the plot in file shows.
func plotAlt(file string) string {
	switch strings.TrimSuffix(file, ".svg") {
	case "violations":
		return "violations by strategy and scenario, on the queue broker"
	case "violations-log":
		return "violations by strategy and scenario, on the log broker"
	case "sweep-instances":
		return "duplicates as instances grow"
	case "sweep-ttl":
		return "duplicates as the mark TTL shrinks"
	case "bench-throughput":
		return "throughput per strategy, against real Redis and PostgreSQL"
	case "bench-latency":
		return "p99 latency per strategy, against real Redis and PostgreSQL"
	}
	return file
}

// wasmExec returns Go's wasm_exec.js, of the toolchain goTool, which must
// be the one that built the WebAssembly.
func wasmExec(goTool string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(out))
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		if b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p))); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("no wasm_exec.js in %s (lib/wasm or misc/wasm): is the Go installation whole?", root)
}

// buildWasm returns the playground's WebAssembly: --wasm's file, or built
// from the source with goTool.
func (o *siteOpts) buildWasm(goTool string) ([]byte, error) {
	if o.wasm != "" {
		b, err := os.ReadFile(o.wasm)
		if err != nil {
			return nil, fmt.Errorf("--wasm: %w", err)
		}
		if !bytes.HasPrefix(b, []byte("\x00asm")) {
			return nil, usagef("--wasm: %s is not WebAssembly", o.wasm)
		}
		return b, nil
	}
	src := o.src
	if src == "" {
		var err error
		if src, err = findModule(); err != nil {
			return nil, err
		}
	} else if mod, err := moduleOf(src); err != nil || mod != modulePath {
		return nil, usagef("--src: %s is not idemsim's source (its go.mod must name %s)", src, modulePath)
	}
	tmp, err := os.MkdirTemp("", "idemsim-wasm-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "idemsim.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), wasmBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/idemsim-wasm")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the playground's WebAssembly (GOOS=js GOARCH=wasm go build ./cmd/idemsim-wasm in %s): %v\n%s", src, err, out)
	}
	return os.ReadFile(bin)
}

// findModule finds idemsim's source from the current directory up.
func findModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if mod, err := moduleOf(dir); err == nil && mod == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("the playground's WebAssembly is built from idemsim's source, and no directory from here up holds its go.mod: run site in a checkout of idemsim, or name one with --src")
		}
		dir = parent
	}
}

// moduleOf returns the module path the go.mod of dir names.
func moduleOf(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", errors.New("no module line")
}

// dirSize returns the bytes and the number of the files under dir.
func dirSize(dir string) (int64, int, error) {
	var size int64
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		n++
		return nil
	})
	return size, n, err
}
