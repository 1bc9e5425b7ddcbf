package explain

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
	"github.com/idemsim/idemsim/strategies"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		r    sim.Result
		want Kind
	}{
		{sim.Result{}, NoViolation},
		{sim.Result{Duplicates: 2, Lost: 1}, Duplicate},
		{sim.Result{Lost: 1, Stuck: 1}, Lost},
		{sim.Result{Stuck: 3}, Stuck},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, KindOf(&tt.r))
		if tt.want != NoViolation {
			assert.True(t, tt.want.In(&tt.r))
		}
	}
	assert.Equal(t, "dup", Duplicate.String())
	assert.Equal(t, "lost", Lost.String())
	assert.False(t, Lost.In(&sim.Result{Duplicates: 1}))
}

func TestScenarios(t *testing.T) {
	// local-cache's textbook failure first, then the others it fails:
	// with one instance, redeliver never breaks it, and crash does.
	assert.Equal(t, faults.Scenarios(), Scenarios("local-cache"), "its lesson, redeliver, first, then every other scenario, all expected to fail")
	all := faults.Scenarios()
	var redis []faults.Set
	for _, sc := range all {
		if sc != faults.Of(faults.Redeliver) && sc != faults.Of(faults.Rebalance) && sc != faults.Of(faults.KeyExpiry) {
			redis = append(redis, sc)
		}
	}
	assert.Equal(t, redis, Scenarios("redis"), "every scenario but redeliver, rebalance and key-expiry, where redis is expected ok on the queue, in table order")
	assert.Equal(t, []faults.Set{faults.Of(faults.IDReuse)}, Scenarios("db-unique"), "expected ok everywhere but under id-reuse, which it loses: that scenario alone")
	assert.Equal(t, all, Scenarios("nonesuch"), "no description: every scenario")
}

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{Duplicate, Lost, Stuck} {
		got, err := ParseKind(k.String())
		require.NoError(t, err)
		assert.Equal(t, k, got)
	}
	_, err := ParseKind("ok")
	assert.EqualError(t, err, `unknown kind of violation "ok" (accepted: dup, lost, stuck, ghost)`)
}

func TestSearchKindFindsTheKindAskedFor(t *testing.T) {
	cfg, ok := mustSearchKind(t, "redis-release", faults.Of(faults.Partition), 3, 50, Lost)
	require.True(t, ok)
	res, err := sim.Run(cfg)
	require.NoError(t, err)
	assert.Positive(t, res.Lost)
	s, err := TellKind(mustShrinkKind(t, cfg, Lost), Lost)
	require.NoError(t, err)
	assert.Equal(t, Lost, s.Kind)
	_, ok = mustSearchKind(t, "redis", faults.Of(faults.Crash), 3, 10, Duplicate)
	assert.False(t, ok, "redis under crash only loses events")
}

func TestSearchFindsTheSmallestFailingSeed(t *testing.T) {
	cfg, ok := mustSearch(t, "redis", faults.Of(faults.Crash), 3, 50)
	require.True(t, ok)
	assert.Equal(t, 3, cfg.Instances)
	assert.Equal(t, 200, cfg.Events)
	for s := uint64(1); s < cfg.Seed; s++ {
		c := cfg
		c.Seed = s
		res, err := sim.Run(c)
		require.NoError(t, err)
		assert.False(t, res.Violating(), "seed %d violates, yet Search returned %d", s, cfg.Seed)
	}
	res, err := sim.Run(cfg)
	require.NoError(t, err)
	assert.True(t, res.Violating())
}

func TestSearchReportsNoViolation(t *testing.T) {
	_, ok := mustSearch(t, "db-unique", faults.AllFaults, 3, 10)
	assert.False(t, ok, "db-unique has no violation")
	_, ok, err := Search("nonesuch", faults.AllFaults, 3, 10)
	assert.False(t, ok)
	assert.ErrorContains(t, err, "nonesuch", "an invalid config is an error, not a search that found nothing")
}

