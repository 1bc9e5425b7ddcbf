package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/strategies"
)

// intValue is an int flag that accepts only whole numbers in [min, max].
type intValue struct {
	p        *int
	min, max int
}

// newIntValue sets *p to def and returns a flag.Value for it.
func newIntValue(p *int, def, min, max int) *intValue {
	*p = def
	return &intValue{p: p, min: min, max: max}
}

// String returns the current value.
func (v *intValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

// Set parses s, refusing anything but a whole number in range.
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("want a whole number from %d to %d", v.min, v.max)
	}
	*v.p = n
	return nil
}

// uint64Value is a uint64 flag that accepts only whole numbers.
type uint64Value struct{ p *uint64 }

// String returns the current value.
func (v *uint64Value) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return strconv.FormatUint(*v.p, 10)
}

// Set parses s, refusing anything but a whole number from 0 to MaxUint64.
func (v *uint64Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a whole number from 0 to %d", uint64(math.MaxUint64))
	}
	*v.p = n
	return nil
}

// durationValue is a duration flag that accepts only a positive Go
// duration; its zero value means "not given".
type durationValue struct{ p *time.Duration }

// durationFormat says what durationValue accepts.
const durationFormat = "a positive Go duration: a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s or 1h"

// String returns the current value, "0" when none was given.
func (v *durationValue) String() string {
	if v == nil || v.p == nil || *v.p == 0 {
		return "0"
	}
	return v.p.String()
}

// Set parses s, refusing anything but a positive duration.
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return fmt.Errorf("want %s", durationFormat)
	}
	*v.p = d
	return nil
}

// Units of sizeValue, by name; a name is matched regardless of case.
var sizeUnits = []struct {
	name string
	n    int64
}{
	{"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
}

// sizeValue is a flag for a number of bytes in [min, max], written as a
// whole number and a unit: 512MiB, 2GiB, 1500MB.
type sizeValue struct {
	p        *int64
	min, max int64
}

// newSizeValue sets *p to def and returns a flag.Value for it.
func newSizeValue(p *int64, def, min, max int64) *sizeValue {
	*p = def
	return &sizeValue{p: p, min: min, max: max}
}

// String returns the current value in the largest binary unit that
// divides it.
func (v *sizeValue) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return formatSize(*v.p)
}

// formatSize writes n bytes in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.n == 0 {
			return fmt.Sprintf("%d%s", n/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// Set parses s, refusing anything but a whole number with a unit, in
// range.
func (v *sizeValue) Set(s string) error {
	bad := fmt.Errorf("want a whole number and a unit, from %s to %s, e.g. 512MiB or 2GiB (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
		formatSize(v.min), formatSize(v.max))
	s = strings.TrimSpace(s)
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if digits == 0 || digits > 15 { // 15 digits: no overflow below
		return bad
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil {
		return bad
	}
	unit := strings.TrimSpace(s[digits:])
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			if n > v.max/u.n || n*u.n < v.min {
				return bad
			}
			*v.p = n * u.n
			return nil
		}
	}
	return bad
}

// isHelpArg reports whether a is a request for help.
func isHelpArg(a string) bool {
	switch a {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// parseFlags parses args with fs. It reports help when -h or --help appears
// anywhere, and a usageError that names what is accepted for an unknown
// flag, a malformed value or a positional argument. It prints nothing: the
// caller prints help or the error.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	fs.SetOutput(io.Discard) // messages are ours, not flag's usage dump
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, flagError(fs, err)
	}
	for _, a := range fs.Args() {
		if isHelpArg(a) {
			return true, nil
		}
	}
	if fs.NArg() > 0 {
		return false, usagef("unexpected argument %q: %s takes only flags (accepted: %s)", fs.Arg(0), fs.Name(), flagNames(fs))
	}
	return false, nil
}

// flagError rewords an error of flag.Parse, whose messages are stable, to
// name flags as --name and to say what is accepted; a message it does not
// recognize passes unchanged.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if f := strings.Fields(name); len(f) > 0 && f[0] != name && fs.Lookup(f[0]) != nil {
			return usagef("malformed flag %q: give --%s and its value as two arguments, or as --%s=VALUE (accepted: %s)", "--"+name, f[0], f[0], flagNames(fs))
		}
		if !plainNameRE.MatchString(name) {
			return usagef("unknown flag %q (accepted: %s)", "--"+name, flagNames(fs))
		}
		if near := faults.Suggest(name, flagList(fs)); near != "" {
			return usagef("unknown flag --%s: flag names are exact, did you mean --%s? (accepted: %s)", name, near, flagNames(fs))
		}
		return usagef("unknown flag --%s (accepted: %s)", name, flagNames(fs))
	}
	if arg, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok {
		return usagef("malformed flag %q: write --name or --name=value (accepted: %s)", arg, flagNames(fs))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		if f := fs.Lookup(name); f != nil {
			_, usage := flag.UnquoteUsage(f)
			return usagef("--%s needs a value: %s", name, strings.ReplaceAll(usage, "\n", " "))
		}
	}
	if m := invalidValueRE.FindStringSubmatch(msg); m != nil {
		return usagef("--%s %s: %s", m[2], m[1], m[3])
	}
	if m := invalidBoolRE.FindStringSubmatch(msg); m != nil {
		return usagef("--%s %s: want true or false (or just --%s for true)", m[2], m[1], m[2])
	}
	return usagef("%s", msg)
}

