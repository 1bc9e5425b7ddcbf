package strategies

// The calls the test doubles of this package's tests (memKV, memTx,
// batchTx) have only to implement the store interfaces: no test here
// makes them, and each fails if one does. The stores that do them are
// memstore, the simulator, redisstore and pgstore, each with its tests.

import (
	"context"
	"errors"
	"time"
)

var errUnused = errors.New("strategies test double: a call the tests here do not make")

func (k memKV) DelIfEqual(context.Context, string, string) (bool, error) { return false, errUnused }
func (k memKV) SetIfEqual(context.Context, string, string, string, time.Duration) (bool, error) {
	return false, errUnused
}
func (k memKV) SAdd(context.Context, string, string, time.Duration) (bool, error) {
	return false, errUnused
}
func (k memKV) SIsMember(context.Context, string, string) (bool, error) { return false, errUnused }
func (k memKV) SRem(context.Context, string, string) (bool, error)      { return false, errUnused }
func (t *memTx) DeleteProcessed(context.Context, EventID) (bool, error) { return false, errUnused }
func (t *batchTx) ReadProcessed(context.Context, EventID) (string, bool, error) {
	return "", false, errUnused
}
func (t *batchTx) DeleteProcessed(context.Context, EventID) (bool, error) { return false, errUnused }
func (t *batchTx) UpdateProcessed(context.Context, EventID, string, string) (bool, error) {
	return false, errUnused
}

func (t *batchTx) ReadOffset(context.Context, int) (int64, error) { return 0, errUnused }
func (t *batchTx) AdvanceOffset(context.Context, int, int64, int64) (bool, error) {
	return false, errUnused
}