// TestSearchAndShrinkReturnAFailingNew: a strategy whose New fails ends
// the search, and the shrinking, with New's error; neither says the
// strategy has no violation.
func TestSearchAndShrinkReturnAFailingNew(t *testing.T) {
	require.NoError(t, strategies.Register(strategies.Strategy{Name: "test-bad-new", New: func(strategies.Deps) (strategies.Handler, error) {
		return nil, errors.New("no")
	}}))
	t.Cleanup(func() { strategies.Unregister("test-bad-new") })
	var newErr *strategies.NewError
	_, ok, err := Search("test-bad-new", faults.Of(faults.Redeliver), 3, 50)
	assert.False(t, ok)
	require.ErrorAs(t, err, &newErr)
	assert.EqualError(t, err, "strategy test-bad-new: New failed: no")
	_, ok, err = SearchKind("test-bad-new", faults.Of(faults.Crash), 1, 5, Lost)
	assert.False(t, ok)
	assert.ErrorAs(t, err, &newErr)
	_, err = Shrink(sim.Config{Strategy: "test-bad-new", Faults: faults.Of(faults.Crash), Seed: 1})
	assert.ErrorAs(t, err, &newErr)
}

// TestSearchReportsProgress: the progress callback counts the seeds as
// they finish, and never changes what the search finds.
func TestSearchReportsProgress(t *testing.T) {
	var calls, last, total int
	_, ok, err := SearchWith("db-unique", faults.Of(faults.Crash), 3, 20, SearchOptions{Progress: func(done, n int) {
		calls++
		assert.Greater(t, done, last, "done only grows")
		last, total = done, n
	}})
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 20, calls, "once per seed")
	assert.Equal(t, [2]int{20, 20}, [2]int{last, total})

	found, ok, err := SearchWith("redis", faults.Of(faults.Crash), 3, 50, SearchOptions{Progress: func(int, int) {}})
	require.NoError(t, err)
	require.True(t, ok)
	want, _ := mustSearch(t, "redis", faults.Of(faults.Crash), 3, 50)
	assert.Equal(t, want, found)
}

// mustSearch is Search, failing t on an error.
func mustSearch(t *testing.T, strategy string, fs faults.Set, instances, seeds int) (sim.Config, bool) {
	t.Helper()
	cfg, ok, err := Search(strategy, fs, instances, seeds)
	require.NoError(t, err)
	return cfg, ok
}

// mustSearchKind is SearchKind, failing t on an error.
func mustSearchKind(t *testing.T, strategy string, fs faults.Set, instances, seeds int, kind Kind) (sim.Config, bool) {
	t.Helper()
	cfg, ok, err := SearchKind(strategy, fs, instances, seeds, kind)
	require.NoError(t, err)
	return cfg, ok
}

// mustShrink is Shrink, failing t on an error.
func mustShrink(t *testing.T, cfg sim.Config) sim.Config {
	t.Helper()
	out, err := Shrink(cfg)
	require.NoError(t, err)
	return out
}

// mustShrinkKind is ShrinkKind, failing t on an error.
func mustShrinkKind(t *testing.T, cfg sim.Config, kind Kind) sim.Config {
	t.Helper()
	out, err := ShrinkKind(cfg, kind)
	require.NoError(t, err)
	return out
}

// shrinkCells are broken cells of the outcome table, one per mechanism.
var shrinkCells = []struct {
	strategy string
	faults   faults.Set
}{
	{"local-cache", faults.Of(faults.Redeliver)},
	{"none", faults.Of(faults.Partition)},
	{"redis", faults.Of(faults.Crash)},
	{"redis", faults.Of(faults.StoreLoss)},
	{"redis", faults.Of(faults.TTL)},
	{"redis", faults.AllFaults},
	{"redis-after", faults.Of(faults.Redeliver)},
	{"redis-after", faults.Of(faults.Slow)},
	{"db-unique-split", faults.Of(faults.Crash)},
	{"db-unique-split", faults.Of(faults.Partition)},
	{"local-cache", faults.AllFaults},
	{"redis-lease", faults.Of(faults.Crash)},
	{"redis-release", faults.Of(faults.Partition)},
}

