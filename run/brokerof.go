package run

// Of returns the parameters of p that model has, the others zero: one set
// of flags names the parameters of every model of a comparison (compare
// --broker queue,log --prefetch 2 --partitions 3), and each model's runs
// take their own. It keeps to the split that Config.Validate holds (a
// parameter of one model is refused on the other).
func (p BrokerParams) Of(model string) BrokerParams {
	if model == "" {
		model = DefaultBroker
	}
	q := p
	if model == LogBroker {
		q.AckDeadline, q.NackRetry, q.Prefetch, q.MaxDeliveries = 0, 0, 0, 0
	} else {
		q.Partitions, q.Batch, q.Commit, q.SessionTimeout, q.MaxPollInterval = 0, 0, 0, 0, 0
	}
	return q
}

// OfAny returns the parameters of p that one of the models has at least,
// the others zero: p itself when every parameter set belongs to a model
// of the list, as a command that takes several models wants.
func (p BrokerParams) OfAny(models []string) BrokerParams {
	queue, log := false, false
	for _, m := range models {
		if m == LogBroker {
			log = true
		} else {
			queue = true
		}
	}
	// Each model's parameters are its own (Of): drop those of a model
	// not listed.
	q := p
	if !log {
		q = q.Of(DefaultBroker)
	}
	if !queue {
		q = q.Of(LogBroker)
	}
	return q
}
