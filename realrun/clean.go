package realrun

import (
	"context"
	"errors"

	"github.com/idemsim/idemsim/strategies/pgstore"
	"github.com/idemsim/idemsim/strategies/redisstore"
)

// Cleaned is what Clean removed.
type Cleaned struct {
	Tables    []string // schema-qualified names of the tables dropped
	RedisKeys int      // keys of killed runs deleted
	// NATS lists what was removed from NATS (with the nats broker): the
	// prefix's stream, if it bore idemsim's mark.
	NATS []string
	// RabbitMQ lists what was removed from RabbitMQ (with the rabbitmq
	// broker): the prefix's quorum queue, if it bore idemsim's mark.
	RabbitMQ []string
	// Kafka lists what was removed from Kafka (with the kafka broker):
	// the prefix's topic if it bore idemsim's mark, and its consumer
	// group if it was a leftover of idemsim's.
	Kafka []string
	// NotOwned, if not nil, reports relations of the prefix's names that
	// idemsim did not create: they were left untouched.
	NotOwned error
}

// Clean removes everything real runs of a prefix created: the prefix's
// tables (only those that bear idemsim's mark) and the Redis keys that
// killed runs left behind (only keys of the exact form a run writes). It
// takes the prefix first, so it refuses (ErrRefused) while a run uses it.
// With BrokerServer BrokerNATS, it also deletes the prefix's NATS stream
// (and its consumers) if it bears idemsim's mark in its metadata; one
// without the mark is left untouched and reported in NotOwned. With
// BrokerRabbitMQ, likewise the prefix's quorum queue; with BrokerKafka,
// the prefix's topic (and its consumer group, if a leftover of idemsim's).
// Config's workload fields are ignored.
func Clean(ctx context.Context, cfg Config) (*Cleaned, error) {
	cfg = cfg.withDefaults()
	if err := validateSettings(cfg); err != nil {
		return nil, err
	}
	scrub := cfg.scrubber()
	out, err := clean(ctx, cfg)
	return out, scrub.Error(err)
}

func clean(ctx context.Context, cfg Config) (_ *Cleaned, err error) {
	s := &servers{cfg: cfg}
	defer func() { s.tearDown(nil, err) }()
	if err = s.connectRedis(ctx); err != nil {
		return nil, err
	}
	if err = s.connectPostgres(ctx); err != nil {
		return nil, err
	}
	if cfg.BrokerServer == BrokerNATS {
		if err = s.connectNATS(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.BrokerServer == BrokerRabbitMQ {
		if err = s.connectRabbit(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.BrokerServer == BrokerKafka {
		if err = s.connectKafka(ctx); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	s.lock, err = pgstore.LockPrefix(sctx, s.pool, cfg.Prefix)
	cancel()
	if err != nil {
		if r := refusedByStore(err); r != nil {
			return nil, r
		}
		return nil, s.pgErr(ErrServerFailed, "taking the prefix's lock", err)
	}
	out := &Cleaned{}
	sctx, cancel = context.WithTimeout(ctx, setupTimeout)
	out.Tables, err = pgstore.Drop(sctx, s.pool, cfg.Prefix)
	cancel()
	if errors.Is(err, pgstore.ErrNotOwned) {
		out.NotOwned, err = err, nil
	}
	if err != nil {
		return nil, s.tableErr(ctx, "dropping the tables "+cfg.Prefix+"_*", err)
	}
	sctx, cancel = context.WithTimeout(ctx, 4*setupTimeout) // a SCAN of the whole keyspace
	out.RedisKeys, err = redisstore.Clean(sctx, s.rdb, cfg.Prefix)
	cancel()
	if err != nil {
		return nil, s.redisErr(ErrServerFailed, "deleting the keys "+cfg.Prefix+":run:*", err)
	}
	if s.nats != nil {
		var notOwned error
		out.NATS, notOwned, err = s.nats.clean(ctx)
		if err != nil {
			return nil, err
		}
		out.NotOwned = errors.Join(out.NotOwned, notOwned)
	}
	if s.rabbit != nil {
		var notOwned error
		out.RabbitMQ, notOwned, err = s.rabbit.clean(ctx)
		if err != nil {
			return nil, err
		}
		out.NotOwned = errors.Join(out.NotOwned, notOwned)
	}
	if s.kafka != nil {
		var notOwned error
		out.Kafka, notOwned, err = s.kafka.clean(ctx)
		if err != nil {
			return nil, err
		}
		out.NotOwned = errors.Join(out.NotOwned, notOwned)
	}
	return out, nil
}
