package pgstore

// Pending: the store calls added for issue 14, to be written (this file goes when they are).

import (
	"context"
	"errors"
	"github.com/idemsim/idemsim/strategies"
)

var errPending = errors.New("not written yet")

func (t *Tx) ReadProcessed(context.Context, strategies.EventID) (string, bool, error) {
	return "", false, errPending
}
func (t *Tx) DeleteProcessed(context.Context, strategies.EventID) (bool, error) {
	return false, errPending
}
func (t *Tx) UpdateProcessed(context.Context, strategies.EventID, string, string) (bool, error) {
	return false, errPending
}
