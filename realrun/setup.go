package realrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/strategies/pgstore"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// Deadlines of the run's own round trips, outside the consumers: connecting,
// setting up, the health watch, the final read and tearing down. A server
// that does not answer within them is reported, never waited for.
const (
	connectTimeout = 3 * time.Second // reach a server, or say so
	setupTimeout   = 5 * time.Second // each step of setting up and tearing down
	lockTimeout    = 2 * time.Second // the run's own statements wait this long for a table lock
	closeTimeout   = 3 * time.Second // closing a pool waits this long for its connections
)

// servers are the run's own connections to both servers, outside the
// consumers' proxies: to set up, watch, read the ledger and tear down.
type servers struct {
	cfg       Config
	redisOpts *redis.Options  // the consumers' options, before their proxy address
	pgConfig  *pgxpool.Config // the consumers' pool config, before their proxy address
	redisAddr string          // host:port, for messages
	pgAddr    string          // host:port, for messages
	rdb       *redis.Client   // the run's own Redis client
	pool      *pgxpool.Pool   // the run's own pool, with a lock_timeout
	lock      *pgstore.PrefixLock
	ledger    *pgstore.Ledger
	runID     string
	marks     *redisstore.Marks // this run's marks: its own namespace
	kv        *redisstore.KV    // this run's keys and values: its own namespace
	events    int
	nats      *natsServer   // with the nats broker: the run's own connection to it
	rabbit    *rabbitServer // with the rabbitmq broker: the run's own connection to it
	kafka     *kafkaServer  // with the kafka broker: the run's own client of it
	// prov is the payment provider, for a strategy that charges: the
	// run's own process, or the one --provider-url names.
	prov *providerServer
}

func (s *servers) redisErr(kind error, doing string, err error) error {
	return &ServerError{Server: "Redis", Addr: s.redisAddr, Doing: doing, Kind: kind, Err: err}
}

func (s *servers) pgErr(kind error, doing string, err error) error {
	return &ServerError{Server: "PostgreSQL", Addr: s.pgAddr, Doing: doing, Kind: kind, Err: err}
}

