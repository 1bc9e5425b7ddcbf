package check

// AuditResult is what the direct audit of the ledger found.
type AuditResult struct {
	// Duplicates is the applications beyond the first, summed over events.
	Duplicates int
	// Lost is the events the broker considers done that were never applied.
	Lost int
}

// OK reports whether the audit found no violation.
func (a AuditResult) OK() bool { return a.Duplicates == 0 && a.Lost == 0 }

// Audit counts, for events 1..len(applied)-1, how often the ledger holds
// each event's effect (applied[id]) against whether the broker considers the
// event done (done[id]). Index 0 is unused, as event ids start at 1.
func Audit(applied []int, done []bool) AuditResult {
	var a AuditResult
	for id := 1; id < len(applied); id++ {
		switch n := applied[id]; {
		case n > 1:
			a.Duplicates += n - 1
		case n == 0 && done[id]:
			a.Lost++
		}
	}
	return a
}
