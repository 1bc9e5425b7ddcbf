package idemsimtest

import (
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/idemsim/idemsim/explain"
)

// report is the message of a failed ExactlyOnce.
type report struct {
	plan   *plan
	failed []*cell
	// told is the failed cell whose story is told, story that story; both
	// nil when no failed cell has a seed whose violation explain tells
	// (each run with a kind not allowed also showed one allowed, which
	// explain tells first).
	told  *cell
	story *explain.Story
	test  string // the test's name, t.Name()
}

// String writes the report: the failed scenarios, then the story of the
// first with one, its replay lines, and how to tell another.
func (r *report) String() string {
	p := r.plan
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not exactly-once%s: %s (%s, %d instances, %d events):\n\n",
		p.strategy, p.onBroker(), r.headline(), p.seedRange(), p.instances, p.events)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tviolating runs\tshowed\tallowed\tfirst failing seed")
	for _, c := range r.failed {
		fmt.Fprintf(tw, "%s\t%d of %d\t%s\t%s\t%d\n", c.set, c.violating, c.runs, c.seen, c.allowed, c.seed())
	}
	tw.Flush()

	for _, c := range r.failed {
		if c.disagree > 0 {
			fmt.Fprintf(&b, "\nBUG in idemsim: porcupine and the audit disagree on %d runs under %s; please report it with: %s\n",
				c.disagree, c.set, p.config(c, c.disagreeSeed).Reproduce())
		}
	}
	if p.real != nil {
		// A real run cannot be shrunk or replayed step for step: say how
		// to run it again, on the servers and in the simulator.
		for _, c := range r.failed {
			if c.unexpected() == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n%s under %s, seed %d:\n", p.strategy, c.set, c.seed())
			fmt.Fprintf(&b, "reproduce on real servers with: %s\n", p.realConfig(c, c.seed()).Reproduce())
			fmt.Fprintf(&b, "the same workload in the simulator: %s (idemsim explain with its flags tells a failure step by step)\n", rerun(p, c).Reproduce())
			fmt.Fprintf(&b, "rerun it from this test: %s\n", r.command(c))
		}
	} else if r.story != nil {
		// As idemsim explain says it: the shrunk run, and why its seed
		// is not the seed that failed.
		fmt.Fprintf(&b, "\nSeed %d under %s, shrunk to the smallest run that fails the same way: %s.\n\n",
			r.told.storySeed, r.told.set, explain.ShrunkWords(p.config(r.told, r.told.storySeed), r.story.Config))
		r.story.WriteTo(&b)
		fmt.Fprintf(&b, "\nrerun it from this test: %s\n", r.command(r.told))
	} else {
		// Each failing run also showed a kind the scenario allows, which
		// explain would tell instead.
		for _, c := range r.failed {
			if c.unexpected() == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n%s under %s: every run that showed %s also showed %s, which explain tells first.\n", p.strategy, c.set, c.unexpected(), c.allowed)
			fmt.Fprintf(&b, "reproduce with: %s\n", rerun(p, c).Reproduce())
			fmt.Fprintf(&b, "rerun it from this test: %s\n", r.command(c))
		}
	}
	if others := r.others(); len(others) > 0 {
		fmt.Fprintf(&b, "tell another scenario: %s", r.scenarioCommand(others[0]))
		if len(others) > 1 {
			fmt.Fprintf(&b, " (or %s)", strings.Join(others[1:], ", "))
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// headline says how many scenarios failed.
func (r *report) headline() string {
	n, total := len(r.failed), len(r.plan.cells)
	if total == 1 {
		return "it fails under " + r.failed[0].set.String()
	}
	return fmt.Sprintf("%d of %d scenarios fail", n, total)
}

// others names the failed scenarios whose story is not told, when one is.
func (r *report) others() []string {
	var names []string
	for _, c := range r.failed {
		if r.told != nil && c != r.told {
			names = append(names, c.set.String())
		}
	}
	return names
}

// command is the go test command line that reruns cell c's failing seed.
func (r *report) command(c *cell) string {
	return fmt.Sprintf("%s -idemsim.seed=%d", r.scenarioCommand(c.set.String()), c.seed())
}

// scenarioCommand is the go test command line that sweeps only the
// scenario called name, and so tells its story.
func (r *report) scenarioCommand(name string) string {
	cmd := "go test -run '" + runPattern(r.test) + "' -idemsim.scenario=" + name
	if r.plan.several {
		cmd += " -idemsim.broker=" + r.plan.brokerModel
	}
	return cmd
}

// runPattern is the -run pattern that matches the test called name alone,
// subtests included ("TestA/case_1" is "^TestA$/^case_1$").
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, part := range parts {
		parts[i] = "^" + strings.ReplaceAll(regexp.QuoteMeta(part), "'", `'\''`) + "$"
	}
	return strings.Join(parts, "/")
}

// seedRange names the seeds each scenario ran.
func (p *plan) seedRange() string {
	if p.first == p.last {
		return fmt.Sprintf("seed %d", p.first)
	}
	return fmt.Sprintf("seeds %d..%d each", p.first, p.last)
}

// passed says what a sweep that passed covered.
func (p *plan) passed() string {
	var names []string
	for _, c := range p.cells {
		v := "ok"
		if c.seen != 0 {
			v = c.seen.String() + " (allowed)"
		}
		names = append(names, c.set.String()+" "+v)
	}
	return fmt.Sprintf("%s, %d instances, %d events: %s", p.seedRange(), p.instances, p.events, strings.Join(names, ", "))
}
