package check

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// An event acked with nothing applied is lost, unless a handler refused it
// to a dead-letter queue: then it is dead, for both checkers.
func TestRefusedIsDeadNotLost(t *testing.T) {
	refused := []Op{
		{Kind: Attempt, Client: 0, Event: 1, Call: 1, Return: 2, Result: Refused},
		{Kind: Ack, Client: 0, Event: 1, Call: 3, Return: 4},
		{Kind: Read, Client: 9, Event: 1, Call: 5, Return: 5, Count: 0},
	}
	v := Verdict(refused, Timeout)
	assert.NotNil(t, v)
	assert.True(t, *v, "a refused event acked unapplied is no violation")
	dropped := append([]Op(nil), refused...)
	dropped[0].Result = Dropped
	v = Verdict(dropped, Timeout)
	assert.NotNil(t, v)
	assert.False(t, *v, "a dropped one is lost")
	// Applied twice is a duplicate, refused or not.
	twice := []Op{
		{Kind: Attempt, Client: 0, Event: 1, Call: 1, Return: 2, Result: Applied},
		{Kind: Attempt, Client: 1, Event: 1, Call: 3, Return: 4, Result: Refused},
		{Kind: Attempt, Client: 1, Event: 1, Call: 5, Return: 6, Result: Applied},
		{Kind: Read, Client: 9, Event: 1, Call: 7, Return: 7, Count: 2},
	}
	v = Verdict(twice, Timeout)
	assert.NotNil(t, v)
	assert.False(t, *v)

	a := AuditRefused([]int{0, 0, 0}, []bool{false, true, true}, nil, []bool{false, true, false})
	assert.Equal(t, AuditResult{Lost: 1, Dead: 1}, a, "event 1 refused: dead; event 2 dropped: lost")
	assert.True(t, AuditResult{Dead: 1}.OK())
}
