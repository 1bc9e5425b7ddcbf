package sim

// Pending: the store calls added for issue 14, to be written (this file goes when they are).

import (
	"context"
	"errors"
	"github.com/idemsim/idemsim/strategies"
	"time"
)

var errPending = errors.New("not written yet")

func (k simKV) DelIfEqual(context.Context, string, string) (bool, error) { return false, errPending }
func (k simKV) SetIfEqual(context.Context, string, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k simKV) SAdd(context.Context, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k simKV) SIsMember(context.Context, string, string) (bool, error) { return false, errPending }
func (k simKV) SRem(context.Context, string, string) (bool, error)      { return false, errPending }
func (t *simTx) ReadProcessed(context.Context, strategies.EventID) (string, bool, error) {
	return "", false, errPending
}
func (t *simTx) DeleteProcessed(context.Context, strategies.EventID) (bool, error) {
	return false, errPending
}
func (t *simTx) UpdateProcessed(context.Context, strategies.EventID, string, string) (bool, error) {
	return false, errPending
}
