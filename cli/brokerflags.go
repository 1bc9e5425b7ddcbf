package cli

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
	"github.com/idemsim/idemsim/sweep"
)

// brokerFlags are the flags that choose the broker model and set its
// parameters, shared by run, compare and explain. Their help comes from the
// models' descriptions (package broker) where a model has one, so a new
// model needs no edit here but the flags of its own parameters.
type brokerFlags struct {
	model string
	// list says that --broker takes a comma-separated list (compare):
	// one table per model.
	list bool
	// The queue's parameters.
	ackDeadline   string
	nackRetry     string
	prefetch      string
	maxDeliveries string
	// The log's parameters.
	partitions      string
	batch           string
	commit          string
	sessionTimeout  string
	maxPollInterval string
}

// brokerOrder lists the broker flags with their placeholders, in the order
// a command's help tells them.
var brokerOrder = []string{"broker B", "ack-deadline D|none", "nack-retry D", "prefetch N", "max-deliveries N",
	"partitions N", "batch N", "commit batch|record|auto", "session-timeout D", "max-poll-interval D"}

// brokerNames lists the models' names, in table order.
func brokerNames() []string { return slices.Clone(run.BrokerNames) }

// modelSummary is what the model called name is, for --broker's help.
func modelSummary(name string) string {
	d, _ := broker.Lookup(name) // a test holds run.BrokerNames to the models
	return d.Summary
}

// paramHelp is the description of the parameter called name, from the
// first model that has one, with its default.
func paramHelp(name string) string {
	for _, d := range broker.Models() {
		for _, p := range d.Params {
			if p.Name == name {
				return fmt.Sprintf("%s: %s (default %s)", d.Name, p.Summary, p.Default)
			}
		}
	}
	return ""
}

// define defines the broker flags on fs; list says that --broker takes a
// list of models (compare).
func (b *brokerFlags) define(fs *flag.FlagSet, list bool) {
	b.list = list
	var models []string
	for _, name := range brokerNames() {
		models = append(models, name+": "+modelSummary(name))
	}
	what := "the broker model, one of:\n"
	if list {
		what = "the broker models, a comma-separated list, each in a table of its own\n" +
			"(queue,log compares both; a strategy that does not run on a model shows -\n" +
			"in its table), of:\n"
	}
	fs.StringVar(&b.model, "broker", run.DefaultBroker, what+strings.Join(models, "\n"))
	fs.StringVar(&b.ackDeadline, "ack-deadline", "",
		"a positive Go duration, or none; "+paramHelp("ack-deadline"))
	fs.StringVar(&b.nackRetry, "nack-retry", "",
		"a positive Go duration; "+paramHelp("nack-retry"))
	fs.StringVar(&b.prefetch, "prefetch", "",
		fmt.Sprintf("1 to %d; %s", run.MaxPrefetch, paramHelp("prefetch")))
	fs.StringVar(&b.maxDeliveries, "max-deliveries", "",
		"a whole number, 0 for unlimited; "+paramHelp("max-deliveries"))
	fs.StringVar(&b.partitions, "partitions", "",
		fmt.Sprintf("1 to %d; %s", run.MaxPartitions, paramHelp("partitions")))
	fs.StringVar(&b.batch, "batch", "",
		fmt.Sprintf("1 to %d; %s", run.MaxPrefetch, paramHelp("batch")))
	fs.StringVar(&b.commit, "commit", "",
		"batch, record or auto; "+paramHelp("commit"))
	fs.StringVar(&b.sessionTimeout, "session-timeout", "",
		"a positive Go duration; "+paramHelp("session-timeout"))
	fs.StringVar(&b.maxPollInterval, "max-poll-interval", "",
		"a positive Go duration; "+paramHelp("max-poll-interval"))
}

// config checks the broker flags given (set) of a command that takes one
// model, and returns the model's name and its parameters, each zero when
// its flag is absent.
func (b *brokerFlags) config(set map[string]bool) (string, run.BrokerParams, error) {
	models, p, err := b.configs(set)
	if err != nil {
		return "", p, err
	}
	return models[0], p, nil
}

// configs checks the broker flags given (set) and returns the models, in
// the order given, and their parameters, each zero when its flag is
// absent: each model takes its own (run.BrokerParams.Of). A parameter
// that no model given has is refused.
func (b *brokerFlags) configs(set map[string]bool) ([]string, run.BrokerParams, error) {
	models, err := b.models()
	if err != nil {
		return nil, run.BrokerParams{}, err
	}
	p, err := b.params(set)
	if err != nil {
		return nil, p, err
	}
	if p.OfAny(models) != p {
		// Validate names the first parameter that is not the model's.
		err := run.Config{Strategy: "none", BrokerModel: models[0], Broker: p}.Validate()
		if err == nil {
			err = run.BadConfigf("a broker parameter that none of %s has", strings.Join(models, ", "))
		}
		return nil, p, usagef("%v (--broker %s)", err, strings.Join(models, ","))
	}
	return models, p, nil
}

