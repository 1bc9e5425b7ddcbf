// Package explain is idemsim's teaching mode: it finds a run that breaks
// exactly-once, shrinks it to the smallest run that still breaks it, and
// tells that run as a short numbered story.
//
// It sits on top of package sim and uses nothing but its public face:
// Search runs seeds until one violates; Shrink tries smaller runs (fewer
// events, fewer instances, fewer faults, then the seed with the fewest
// steps) until nothing smaller fails the same way; Tell replays the result
// with its trace and history kept, rebuilds from the trace records alone
// the state that matters at each step (each instance's local cache, the
// Redis keys, the committed rows), and says in words why the strategy let
// the violation through. WriteHistoryHTML and WriteTimeline draw the same
// run for a browser and as a picture. `idemsim explain` (package
// cmd/idemsim) is the command line over these functions.
//
// Every run is deterministic, so everything here is too: the same strategy,
// scenario and bounds give the same story, byte for byte.
package explain
