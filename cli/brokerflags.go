package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/idemsim/idemsim/broker"
	"github.com/idemsim/idemsim/run"
)

// brokerFlags are the flags that choose the broker model and set its
// parameters, shared by run, compare and explain. Their help comes from the
// models' descriptions (package broker), so a new model needs no edit here
// but the flags of its own parameters.
type brokerFlags struct {
	model         string
	ackDeadline   string
	nackRetry     string
	prefetch      string
	maxDeliveries string
}

// brokerOrder lists the broker flags with their placeholders, in the order
// a command's help tells them.
var brokerOrder = []string{"broker B", "ack-deadline D|none", "nack-retry D", "prefetch N", "max-deliveries N"}

// brokerNames lists the models' names, in table order.
func brokerNames() []string {
	var names []string
	for _, d := range broker.Models() {
		names = append(names, d.Name)
	}
	return names
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

// define defines the broker flags on fs.
func (b *brokerFlags) define(fs *flag.FlagSet) {
	var models []string
	for _, d := range broker.Models() {
		models = append(models, d.Name+": "+d.Summary)
	}
	fs.StringVar(&b.model, "broker", run.DefaultBroker,
		"the broker model, one of:\n"+strings.Join(models, "\n"))
	fs.StringVar(&b.ackDeadline, "ack-deadline", "",
		"a positive Go duration, or none; "+paramHelp("ack-deadline"))
	fs.StringVar(&b.nackRetry, "nack-retry", "",
		"a positive Go duration; "+paramHelp("nack-retry"))
	fs.StringVar(&b.prefetch, "prefetch", "",
		fmt.Sprintf("1 to %d; %s", run.MaxPrefetch, paramHelp("prefetch")))
	fs.StringVar(&b.maxDeliveries, "max-deliveries", "",
		"a whole number, 0 for unlimited; "+paramHelp("max-deliveries"))
}

// config checks the broker flags given (set) and returns the model's name
// and its parameters, each zero when its flag is absent.
func (b *brokerFlags) config(set map[string]bool) (string, run.BrokerParams, error) {
	var p run.BrokerParams
	b.model = strings.TrimSpace(b.model)
	if strings.Contains(b.model, ",") {
		return "", p, usagef("--broker %q: one model at a time for now (accepted: %s)", b.model, strings.Join(brokerNames(), ", "))
	}
	if _, ok := broker.Lookup(b.model); !ok {
		return "", p, usagef("--broker: %v", unknownName("broker", b.model, brokerNames()))
	}
	if set["ack-deadline"] {
		v := strings.TrimSpace(b.ackDeadline)
		if v == "none" {
			p.AckDeadline = run.NoAckDeadline
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			p.AckDeadline = d
		} else {
			return "", p, usagef("--ack-deadline %q: want %s, or none (no deadline: RabbitMQ)", b.ackDeadline, durationFormat)
		}
	}
	if set["nack-retry"] {
		d, err := time.ParseDuration(strings.TrimSpace(b.nackRetry))
		if err != nil || d <= 0 {
			return "", p, usagef("--nack-retry %q: want %s", b.nackRetry, durationFormat)
		}
		p.NackRetry = d
	}
	if set["prefetch"] {
		n, err := strconv.Atoi(strings.TrimSpace(b.prefetch))
		if err != nil || n < 1 || n > run.MaxPrefetch {
			return "", p, usagef("--prefetch %q: want a whole number from 1 to %d, the deliveries each instance holds at once", b.prefetch, run.MaxPrefetch)
		}
		p.Prefetch = n
	}
	if set["max-deliveries"] {
		n, err := strconv.Atoi(strings.TrimSpace(b.maxDeliveries))
		if err != nil || n < 0 {
			return "", p, usagef("--max-deliveries %q: want a whole number, 1 or more, or 0 for unlimited", b.maxDeliveries)
		}
		p.MaxDeliveries = n
	}
	return b.model, p, nil
}
