package explain

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idemsim/idemsim/faults"
	"github.com/idemsim/idemsim/sim"
)

func TestHistoryTitle(t *testing.T) {
	tests := []struct {
		cfg  sim.Config
		want string
	}{
		{sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 2, Instances: 2, Events: 1},
			"local-cache under redeliver, seed 2: 2 instances, 1 event (idemsim, porcupine)"},
		{sim.Config{Strategy: "redis", Faults: faults.Of(faults.Crash, faults.TTL), Seed: 17, Instances: 1, Events: 3},
			"redis under crash,ttl, seed 17: 1 instance, 3 events (idemsim, porcupine)"},
		{sim.Config{Strategy: "none", Seed: 1, Instances: 3, Events: 200},
			"none with no injected fault, seed 1: 3 instances, 200 events (idemsim, porcupine)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, HistoryTitle(tt.cfg))
	}
}

func TestRetitle(t *testing.T) {
	page := []byte("<head><title>Porcupine</title></head><script>var s = '<title>Porcupine</title>'</script>")
	got := string(retitle(page, `a <b> & "c"`))
	assert.Equal(t, `<head><title>a &lt;b&gt; &amp; &#34;c&#34;</title></head><script>var s = '<title>Porcupine</title>'</script>`, got,
		"the first title only, escaped")
	other := []byte("<head><title>Other</title></head>")
	assert.Equal(t, other, retitle(other, "x"), "a page without porcupine's title is left alone")
}

func TestHistoryPageTitleNamesTheRun(t *testing.T) {
	cfg := sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 2, Instances: 2, Events: 1}
	s, err := Tell(cfg)
	require.NoError(t, err)
	var page bytes.Buffer
	require.NoError(t, WriteHistoryHTML(&page, s))
	titles := regexp.MustCompile(`<title>([^<]*)</title>`).FindAllStringSubmatch(page.String(), -1)
	require.NotEmpty(t, titles)
	assert.Equal(t, "local-cache under redeliver, seed 2: 2 instances, 1 event (idemsim, porcupine)", titles[0][1])
	assert.Contains(t, page.String(), `"Partitions"`, "still porcupine's page, with the history's data")
}

// TestHistoryPageDrawsItsTitle holds the history page to its title drawn
// on the page itself, under <body>, not only in the browser's tab: a
// reader of a screenshot or a printout sees which run it is.
func TestHistoryPageDrawsItsTitle(t *testing.T) {
	cfg := sim.Config{Strategy: "local-cache", Faults: faults.Of(faults.Redeliver), Seed: 2, Instances: 2, Events: 1}
	s, err := Tell(cfg)
	require.NoError(t, err)
	var page bytes.Buffer
	require.NoError(t, WriteHistoryHTML(&page, s))
	body := page.String()[strings.Index(page.String(), "<body>"):]
	h1 := regexp.MustCompile(`<h1[^>]*>([^<]*)</h1>`).FindStringSubmatch(body)
	require.NotNil(t, h1, "a heading in the page's body")
	assert.Equal(t, "local-cache under redeliver, seed 2: 2 instances, 1 event (idemsim, porcupine)", h1[1])
	assert.Contains(t, body, "Invalid LP marks where no such order exists", "how to read the legend")
	assert.Equal(t, []byte("<head></head>"), withHeading([]byte("<head></head>"), "x"), "a page without a body is left alone")
}
