package realrun

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	logmodel "github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/run"
)

// What a real run creates on Kafka, under its prefix: one topic,
// <prefix>_events, and one consumer group, <prefix>_consumers.
//
// Kafka has no free-form metadata on a topic: a broker refuses a topic
// config it does not know ("Unknown topic config name"). So the mark is a
// value of a config that the topic never uses: delete.retention.ms, how
// long a compacted topic keeps its tombstones, on a topic whose cleanup
// policy is delete (which never compacts). Its value, kafkaMarkValue, is
// one no default and no person picks (a day and 7 ms). A topic of the
// run's name without that value is not idemsim's: it is refused and left
// untouched. The topic's retention.ms is a day, so that what a killed run
// left expires by itself, as its Redis keys do.
//
// A consumer group has no metadata at all. The run's group is taken as
// idemsim's when it has no members and its committed offsets are of the
// run's topic only (a killed run's leftover); a group with members, or
// with offsets of any other topic, is someone else's: refused, untouched.
const (
	kafkaMarkKey   = "delete.retention.ms"
	kafkaMarkValue = "86400007"
	kafkaRetention = "86400000"
)

// kafkaTopic and kafkaGroup name what a run of prefix p creates on Kafka.
func kafkaTopic(p string) string { return p + "_events" }
func kafkaGroup(p string) string { return p + "_consumers" }

// KafkaInProcess is the value of --kafka-brokers (or IDEMSIM_KAFKA_BROKERS)
// that starts franz-go's kfake cluster inside idemsim for the run, instead
// of reaching a Kafka of the user's.
const KafkaInProcess = "kfake"

// kafkaScale is how much shorter a real run's clock is than the
// simulator's: the ratio of the two ack deadlines (400 ms to 5 s). The
// log's session timeout and max-poll interval shrink by it.
func kafkaScale(t Timing) float64 {
	return float64(t.AckDeadline) / float64(logmodel.DefaultAckDeadline)
}

// checkKafkaBrokers checks a seed list: host:port[,host:port...], or
// KafkaInProcess.
func checkKafkaBrokers(raw string) ([]string, error) {
	if strings.TrimSpace(raw) == KafkaInProcess {
		return nil, nil
	}
	var out []string
	for _, b := range strings.Split(raw, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if strings.Contains(b, "://") || strings.Contains(b, "@") {
			// Not quoted: what precedes an @ may be a password.
			return nil, errors.New("want host:port, with no scheme and no user (give SASL credentials with --kafka-sasl-user and IDEMSIM_KAFKA_SASL_PASSWORD)")
		}
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q: want host:port", b)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%q: port %q: want 1 to 65535", b, port)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("no broker named")
	}
	return out, nil
}

// kafkaServer is a run's own client of Kafka, outside the consumers'
// proxies: to set up, publish, watch, read the committed offsets and tear
// down.
type kafkaServer struct {
	seeds   []string
	addr    string // the seed list, for messages
	prefix  string
	topic   string
	group   string
	fake    *kfake.Cluster // the in-process cluster, when asked for
	cl      *kgo.Client    // produces, and carries adm's requests
	adm     *kadm.Client
	created bool // the topic is this run's: tearDown deletes it
	// downCreated: the downstream topic is this run's too
	// (kafkadown.go), for a strategy that sends events on.
	downCreated bool

	session time.Duration
	maxPoll time.Duration
	parts   int
	batch   int
	perRec  bool // commit after each record, not after each batch
	// sasl is the cluster's SASL mechanism with the run's credentials,
	// nil for none: every client of the run authenticates with it.
	sasl sasl.Mechanism
	// tls is the clients' TLS configuration, nil without TLS.
	tls *tls.Config
	// fitNote says how the run fitted its session timeout to the
	// brokers' minimum (fitSession), "" when it did not need to.
	fitNote string

	mu    sync.Mutex
	dials map[string]bool // addresses the run's own client reached
	// authDropped: the cluster closed a connection while the run's
	// client authenticated (kfake's answer to wrong credentials, where
	// Kafka replies SASL_AUTHENTICATION_FAILED).
	authDropped atomic.Bool
}

