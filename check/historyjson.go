package check

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// jsonOp is the JSON form of one Op, as `idemsim run --history` writes it.
type jsonOp struct {
	Client int        `json:"client"`
	Input  jsonInput  `json:"input"`
	Output jsonOutput `json:"output"`
	Call   int64      `json:"call"`
	Return *int64     `json:"return"` // null when the outcome is unknown (Never)
}

type jsonInput struct {
	Kind  string `json:"kind"`
	Event uint64 `json:"event"`
}

// jsonOutput holds "result" for an attempt, "count" for a read and nothing
// for an ack.
type jsonOutput struct {
	Result *string `json:"result,omitempty"`
	Count  *int    `json:"count,omitempty"`
}

// WriteHistoryJSON writes history as a JSON array of operations, one per
// line, in the order given:
//
//	{"client": 0, "input": {"kind": "attempt", "event": 7},
//	 "output": {"result": "applied"}, "call": 1200, "return": 5400}
//
// The input's kind is "attempt", "ack" or "read". The output is
// {"result": r} for an attempt, r one of "applied", "skipped", "unknown",
// "retry-later" and "dropped"; {"count": n} for a read; {} for an ack. Call and return are nanoseconds since the start
// of the run; return is null when the outcome is unknown (Return == Never).
// An operation of no known kind, or an attempt of no known result, is an
// error, and nothing after it is written.
func WriteHistoryJSON(w io.Writer, history []Op) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("["); err != nil {
		return err
	}
	for i, o := range history {
		jo, err := toJSONOp(o)
		if err != nil {
			return fmt.Errorf("check: history operation %d: %w", i, err)
		}
		b, err := json.Marshal(jo)
		if err != nil {
			return fmt.Errorf("check: history operation %d: %w", i, err)
		}
		sep := ",\n"
		if i == 0 {
			sep = "\n"
		}
		if _, err := bw.WriteString(sep); err != nil {
			return err
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	if _, err := bw.WriteString("\n]\n"); err != nil {
		return err
	}
	return bw.Flush()
}

func toJSONOp(o Op) (jsonOp, error) {
	jo := jsonOp{Client: o.Client, Input: jsonInput{Kind: o.Kind.String(), Event: o.Event}, Call: o.Call}
	if o.Return != Never {
		ret := o.Return
		jo.Return = &ret
	}
	switch o.Kind {
	case Attempt:
		switch o.Result {
		case Applied, Skipped, Unknown, RetryLater, Dropped:
		default:
			return jsonOp{}, fmt.Errorf("attempt with no known result (%s)", o.Result)
		}
		res := o.Result.String()
		jo.Output.Result = &res
	case Read:
		n := o.Count
		jo.Output.Count = &n
	case Ack:
	default:
		return jsonOp{}, fmt.Errorf("no known kind (%s)", o.Kind)
	}
	return jo, nil
}
