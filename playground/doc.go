// Package playground is what the browser playground runs: the simulator,
// compiled to WebAssembly from the same packages as the command line
// (cmd/idemsim-wasm is only the glue to JavaScript), answering calls
// whose arguments are a run's flags as the playground's URL carries them:
//
//	strategy=local-cache&faults=redeliver&seed=1&instances=2&events=1
//
// (broker=log for the log broker; drop=crash@3 for a run whose fault
// decisions were shrunk, as explain's reproduce lines carry --drop). Run
// simulates that run and returns its verdict, its trace hash (the same as
// `idemsim run ... --json` prints for the same flags), the command that
// replays it, the link that replays it in the playground and, when asked,
// the story page's document of the run (package explain/page), which the
// page draws with the story page's own script. Shrink shrinks a failing
// run as `idemsim explain` does and returns the shrunk run's outcome and
// story; Sweep runs one strategy over seeds 1..N, as one cell of
// `idemsim compare`.
//
// Every answer is JSON (Call), so that the WebAssembly entry only passes
// strings, and everything the browser does is tested here, natively.
//
// The package also holds the playground's page (Page, Script, Style),
// which `idemsim site` writes beside the WebAssembly binary.
package playground
