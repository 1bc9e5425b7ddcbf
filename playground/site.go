package playground

import (
	"encoding/json"
	"html/template"
	"io"

	"github.com/idemsim/idemsim/explain/page"
)

// The site's pages besides the playground: the index (the outcome tables,
// each broken cell linking its story, and the plots) and the story pages,
// which share the story page's script and style (story.js, story.css) at
// the site's root rather than inlining them each, to keep the site small.

// Table is one outcome table of the index: a broker's comparison.
type Table struct {
	Broker                   string
	Seeds, Instances, Events int
	Scenarios                []string
	Rows                     []Row
}

// Row is a strategy's row of a Table.
type Row struct {
	Strategy string
	Cells    []Cell
}

// Cell is one cell: its verdict ("ok", "dup", "-"), and for a broken one
// the link of its story page and what the link's title says.
type Cell struct {
	Text, Story, Title string
}

// Plot is a figure of the index: its file in the site and what it shows.
type Plot struct {
	File, Alt string
}

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>idemsim: outcome tables, stories and playground</title>
<style>
body { font-family: sans-serif; max-width: 1200px; margin: 0 auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #888; padding: .2rem .5rem; text-align: left; }
td a { font-weight: bold; }
a:focus { outline: 3px solid #000; outline-offset: 2px; }
img { max-width: 100%; border: 1px solid #ccc; }
</style>
</head>
<body>
<h1>idemsim</h1>
<p>idemsim simulates idempotent event consumers under at-least-once delivery, injects faults,
and checks that every event's effect is applied exactly once. Each table below is a strategy
(row) under a fault scenario (column) over many seeds: <strong>ok</strong> means no seed broke
exactly-once; otherwise the kinds of violation seen (<strong>dup</strong>: an effect applied twice,
<strong>lost</strong>: an event acked but never applied, <strong>stuck</strong>: never settled);
<strong>-</strong>: the strategy does not run on that broker. Each broken cell opens the story of
its smallest failing run, step by step.</p>
<p><a href="playground.html">Open the playground</a>: run the simulator in your browser, change the
strategy, the faults and the seed, and watch the story again.</p>
{{range .Tables}}
<h2>The {{.Broker}} broker</h2>
<p>Seeds 1..{{.Seeds}}, {{.Instances}} instances, {{.Events}} events per run.</p>
<table>
<thead><tr><th scope="col">strategy</th>{{range .Scenarios}}<th scope="col">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr><th scope="row">{{.Strategy}}</th>{{range .Cells}}<td>{{if .Story}}<a href="{{.Story}}" title="{{.Title}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}
{{if .Plots}}<h2>Plots</h2>
{{range .Plots}}<figure><img src="{{.File}}" alt="{{.Alt}}"><figcaption>{{.Alt}}</figcaption></figure>
{{end}}{{end}}
</body>
</html>
`))

// WriteIndex writes the site's index: the tables and the plots.
func WriteIndex(w io.Writer, tables []Table, plots []Plot) error {
	return indexTmpl.Execute(w, struct {
		Tables []Table
		Plots  []Plot
	}{tables, plots})
}

var storyTmpl = template.Must(template.New("story").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="{{.Root}}story.css">
</head>
<body>
<nav><a href="{{.Root}}index.html">the outcome table</a> · <a href="{{.Root}}{{.Replay}}">replay this run in the playground</a></nav>
<noscript><p>This page draws the story with a script. Without it, here is the story as text, as <code>{{.Explain}}</code> prints it:</p><pre>{{.Text}}</pre></noscript>
<div id="app" aria-live="off"></div>
<script type="application/json" id="story-data">{{.Data}}</script>
<script src="{{.Root}}story.js"></script>
</body>
</html>
`))

// WriteStory writes the story page of d, a page one directory below the
// site's root, whose replay link opens replay, the run told, in the
// playground; explain is the command that prints the story as text.
func WriteStory(w io.Writer, d *page.Doc, replay Flags, explain string) error {
	// The text story is the page's fallback without script, as on
	// explain's own page; it goes into the page once, there, and not
	// again into the document (the script never reads it), which keeps
	// the site's hundred and more stories smaller.
	noText := *d
	noText.Text = ""
	data, err := json.Marshal(&noText)
	if err != nil {
		return err
	}
	return storyTmpl.Execute(w, struct {
		Title, Explain, Text, Root, Replay string
		Data                               template.JS
	}{d.Title, explain, d.Text, "../", replay.Link(), template.JS(data)})
}

// StoryFiles are the story page's shared files, by name.
func StoryFiles() map[string]string {
	return map[string]string{"story.js": page.Script(), "story.css": page.Style()}
}