// models reads --broker: one model, or with list a comma-separated list
// of distinct models.
func (b *brokerFlags) models() ([]string, error) {
	accepted := strings.Join(brokerNames(), ", ")
	value := strings.TrimSpace(b.model)
	if !b.list {
		if strings.Contains(value, ",") {
			return nil, usagef("--broker %q: one model at a time here; compare takes a list, such as queue,log (accepted: %s)", b.model, accepted)
		}
		if !slices.Contains(brokerNames(), value) {
			return nil, usagef("--broker: %v", unknownName("broker", value, brokerNames()))
		}
		return []string{value}, nil
	}
	if value == "" {
		return nil, usagef("--broker: %v", unknownName("broker", value, brokerNames()))
	}
	models, err := splitList("broker", value, accepted)
	if err != nil {
		return nil, err
	}
	for _, n := range models {
		if !slices.Contains(brokerNames(), n) {
			return nil, usagef("--broker: %v", unknownName("broker", n, brokerNames()))
		}
	}
	return models, nil
}

// positiveDuration reads the value of a duration flag.
func positiveDuration(name, value string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(value))
	if err != nil || d <= 0 {
		return 0, usagef("--%s %q: want %s", name, value, durationFormat)
	}
	return d, nil
}

// params reads the parameters' flags given (set).
func (b *brokerFlags) params(set map[string]bool) (run.BrokerParams, error) {
	var p run.BrokerParams
	var err error
	if set["ack-deadline"] {
		v := strings.TrimSpace(b.ackDeadline)
		if v == "none" {
			p.AckDeadline = run.NoAckDeadline
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			p.AckDeadline = d
		} else {
			return p, usagef("--ack-deadline %q: want %s, or none (no deadline: RabbitMQ)", b.ackDeadline, durationFormat)
		}
	}
	if set["nack-retry"] {
		if p.NackRetry, err = positiveDuration("nack-retry", b.nackRetry); err != nil {
			return p, err
		}
	}
	if set["prefetch"] {
		n, err := strconv.Atoi(strings.TrimSpace(b.prefetch))
		if err != nil || n < 1 || n > run.MaxPrefetch {
			return p, usagef("--prefetch %q: want a whole number from 1 to %d, the deliveries each instance holds at once", b.prefetch, run.MaxPrefetch)
		}
		p.Prefetch = n
	}
	if set["max-deliveries"] {
		n, err := strconv.Atoi(strings.TrimSpace(b.maxDeliveries))
		if err != nil || n < 0 {
			return p, usagef("--max-deliveries %q: want a whole number, 1 or more, or 0 for unlimited", b.maxDeliveries)
		}
		p.MaxDeliveries = n
	}
	if set["partitions"] {
		n, err := strconv.Atoi(strings.TrimSpace(b.partitions))
		if err != nil || n < 1 || n > run.MaxPartitions {
			return p, usagef("--partitions %q: want a whole number from 1 to %d, the topic's partitions", b.partitions, run.MaxPartitions)
		}
		p.Partitions = n
	}
	if set["batch"] {
		n, err := strconv.Atoi(strings.TrimSpace(b.batch))
		if err != nil || n < 1 || n > run.MaxPrefetch {
			return p, usagef("--batch %q: want a whole number from 1 to %d, the most records one poll returns", b.batch, run.MaxPrefetch)
		}
		p.Batch = n
	}
	if set["commit"] {
		if p.Commit, err = run.ParseCommitMode(strings.TrimSpace(b.commit)); err != nil {
			return p, usagef("%v", err)
		}
	}
	if set["session-timeout"] {
		if p.SessionTimeout, err = positiveDuration("session-timeout", b.sessionTimeout); err != nil {
			return p, err
		}
	}
	if set["max-poll-interval"] {
		if p.MaxPollInterval, err = positiveDuration("max-poll-interval", b.maxPollInterval); err != nil {
			return p, err
		}
	}
	return p, nil
}

// strategyRunsOn refuses a strategy that does not run on the model, saying
// where it runs.
func strategyRunsOn(strategy, model string) error {
	if sweep.RunsOn(strategy, model) {
		return nil
	}
	return usagef("--strategy %s: %s, not on the %s (accepted: %s on the %s)", strategy, sweep.RunsOnWords(strategy), model, strings.Join(strategies.NamesOn(model), ", "), model)
}
