package realrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies/pgstore"
)

// What went wrong with a server, for callers that branch on it. A
// *ServerError matches one of them with errors.Is.
var (
	// ErrUnreachable: no connection could be made (nothing listens, the
	// address does not resolve, the connection attempt timed out).
	ErrUnreachable = errors.New("server unreachable")
	// ErrRejected: the server answered but refused the connection: a
	// wrong password, role, database or database number.
	ErrRejected = errors.New("server rejected the connection")
	// ErrServerFailed: the server died, hung or answered an error outside
	// any injected fault. No verdict is given for such a run: a broken
	// server is not a broken strategy.
	ErrServerFailed = errors.New("server failed")
	// ErrWrongService: a connection was made, but what listens at the
	// address does not speak the server's protocol: it closed the
	// connection without a reply, never answered the handshake, or
	// answered something else. Most often the port is another server's,
	// such as PostgreSQL's 5432 in a Redis URL.
	ErrWrongService = errors.New("something else listens at the server's address")
)

// ErrRefused matches the refusals that leave the user's data untouched: a
// table of the prefix's names that idemsim did not create, or a prefix in
// use by another run. The command line exits with status 2 for them, as for
// bad input.
var ErrRefused = errors.New("refused")

// refusal wraps a store's refusal so that it also matches ErrRefused, and
// says what to do.
type refusal struct {
	err    error
	advice string
}

func (r refusal) Error() string   { return r.err.Error() + r.advice }
func (r refusal) Unwrap() []error { return []error{ErrRefused, r.err} }

// ServerError reports a server that could not be reached, refused the run,
// or failed during it: which server, at which address (never with a
// password), what the run was doing, and the driver's error.
type ServerError struct {
	Server string // "Redis", "PostgreSQL" or "NATS"
	Addr   string // host:port
	Doing  string // what the run was doing, e.g. "reading the ledger"
	Kind   error  // ErrUnreachable, ErrRejected or ErrServerFailed
	Err    error  // the driver's error
	Hint   string // what to do about it, or ""
}

// Error says it all in one message, the hint on lines of its own.
func (e *ServerError) Error() string {
	var what string
	switch e.Kind {
	case ErrUnreachable:
		what = "cannot be reached"
	case ErrRejected:
		what = "rejected the connection"
	default:
		what = "failed"
	}
	// The stores' own package prefixes mean nothing to a user.
	detail := e.Err.Error()
	for _, p := range []string{"pgstore: ", "redisstore: ", "redis: "} {
		detail = strings.TrimPrefix(detail, p)
	}
	msg := fmt.Sprintf("%s at %s %s while %s: %s", e.Server, e.Addr, what, e.Doing, detail)
	if e.Kind == ErrWrongService {
		msg = fmt.Sprintf("something that is not %s listens at %s: %s: %s", e.Server, e.Addr, howNotSpoken(e.Server, e.Err), detail)
	}
	if e.Hint != "" {
		msg += "\n  " + strings.ReplaceAll(e.Hint, "\n", "\n  ")
	}
	return msg
}

// Unwrap makes errors.Is match both the kind and the driver's error.
func (e *ServerError) Unwrap() []error { return []error{e.Kind, e.Err} }

// isTimeout reports whether err is a deadline passing: an unknown outcome,
// which injected faults cause and strategies must handle.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return pgconn.Timeout(err)
}

// serverAnswered returns the error a server itself answered, if err holds
// one: a PostgreSQL error response or a Redis error reply. Network
// failures and timeouts return nil.
func serverAnswered(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	var rErr redis.Error
	if errors.As(err, &rErr) && !errors.Is(err, redis.Nil) {
		return rErr
	}
	return nil
}

// expectedSQLState reports whether a PostgreSQL error code is one a strategy
// may meet in a healthy run and must handle itself: integrity violations (a
// plain INSERT of a duplicate id), serialization failures and deadlocks,
// statements cancelled by the caller's own deadline, and statements in a
// transaction that an earlier error aborted. Anything else (a missing
// table, a permission, the server shutting down, out of disk) is the
// server's or the setup's failure, not the strategy's.
func expectedSQLState(code string) bool {
	switch {
	case strings.HasPrefix(code, "23"): // integrity constraint violation
		return true
	case strings.HasPrefix(code, "40"): // transaction rollback: serialization, deadlock
		return true
	}
	switch code {
	case "57014", // query_canceled: our own deadline
		"25P02": // in_failed_sql_transaction
		return true
	}
	return false
}