// OnBrokerRead is a kgo hook of the run's own client: it notes a
// connection lost during SASL authentication (authDropped).
func (k *kafkaServer) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil && (key == int16(kmsg.SASLAuthenticate) || key == int16(kmsg.SASLHandshake)) {
		k.authDropped.Store(true)
	}
}

func (k *kafkaServer) err(kind error, doing string, err error) error {
	return &ServerError{Server: "Kafka", Addr: k.addr, Doing: doing, Kind: kind, Err: err}
}

// connectKafka reaches Kafka (or starts kfake), or says within
// connectTimeout why not.
func (s *servers) connectKafka(ctx context.Context) error {
	cfg := s.cfg
	k := &kafkaServer{prefix: cfg.Prefix, topic: kafkaTopic(cfg.Prefix), group: kafkaGroup(cfg.Prefix), dials: map[string]bool{}}
	lp := logmodel.LogParamsOf(cfg.Broker)
	k.scaleTimeouts(cfg)
	k.parts, k.batch = lp.Partitions, lp.Batch
	k.perRec = lp.Commit == run.CommitRecord
	k.sasl, _ = cfg.kafkaSASL() // checked by Validate
	k.tls = cfg.kafkaTLSConfig()
	s.kafka = k
	seeds, _ := checkKafkaBrokers(cfg.KafkaBrokers) // checked by Validate
	if seeds == nil {
		// kfake accepts session timeouts from 10 ms here: the log's,
		// scaled to the real run's clock, are far below a real
		// broker's minimum (6 s).
		fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(10*time.Millisecond))
		if err != nil {
			return fmt.Errorf("starting franz-go's in-process Kafka (kfake): %w", err)
		}
		k.fake = fake
		seeds = fake.ListenAddrs()
	}
	k.seeds = seeds
	k.addr = strings.Join(seeds, ",")
	if k.fake != nil {
		k.addr = "kfake " + k.addr
	}
	cl, err := kgo.NewClient(k.withSASL([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("idemsim"),
		kgo.WithHooks(k),
		kgo.DialTimeout(time.Second),
		kgo.RequestTimeoutOverhead(time.Second),
		kgo.RetryTimeout(2 * time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordRetries(3),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, host)
			if err != nil {
				return nil, err
			}
			k.mu.Lock()
			k.dials[host] = true
			k.mu.Unlock()
			return secure(ctx, k.tls, c, host)
		}),
	})...)
	if err != nil {
		return k.err(ErrUnreachable, "connecting", err)
	}
	k.cl, k.adm = cl, kadm.NewClient(cl)
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		k.mu.Lock()
		reached := len(k.dials) > 0
		k.mu.Unlock()
		kind, hint := ErrUnreachable, "start one (Kafka or Redpanda) and point --kafka-brokers / IDEMSIM_KAFKA_BROKERS at it,\nor run on franz-go's in-process cluster with --kafka-brokers "+KafkaInProcess
		doing := "connecting"
		switch {
		case kafkaAuthFailed(err) || k.authDropped.Load() || saslMissing(err, k.sasl == nil):
			kind, doing = ErrRejected, "connecting: SASL authentication failed"
			hint = "check the user, password and mechanism (--kafka-sasl-user, IDEMSIM_KAFKA_SASL_PASSWORD, --kafka-sasl-mechanism plain|scram-sha-256|scram-sha-512)"
			if k.sasl == nil {
				doing = "connecting: the cluster asks for SASL authentication"
				hint = "give the credentials: --kafka-sasl-user and IDEMSIM_KAFKA_SASL_PASSWORD (--kafka-sasl-mechanism plain|scram-sha-256|scram-sha-512)"
			}
		case kafkaTLSFailed(err):
			kind, doing = ErrRejected, "connecting: the TLS handshake failed"
			hint = "the brokers must speak TLS (--kafka-tls, IDEMSIM_KAFKA_TLS) with a certificate that a root this system trusts signs, for the address --kafka-brokers names"
		case reached:
			kind, hint = ErrWrongService, wrongServiceHint("Kafka", k.addr, "--kafka-brokers", "IDEMSIM_KAFKA_BROKERS")
			if k.sasl == nil {
				hint += "\n(a cluster that asks for SASL authentication may close connections without it: give --kafka-sasl-user and IDEMSIM_KAFKA_SASL_PASSWORD)"
			}
			if k.tls == nil {
				hint += "\n(a cluster that listens with TLS closes plain connections: give --kafka-tls)"
			}
		}
		e := k.err(kind, doing, err).(*ServerError)
		e.Hint = hint
		return e
	}
	return nil
}

