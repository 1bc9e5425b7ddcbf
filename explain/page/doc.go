// Package page draws a story of package explain as one web page: a
// self-contained HTML file (its style, its script and its data inlined;
// nothing fetched, so it opens from disk) in which a reader steps through
// the story's numbered steps with the buttons or the arrow keys and sees,
// at each step, the state the story speaks of, what the step changed,
// the timeline with the step marked, the violation and why, and the fix:
// the same run under the strategy that survives it, at the same moments.
// `idemsim explain --out DIR` writes it as DIR/index.html, beside
// porcupine's history page, which it links.
//
// The page is drawn from one JSON document, Doc, built from a story by
// FromStory; Write inlines it into the page. The script computes nothing
// about the run: every state, mark and sentence comes from the document,
// which comes from the facts the text story is told from (the state line
// of a step is its snapshot's Line), so the page and the text cannot
// disagree. Another page (a playground that runs the simulator in the
// browser) can draw its own runs with the same script, given the same
// document: window.idemsimStory.render(container, doc).
//
// The document (Version 1), as JSON:
//
//	version     1
//	title       the page's title; heading its first heading
//	run         {strategy, faults, instances, events, seed, broker}: the flags that replay it
//	header      the story's first line; key: how to read i0, e1, m1
//	event, kind the event told and its violation ("dup", "lost", "stuck"; "ok")
//	initial     the state before the first record (a snapshot, below)
//	steps       [{n, at ("9.630 ms"), at_ns, inst (-1: none), actor, text,
//	              line (the text's state line, "" where it prints none),
//	              state (a snapshot)}]
//	violation, whole_run, why, note   the story's closing lines
//	fix         {strategy, verdict, applied, steps (as above, without
//	              states), reproduce, trace_hash, states (the fix's run at
//	              each story step's time, by step), through (how many of its
//	              steps had happened by each story step)}, absent for none
//	timeline    {title, axis, lanes, marks [{kind, lane, pos (0..1), at,
//	              step (the step it belongs to), told (that step tells it)}],
//	              spans [{kind, lane, from, to}], legend [{kind, shape,
//	              color}], ticks and gaps [{pos, label}], notes, steps
//	              [{pos, lane}] (each step's place, by step), labels [{lane,
//	              pos, text}] (the step numbers above the marks, "3,4")}
//	reproduce   the command that replays the run; trace_hash its trace hash
//	history     the relative link of porcupine's page; text the text story
//
// A snapshot (explain.Snapshot) is {rec, at_ns, events (the events the
// story has named by then), instances [{inst, status ("up", "down",
// "left", "not started"), memory (event ids), handling {msg, event,
// since}}], memories (what the story calls the instances' memories, ""
// when it does not tell them), marks {marks [{event, live, expires}],
// others}, kv {label, keys [{name, value, set, members, until}]}, ids {ids
// [{event, yes}], others}, ledger {label, rows [{event, count}], others},
// queue [{msg, event, where ("queued", "delivered", "lost", "acked",
// "dead-lettered"), inst, deliveries}] or, on a partitioned log,
// partitions [{part, owner, gen, committed, records [{offset, msg,
// event}]}]}; marks, kv and ids are there where the run used them.
package page
