package redisstore

// Pending: the store calls added for issue 14, to be written (this file goes when they are).

import (
	"context"
	"errors"
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
