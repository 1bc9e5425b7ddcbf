package broker

import "fmt"

// Description describes one broker model, once: its name, what it models,
// its parameters, and how to make one. The command line, the tables and the
// simulator read it, as they read strategies' and faults' descriptions.
type Description struct {
	Name    string
	Summary string
	// Params are the model's parameters, in the order they are told.
	Params []Param
	// New returns the model with its default parameters.
	New func() Model
}

// Param is one parameter of a model, as it is told to a user.
type Param struct {
	Name    string
	Summary string
	Default string
}

// described lists the models in table order. Adding a model is one entry
// here and its file.
var described = []Description{{
	Name:    "queue",
	Summary: "an at-least-once queue with competing consumers (SQS, NATS JetStream): an unacked delivery goes back to the queue at its original place after the ack deadline, for any instance",
	Params: []Param{
		{Name: "ack-deadline", Default: DefaultAckDeadline.String(),
			Summary: "an unacked delivery goes back to the queue after this, and may go to any instance"},
		{Name: "nack-retry", Default: DefaultNackRetry.String(),
			Summary: "a nacked message is ready again after this"},
		{Name: "prefetch", Default: fmt.Sprint(DefaultPrefetch),
			Summary: "deliveries in flight per instance: the next is sent when the last is acked, nacked or timed out"},
	},
	New: func() Model { return &Queue{p: DefaultQueue} },
}}

// Models returns the descriptions of every model, in table order.
func Models() []Description { return append([]Description(nil), described...) }

// Lookup returns the description of the model called name.
func Lookup(name string) (Description, bool) {
	for _, d := range described {
		if d.Name == name {
			return d, true
		}
	}
	return Description{}, false
}