// TestShrunkRunStillFailsAndIsNoLarger is the shrinker's contract: the
// shrunk run violates exactly-once the same way as the run it came from,
// and is no larger in instances, events or faults; shrinking is
// deterministic, and shrinking a shrunk run changes nothing.
func TestShrunkRunStillFailsAndIsNoLarger(t *testing.T) {
	cells := shrinkCells
	if testing.Short() {
		cells = cells[:4]
	}
	for _, c := range cells {
		t.Run(c.strategy+"/"+c.faults.String(), func(t *testing.T) {
			t.Parallel()
			found, ok := mustSearch(t, c.strategy, c.faults, 3, DefaultSeeds)
			require.True(t, ok, "the cell is broken: Search must find a violation")
			before, err := sim.Run(found)
			require.NoError(t, err)

			shrunk := mustShrink(t, found)
			after, err := sim.Run(shrunk)
			require.NoError(t, err)
			require.True(t, after.Violating(), "the shrunk run must still fail: %s", shrunk.Reproduce())
			assert.Equal(t, KindOf(before), KindOf(after), "the kind of violation is kept")
			assert.True(t, after.CheckersAgree(), "the checkers agree on the shrunk run")

			assert.LessOrEqual(t, shrunk.Instances, found.Instances)
			assert.LessOrEqual(t, shrunk.Events, found.Events)
			assert.LessOrEqual(t, len(shrunk.Faults.Faults()), len(found.Faults.Faults()))
			assert.Zero(t, shrunk.Faults&^found.Faults, "only faults of the scenario remain")
			assert.NotZero(t, shrunk.Faults, "at least one fault of the scenario remains")
			assert.Equal(t, found.Strategy, shrunk.Strategy)
			assert.LessOrEqual(t, shrunk.Events, 4, "a broken cell shrinks to a handful of events")

			assert.Equal(t, shrunk, mustShrink(t, found), "shrinking is deterministic")
			again := mustShrink(t, shrunk)
			assert.LessOrEqual(t, again.Instances, shrunk.Instances)
			assert.LessOrEqual(t, again.Events, shrunk.Events)
		})
	}
}

func TestShrinkLeavesAPassingRunAlone(t *testing.T) {
	cfg := sim.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 7}
	got := mustShrink(t, cfg)
	assert.Equal(t, sim.Config{Strategy: "db-unique", Faults: faults.Of(faults.Crash), Seed: 7, Instances: 3, Events: 200}, got)
}

func TestEventSizesAreSmallerAndAscending(t *testing.T) {
	assert.Empty(t, eventSizes(1))
	assert.Equal(t, []int{1, 2}, eventSizes(3))
	sizes := eventSizes(200)
	for i := 1; i < len(sizes); i++ {
		assert.Less(t, sizes[i-1], sizes[i])
	}
	assert.Less(t, sizes[len(sizes)-1], 200)
}

// localCacheStory is the story `idemsim explain --strategy local-cache`
// tells.
func localCacheStory(t *testing.T) *Story {
	t.Helper()
	found, ok := mustSearch(t, "local-cache", Scenarios("local-cache")[0], 3, DefaultSeeds)
	require.True(t, ok)
	s, err := Tell(mustShrink(t, found))
	require.NoError(t, err)
	return s
}

var numberedStep = regexp.MustCompile(`(?m)^ *\d+\. `)

func TestLocalCacheStoryIsShortAndSaysWhy(t *testing.T) {
	s := localCacheStory(t)
	assert.Equal(t, 2, s.Config.Instances, "two instances: one could not know what the other did")
	assert.Equal(t, 1, s.Config.Events, "one event")
	assert.Equal(t, Duplicate, s.Kind)
	assert.Equal(t, uint32(1), s.Event)
	assert.LessOrEqual(t, len(s.Steps), 12, "a newcomer follows a dozen steps at most")

	var buf bytes.Buffer
	_, err := s.WriteTo(&buf)
	require.NoError(t, err)
	out := buf.String()
	assert.Len(t, numberedStep.FindAllString(out, -1), len(s.Steps))
	assert.Contains(t, out, "violation: event 1 was applied twice")
	assert.Contains(t, out, "no other instance can read", "why the second instance could not know")
	assert.Contains(t, out, "had never seen event 1: its cache did not hold event 1 when it looked, at ", "the lookup that let the copy through, from its record")
	assert.Contains(t, out, "caches: i0 {1}, i1 {}", "the state shows which instance's cache holds which id")
	assert.Contains(t, out, "ledger: e1 ×2")
	assert.Contains(t, out, "\nreproduce with: "+s.Config.Reproduce()+"\n")

	// The two applications are on two instances, each of which looked in
	// its cache and found nothing.
	var receivers []int
	for _, st := range s.Steps {
		if strings.Contains(st.Text, "looks in its cache: event 1 is not there") {
			receivers = append(receivers, st.Inst)
		}
	}
	require.Len(t, receivers, 2)
	assert.NotEqual(t, receivers[0], receivers[1])

	// The command it prints replays a failing run.
	res, err := sim.Run(s.Config)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Duplicates)
}

