package strategies

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Provider is a payment provider reached over the network, as a card
// payment API is: the business effect of a strategy that needs it
// (NeedsProvider) is a charge there, not a row of the Ledger, and the
// checkers count charges at the provider.
//
// Charge charges e.Amount to e.Account, with e.ID as the charge's
// reference (what a payment API keeps as metadata, so that an audit can
// count the charges of each event). key is an optional idempotency key,
// as a payment API's Idempotency-Key header; the semantics are those the
// well-known providers document:
//   - no key (""): every request charges;
//   - a key the provider keeps (for its retention window, DefaultKeyRetention
//     unless the key-expiry fault shortens it) returns the first request's
//     receipt, Replayed, without charging again;
//   - the same key with other parameters (account, amount, reference) is
//     refused with ErrKeyMismatch, nothing done;
//   - the same key while the first request with it is still running at the
//     provider is refused with ErrKeyConflict, nothing done: retry later;
//   - the provider may answer 5xx (ErrProviderFailed): it failed before it
//     charged, and kept no key, so a retry is safe;
//   - a request whose reply is lost has an unknown outcome: its error wraps
//     ErrUnknownOutcome, and the charge may or may not have happened.
//
// A key is 1 to MaxKeyLen bytes of UTF-8 with no control characters
// (ValidateKey), or "": a bad one fails at once, with ErrBadKey.
type Provider interface {
	Charge(ctx context.Context, key string, e Event) (Receipt, error)
}

// Receipt is the provider's answer to a charge that succeeded.
type Receipt struct {
	// Charge is the provider's id of the charge ("ch_12").
	Charge string
	// Replayed says that the provider answered from a key it kept: this
	// request charged nothing, the first one with the key did.
	Replayed bool
}

// DefaultKeyRetention is how long a provider keeps an idempotency key after
// the request that first used it finished, unless the key-expiry fault
// shortens it: 24 hours, as the well-known providers keep them.
const DefaultKeyRetention = 24 * time.Hour

// The errors of a Provider a strategy branches on (errors.Is). None of them
// charged anything; an unknown outcome is ErrUnknownOutcome.
var (
	// ErrKeyConflict: a request with the same key is still running at
	// the provider (HTTP 409): nothing done, retry later.
	ErrKeyConflict = errors.New("strategies: provider: a request with this idempotency key is still in progress (409): retry later")
	// ErrKeyMismatch: the key was used before with other parameters
	// (HTTP 422): nothing done, and retrying will not help.
	ErrKeyMismatch = errors.New("strategies: provider: idempotency key reused with different parameters (422)")
	// ErrProviderFailed: the provider answered 5xx before charging and
	// kept no key: nothing done, a retry is safe.
	ErrProviderFailed = errors.New("strategies: provider: server error (5xx), nothing charged")
)

// ChargeID is how providers of idemsim name their n-th charge: "ch_n".
func ChargeID(n int) string { return fmt.Sprintf("ch_%d", n) }

// ProviderKey is the idempotency key api-key and api-key-db give event
// id's charge: the event id, as a consumer that derives its key from the
// message does.
func ProviderKey(id EventID) string { return fmt.Sprintf("evt-%d", uint64(id)) }

// chargeRetries bounds how often a strategy repeats a charge whose outcome
// it does not know yet (a timeout, a 5xx) before it gives up and lets the
// broker redeliver.
const chargeRetries = 4

// chargeKnown charges e with key until the outcome is known: a receipt, a
// conflict (another request with the key is running: retry later), or a
// mismatch, which it returns. A timeout or a 5xx is retried with the same
// key, up to chargeRetries times; then the last error is returned. Without
// a key a retry could charge twice, so it tries once. unsure says that a
// try before the last had an unknown outcome (its charge may have
// happened): see chargeOutcome.
func chargeKnown(ctx context.Context, p Provider, key string, e Event) (r Receipt, unsure bool, err error) {
	for try := 0; try < chargeRetries; try++ {
		r, err = p.Charge(ctx, key, e)
		if err == nil || key == "" || errors.Is(err, ErrKeyConflict) || errors.Is(err, ErrKeyMismatch) || errors.Is(err, ErrBadKey) || ctx.Err() != nil {
			return r, unsure, err
		}
		if !errors.Is(err, ErrProviderFailed) {
			unsure = true
		}
	}
	return Receipt{}, unsure, err
}
