package check

// AuditResult is what the direct audit of the ledger found.
type AuditResult struct {
	// Duplicates is the applications beyond the first, summed over events.
	Duplicates int
	// Lost is the events the broker considers done that were never applied.
	Lost int
	// Dead is the events the broker dead-lettered that were never
	// applied nor acked, and those a handler refused to a dead-letter
	// queue (check.Refused) that none applied, acked or not: not a
	// violation, an outcome of their own.
	Dead int
}

// OK reports whether the audit found no violation. Dead events are none:
// the porcupine model agrees, as an event never acked may end unapplied.
func (a AuditResult) OK() bool { return a.Duplicates == 0 && a.Lost == 0 }

// Audit counts, for events 1..len(applied)-1, how often the ledger holds
// each event's effect (applied[id]) against whether the broker considers the
// event done (done[id]). Index 0 is unused, as event ids start at 1.
func Audit(applied []int, done []bool) AuditResult { return AuditDead(applied, done, nil) }

// AuditDead is Audit that also counts the dead events: dead[id] reports
// whether the broker dead-lettered a copy of event id (nil: none was). A
// dead event that was applied once is fine (its ack was lost, say); one
// that an ack settled and that was never applied is lost, as any other.
func AuditDead(applied []int, done, dead []bool) AuditResult {
	return AuditRefused(applied, done, dead, nil)
}

// AuditRefused is AuditDead that also knows the events a handler refused
// to a dead-letter queue (refused[id]; nil: none was): one that none
// applied is dead, surfaced, even though the refusal was acked, where an
// event acked with nothing done is otherwise lost.
func AuditRefused(applied []int, done, dead, refused []bool) AuditResult {
	var a AuditResult
	for id := 1; id < len(applied); id++ {
		switch n := applied[id]; {
		case n > 1:
			a.Duplicates += n - 1
		case n == 0 && refused != nil && refused[id]:
			a.Dead++
		case n == 0 && done[id]:
			a.Lost++
		case n == 0 && dead != nil && dead[id]:
			a.Dead++
		}
	}
	return a
}
