package provider

import (
	"fmt"
	"regexp"
	"time"
)

// The headers of the provider's API.
const (
	// HeaderKey is the optional idempotency key of a charge.
	HeaderKey = "Idempotency-Key"
	// HeaderReplayed, "true" on an answer from a kept key.
	HeaderReplayed = "Idempotent-Replayed"
	// HeaderScope names the scope of keys and charges a request belongs
	// to (a run's id); none is the empty scope.
	HeaderScope = "Idemsim-Scope"
	// HeaderRetention, a Go duration ("200ms"), is how long this
	// request's key is kept once done, instead of the provider's
	// retention: how a run plays the key-expiry fault.
	HeaderRetention = "Idemsim-Key-Retention"
	// HeaderFail, "1", makes the provider answer 503 at once, nothing
	// charged and no key kept: how a run injects the provider's 5xx.
	HeaderFail = "Idemsim-Fail"
	// HeaderExpired, "true" on a charge whose key the provider had kept
	// and forgot when its retention passed: it charged anew.
	HeaderExpired = "Idemsim-Key-Expired"
	// HeaderCharged, "no" on a 5xx answer that is sure nothing was
	// charged. A 5xx without it leaves the outcome unknown.
	HeaderCharged = "Idemsim-Charged"
)

// The paths of the provider's API.
const (
	PathCharges = "/v1/charges"
	PathCounts  = "/v1/charges/counts"
	PathScope   = "/v1/scope"
	PathHealth  = "/healthz"
)

// Charge is the body of a charge request: the account to charge, the
// amount, and the reference that the provider keeps with the charge (an
// event id), as a payment API keeps metadata.
type Charge struct {
	Account   int   `json:"account"`
	Amount    int64 `json:"amount"`
	Reference int64 `json:"reference"`
}

// Receipt is the answer to a charge that succeeded.
type Receipt struct {
	ID       string `json:"id"`
	Replayed bool   `json:"replayed"`
}

// Counts is the answer of GET /v1/charges/counts: a scope's charges per
// reference (decimal), and per reference and payload (account, amount).
// The payloads tell apart two events that share a reference, as those of
// a producer that reused an earlier event's id do: an audit that counted
// by reference alone would judge them as one.
type Counts struct {
	Charges  map[string]int `json:"charges"`
	Payloads []PayloadCount `json:"payloads"`
}

// PayloadCount is a scope's number of charges of one reference, account
// and amount: {"account": 3, "amount": 42, "reference": 17, "charges": 2}.
type PayloadCount struct {
	Charge
	Charges int `json:"charges"`
}

// ErrorBody is the body of every answer that is not 200.
type ErrorBody struct {
	Error string `json:"error"`
}

// MaxRetention bounds a key's retention: a year.
const MaxRetention = 365 * 24 * time.Hour

// scopeRE is what a scope may be: a run's id, or any short name.
var scopeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{0,64}$`)

// ValidateScope checks a scope: up to 64 letters, digits, '_', '.' or '-'.
func ValidateScope(s string) error {
	if !scopeRE.MatchString(s) {
		return fmt.Errorf("bad scope %q: want up to 64 letters, digits, '_', '.' or '-'", s)
	}
	return nil
}

// ValidateRetention checks a key retention: more than 0, at most
// MaxRetention.
func ValidateRetention(d time.Duration) error {
	if d <= 0 || d > MaxRetention {
		return fmt.Errorf("bad key retention %v: want more than 0 and at most %v", d, MaxRetention)
	}
	return nil
}
