package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// store is the provider's state in PostgreSQL: its keys and its charges.
type store struct {
	pool    *pgxpool.Pool
	timeout time.Duration // each round trip's deadline
	stale   time.Duration // a running key this old is taken over

	claim, lookup, release, insertCharge, finish, counts, forgetKeys, forgetCharges string
}

func newStore(pool *pgxpool.Pool, t pgstore.ProviderTables, timeout, stale time.Duration) *store {
	s := &store{pool: pool, timeout: timeout, stale: stale}
	// Claim the key: insert it running, or take it over if it expired,
	// or if it is running for longer than the stale limit (its request's
	// provider died between claim and charge: no charge was made, since
	// the charge and the done mark commit together). RETURNING says
	// whether this request holds it now, and whether the key was one
	// that expired (the charge column, which the charge sets, holds
	// "expired" until then).
	s.claim = fmt.Sprintf(`INSERT INTO %s AS k (scope, key, account, amount, reference, state, token, started)
VALUES ($1, $2, $3, $4, $5, 'running', $6, clock_timestamp())
ON CONFLICT (scope, key) DO UPDATE SET account = EXCLUDED.account, amount = EXCLUDED.amount,
	reference = EXCLUDED.reference, state = 'running', token = EXCLUDED.token,
	charge = CASE WHEN k.state = 'done' THEN 'expired' ELSE '' END,
	started = EXCLUDED.started, expires = NULL
WHERE (k.state = 'done' AND k.expires <= clock_timestamp())
   OR (k.state = 'running' AND k.started <= clock_timestamp() - $7 * interval '1 microsecond')
RETURNING k.charge = 'expired'`, t.Keys)
	s.lookup = fmt.Sprintf(`SELECT account, amount, reference, state, charge,
	coalesce(expires <= clock_timestamp(), false)
FROM %s WHERE scope = $1 AND key = $2`, t.Keys)
	s.release = fmt.Sprintf(`DELETE FROM %s WHERE scope = $1 AND key = $2 AND token = $3 AND state = 'running'`, t.Keys)
	s.insertCharge = fmt.Sprintf(`INSERT INTO %s (scope, reference, account, amount) VALUES ($1, $2, $3, $4) RETURNING id`, t.Charges)
	s.finish = fmt.Sprintf(`UPDATE %s SET state = 'done', charge = $4,
	expires = clock_timestamp() + $5 * interval '1 microsecond'
WHERE scope = $1 AND key = $2 AND token = $3 AND state = 'running'`, t.Keys)
	s.counts = fmt.Sprintf(`SELECT reference, account, amount, count(*) FROM %s WHERE scope = $1
GROUP BY reference, account, amount ORDER BY reference, account, amount`, t.Charges)
	s.forgetKeys = fmt.Sprintf(`DELETE FROM %s WHERE scope = $1`, t.Keys)
	s.forgetCharges = fmt.Sprintf(`DELETE FROM %s WHERE scope = $1`, t.Charges)
	return s
}

// request is one charge request.
type request struct {
	Scope, Key string
	Charge     Charge
	Retention  time.Duration // how long the key is kept once done
}

// outcome is what the provider answers a charge that did not fail.
type outcome struct {
	ID       string
	Replayed bool
	// Expired: the request's key had been kept, and had expired; this
	// request charged anew.
	Expired bool
}

// The provider's refusals, each with nothing done.
var (
	errConflict = errors.New("a request with this idempotency key is still in progress: retry later")
	errMismatch = errors.New("this idempotency key was used with different parameters")
)

