package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAuditDead: an event dead-lettered and never applied is dead, not a
// violation; applied once and dead-lettered (its ack was lost) is fine;
// acked and never applied is lost, dead-lettered copy or not.
func TestAuditDead(t *testing.T) {
	for _, c := range []struct {
		name    string
		applied []int
		done    []bool
		dead    []bool
		want    AuditResult
	}{
		{"no dead-letter", []int{0, 1, 0, 2}, []bool{false, true, true, true}, nil, AuditResult{Duplicates: 1, Lost: 1}},
		{"dead, never applied", []int{0, 0}, []bool{false, false}, []bool{false, true}, AuditResult{Dead: 1}},
		{"dead after it was applied", []int{0, 1}, []bool{false, false}, []bool{false, true}, AuditResult{}},
		{"dead and acked unapplied: lost", []int{0, 0}, []bool{false, true}, []bool{false, true}, AuditResult{Lost: 1}},
		{"dead and applied twice", []int{0, 2}, []bool{false, false}, []bool{false, true}, AuditResult{Duplicates: 1}},
	} {
		got := AuditDead(c.applied, c.done, c.dead)
		assert.Equal(t, c.want, got, c.name)
		assert.Equal(t, c.want.Duplicates == 0 && c.want.Lost == 0, got.OK(), c.name)
	}
	assert.Equal(t, AuditResult{Duplicates: 1, Lost: 1}, Audit([]int{0, 1, 0, 2}, []bool{false, true, true, true}))
}
