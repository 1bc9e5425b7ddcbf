//go:build js && wasm

// Command idemsim-wasm is the simulator for the browser playground,
// compiled to WebAssembly (GOOS=js GOARCH=wasm; `idemsim site` builds it).
// It is only glue: it sets window.idemsim, whose functions answer with the
// JSON of package playground, which does everything and is tested natively:
//
//	idemsim.run(query)      the run's outcome; story=1 in query adds its story
//	idemsim.shrink(query)   the shrunk run's outcome and story
//	idemsim.sweep(query, onProgress)   a Promise of the cell of seeds 1..N
//	idemsim.choices()       the strategies, faults and brokers to offer
//
// query is the playground's URL query ("strategy=local-cache&faults=
// redeliver&seed=1"). When it is ready it dispatches the event
// "idemsim-ready" on window.
package main

import (
	"time"

	"syscall/js"

	"github.com/idemsim/idemsim/playground"
)

func main() {
	api := js.Global().Get("Object").New()
	call := func(op string) js.Func {
		return js.FuncOf(func(_ js.Value, args []js.Value) any {
			q := ""
			if len(args) > 0 && args[0].Type() == js.TypeString {
				q = args[0].String()
			}
			return playground.Call(op, q)
		})
	}
	api.Set("run", call("run"))
	api.Set("shrink", call("shrink"))
	api.Set("choices", call("choices"))
	api.Set("sweep", js.FuncOf(sweep))
	js.Global().Set("idemsim", api)
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("idemsim-ready"))
	select {} // answer calls for as long as the page lives
}

// sweep answers idemsim.sweep(query, onProgress) with a Promise, and runs
// the sweep on a goroutine that lets the page draw between runs, calling
// onProgress(done, total) as it goes.
func sweep(_ js.Value, args []js.Value) any {
	q := ""
	if len(args) > 0 && args[0].Type() == js.TypeString {
		q = args[0].String()
	}
	var onProgress js.Value
	if len(args) > 1 && args[1].Type() == js.TypeFunction {
		onProgress = args[1]
	}
	return js.Global().Get("Promise").New(js.FuncOf(func(_ js.Value, pa []js.Value) any {
		resolve := pa[0]
		go func() {
			resolve.Invoke(runSweep(q, onProgress))
		}()
		return nil
	}))
}

// runSweep is the sweep of query, as JSON; every tenth of a second it
// reports its progress and sleeps a moment, which hands the page back to
// the browser to draw.
func runSweep(q string, onProgress js.Value) string {
	last := time.Now()
	return playground.CallSweep(q, func(done, total int) {
		if time.Since(last) < 100*time.Millisecond && done < total {
			return
		}
		if onProgress.Type() == js.TypeFunction {
			onProgress.Invoke(done, total)
		}
		time.Sleep(time.Millisecond)
		last = time.Now()
	})
}