// fatal reports whether err, met by a consumer's store call outside an
// injected crash, means the server or the setup failed: the run stops and
// reports it instead of judging the strategy. Timeouts and network errors
// are left to the health watch, which tells a dead server from an injected
// partition.
func fatal(err error) bool {
	answered := serverAnswered(err)
	if answered == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(answered, &pgErr) {
		return !expectedSQLState(pgErr.Code)
	}
	return true // a Redis error reply: LOADING, READONLY, OOM, NOAUTH, WRONGTYPE, ...
}

// classifyConnect tells a connection that could not be made from one the
// server refused, and, when reached says a connection was made, from a
// server of another kind: one that did not speak server's protocol
// ("Redis" or "PostgreSQL"). It judges from the error alone: no probe is
// sent to find out what listens there.
func classifyConnect(server string, reached bool, err error) error {
	switch {
	case serverAnswered(err) != nil:
		return ErrRejected
	case reached && spokeOtherwise(server, err):
		return ErrWrongService
	}
	return ErrUnreachable
}

// spokeOtherwise reports whether err, met while greeting a server to which
// a connection was made, shows that what listens there does not speak
// server's protocol: it did not answer the handshake in time (PostgreSQL's
// first answer is one byte, given at once; Redis waits for a newline that
// PostgreSQL's startup message lacks), it closed the connection without a
// reply (PostgreSQL does so on a Redis command), or its reply did not
// parse. A TLS or certificate failure is not such a sign: the server may
// be the right one, set up otherwise.
func spokeOtherwise(server string, err error) bool {
	if isTimeout(err) || closedWithoutReply(err) {
		return true
	}
	msg := err.Error()
	var markers []string
	switch server {
	case "Redis":
		markers = []string{"redis: invalid reply", "redis: can't parse"}
	case "PostgreSQL":
		var tooLong *pgproto3.ExceededMaxBodyLenErr
		if errors.As(err, &tooLong) {
			return true
		}
		markers = []string{"unknown message type", "invalid message", "received unexpected message"}
	}
	for _, m := range markers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// closedWithoutReply reports whether err is the other end closing or
// resetting the connection.
func closedWithoutReply(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// howNotSpoken says how what listens at a server's address showed that it
// does not speak the protocol of server ("Redis" or "PostgreSQL"), from
// the driver's error err.
func howNotSpoken(server string, err error) string {
	switch {
	case isTimeout(err):
		return "it accepted the connection but did not answer " + server + "'s handshake in time"
	case closedWithoutReply(err):
		return "it accepted the connection, then closed it without a " + server + " reply"
	}
	return "its reply is not in the " + server + " protocol"
}

// wrongServiceHint is what to do when what listens at addr does not speak
// server's protocol: check the port, which is often the other server's;
// flag and env name the setting to fix.
func wrongServiceHint(server, addr, flag, env string) string {
	hint := "is the port right?"
	for _, known := range []struct{ port, name string }{{"6379", "Redis"}, {"5432", "PostgreSQL"}, {"4222", "NATS"}, {"5672", "RabbitMQ"}} {
		if known.name != server && portOf(addr, "") == known.port {
			hint += " " + known.port + " is " + known.name + "'s usual port."
		}
	}
	hint += " Point " + flag + " / " + env + " at a " + server + " server"
	switch server {
	case "Redis":
		hint += " (rediss:// for one that wants TLS)"
	case "PostgreSQL":
		hint += "\n(a PostgreSQL server that is frozen or overloaded does not answer either)"
	}
	return hint
}

// refusedByStore turns a store's refusal to touch what is not its own into
// an error that matches ErrRefused.
func refusedByStore(err error) error {
	switch {
	case errors.Is(err, pgstore.ErrNotOwned):
		return refusal{err, "; idemsim leaves it untouched: choose another --prefix (or, if it is yours to remove, drop it yourself)"}
	case errors.Is(err, pgstore.ErrPrefixInUse):
		return refusal{err, ""}
	}
	return nil
}

// badConfigf reports bad input: it matches run.ErrBadConfig, as the
// command line's exit status 2 expects.
func badConfigf(format string, args ...any) error { return run.BadConfigf(format, args...) }
