package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// Client is a strategies.Provider over HTTP: a client of idemsim's
// provider (or of any server of the same API) at URL, in Scope. Each call
// ends with its context: give it a deadline. A call whose reply does not
// come (a timeout, a closed connection) has an unknown outcome: its error
// wraps strategies.ErrUnknownOutcome.
type Client struct {
	URL   string // http://host:port, with no path
	Scope string // the scope of its keys and charges (HeaderScope)
	// Retention, if not zero, is sent with every charge
	// (HeaderRetention): how long the provider keeps its key.
	Retention time.Duration
	// Fail, if set, is asked before each charge: true injects a 5xx
	// (HeaderFail).
	Fail func() bool
	// Expired, if set, is called when a charge's answer says that its
	// key had been kept and expired (HeaderExpired): it charged anew.
	Expired func()
	// HTTP is the client to use; nil: http.DefaultClient.
	HTTP *http.Client
}

// StatusError is an answer the provider should not give a well-formed
// request in a healthy run: a 400, a 404, or a 5xx that leaves the
// outcome unknown (the provider's database failed at the commit).
type StatusError struct {
	Code int
	Msg  string // the answer's error message, or its body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("provider: answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

// Unwrap makes a 5xx match strategies.ErrUnknownOutcome.
func (e *StatusError) Unwrap() error {
	if e.Code >= 500 {
		return strategies.ErrUnknownOutcome
	}
	return nil
}

// maxAnswer bounds the body of an answer read.
const maxAnswer = 1 << 20

// Charge charges e, with key if not "", as strategies.Provider says.
func (c *Client) Charge(ctx context.Context, key string, e strategies.Event) (strategies.Receipt, error) {
	if key != "" {
		if err := strategies.ValidateKey(key); err != nil {
			return strategies.Receipt{}, err
		}
		if strings.TrimSpace(key) != key {
			// HTTP trims a header's blanks: the provider would
			// see another key.
			return strategies.Receipt{}, fmt.Errorf("%w %q: an idempotency key sent in a header cannot begin or end with a blank", strategies.ErrBadKey, key)
		}
	}
	body, _ := json.Marshal(Charge{Account: e.Account, Amount: e.Amount, Reference: int64(e.ID)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+PathCharges, bytes.NewReader(body))
	if err != nil {
		return strategies.Receipt{}, fmt.Errorf("provider: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(HeaderKey, key)
	}
	if c.Retention > 0 {
		req.Header.Set(HeaderRetention, c.Retention.String())
	}
	if c.Fail != nil && c.Fail() {
		req.Header.Set(HeaderFail, "1")
	}
	c.scope(req)
	status, h, ans, err := c.do(req)
	if err != nil {
		return strategies.Receipt{}, fmt.Errorf("provider: charge of event %d: no answer: %w: %w", e.ID, strategies.ErrUnknownOutcome, err)
	}
	switch {
	case status == http.StatusOK:
		var r Receipt
		if err := json.Unmarshal(ans, &r); err != nil || r.ID == "" {
			return strategies.Receipt{}, fmt.Errorf("provider: charge of event %d: an answer 200 that does not parse (%q): %w", e.ID, ans, strategies.ErrUnknownOutcome)
		}
		if c.Expired != nil && h.Get(HeaderExpired) == "true" {
			c.Expired()
		}
		return strategies.Receipt{Charge: r.ID, Replayed: r.Replayed || h.Get(HeaderReplayed) == "true"}, nil
	case status == http.StatusConflict:
		return strategies.Receipt{}, strategies.ErrKeyConflict
	case status == http.StatusUnprocessableEntity:
		return strategies.Receipt{}, strategies.ErrKeyMismatch
	case status >= 500 && h.Get(HeaderCharged) == "no":
		return strategies.Receipt{}, fmt.Errorf("%w: %s", strategies.ErrProviderFailed, message(ans))
	}
	return strategies.Receipt{}, &StatusError{Code: status, Msg: message(ans)}
}

// Counts counts the scope's charges per event id (the charges'
// reference).
func (c *Client) Counts(ctx context.Context) (map[strategies.EventID]int, error) {
	cs, err := c.counts(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[strategies.EventID]int, len(cs.Charges))
	for ref, n := range cs.Charges {
		id, err := strconv.ParseUint(ref, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("provider: counting the charges: a reference %q that is not an event id", ref)
		}
		out[strategies.EventID(id)] = n
	}
	return out, nil
}

// CountsByPayload counts the scope's charges per event id and payload:
// the key is an event with its ID, Account and Amount set. It tells apart
// two events of one id (a producer that reused an id gave each its own
// payload), which Counts adds up.
func (c *Client) CountsByPayload(ctx context.Context) (map[strategies.Event]int, error) {
	cs, err := c.counts(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[strategies.Event]int, len(cs.Payloads))
	for _, p := range cs.Payloads {
		if p.Reference < 0 {
			return nil, fmt.Errorf("provider: counting the charges: a reference %d that is not an event id", p.Reference)
		}
		out[strategies.Event{ID: strategies.EventID(p.Reference), Account: p.Account, Amount: p.Amount}] += p.Charges
	}
	return out, nil
}

// counts asks for the scope's counts.
func (c *Client) counts(ctx context.Context) (Counts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+PathCounts, nil)
	if err != nil {
		return Counts{}, fmt.Errorf("provider: %w", err)
	}
	c.scope(req)
	status, _, ans, err := c.do(req)
	if err != nil {
		return Counts{}, fmt.Errorf("provider: counting the charges: %w", err)
	}
	if status != http.StatusOK {
		return Counts{}, &StatusError{Code: status, Msg: message(ans)}
	}
	var cs Counts
	if err := json.Unmarshal(ans, &cs); err != nil {
		return Counts{}, fmt.Errorf("provider: counting the charges: an answer that does not parse: %w", err)
	}
	return cs, nil
}

// Forget deletes the scope's keys and charges at the provider.
func (c *Client) Forget(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.URL+PathScope, nil)
	if err != nil {
		return fmt.Errorf("provider: %w", err)
	}
	c.scope(req)
	status, _, ans, err := c.do(req)
	if err != nil {
		return fmt.Errorf("provider: forgetting the scope's keys and charges: %w", err)
	}
	if status != http.StatusNoContent {
		return &StatusError{Code: status, Msg: message(ans)}
	}
	return nil
}

// Health checks that the provider answers and reaches its database.
func (c *Client) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+PathHealth, nil)
	if err != nil {
		return fmt.Errorf("provider: %w", err)
	}
	status, _, ans, err := c.do(req)
	if err != nil {
		return fmt.Errorf("provider: health check: %w", err)
	}
	var ok struct{ Status string }
	switch {
	case status == http.StatusNotFound, status == http.StatusOK && (json.Unmarshal(ans, &ok) != nil || ok.Status != "ok"):
		return fmt.Errorf("%w (GET %s answered %d %q)", ErrNotProvider, PathHealth, status, truncate(ans))
	case status != http.StatusOK:
		return &StatusError{Code: status, Msg: message(ans)}
	}
	return nil
}

// truncate is the beginning of an answer, for a message.
func truncate(ans []byte) string {
	if len(ans) > 80 {
		return string(ans[:80]) + "..."
	}
	return string(ans)
}

func (c *Client) scope(req *http.Request) {
	if c.Scope != "" {
		req.Header.Set(HeaderScope, c.Scope)
	}
}

// do sends req and reads the whole answer: a reply cut short is no reply.
func (c *Client) do(req *http.Request) (int, http.Header, []byte, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, ans, nil
}

// message is the error message of an answer's body, or the body.
func message(ans []byte) string {
	var e ErrorBody
	if json.Unmarshal(ans, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(ans))
}

// ErrNotProvider says that what answers at a provider URL is not idemsim's
// provider.
var ErrNotProvider = errors.New("provider: what answers there is not idemsim's payment provider")
