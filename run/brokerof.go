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