// scaleTimeouts sets the group's session timeout and max-poll interval:
// the log's, scaled to cfg's clock.
func (k *kafkaServer) scaleTimeouts(cfg Config) {
	lp := logmodel.LogParamsOf(cfg.Broker)
	scale := kafkaScale(cfg.Timing)
	k.session = time.Duration(float64(lp.SessionTimeout) * scale)
	k.maxPoll = time.Duration(float64(lp.MaxPollInterval) * scale)
}

// withSASL returns a client's options, with the run's SASL credentials
// when it has some: every client of the run authenticates the same way.
func (k *kafkaServer) withSASL(opts []kgo.Opt) []kgo.Opt {
	if k.sasl == nil {
		return opts
	}
	return append(opts, kgo.SASL(k.sasl))
}

// kafkaAuthFailed says whether err is a cluster's refusal of the run's
// SASL credentials (or of their absence).
func kafkaAuthFailed(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState)
}

// saslMissing says whether err is kgo's guess that the cluster closed a
// connection because it wants SASL, for a client without (noSASL).
func saslMissing(err error, noSASL bool) bool {
	var fe *kgo.ErrFirstReadEOF
	return noSASL && errors.As(err, &fe) && strings.Contains(fe.Error(), "SASL")
}

// notOwnedKafka is a refusal: something of the run's names on Kafka that
// idemsim did not create.
func notOwnedKafka(what string) error {
	return refusal{fmt.Errorf("Kafka %s exists but was not created by idemsim (%s)", what, "it lacks idemsim's mark: "+kafkaMarkKey+"="+kafkaMarkValue),
		"; idemsim leaves it untouched: choose another --prefix (or, if it is yours to remove, delete it yourself)"}
}

// topicMarked says whether the topic exists, and whether it bears
// idemsim's mark.
func (k *kafkaServer) topicMarked(ctx context.Context) (exists, marked bool, err error) {
	return k.topicNamedMarked(ctx, k.topic)
}

// topicNamedMarked says whether the topic name exists, and whether it
// bears idemsim's mark.
func (k *kafkaServer) topicNamedMarked(ctx context.Context, name string) (exists, marked bool, err error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	td, err := k.adm.ListTopics(sctx, name)
	if err != nil {
		return false, false, err
	}
	t, ok := td[name]
	if !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
		return false, false, nil
	}
	if t.Err != nil {
		return false, false, t.Err
	}
	rc, err := k.adm.DescribeTopicConfigs(sctx, name)
	if err != nil {
		return true, false, err
	}
	r, err := rc.On(name, nil)
	if err != nil {
		return true, false, err
	}
	if r.Err != nil {
		return true, false, r.Err
	}
	for _, c := range r.Configs {
		if c.Key == kafkaMarkKey && c.Value != nil && *c.Value == kafkaMarkValue {
			return true, true, nil
		}
	}
	return true, false, nil
}