func TestStoryStepsAreNumberedInTimeOrder(t *testing.T) {
	for _, c := range shrinkCells[:5] {
		found, ok := mustSearch(t, c.strategy, c.faults, 3, DefaultSeeds)
		require.True(t, ok)
		s, err := Tell(mustShrink(t, found))
		require.NoError(t, err)
		require.NotEmpty(t, s.Steps)
		for i, st := range s.Steps {
			assert.Equal(t, i+1, st.N)
			if i > 0 {
				assert.GreaterOrEqual(t, st.At, s.Steps[i-1].At, "%s: step %d goes back in time", c.strategy, st.N)
			}
			assert.NotEmpty(t, st.Text)
			if st.Record >= 0 {
				assert.Equal(t, st.At.Nanoseconds(), s.Result.Trace[st.Record].At, "a step happens when its record does")
			}
		}
		assert.NotEmpty(t, s.Why)
		assert.NotEmpty(t, s.Violation)
	}
}

// TestStoriesSayWhy checks the "why" of each mechanism in its own words.
func TestStoriesSayWhy(t *testing.T) {
	tests := []struct {
		strategy string
		faults   faults.Set
		want     []string
	}{
		{"redis", faults.Of(faults.Crash), []string{"is lost", "takes the claim before it applies the effect", "found the claim and skipped"}},
		{"redis", faults.Of(faults.TTL), []string{"applied twice", "lives only its TTL", "expires"}},
		{"redis", faults.Of(faults.StoreLoss), []string{"applied twice", "lived only in Redis", "losing it"}},
		{"redis-after", faults.Of(faults.Redeliver), []string{"applied twice", "three separate steps", "Both checks found nothing"}},
		{"db-unique-split", faults.Of(faults.Crash), []string{"is lost", "commits the id in one transaction", "found the id and skipped"}},
		// The row lock: a stalled handler's open transaction holds its
		// account's row, and another instance's Apply on that account
		// waits behind it until it gives up.
		{"db-unique-split", faults.Of(faults.Slow), []string{"is lost", "open transaction updated account", "holds its row lock: the database makes this Apply wait", "has stalled before committing it", "while the database still makes it wait for account", "had stalled before committing it", "found the id and skipped"}},
		{"redis", faults.Of(faults.Slow), []string{"is lost", "takes the claim before it applies the effect", "holds its row lock", "had stalled before committing it", "found the claim and skipped"}},
		{"none", faults.Of(faults.Redeliver), []string{"applied twice", "none keeps no record"}},
		{"local-cache", faults.Of(faults.Crash), []string{"applied twice", "cache"}},
		{"redis-lease", faults.Of(faults.Partition), []string{"applied twice", "its COMPLETED write never came: it gave up on its Commit", "Then lease:1 expired at"}},
		{"redis-lease", faults.Of(faults.Slow), []string{"applied twice", "then stalled for", "longer than the 10s TTL", "while instance 1 had not finished", "own effect committed too"}},
		{"redis-lease", faults.Of(faults.StoreLoss), []string{"applied twice", "redis-lease kept lease:1 = COMPLETED (the event is done) only in Redis", "losing it"}},
		{"redis-lease", faults.Of(faults.TTL), []string{"applied twice", "redis-lease gives lease:1 = COMPLETED (the event is done) a TTL of", "That copy found lease:1 gone"}},
		{"redis-release", faults.Of(faults.TTL), []string{"applied twice", "redis-release gives claim:1 = 1 (the claim) a TTL of"}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy+"/"+tt.faults.String(), func(t *testing.T) {
			t.Parallel()
			found, ok := mustSearch(t, tt.strategy, tt.faults, 3, DefaultSeeds)
			require.True(t, ok)
			s, err := Tell(mustShrink(t, found))
			require.NoError(t, err)
			var buf bytes.Buffer
			_, err = s.WriteTo(&buf)
			require.NoError(t, err)
			for _, w := range tt.want {
				assert.Contains(t, buf.String(), w)
			}
			assert.NotContains(t, buf.String(), "note:", "every fault left plays a part")
		})
	}
}

