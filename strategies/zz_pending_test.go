package strategies

// Pending: the store calls added for issue 14, to be written (this file goes when they are).

import (
	"context"
	"errors"
	"time"
)

var errPending = errors.New("not written yet")

func (k memKV) DelIfEqual(context.Context, string, string) (bool, error) { return false, errPending }
func (k memKV) SetIfEqual(context.Context, string, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k memKV) SAdd(context.Context, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k memKV) SIsMember(context.Context, string, string) (bool, error) { return false, errPending }
func (k memKV) SRem(context.Context, string, string) (bool, error)      { return false, errPending }
func (t *memTx) DeleteProcessed(context.Context, EventID) (bool, error) { return false, errPending }
func (t *batchTx) ReadProcessed(context.Context, EventID) (string, bool, error) {
	return "", false, errPending
}
func (t *batchTx) DeleteProcessed(context.Context, EventID) (bool, error) { return false, errPending }
func (t *batchTx) UpdateProcessed(context.Context, EventID, string, string) (bool, error) {
	return false, errPending
}

func (t *batchTx) ReadOffset(context.Context, int) (int64, error) { return 0, errPending }
func (t *batchTx) AdvanceOffset(context.Context, int, int64, int64) (bool, error) {
	return false, errPending
}