// groupState says whether the run's group is someone else's (a refusal),
// and whether it exists and is idemsim's leftover.
func (k *kafkaServer) groupState(ctx context.Context) (leftover bool, refused error, err error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	dg, err := k.adm.DescribeGroups(sctx, k.group)
	if err != nil {
		return false, nil, err
	}
	g, ok := dg[k.group]
	if !ok || g.State == "Dead" || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return false, nil, nil
	}
	if g.Err != nil {
		return false, nil, g.Err
	}
	if len(g.Members) > 0 {
		return false, refusal{fmt.Errorf("Kafka consumer group %s has %d members (state %s): another program consumes with it", k.group, len(g.Members), g.State),
			"; idemsim leaves it untouched: choose another --prefix"}, nil
	}
	offs, err := k.adm.FetchOffsets(sctx, k.group)
	if err != nil {
		return false, nil, err
	}
	for t := range offs {
		if t != k.topic {
			return false, refusal{fmt.Errorf("Kafka consumer group %s holds offsets of the topic %s, which is not idemsim's", k.group, t),
				"; idemsim leaves it untouched: choose another --prefix"}, nil
		}
	}
	return true, nil, nil
}

// setUp creates the run's topic, marked, and makes sure its group is
// free. It runs under the prefix's lock, so a marked topic of the run's
// name is a killed run's leftover: it is deleted first, and so is the
// group's leftover. A topic without the mark, or a group in use or with
// another topic's offsets, is refused untouched.
func (k *kafkaServer) setUp(ctx context.Context, publishes bool) error {
	if publishes {
		if err := k.checkDownstream(ctx); err != nil {
			return err
		}
	}
	exists, marked, err := k.topicMarked(ctx)
	if err != nil {
		return k.err(ErrServerFailed, "looking for the topic "+k.topic, err)
	}
	if exists && !marked {
		return notOwnedKafka("topic " + k.topic)
	}
	leftover, refused, err := k.groupState(ctx)
	if err != nil {
		return k.err(ErrServerFailed, "looking for the consumer group "+k.group, err)
	}
	if refused != nil {
		return refused
	}
	if leftover {
		if err := k.deleteGroup(ctx); err != nil {
			return k.err(ErrServerFailed, "deleting the consumer group "+k.group+" a killed run left", err)
		}
	}
	if exists {
		if err := k.deleteTopic(ctx); err != nil {
			return k.err(ErrServerFailed, "deleting the topic "+k.topic+" a killed run left", err)
		}
	}
	mark, ret, policy := kafkaMarkValue, kafkaRetention, "delete"
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	var resp kadm.CreateTopicResponse
	for {
		resp, err = k.adm.CreateTopic(sctx, int32(k.parts), -1,
			map[string]*string{kafkaMarkKey: &mark, "retention.ms": &ret, "cleanup.policy": &policy}, k.topic)
		// A topic just deleted may still be going on a real cluster.
		if !errors.Is(err, kerr.TopicAlreadyExists) || !exists || sctx.Err() != nil {
			break
		}
		sleepCtx(sctx, 100*time.Millisecond)
	}
	_ = resp
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return notOwnedKafka("topic " + k.topic)
	}
	if err != nil {
		return k.err(ErrServerFailed, "creating the topic "+k.topic, err)
	}
	k.created = true
	if publishes {
		return k.setUpDownstream(ctx)
	}
	return nil
}

func (k *kafkaServer) deleteTopic(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, err := k.adm.DeleteTopic(sctx, k.topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		err = nil
	}
	return err
}

func (k *kafkaServer) deleteGroup(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, err := k.adm.DeleteGroup(sctx, k.group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		err = nil
	}
	return err
}