func TestTellIsDeterministic(t *testing.T) {
	cfg := sim.Config{Strategy: "redis", Faults: faults.Of(faults.Partition), Seed: 16, Instances: 1, Events: 1}
	text := func() (string, []byte, []byte) {
		s, err := Tell(cfg)
		require.NoError(t, err)
		var story, html, svg bytes.Buffer
		_, err = s.WriteTo(&story)
		require.NoError(t, err)
		require.NoError(t, WriteHistoryHTML(&html, s))
		require.NoError(t, WriteTimeline(&svg, s, SVG))
		return story.String(), html.Bytes(), svg.Bytes()
	}
	s1, h1, v1 := text()
	s2, h2, v2 := text()
	assert.Equal(t, s1, s2)
	assert.Equal(t, h1, h2, "the HTML is the same, byte for byte")
	assert.Equal(t, v1, v2, "the SVG is the same, byte for byte")
}

func TestFilesAreWritten(t *testing.T) {
	s := localCacheStory(t)
	dir := t.TempDir()
	paths, err := WriteFiles(dir, s)
	require.NoError(t, err)
	require.Len(t, paths, 3)

	var html bytes.Buffer
	require.NoError(t, WriteHistoryHTML(&html, s))
	assert.Regexp(t, `<title>[^<]+</title>`, html.String(), "porcupine's page, with a title (files_test.go checks which)")
	assert.Contains(t, html.String(), `"Partitions"`, "with the history's data")

	var pngBuf bytes.Buffer
	require.NoError(t, WriteTimeline(&pngBuf, s, PNG))
	img, err := png.Decode(&pngBuf)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 800)
	assert.Greater(t, img.Bounds().Dy(), 300)

	var svg bytes.Buffer
	require.NoError(t, WriteTimeline(&svg, s, SVG))
	assert.Contains(t, svg.String(), "<svg")
	assert.Contains(t, svg.String(), "simulated time (ms)", "the axis says its unit")
	for _, lane := range []string{"instance 0", "instance 1", "broker", "database"} {
		assert.Contains(t, svg.String(), lane, "one lane per instance, the broker and the stores")
	}
	assert.NotContains(t, svg.String(), ">redis<", "no Redis lane for a strategy that does not use it")

	assert.Error(t, WriteTimeline(&svg, s, "gif"), "an unknown format")
	assert.Error(t, WriteTimeline(&svg, &Story{}, PNG), "a story not told from a run")
}

func TestFaultsAreAnnotated(t *testing.T) {
	s, err := Tell(sim.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 182, Instances: 1, Events: 1})
	require.NoError(t, err)
	var descs []string
	for _, a := range annotations(s) {
		descs = append(descs, a.Description)
	}
	assert.Contains(t, descs, "crash")
	assert.Contains(t, descs, "restart")
	var html bytes.Buffer
	require.NoError(t, WriteHistoryHTML(&html, s))
	assert.Contains(t, html.String(), `"Description":"crash"`)
}

func TestGapScaleIsMonotonic(t *testing.T) {
	g := newGapScale([]float64{10, 11, 12, 5010, 5011, 9000})
	require.Len(t, g.gaps, 2, "two idle stretches shortened")
	prev := math.Inf(-1)
	for x := 0.0; x <= 9100; x += 0.5 {
		p := g.at(x)
		assert.GreaterOrEqual(t, p, prev, "at(%v)", x)
		prev = p
	}
	assert.InDelta(t, 0, g.at(g.t[0]), 1e-9)
	assert.InDelta(t, 1, g.at(g.t[len(g.t)-1]), 1e-9)
	for _, pos := range []float64{0.1, 0.5, 0.9} {
		assert.InDelta(t, pos, g.at(g.inverse(pos)), 1e-9)
	}
	assert.NotEmpty(t, g.ticks())
	one := newGapScale([]float64{5})
	assert.False(t, fmt.Sprint(one.at(5)) == "NaN")

	// Short bursts far apart pad themselves wide: the padding must not
	// make the axis go back in time, nor a shortened stretch last less
	// than nothing.
	g = newGapScale([]float64{16.8, 18, 20.6, 1186.4, 5016.8, 5220, 9907, 10115.5})
	for i := 1; i < len(g.t); i++ {
		assert.Greater(t, g.t[i], g.t[i-1], "the axis's times ascend: %v", g.t)
	}
	for _, gp := range g.gaps {
		assert.Positive(t, gp[1]-gp[0], "a shortened stretch lasts: %v", gp)
		assert.NotContains(t, gapWords(gp[1]-gp[0]), "-")
	}
}