// setUp connects to both servers, takes the prefix, makes sure its tables
// are idemsim's (creating them if missing) and empties them, and picks the
// run's own Redis namespace. Each step has a deadline. On error, whatever
// was set up is torn down again.
func setUp(ctx context.Context, cfg Config) (s *servers, err error) {
	s = &servers{cfg: cfg, events: cfg.Events}
	defer func() {
		if err != nil {
			s.tearDown(nil, err)
		}
	}()
	if err := s.connectRedis(ctx); err != nil {
		return s, err
	}
	if err := s.connectPostgres(ctx); err != nil {
		return s, err
	}
	if cfg.BrokerServer == BrokerNATS {
		if err := s.connectNATS(ctx); err != nil {
			return s, err
		}
	}
	if cfg.BrokerServer == BrokerRabbitMQ {
		if err := s.connectRabbit(ctx); err != nil {
			return s, err
		}
	}
	if cfg.BrokerServer == BrokerKafka {
		if err := s.connectKafka(ctx); err != nil {
			return s, err
		}
		s.kafka.fitSession(ctx, &s.cfg)
	}

	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, setupTimeout) }
	sctx, cancel := step()
	s.lock, err = pgstore.LockPrefix(sctx, s.pool, cfg.Prefix)
	cancel()
	if err != nil {
		if r := refusedByStore(err); r != nil {
			return s, r
		}
		return s, s.pgErr(ErrServerFailed, "taking the prefix's lock", err)
	}
	sctx, cancel = step()
	s.ledger, err = pgstore.New(sctx, s.pool, cfg.Prefix)
	cancel()
	if err != nil {
		if r := refusedByStore(err); r != nil {
			return s, r
		}
		return s, s.tableErr(ctx, "checking and creating the tables "+cfg.Prefix+"_*", err)
	}
	sctx, cancel = step()
	err = s.ledger.Reset(sctx)
	cancel()
	if err != nil {
		return s, s.tableErr(ctx, "emptying the tables "+cfg.Prefix+"_*", err)
	}

	if st, _ := strategies.Lookup(cfg.Strategy); st.Needs.Has(strategies.NeedsPublisher) {
		// The outbox and the downstream consumer's table, under the
		// prefix's lock as the rest of its tables.
		sctx, cancel = step()
		err = s.ledger.EnsureOutbox(sctx)
		if err == nil {
			err = s.ledger.ResetOutbox(sctx)
		}
		cancel()
		if err != nil {
			if r := refusedByStore(err); r != nil {
				return s, r
			}
			return s, s.tableErr(ctx, "checking, creating and emptying the tables "+cfg.Prefix+"_outbox and "+cfg.Prefix+"_downstream", err)
		}
	}

	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return s, fmt.Errorf("a run id: %w", err)
	}
	s.runID = hex.EncodeToString(id[:])
	if s.marks, err = redisstore.NewRun(s.rdb, cfg.Prefix, s.runID); err != nil {
		panic("realrun: invariant broken: validated prefix refused: " + err.Error())
	}
	if s.kv, err = redisstore.NewRunKV(s.rdb, cfg.Prefix, s.runID); err != nil {
		panic("realrun: invariant broken: validated prefix refused: " + err.Error())
	}
	if s.nats != nil {
		// Under the prefix's lock: no other run of the prefix can be
		// creating or deleting the same stream.
		if err := s.nats.setUp(ctx, s.runID, cfg, len(run.NewWorkload(cfg.Config).Publishes)); err != nil {
			return s, err
		}
	}
	if s.rabbit != nil {
		// Under the prefix's lock, as for NATS.
		s.rabbit.downstream = publishes(cfg)
		if err := s.rabbit.setUp(ctx); err != nil {
			return s, err
		}
	}
	if s.kafka != nil {
		// Under the prefix's lock, as NATS's stream.
		if err := s.kafka.setUp(ctx, publishes(cfg)); err != nil {
			return s, err
		}
	}
	if cfg.charges() {
		// Under the prefix's lock: the provider's tables are the
		// prefix's too.
		if err := s.startProvider(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

// connectRedis reaches Redis, or says within connectTimeout why not.
func (s *servers) connectRedis(ctx context.Context) error {
	ro, err := redis.ParseURL(s.cfg.RedisURL)
	if err != nil {
		return badConfigf("bad Redis URL %q: %v", Redact(s.cfg.RedisURL), err)
	}
	// No silent retries: a retried SET NX whose first try succeeded
	// answers "exists", which would hide what happened. Every call's
	// deadline comes from its context.
	ro.MaxRetries = -1
	ro.ContextTimeoutEnabled = true
	ro.DialTimeout = time.Second
	ro.ClientName = "idemsim"
	s.redisOpts = ro
	s.redisAddr = ro.Addr
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	// The run's own client notes whether a connection was made, to tell
	// a server of another kind from none at all.
	own := *ro
	var reached atomic.Bool
	own.Dialer = reachedDialer(redis.NewDialer(&own), &reached)
	s.rdb = redis.NewClient(&own)
	if err := s.rdb.Ping(cctx).Err(); err != nil {
		kind := classifyConnect("Redis", reached.Load(), err)
		hint := fmt.Sprintf("start one with: redis-server --port %s --save '' --daemonize yes\nor point --redis-url / IDEMSIM_REDIS_URL at one", portOf(ro.Addr, "6379"))
		switch kind {
		case ErrRejected:
			hint = "check the password, user and database number in --redis-url / IDEMSIM_REDIS_URL"
		case ErrWrongService:
			hint = wrongServiceHint("Redis", ro.Addr, "--redis-url", "IDEMSIM_REDIS_URL")
		}
		e := s.redisErr(kind, "connecting", err).(*ServerError)
		e.Hint = hint
		return e
	}
	return nil
}

// connectPostgres reaches PostgreSQL, or says within connectTimeout why
// not.
func (s *servers) connectPostgres(ctx context.Context) error {
	pc, err := pgxpool.ParseConfig(s.cfg.PostgresURL)
	if err != nil {
		return badConfigf("bad PostgreSQL URL %q: %v", Redact(s.cfg.PostgresURL), err)
	}
	pc.ConnConfig.ConnectTimeout = time.Second
	pc.ConnConfig.RuntimeParams["application_name"] = "idemsim"
	s.pgConfig = pc
	s.pgAddr = net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port)))

	// The run's own statements wait at most lockTimeout for a lock another
	// session holds, so that a locked table is reported, not waited on.
	own := pc.Copy()
	own.ConnConfig.RuntimeParams["lock_timeout"] = strconv.Itoa(int(lockTimeout / time.Millisecond))
	own.MaxConns = 4
	var reached atomic.Bool
	own.ConnConfig.DialFunc = reachedDialer(own.ConnConfig.DialFunc, &reached)
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s.pool, err = pgxpool.NewWithConfig(cctx, own)
	if err == nil {
		err = s.pool.Ping(cctx)
	}
	if err != nil {
		kind := classifyConnect("PostgreSQL", reached.Load(), err)
		hint := "start one with: pg_ctlcluster --skip-systemctl-redirect <version> main start (Debian), or pg_ctl -D <datadir> start\nor point --postgres-url / IDEMSIM_POSTGRES_URL at one"
		switch kind {
		case ErrRejected:
			hint = "check the user, password and database name in --postgres-url / IDEMSIM_POSTGRES_URL"
		case ErrWrongService:
			hint = wrongServiceHint("PostgreSQL", s.pgAddr, "--postgres-url", "IDEMSIM_POSTGRES_URL")
		}
		e := s.pgErr(kind, "connecting", err).(*ServerError)
		e.Hint = hint
		return e
	}
	return nil
}

// reachedDialer wraps dial so that it sets reached once it has made a
// connection.
func reachedDialer(dial func(context.Context, string, string) (net.Conn, error), reached *atomic.Bool) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			reached.Store(true)
		}
		return c, err
	}
}