// tearDown deletes the run's group and topic, and closes the run's client
// (and the in-process cluster).
func (k *kafkaServer) tearDown(warn func(string), dead bool) {
	if k.created {
		err := errors.New("the server failed")
		if !dead {
			err = k.deleteGroup(context.Background())
			if derr := k.deleteTopic(context.Background()); err == nil {
				err = derr
			}
		}
		if err != nil && k.fake == nil {
			warn(fmt.Sprintf("could not delete this run's Kafka topic %s and group %s: %v; remove them with: idemsim clean --broker kafka --prefix %s (and the run's --kafka-brokers, SASL and TLS settings)", k.topic, k.group, err, k.prefix))
		}
	}
	if k.downCreated {
		err := errors.New("the server failed")
		if !dead {
			err = k.deleteTopicNamed(context.Background(), kafkaDownTopic(k.prefix))
		}
		if err != nil && k.fake == nil {
			warn(fmt.Sprintf("could not delete this run's Kafka topic %s: %v; remove it with: idemsim clean --broker kafka --prefix %s", kafkaDownTopic(k.prefix), err, k.prefix))
		}
	}
	// A client of a cluster that hangs may hang closing: bounded.
	closed := make(chan struct{})
	go func() {
		if k.cl != nil {
			k.cl.Close()
		}
		if k.fake != nil {
			k.fake.Close()
		}
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Second):
	}
}

// ping is the health watch's check: a round trip to the group's
// coordinator on the run's own client (reading the committed offsets). Not
// a metadata request: kgo answers those from its cache for a while, which
// would hide a cluster that died.
func (k *kafkaServer) ping(ctx context.Context) error {
	_, err := k.adm.FetchOffsets(ctx, k.group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		err = nil // the coordinator answered: no member has joined yet
	}
	return err
}

// committed reads the group's committed offsets of the run's topic:
// partition (from 0) to the next offset to read; a partition with none
// is absent.
func (k *kafkaServer) committed(ctx context.Context) (map[int32]int64, error) {
	sctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	offs, err := k.adm.FetchOffsets(sctx, k.group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}, nil // no commit yet
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, o := range offs[k.topic] {
		if o.Err == nil && o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// clean deletes the prefix's topic if it bears idemsim's mark, and its
// group if it is idemsim's leftover; what is not idemsim's is left
// untouched and reported as notOwned.
func (k *kafkaServer) clean(ctx context.Context) (removed []string, notOwned error, err error) {
	exists, marked, err := k.topicMarked(ctx)
	if err != nil {
		return nil, nil, k.err(ErrServerFailed, "looking for the topic "+k.topic, err)
	}
	leftover, refused, err := k.groupState(ctx)
	if err != nil {
		return nil, nil, k.err(ErrServerFailed, "looking for the consumer group "+k.group, err)
	}
	notOwned = refused
	if leftover && exists && !marked {
		// Its offsets are of a topic that is not idemsim's: the group
		// is that topic's owner's too.
		leftover = false
		notOwned = errors.Join(notOwned, refusal{fmt.Errorf("Kafka consumer group %s holds offsets of the topic %s, which is not idemsim's", k.group, k.topic),
			"; idemsim leaves it untouched"})
	}
	if leftover {
		if err := k.deleteGroup(ctx); err != nil {
			return nil, nil, k.err(ErrServerFailed, "deleting the consumer group "+k.group, err)
		}
		removed = append(removed, "consumer group "+k.group)
	}
	switch {
	case exists && !marked:
		notOwned = errors.Join(notOwned, notOwnedKafka("topic "+k.topic))
	case exists:
		if err := k.deleteTopic(ctx); err != nil {
			return nil, nil, k.err(ErrServerFailed, "deleting the topic "+k.topic, err)
		}
		removed = append(removed, "topic "+k.topic)
	}
	down := kafkaDownTopic(k.prefix)
	exists, marked, err = k.topicNamedMarked(ctx, down)
	switch {
	case err != nil:
		return removed, notOwned, k.err(ErrServerFailed, "looking for the topic "+down, err)
	case exists && !marked:
		notOwned = errors.Join(notOwned, notOwnedKafka("topic "+down))
	case exists:
		if err := k.deleteTopicNamed(ctx, down); err != nil {
			return removed, notOwned, k.err(ErrServerFailed, "deleting the topic "+down, err)
		}
		removed = append(removed, "topic "+down)
	}
	return removed, notOwned, nil
}