// TestTicksAreRound: each burst's ticks are multiples of a round step (1,
// 2 or 5 times a power of ten), labelled with the step's decimals and no
// more, and every burst has one.
func TestTicksAreRound(t *testing.T) {
	for _, xs := range [][]float64{
		{10, 11, 12, 5010, 5011, 9000},
		{49.158, 50.146, 50.512, 2466.814, 5049.158, 5049.557, 5050.374, 5051.281, 5051.856},
		{32.5, 112.5, 1230, 5172.5},
		{0.011, 0.012, 0.0135},
	} {
		g := newGapScale(xs)
		ticks := g.ticks()
		for i := 0; i+1 < len(g.t); i += 2 {
			var in []tick
			for _, tk := range ticks {
				if tk.Value >= g.t[i] && tk.Value <= g.t[i+1] {
					in = append(in, tk)
				}
			}
			require.NotEmpty(t, in, "burst %v..%v has a tick", g.t[i], g.t[i+1])
			for k, tk := range in {
				v, err := strconv.ParseFloat(tk.Label, 64)
				require.NoError(t, err)
				assert.InDelta(t, tk.Value, v, 1e-9, "the label is the value")
				if k == 0 {
					continue
				}
				step := tk.Value - in[k-1].Value
				assert.InDelta(t, niceStep(step), step, step*1e-6, "a round step: %v", step)
				assert.InDelta(t, 0, math.Remainder(tk.Value, step), step*1e-6, "a multiple of the step: %s", tk.Label)
				_, dec, _ := strings.Cut(tk.Label, ".")
				assert.Equal(t, max(0, int(-math.Floor(math.Log10(step)+1e-9))), len(dec), "the step's decimals: %s", tk.Label)
			}
		}
	}
	var labels []string
	for _, tk := range newGapScale([]float64{49.158, 50.146, 50.512, 2466.814, 5049.158, 5049.557, 5050.374, 5051.281, 5051.856}).ticks() {
		labels = append(labels, tk.Label)
	}
	assert.Equal(t, []string{"50", "2467", "5050", "5051"}, labels, "explain --strategy redis --faults crash's axis")
}

// TestTimelineDrawsOnlyWhatHappened: an instance's lane shows a store's
// answer only where the answer reached it; a call served after its
// instance crashed is drawn on the store's lane, and its step's label with
// it.
func TestTimelineDrawsOnlyWhatHappened(t *testing.T) {
	s, err := Tell(sim.Config{Strategy: "redis", Faults: faults.Of(faults.Crash), Seed: 182, Instances: 1, Events: 1})
	require.NoError(t, err)
	tl := buildTimeline(s)
	f := s.Facts()
	replies := map[xy]bool{}
	for k := 1; k < len(f.Calls); k++ {
		if c := &f.Calls[k]; c.ReplyRec >= 0 {
			replies[xy{X: ms(f.Trace[c.ReplyRec].At), Y: tl.instLane(c.Inst)}] = true
		}
	}
	for _, p := range tl.points[&mCall] {
		assert.True(t, replies[p], "an answer drawn at %v that no instance received", p)
	}
	// Step 4: the SET NX sent just before the crash, served after it.
	st := s.Steps[3]
	require.Contains(t, st.Text, "sent just before it crashed, still reaches Redis")
	served := xy{X: ms(int64(st.At)), Y: tl.lane(actorRedis)}
	assert.Contains(t, tl.points[&mUnheard], served, "drawn on Redis's lane")
	assert.NotContains(t, tl.points[&mCall], xy{X: served.X, Y: tl.instLane(0)}, "not as an answer instance 0 received")
	found := false
	for _, l := range tl.labels {
		found = found || l.y == served.Y && strings.Contains(","+l.text+",", ",4,")
	}
	assert.True(t, found, "step 4's label is on Redis's lane: %+v", tl.labels)
}