// tableErr reports a failed statement on the prefix's tables; if another
// session's lock made it wait too long, it names that session.
func (s *servers) tableErr(ctx context.Context, doing string, err error) error {
	e := s.pgErr(ErrServerFailed, doing, err).(*ServerError)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		e.Hint = "another session holds a lock on one of the tables: " + s.lockHolders(ctx) +
			"\nend that session (or its transaction), or choose another --prefix"
	} else if isTimeout(err) {
		e.Hint = "the server did not answer in time: is it stopped, frozen or overloaded?"
	}
	return e
}

// lockHolders describes the sessions that hold locks on the prefix's tables.
func (s *servers) lockHolders(ctx context.Context) string {
	if s.lock == nil {
		return "(unknown)"
	}
	qctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	var tables []string
	for _, t := range []string{"_processed", "_accounts", "_ledger", "_offsets"} {
		tables = append(tables, pgx.Identifier{s.lock.Schema, s.cfg.Prefix + t}.Sanitize())
	}
	rows, err := s.pool.Query(qctx, `SELECT DISTINCT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), l.mode
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.relation = ANY($1::regclass[]) AND a.pid <> pg_backend_pid()
ORDER BY a.pid`, tables)
	if err != nil {
		return "(could not tell which: " + err.Error() + ")"
	}
	var out []string
	var pid int32
	var app, state, mode string
	_, err = pgx.ForEachRow(rows, []any{&pid, &app, &state, &mode}, func() error {
		if app == "" {
			app = "no application name"
		}
		out = append(out, fmt.Sprintf("pid %d (%s, %s, %s)", pid, app, state, mode))
		return nil
	})
	if err != nil || len(out) == 0 {
		return "(it was released before it could be named)"
	}
	return strings.Join(out, ", ")
}

// deleteKeys deletes every Redis key of this run: its marks and the keys
// its strategy wrote. It returns how many existed.
func (s *servers) deleteKeys(ctx context.Context) (int, error) {
	n, err := s.marks.Delete(ctx, s.eventIDs())
	if err != nil {
		return n, err
	}
	k, err := s.kv.DeleteWritten(ctx)
	return n + k, err
}

// readLedger counts the applications per event, with a deadline.
func (s *servers) readLedger(ctx context.Context) (map[strategies.EventID]int, error) {
	rctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	apps, err := s.ledger.Applications(rctx)
	if err != nil {
		return nil, s.tableErr(ctx, "reading the ledger at the end of the run", err)
	}
	return apps, nil
}

// eventIDs lists 1..events, the ids whose marks this run may have written.
func (s *servers) eventIDs() []strategies.EventID {
	ids := make([]strategies.EventID, s.events)
	for i := range ids {
		ids[i] = strategies.EventID(i + 1)
	}
	return ids
}

// tearDown deletes the run's Redis keys, releases the prefix and closes the
// run's connections, each step with a deadline. It makes no round trip to a
// server that failed (failure, if not nil, says which). What it could not
// do, it tells warn (if not nil), with how to finish the job.
func (s *servers) tearDown(warn func(string), failure error) {
	if warn == nil {
		warn = func(string) {}
	}
	redisDead, pgDead, natsDead := false, false, false
	var se *ServerError
	if errors.As(failure, &se) && se.Kind != ErrRejected {
		redisDead, pgDead, natsDead = se.Server == "Redis", se.Server == "PostgreSQL", se.Server == "NATS"
	}
	if s.nats != nil {
		s.nats.tearDown(warn, natsDead)
	}
	if s.rabbit != nil {
		s.rabbit.tearDown(warn, se != nil && se.Server == "RabbitMQ" && se.Kind != ErrRejected)
	}
	if s.kafka != nil {
		s.kafka.tearDown(warn, errors.As(failure, &se) && se.Kind != ErrRejected && se.Server == "Kafka")
	}
	if s.prov != nil {
		s.prov.tearDown(warn, se != nil && se.Server == providerName)
	}
	if s.marks != nil {
		err := errors.New("the server failed")
		if !redisDead {
			ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
			_, err = s.deleteKeys(ctx)
			cancel()
		}
		if err != nil {
			warn(fmt.Sprintf("could not delete this run's Redis keys (%s*): %v; they expire by themselves (24 h at most), or remove them with: idemsim clean --prefix %s", s.marks.Namespace(), err, s.cfg.Prefix))
		}
	}
	if s.lock != nil {
		// If PostgreSQL failed, closing the connection is all there is
		// to do: the server releases the lock when it sees it go.
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		if pgDead {
			cancel()
		}
		_ = s.lock.Release(ctx)
		cancel()
	}
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.pool != nil {
		wait := closeTimeout
		if pgDead {
			wait = 100 * time.Millisecond
		}
		closePool(s.pool, wait)
	}
}

// closePool closes pool, giving up on it after wait: a pool waits for its
// borrowed connections, and a hung server must not hang the run.
func closePool(pool *pgxpool.Pool, wait time.Duration) {
	closed := make(chan struct{})
	go func() { pool.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(wait):
	}
}

func portOf(addr, def string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	return port
}

func splitHostPort(addr string) (string, uint16) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return host, uint16(p)
}
