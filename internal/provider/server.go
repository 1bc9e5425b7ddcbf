package provider

import (
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

// maxBody bounds a request's body: a charge is a few dozen bytes.
const maxBody = 4096

// handler serves the provider's API over a store.
type handler struct {
	st         *store
	retention  time.Duration
	processing time.Duration
	// runTimeout bounds a whole charge (its round trips and its
	// processing), which runs on after its caller left.
	runTimeout time.Duration
	// logf, if set, is told of database failures.
	logf func(format string, args ...any)
}

func (h *handler) mux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST "+PathCharges, h.charge)
	m.HandleFunc("GET "+PathCounts, h.counts)
	m.HandleFunc("DELETE "+PathScope, h.forget)
	m.HandleFunc("GET "+PathHealth, h.health)
	return m
}

// answer writes status and v as JSON.
func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, status int, format string, args ...any) {
	answer(w, status, ErrorBody{Error: fmt.Sprintf(format, args...)})
}

// unavailable answers 503, sure that nothing was charged.
func unavailable(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set(HeaderCharged, "no")
	refuse(w, http.StatusServiceUnavailable, format, args...)
}

// scopeOf reads a request's scope, or answers 400.
func scopeOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	s := r.Header.Get(HeaderScope)
	if err := ValidateScope(s); err != nil {
		refuse(w, http.StatusBadRequest, "%s: %v", HeaderScope, err)
		return "", false
	}
	return s, true
}

func (h *handler) charge(w http.ResponseWriter, r *http.Request) {
	scope, ok := scopeOf(w, r)
	if !ok {
		return
	}
	req := request{Scope: scope, Key: r.Header.Get(HeaderKey), Retention: h.retention}
	if _, given := r.Header[http.CanonicalHeaderKey(HeaderKey)]; given {
		if err := strategies.ValidateKey(req.Key); err != nil {
			refuse(w, http.StatusBadRequest, "%s: %s", HeaderKey, strings.TrimPrefix(err.Error(), "strategies: "))
			return
		}
	}
	if v := r.Header.Get(HeaderRetention); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil {
			err = ValidateRetention(d)
		}
		if err != nil {
			refuse(w, http.StatusBadRequest, "%s: %v", HeaderRetention, err)
			return
		}
		req.Retention = d
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		refuse(w, http.StatusBadRequest, "reading the body: %v", err)
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req.Charge); err != nil {
		refuse(w, http.StatusBadRequest, `bad body: %v (want {"account": 1, "amount": 42, "reference": 17})`, err)
		return
	}
	if c := req.Charge; c.Amount <= 0 || c.Reference <= 0 {
		refuse(w, http.StatusBadRequest, "bad charge %+v: amount and reference must be positive", c)
		return
	}
	if r.Header.Get(HeaderFail) == "1" {
		// The injected 5xx: before anything is done.
		unavailable(w, "injected failure (%s): nothing charged, no key kept", HeaderFail)
		return
	}
	// The charge runs to its end whatever becomes of the caller: a
	// provider goes on with a request it received.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.runTimeout)
	defer cancel()
	out, err := h.st.charge(ctx, req, h.processing)
	var f *failure
	switch {
	case err == nil:
		if out.Replayed {
			w.Header().Set(HeaderReplayed, "true")
		}
		if out.Expired {
			w.Header().Set(HeaderExpired, "true")
		}
		answer(w, http.StatusOK, Receipt{ID: out.ID, Replayed: out.Replayed})
	case errors.Is(err, errMismatch):
		refuse(w, http.StatusUnprocessableEntity, "%s %q: %v", HeaderKey, req.Key, err)
	case errors.Is(err, errConflict):
		refuse(w, http.StatusConflict, "%s %q: %v", HeaderKey, req.Key, err)
	case errors.As(err, &f) && f.unknown:
		h.log("charge failed, outcome unknown: %v", err)
		refuse(w, http.StatusInternalServerError, "the database failed; the charge may or may not have been made: %v", err)
	default:
		h.log("charge failed, nothing charged: %v", err)
		unavailable(w, "the database failed; nothing charged: %v", err)
	}
}

func (h *handler) counts(w http.ResponseWriter, r *http.Request) {
	scope, ok := scopeOf(w, r)
	if !ok {
		return
	}
	n, err := h.st.countCharges(r.Context(), scope)
	if err != nil {
		h.log("counting charges failed: %v", err)
		unavailable(w, "the database failed: %v", err)
		return
	}
	out := Counts{Charges: make(map[string]int, len(n)), Payloads: n}
	for _, p := range n {
		out.Charges[strconv.FormatInt(p.Reference, 10)] += p.Charges
	}
	answer(w, http.StatusOK, out)
}

func (h *handler) forget(w http.ResponseWriter, r *http.Request) {
	scope, ok := scopeOf(w, r)
	if !ok {
		return
	}
	if err := h.st.forget(r.Context(), scope); err != nil {
		h.log("forgetting a scope failed: %v", err)
		unavailable(w, "the database failed: %v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	if err := h.st.ping(r.Context()); err != nil {
		unavailable(w, "the database does not answer: %v", err)
		return
	}
	answer(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) log(format string, args ...any) {
	if h.logf != nil {
		h.logf(format, args...)
	}
}
