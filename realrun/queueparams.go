package realrun

import (
	"time"

	logmodel "github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/run"
)

// The queue's parameters on a real broker (run.BrokerParams: --ack-deadline,
// --nack-retry, --prefetch, --max-deliveries), each mapped to the broker's
// own setting where it has one:
//
//	          ack deadline   nack retry      prefetch              max deliveries
//	nats      AckWait        NakWithDelay    pull batch,           MaxDeliver
//	                                         MaxRequestBatch
//	rabbitmq  none only      a wait, then    basic.qos             x-delivery-limit N-1,
//	                         basic.nack      prefetch count        a dead-letter queue
//	memory    its timer      its timer       refused (one at       its own count
//	                                         a time)
//
// Durations are the simulator's, scaled to the real run's clock as the
// default ack deadline is (Timing: 400 ms for the simulator's 5 s), so that a
// run with --ack-deadline 10s on NATS has an AckWait of 800 ms, twice the
// default, as the simulator's is twice its own. Kafka takes the log's
// parameters instead (validateKafka).

// queueScale is how much shorter a real run's clock is than the
// simulator's for the queue: the ratio of the two default ack deadlines.
func queueScale(t Timing) float64 {
	return float64(t.AckDeadline) / float64(logmodel.DefaultAckDeadline)
}

// withQueueParams is t with the ack deadline and the nack retry delay that
// p asks for, each scaled as its default is. With no ack deadline
// (RabbitMQ), t.AckDeadline stays the unit of the slow and zombie faults,
// as the simulator's queue then stalls a multiple of its default.
func (t Timing) withQueueParams(p run.BrokerParams) Timing {
	if p.AckDeadline > 0 {
		t.AckDeadline = time.Duration(float64(p.AckDeadline) * queueScale(t))
	}
	if p.NackRetry > 0 {
		t.NackRetry = time.Duration(float64(t.NackRetry) * float64(p.NackRetry) / float64(logmodel.DefaultNackRetry))
	}
	return t
}

// prefetch is the run's prefetch: how many deliveries a consumer holds at
// once (run.BrokerParams.Prefetch, default 1).
func (c Config) prefetch() int {
	if c.Broker.Prefetch > 0 {
		return c.Broker.Prefetch
	}
	return logmodel.DefaultPrefetch
}

// validateQueueParams refuses a queue parameter the run's broker does not
// have, naming the broker and what it takes; c has its defaults.
func (c Config) validateQueueParams() error {
	p := c.Broker
	switch c.BrokerServer {
	case BrokerNATS:
		if p.AckDeadline == run.NoAckDeadline {
			return badConfigf("--ack-deadline none: NATS JetStream always has an ack deadline (the consumer's AckWait); give a duration (default 5s, scaled to %v on a real run's clock), or run --broker rabbitmq, which has none (nats takes --ack-deadline, --nack-retry, --prefetch and --max-deliveries)", c.Timing.AckDeadline)
		}
	case BrokerRabbitMQ:
		if p.AckDeadline > 0 {
			return badConfigf("--ack-deadline %v: RabbitMQ has no ack deadline (an unacked message stays with its consumer until its channel closes); give --ack-deadline none or leave it out, or run --broker nats, which has one (rabbitmq takes --ack-deadline none, --nack-retry, --prefetch and --max-deliveries)", p.AckDeadline)
		}
	case BrokerMemory:
		switch {
		case p.AckDeadline == run.NoAckDeadline:
			return badConfigf("--ack-deadline none: the in-process broker (--broker memory) always has an ack deadline; give a duration, or run --broker rabbitmq, which has none (memory takes --ack-deadline, --nack-retry and --max-deliveries)")
		case p.Prefetch > 1:
			return badConfigf("--prefetch %d: the in-process broker (--broker memory) hands each consumer one delivery at a time; run --broker nats or --broker rabbitmq for a prefetch (memory takes --ack-deadline, --nack-retry and --max-deliveries)", p.Prefetch)
		}
	}
	return nil
}
