package check

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteHistoryJSON(t *testing.T) {
	history := []Op{
		{Kind: Attempt, Client: 0, Event: 1, Call: 100, Return: 250, Result: Applied},
		{Kind: Attempt, Client: 1, Event: 1, Call: 120, Return: 300, Result: Skipped},
		{Kind: Attempt, Client: 2, Event: 2, Call: 130, Return: Never, Result: Unknown},
		{Kind: Ack, Client: 0, Event: 1, Call: 260, Return: 270},
		{Kind: Read, Client: 3, Event: 1, Call: 1000, Return: 1001, Count: 1},
		{Kind: Read, Client: 3, Event: 2, Call: 1002, Return: 1003, Count: 0},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteHistoryJSON(&buf, history))

	want := `[
{"client":0,"input":{"kind":"attempt","event":1},"output":{"result":"applied"},"call":100,"return":250},
{"client":1,"input":{"kind":"attempt","event":1},"output":{"result":"skipped"},"call":120,"return":300},
{"client":2,"input":{"kind":"attempt","event":2},"output":{"result":"unknown"},"call":130,"return":null},
{"client":0,"input":{"kind":"ack","event":1},"output":{},"call":260,"return":270},
{"client":3,"input":{"kind":"read","event":1},"output":{"count":1},"call":1000,"return":1001},
{"client":3,"input":{"kind":"read","event":2},"output":{"count":0},"call":1002,"return":1003}
]
`
	assert.Equal(t, want, buf.String())

	var parsed []map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &parsed), "output must be valid JSON")
	require.Len(t, parsed, len(history))
	assert.Nil(t, parsed[2]["return"], "an unknown outcome returns null")
}

// Every result an attempt can have is written by its name.
func TestWriteHistoryJSONResults(t *testing.T) {
	for r, want := range map[Result]string{Applied: "applied", Skipped: "skipped", Unknown: "unknown", RetryLater: "retry-later", Dropped: "dropped"} {
		var buf bytes.Buffer
		require.NoError(t, WriteHistoryJSON(&buf, []Op{{Kind: Attempt, Event: 1, Call: 1, Return: 2, Result: r}}))
		assert.Contains(t, buf.String(), `"result":"`+want+`"`)
	}
	assert.Error(t, WriteHistoryJSON(&bytes.Buffer{}, []Op{{Kind: Attempt, Event: 1, Result: Dropped + 1}}))
}

func TestWriteHistoryJSONEmpty(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteHistoryJSON(&buf, nil))
	var parsed []any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &parsed))
	assert.Empty(t, parsed)
	assert.NotNil(t, parsed, "an empty history is [], not null")
}

func TestWriteHistoryJSONRejectsMalformedOps(t *testing.T) {
	for name, op := range map[string]Op{
		"no kind":           {Event: 1},
		"attempt no result": {Kind: Attempt, Event: 1},
	} {
		t.Run(name, func(t *testing.T) {
			err := WriteHistoryJSON(&bytes.Buffer{}, []Op{op})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "operation 0")
		})
	}
}
