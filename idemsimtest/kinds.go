package idemsimtest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/idemsim/idemsim/explain"
	"github.com/idemsim/idemsim/run"
)

// kinds is a set of kinds of violation.
type kinds uint8

// The kinds of violation, in the order the outcome table names them.
const (
	dup kinds = 1 << iota
	lost
	stuck
	ghost // a downstream event published for an effect that rolled back
)

// kindNames names the kinds, by bit: kindNames[i] is the kind 1<<i.
var kindNames = [...]string{"dup", "lost", "stuck", "ghost"}

// notViolations are words of a verdict that name an outcome that is no
// violation: "dead" (dead-lettered, or refused as a conflict), which the
// outcome table shows beside the kinds, as in "lost+dead".
var notViolations = []string{"dead"}

// parseKinds reads a verdict of the outcome table: "ok", or kinds joined
// by "+"; "dead" among them is allowed and is no kind of violation.
func parseKinds(verdict string) (kinds, error) {
	if verdict == "ok" {
		return 0, nil
	}
	var k kinds
	for _, part := range strings.Split(verdict, "+") {
		if slices.Contains(notViolations, strings.TrimSpace(part)) {
			continue
		}
		i := slices.Index(kindNames[:], strings.TrimSpace(part))
		if i < 0 {
			return 0, fmt.Errorf("unknown verdict %q: want ok, or kinds among %s joined by '+', as in dup+lost", verdict, strings.Join(kindNames[:], ", "))
		}
		k |= 1 << i
	}
	return k, nil
}

// String names the kinds as the outcome table does: "ok", "dup",
// "dup+lost", ...
func (k kinds) String() string {
	var names []string
	for i, name := range kindNames {
		if k&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "ok"
	}
	return strings.Join(names, "+")
}

// kindsOf returns the kinds of violation r shows, as the outcome table
// counts them: a downstream event applied twice is a dup, one never sent
// for a committed effect is lost.
func kindsOf(r *run.Result) kinds {
	var k kinds
	if r.Duplicates > 0 || r.DownstreamDuplicates > 0 {
		k |= dup
	}
	if r.Lost > 0 || r.DownstreamLost > 0 {
		k |= lost
	}
	if r.Stuck > 0 {
		k |= stuck
	}
	if r.Ghosts > 0 {
		k |= ghost
	}
	return k
}

// toldOf returns the kind of violation of r that explain tells, if any.
func toldOf(r *run.Result) kinds {
	switch explain.KindOf(r) {
	case explain.Duplicate:
		return dup
	case explain.Lost, explain.Unsent:
		return lost
	case explain.Ghost:
		return ghost
	case explain.Stuck:
		return stuck
	}
	return 0
}
