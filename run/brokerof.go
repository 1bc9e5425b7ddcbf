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
	var out BrokerParams
	for _, m := range models {
		q := p.Of(m)
		if q.AckDeadline != 0 {
			out.AckDeadline = q.AckDeadline
		}
		if q.NackRetry != 0 {
			out.NackRetry = q.NackRetry
		}
		if q.Prefetch != 0 {
			out.Prefetch = q.Prefetch
		}
		if q.MaxDeliveries != 0 {
			out.MaxDeliveries = q.MaxDeliveries
		}
		if q.Partitions != 0 {
			out.Partitions = q.Partitions
		}
		if q.Batch != 0 {
			out.Batch = q.Batch
		}
		if q.Commit != 0 {
			out.Commit = q.Commit
		}
		if q.SessionTimeout != 0 {
			out.SessionTimeout = q.SessionTimeout
		}
		if q.MaxPollInterval != 0 {
			out.MaxPollInterval = q.MaxPollInterval
		}
	}
	return out
}
