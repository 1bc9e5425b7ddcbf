package explain

import (
	"fmt"
	"strings"

	"github.com/idemsim/idemsim/run"
)

// A handler that asks to retry later (run.RetryLater) does nothing, and
// the broker delivers the message again after the nack's delay: while
// another handler holds the event, a story would repeat the same four
// steps every few hundred milliseconds for seconds. The story tells the
// first such attempt in full, then the ones that got the same answers in
// one step.

// attemptRecs maps the records the story may tell about the focus
// event's attempts to the attempt (its index in Facts.Attempts): its
// receive, its calls' steps, its return, and the requeue after its nack.
func (n *narrator) attemptRecs() map[int]int {
	f := n.f
	recs := map[int]int{}
	for _, k := range n.ev.Attempts {
		a := &f.Attempts[k]
		recs[a.Rec] = k
		if a.EndRec >= 0 {
			recs[a.EndRec] = k
		}
		for _, j := range a.Mem {
			recs[f.MemCalls[j].Rec] = k
		}
		for _, id := range a.Calls {
			c := &f.Calls[id]
			for _, rec := range []int{c.ServeRec, c.TimeoutRec} {
				if rec >= 0 {
					recs[rec] = k
				}
			}
			for _, p := range c.Parks {
				recs[p.Rec] = k
			}
			for _, h := range c.Holds {
				recs[h.Rec] = k
			}
		}
	}
	for _, q := range f.Requeues {
		if q.Cause == run.AfterNack && q.Delivery >= 0 {
			if k := f.Deliveries[q.Delivery].Attempt; k >= 0 && f.Events[f.Attempts[k].Event].ID == n.focus {
				recs[q.Rec] = k
			}
		}
	}
	return recs
}

// signature is what an attempt that asked to retry later did: its calls
// and their answers, and its memory's. Attempts with one signature are
// told as one.
func (n *narrator) signature(k int) string {
	var b strings.Builder
	for _, j := range n.f.Attempts[k].Mem {
		m := &n.f.MemCalls[j]
		fmt.Fprintf(&b, "m%d/%d/%v;", m.Op, m.Event, m.Yes)
	}
	for _, id := range n.f.Attempts[k].Calls {
		c := &n.f.Calls[id]
		fmt.Fprintf(&b, "%d/%d/%q/%q/%q;", c.Op, c.Answer, c.Key, c.Value, c.Expect)
	}
	return b.String()
}

// collapseRetries tells each run of two or more attempts that asked to
// retry later with the same answers, with no other step between them, as
// its first attempt in full and one step for the rest.
func (n *narrator) collapseRetries(items []item) []item {
	f := n.f
	retry := func(it item) int {
		if k := it.att; k >= 0 && f.Attempts[k].Outcome == run.RetryLater {
			return k
		}
		return -1
	}
	var out []item
	for i := 0; i < len(items); {
		k := retry(items[i])
		if k < 0 {
			out = append(out, items[i])
			i++
			continue
		}
		// The items of attempt k, then of the attempts after it with the
		// same signature.
		sig := n.signature(k)
		end := i
		group := []int{k}
		for end < len(items) {
			j := retry(items[end])
			if j < 0 || j != group[len(group)-1] && n.signature(j) != sig {
				break
			}
			if j != group[len(group)-1] {
				group = append(group, j)
			}
			end++
		}
		first := i
		for first < end && items[first].att == k {
			first++
		}
		out = append(out, items[i:first]...)
		if len(group) > 1 {
			// The rest, in one step at the last one's return; the requeue
			// after its nack, if told, stays.
			last := group[len(group)-1]
			rest := items[first:end]
			var tail []item
			for len(rest) > 0 && rest[len(rest)-1].rec != f.Attempts[last].EndRec {
				tail = append([]item{rest[len(rest)-1]}, tail...)
				rest = rest[:len(rest)-1]
			}
			if len(rest) > 0 {
				sum := rest[len(rest)-1]
				sum.text, sum.inst, sum.actor, sum.showState = n.retriesText(group[1:], k), -1, actorBroker, false
				sum.claims = append([]Claim{stepClaim(f, sum.rec)}, n.take()...)
				sum.stateClaims = nil
				if inst := f.Attempts[last].Inst; n.sameInstance(group[1:]) {
					sum.inst, sum.actor = inst, fmt.Sprintf("instance %d", inst)
				}
				out = append(out, sum)
			}
			out = append(out, tail...)
		}
		i = end
	}
	return out
}

// sameInstance reports whether the attempts ks all ran on one instance.
func (n *narrator) sameInstance(ks []int) bool {
	for _, k := range ks {
		if n.f.Attempts[k].Inst != n.f.Attempts[ks[0]].Inst {
			return false
		}
	}
	return true
}

// retriesText tells attempts ks, which got the same answers as attempt
// first and asked to retry later, in one step.
func (n *narrator) retriesText(ks []int, first int) string {
	f := n.f
	var msgs, insts []string
	for _, k := range ks {
		a := &f.Attempts[k]
		if m := fmt.Sprintf("m%d", a.Msg); !containsStr(msgs, m) {
			msgs = append(msgs, m)
		}
		if in := fmt.Sprintf("instance %d", a.Inst); !containsStr(insts, in) {
			insts = append(insts, in)
		}
	}
	a0, a1 := &f.Attempts[ks[0]], &f.Attempts[ks[len(ks)-1]]
	found := ""
	for _, id := range f.Attempts[first].Calls {
		if c := &f.Calls[id]; c.Op == run.Get && c.Answer == run.Yes {
			found = fmt.Sprintf(" (%s = %s)", c.Key, c.Value)
		}
	}
	// Each of them: its start, its calls with their answers (the same as
	// first's, which is what puts them in one step), its return.
	for _, k := range ks {
		a := &f.Attempts[k]
		n.claim(receiveClaim(a), outcomeClaim(a))
		if a.NackRec >= 0 {
			c := claim(ClaimNack)
			c.Rec, c.Inst, c.Msg = a.Rec, a.Inst, a.Msg
			n.claim(c)
		}
		for _, id := range a.Calls {
			n.claim(callClaim(&f.Calls[id]))
		}
	}
	span := fmt.Sprintf("%s, from %s to %s, after each nack", plural(len(ks), "more time"), at(a0.At), at(a1.End))
	if len(insts) == 1 {
		return fmt.Sprintf("receives %s %s, and each time gets the same answers%s and asks to retry later", strings.Join(msgs, " and "), span, found)
	}
	return fmt.Sprintf("delivers %s %s, to %s, and each time they get the same answers%s and ask to retry later", strings.Join(msgs, " and "), span, strings.Join(insts, " and "), found)
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
