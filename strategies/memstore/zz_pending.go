package memstore

// Pending: the store calls added for issue 14, to be written (this file goes when they are).

import (
	"context"
	"errors"
	"github.com/idemsim/idemsim/strategies"
	"time"
)

var errPending = errors.New("not written yet")

func (k *KV) DelIfEqual(context.Context, string, string) (bool, error) { return false, errPending }
func (k *KV) SetIfEqual(context.Context, string, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k *KV) SAdd(context.Context, string, string, time.Duration) (bool, error) {
	return false, errPending
}
func (k *KV) SIsMember(context.Context, string, string) (bool, error) { return false, errPending }
func (k *KV) SRem(context.Context, string, string) (bool, error)      { return false, errPending }
func (t *Tx) ReadProcessed(context.Context, strategies.EventID) (string, bool, error) {
	return "", false, errPending
}
func (t *Tx) DeleteProcessed(context.Context, strategies.EventID) (bool, error) {
	return false, errPending
}
func (t *Tx) UpdateProcessed(context.Context, strategies.EventID, string, string) (bool, error) {
	return false, errPending
}
