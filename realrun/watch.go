package realrun

import (
	"context"
	"time"

	"github.com/idemsim/idemsim/internal/provider"
)

// The health watch: while a run goes on, it checks on its own connections
// (not through the consumers' proxies, so an injected partition does not
// touch them) that each server still answers. A server that has failed
// its checks for deadAfter, at least twice in a row, has died or hung
// outside any injected fault: the run stops and says so.
const (
	watchInterval = 250 * time.Millisecond
	pingTimeout   = 1500 * time.Millisecond
	deadAfter     = 2 * time.Second
)

// watch checks both servers until ctx ends, and fails the run through fail
// when one stops answering.
func (s *servers) watch(ctx context.Context, fail func(error)) {
	go watchOne(ctx, func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }, func(err error) {
		e := s.redisErr(ErrServerFailed, "checking during the run that it still answers (PING)", err).(*ServerError)
		e.Hint = stoppedHint(err)
		fail(e)
	})
	go watchOne(ctx, s.pool.Ping, func(err error) {
		e := s.pgErr(ErrServerFailed, "checking during the run that it still answers (an empty query)", err).(*ServerError)
		e.Hint = stoppedHint(err)
		fail(e)
	})
	if s.nats != nil {
		go watchOne(ctx, s.nats.ping, func(err error) {
			e := s.nats.err(ErrServerFailed, "checking during the run that it still answers (PING on the run's own connection)", err).(*ServerError)
			e.Hint = stoppedHint(err)
			fail(e)
		})
	}
	if s.rabbit != nil {
		go watchOne(ctx, s.rabbit.ping, func(err error) {
			e := s.rabbit.err(ErrServerFailed, "checking during the run that it still answers (a passive declare of the run's queue on the run's own connection)", err).(*ServerError)
			if err != errQueueGone {
				e.Hint = stoppedHint(err)
			}
			fail(e)
		})
	}
	if p := s.prov; p != nil {
		p.watchExit(ctx, fail)
		go watchOne(ctx, p.client.Health, func(err error) {
			e := p.err(ErrServerFailed, "checking during the run that it still answers (GET "+provider.PathHealth+" on the run's own connection)", err).(*ServerError)
			e.Hint = stoppedHint(err)
			fail(e)
		})
	}
	if s.kafka != nil {
		go watchOne(ctx, s.kafka.ping, func(err error) {
			e := s.kafka.err(ErrServerFailed, "checking during the run that it still answers (reading the group's offsets on the run's own client)", err).(*ServerError)
			e.Hint = stoppedHint(err)
			fail(e)
		})
	}
}

func stoppedHint(err error) string {
	if isTimeout(err) {
		return "it stopped answering: is it frozen (SIGSTOP), overloaded, or failing over? No verdict is given for this run"
	}
	return "the connection failed: did the server stop or restart? No verdict is given for this run"
}

// watchOne pings every watchInterval and calls dead once the pings have
// failed for deadAfter, at least twice in a row.
func watchOne(ctx context.Context, ping func(context.Context) error, dead func(error)) {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	var failingSince time.Time
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			fails = 0
			continue
		}
		if fails == 0 {
			failingSince = start
		}
		fails++
		if fails >= 2 && time.Since(failingSince) >= deadAfter {
			dead(err)
			return
		}
	}
}
