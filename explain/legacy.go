package explain

import (
	"github.com/idemsim/idemsim/run"
	"github.com/idemsim/idemsim/strategies"
)

// legacyRecord is a trace record with its details packed in one Arg, as
// the analysis reads them. It is a bridge while the analysis moves to the
// typed run.Record; legacy converts.
type legacyRecord struct {
	At    int64
	Kind  run.Kind
	Inst  int32
	Msg   uint32
	Event uint32
	Arg   int64
	rec   run.Record
}

// The record kinds, under the analysis's names.
const (
	recPublish     = run.Publish
	recDeliver     = run.Deliver
	recDeliverDrop = run.DeliverDrop
	recReceive     = run.Receive
	recCall        = run.Call
	recServe       = run.Serve
	recPark        = run.Park
	recReply       = run.Reply
	recCallHeld    = run.CallHeld
	recTimeout     = run.Timeout
	recHandled     = run.Handled
	recAckSend     = run.AckSend
	recAckLost     = run.AckLost
	recAcked       = run.Acked
	recNack        = run.Nack
	recRequeue     = run.Requeue
	recCrash       = run.Crash
	recRestart     = run.Restart
	recStall       = run.Stall
	recPartition   = run.Partition
	recStoreLoss   = run.StoreLoss
	recStoreUp     = run.StoreUp
	recTxAbort     = run.TxAbort
	recHeal        = run.Heal
	recEnd         = run.End
)

// legacy packs each record's details into Arg.
func legacy(recs []run.Record) []legacyRecord {
	out := make([]legacyRecord, len(recs))
	for i, r := range recs {
		l := legacyRecord{At: r.At, Kind: r.Kind, Inst: r.Inst, Msg: r.Msg, Event: r.Event, rec: r}
		switch r.Kind {
		case run.Deliver, run.DeliverDrop, run.Receive, run.AckSend, run.AckLost, run.Acked, run.Nack:
			l.Arg = int64(r.Tag)
		case run.Call, run.CallHeld, run.Timeout:
			l.Arg = int64(r.Op)
		case run.Serve, run.Reply:
			l.Arg = int64(r.Answer) - 1 // false 0, true 1, refused 2, tx aborted 3
		case run.Park:
			l.Arg = int64(r.Holder)
		case run.Handled:
			switch r.Outcome {
			case run.Applied:
				l.Arg = 1
			case run.Skipped:
				l.Arg = 2
			}
		case run.Requeue:
			l.Arg = 2
			if r.Cause == run.DeadlinePassed {
				l.Arg = 1
			}
		case run.Crash:
			step := int64(actAck) << 8
			switch r.Step {
			case run.AtCall:
				step = int64(actCall)<<8 | int64(r.Op)
			case run.AtNack:
				step = int64(actNack) << 8
			}
			if r.InFlight {
				step |= 1 << 16
			}
			l.Arg = step
		case run.Stall:
			l.Arg = r.Dur
		case run.Partition:
			l.Arg = int64(r.Stores)
		case run.StoreLoss:
			l.Arg, l.Event = 2, uint32(r.Count)
			if r.Cause == run.RestartEmpty {
				l.Arg = 1
			}
		case run.TxAbort:
			l.Arg = int64(r.Tx)
		case run.End:
			l.Arg = int64(r.Count)
		}
		out[i] = l
	}
	return out
}

// needsMarks reports whether the strategy called name uses Redis marks.
func needsMarks(name string) bool {
	st, _ := strategies.Lookup(name)
	return st.Needs.Has(strategies.NeedsMarks)
}
