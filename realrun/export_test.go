package realrun

// ScaledTiming is the timing a run of c keeps: its defaults, with the
// queue's parameters scaled to the real run's clock.
func ScaledTiming(c Config) Timing { return c.withDefaults().Timing }