// failure is a database failure of a charge. charged says whether a
// charge may have been made: false if the provider is sure it was not.
type failure struct {
	err     error
	unknown bool
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// claimTries bounds how often a request tries to claim a key whose row
// changed under it (expired, or released by a request that failed).
const claimTries = 4

// charge carries out one request: with a key, it claims the key (or
// answers from it), waits processing, then charges and marks the key done
// in one transaction. ctx must not end with the caller: a charge runs to
// its end.
func (s *store) charge(ctx context.Context, req request, processing time.Duration) (outcome, error) {
	c := req.Charge
	if req.Key == "" {
		id, err := s.insert(ctx, req)
		if err != nil {
			return outcome{}, err
		}
		return outcome{ID: strategies.ChargeID(int(id))}, nil
	}
	token := newToken()
	expired := false // the key claimed had expired
	for try := 0; ; try++ {
		if try == claimTries {
			return outcome{}, &failure{err: fmt.Errorf("the key %q changed %d times while this request looked at it", req.Key, claimTries)}
		}
		claimed := false
		err := s.round(ctx, func(ctx context.Context) error {
			return s.pool.QueryRow(ctx, s.claim, req.Scope, req.Key, c.Account, c.Amount, c.Reference, token, s.stale.Microseconds()).Scan(&expired)
		})
		if err == nil {
			claimed = true
		} else if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		if err != nil {
			return outcome{}, &failure{err: fmt.Errorf("claiming the key: %w", err)}
		}
		if claimed {
			break
		}
		var first Charge
		var state, id string
		var gone bool
		err = s.round(ctx, func(ctx context.Context) error {
			return s.pool.QueryRow(ctx, s.lookup, req.Scope, req.Key).Scan(&first.Account, &first.Amount, &first.Reference, &state, &id, &gone)
		})
		switch {
		case errors.Is(err, pgx.ErrNoRows), err == nil && gone:
			continue // released or expired meanwhile: claim again
		case err != nil:
			return outcome{}, &failure{err: fmt.Errorf("reading the key: %w", err)}
		case first != c:
			return outcome{}, errMismatch
		case state != "done":
			return outcome{}, errConflict
		}
		return outcome{ID: id, Replayed: true}, nil
	}
	if processing > 0 {
		t := time.NewTimer(processing)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	var id int64
	committed := false
	err := s.round(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, s.insertCharge, req.Scope, c.Reference, c.Account, c.Amount).Scan(&id); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, s.finish, req.Scope, req.Key, token, strategies.ChargeID(int(id)), req.Retention.Microseconds())
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return errors.New("the key was taken over by another request (this one ran past the stale limit)")
			}
			committed = true // from here, a failure is the commit's: unknown
			return nil
		})
	})
	if err != nil {
		if !committed {
			// Nothing charged: free the key for a retry, as a provider
			// keeps no key for a request that failed.
			_ = s.round(ctx, func(ctx context.Context) error {
				_, err := s.pool.Exec(ctx, s.release, req.Scope, req.Key, token)
				return err
			})
		}
		return outcome{}, &failure{err: fmt.Errorf("charging: %w", err), unknown: committed}
	}
	return outcome{ID: strategies.ChargeID(int(id)), Expired: expired}, nil
}

// insert makes a charge with no key.
func (s *store) insert(ctx context.Context, req request) (int64, error) {
	c := req.Charge
	var id int64
	err := s.round(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, s.insertCharge, req.Scope, c.Reference, c.Account, c.Amount).Scan(&id)
	})
	if err != nil {
		// A lost reply to an INSERT may hide a charge made.
		return 0, &failure{err: fmt.Errorf("charging: %w", err), unknown: true}
	}
	return id, nil
}

// countCharges counts scope's charges per reference and payload (account,
// amount), in that order.
func (s *store) countCharges(ctx context.Context, scope string) ([]PayloadCount, error) {
	out := []PayloadCount{}
	err := s.round(ctx, func(ctx context.Context) error {
		out = out[:0]
		rows, err := s.pool.Query(ctx, s.counts, scope)
		if err != nil {
			return err
		}
		var c Charge
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&c.Reference, &c.Account, &c.Amount, &n}, func() error {
			out = append(out, PayloadCount{Charge: c, Charges: int(n)})
			return nil
		})
		return err
	})
	return out, err
}

// forget deletes scope's keys and charges.
func (s *store) forget(ctx context.Context, scope string) error {
	return s.round(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, s.forgetKeys, scope); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, s.forgetCharges, scope)
			return err
		})
	})
}

// ping checks that the database answers.
func (s *store) ping(ctx context.Context) error {
	return s.round(ctx, s.pool.Ping)
}

// round runs one round trip (or one transaction) with the store's
// deadline.
func (s *store) round(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return f(ctx)
}

// newToken is a fresh token that names one request's hold of a key.
func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