// plainNameRE matches a name that reads unambiguously unquoted.
var plainNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// invalidValueRE matches flag's message for a value its flag.Value refused.
var invalidValueRE = regexp.MustCompile(`^invalid value (".*") for flag -(\S+): (.*)$`)

// invalidBoolRE matches flag's message for a malformed boolean value.
var invalidBoolRE = regexp.MustCompile(`^invalid boolean value (".*") for -(\S+): `)

// flagNames lists fs's flags as "--name", sorted, comma-separated.
func flagNames(fs *flag.FlagSet) string {
	names := flagList(fs)
	for i, n := range names {
		names[i] = "--" + n
	}
	return strings.Join(names, ", ")
}

// flagList lists the names of fs's flags, sorted, and "help".
func flagList(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return append(names, "help")
}

// unknownName is the error for a name that is not one of accepted: what
// it names (strategy, command), the name, a hint when it differs from an
// accepted one only in case or spelling of '-', and the accepted names.
func unknownName(what, name string, accepted []string) error {
	list := strings.Join(accepted, ", ")
	if name == "" {
		return usagef("empty %s name (accepted: %s)", what, list)
	}
	if near := faults.Suggest(name, accepted); near != "" {
		return usagef("unknown %s %q: names are exact, did you mean %q? (accepted: %s)", what, name, near, list)
	}
	return usagef("unknown %s %q (accepted: %s)", what, name, list)
}

// setFlags returns the names of the flags set on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// printCommandHelp prints a command's help: its usage line, what it does,
// and every flag of fs, each with its default when that is not the zero
// value. The flags in order ("name PLACEHOLDER", or "name" for a flag that
// takes no value) come first, in that order; any other flag follows.
func printCommandHelp(w io.Writer, synopsis, about string, fs *flag.FlagSet, order []string) error {
	fmt.Fprintf(w, "usage: %s\n\n%s\n\nflags:\n", synopsis, strings.TrimSpace(about))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	seen := make(map[string]bool)
	placeholders := make(map[string]string)
	for _, o := range order {
		name, placeholder, _ := strings.Cut(o, " ")
		placeholders[name] = placeholder
	}
	printFlag := func(f *flag.Flag) {
		if f == nil || seen[f.Name] {
			return
		}
		seen[f.Name] = true
		placeholder, usage := flag.UnquoteUsage(f)
		if p, ok := placeholders[f.Name]; ok {
			placeholder = p
		} else if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			placeholder = ""
		}
		head := "--" + f.Name
		if placeholder != "" {
			head += " " + placeholder
		}
		switch f.DefValue {
		case "", "0", "false":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		for i, line := range strings.Split(usage, "\n") {
			if i == 0 {
				fmt.Fprintf(tw, "  %s\t%s\n", head, line)
			} else {
				fmt.Fprintf(tw, "  \t%s\n", line)
			}
		}
	}
	for _, o := range order {
		name, _, _ := strings.Cut(o, " ")
		printFlag(fs.Lookup(name))
	}
	fs.VisitAll(printFlag)
	fmt.Fprintf(tw, "  -h, --help\tshow this help\n")
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, `
exit status: 0 when the command completed (a violation of exactly-once is a
result, not an error), 2 on bad usage, 1 on any other error, including a
disagreement between the two checkers, which is a bug in idemsim.
`)
	return err
}

// acceptedStrategies lists the strategy names, comma-separated.
func acceptedStrategies() string { return strings.Join(strategies.Names(), ", ") }

// acceptedFaults lists the names faults.Parse accepts, comma-separated:
// the fault scenarios, "all", and "none".
func acceptedFaults() string { return strings.Join(faults.AcceptedNames(), ", ") }

// faultsHelp explains, for the help of a --faults flag, what "all" and
// "none" mean.
const faultsHelp = "all: every fault at once; none, alone: " + faults.NoneMeaning

// faultsError turns an error of faults.Parse, whose text already says
// what is wrong and lists what is accepted, into a usage error for the
// flag that carried the list.
func faultsError(flagName string, err error) error {
	return usagef("--%s: %v", flagName, err)
}

// splitList splits a comma-separated flag value into trimmed names,
// refusing an empty name and a repeated one: "crash,crash" is a slip that
// would otherwise pass unnoticed.
func splitList(flagName, list, accepted string) ([]string, error) {
	var names []string
	seen := make(map[string]bool)
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, usagef("--%s %q has an empty name (accepted: a comma-separated list of %s)", flagName, list, accepted)
		}
		if seen[n] {
			return nil, usagef("--%s %q names %s twice: name each once (accepted: a comma-separated list of %s)", flagName, list, n, accepted)
		}
		seen[n] = true
		names = append(names, n)
	}
	return names, nil
}

// plural says n of word, as "1 instance" or "3 instances".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// formatCounts renders counts as "a 1, b 2", sorted by name, or "none".
func formatCounts(counts map[string]int) string {
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d", n, counts[n]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
