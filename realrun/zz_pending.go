package realrun

// Pending: the store calls added for issue 14, to be written (this file goes when they are).

import (
	"context"
	"errors"
	"github.com/idemsim/idemsim/strategies"
	"time"
)

var errPending = errors.New("not written yet")

func (k faultyKV) DelIfEqual(context.Context, string, string) (bool, error) { return false, errPending }
func (k faultyKV) SetIfEqual(context.Context, string, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k faultyKV) SAdd(context.Context, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k faultyKV) SIsMember(context.Context, string, string) (bool, error) { return false, errPending }
func (k faultyKV) SRem(context.Context, string, string) (bool, error)      { return false, errPending }
func (t *faultyTx) ReadProcessed(context.Context, strategies.EventID) (string, bool, error) {
	return "", false, errPending
}
func (t *faultyTx) DeleteProcessed(context.Context, strategies.EventID) (bool, error) {
	return false, errPending
}
func (t *faultyTx) UpdateProcessed(context.Context, strategies.EventID, string, string) (bool, error) {
	return false, errPending
}
