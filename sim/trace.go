package sim

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idemsim/idemsim/strategies"
)

// RecordKind says what a trace Record is.
type RecordKind uint8

// The kinds of trace records.
const (
	RecPublish     RecordKind = iota + 1 // the producer published a copy of Event as message Msg
	RecDeliver                           // the broker sent Msg to Inst (Arg: delivery tag)
	RecDeliverDrop                       // a delivery never reached Inst (partition or crash)
	RecReceive                           // Inst took Msg from its inbox: an attempt starts
	RecCall                              // Inst sent a store call (Arg: Op)
	RecServe                             // the store served the call (Arg: result code)
	RecPark                              // the database parked the call behind a lock
	RecReply                             // Inst got the reply (Arg: result code)
	RecCallHeld                          // a partition holds the request or reply until it heals
	RecTimeout                           // Inst gave up waiting for a call: outcome unknown
	RecHandled                           // Inst's handler returned (Arg: Outcome, or 0 for error)
	RecAckSend                           // Inst sent an ack
	RecAckLost                           // the ack was lost
	RecAcked                             // the broker accepted the ack: Msg is done
	RecNack                              // Inst sent a nack after an error
	RecRequeue                           // the broker put Msg back (Arg: 1 deadline, 2 nack)
	RecCrash                             // Inst crashed (Arg: 0 before a step, 1 with a call in flight)
	RecRestart                           // Inst restarted with empty memory
	RecStall                             // Inst stalls (Arg: nanoseconds)
	RecPartition                         // Inst is cut off (Arg: target mask; 0 when healed)
	RecStoreLoss                         // Redis lost data (Arg: 1 restart empty, 2 failover; Event: keys lost)
	RecStoreUp                           // Redis is back
	RecTxAbort                           // the database rolled back a transaction of a dead connection
	RecHeal                              // the safety phase ends: faults healed
	RecEnd                               // the run ended (Arg: events not settled)
)

var recordNames = [...]string{
	RecPublish: "publish", RecDeliver: "deliver", RecDeliverDrop: "deliver-drop",
	RecReceive: "receive", RecCall: "call", RecServe: "serve", RecPark: "park",
	RecReply: "reply", RecCallHeld: "call-held", RecTimeout: "timeout",
	RecHandled: "handled", RecAckSend: "ack-send", RecAckLost: "ack-lost",
	RecAcked: "acked", RecNack: "nack", RecRequeue: "requeue", RecCrash: "crash",
	RecRestart: "restart", RecStall: "stall", RecPartition: "partition",
	RecStoreLoss: "store-loss", RecStoreUp: "store-up", RecTxAbort: "tx-abort",
	RecHeal: "heal", RecEnd: "end",
}

// String names the kind.
func (k RecordKind) String() string {
	if int(k) < len(recordNames) && recordNames[k] != "" {
		return recordNames[k]
	}
	return fmt.Sprintf("RecordKind(%d)", uint8(k))
}

// Record is one step of a run's trace. Fields that do not apply are -1
// (Inst) or 0.
type Record struct {
	At    int64 // simulated nanoseconds since the start
	Kind  RecordKind
	Inst  int32
	Msg   uint32
	Event uint32
	Arg   int64
}

// String renders the record as one trace line: time, instance, message,
// event, what happened and its detail.
func (r Record) String() string {
	inst, msg, ev := "-", "-", "-"
	if r.Inst >= 0 {
		inst = fmt.Sprintf("i%d", r.Inst)
	}
	if r.Msg > 0 {
		msg = fmt.Sprintf("m%d", r.Msg)
	}
	if r.Event > 0 && r.Kind != RecStoreLoss {
		ev = fmt.Sprintf("e%d", r.Event)
	}
	return strings.TrimRight(fmt.Sprintf("%12.6fms %-3s %-5s %-5s %-12s %s",
		float64(r.At)/float64(time.Millisecond), inst, msg, ev, r.Kind, r.detail()), " ")
}

// detail renders Arg as the kind of record means it.
func (r Record) detail() string {
	switch r.Kind {
	case RecCall, RecCallHeld, RecTimeout:
		if r.Arg > 0 && int(r.Arg) < len(opNames) {
			return op(r.Arg).String()
		}
	case RecServe, RecReply:
		return replyNames[r.Arg]
	case RecHandled:
		switch r.Arg {
		case 0:
			return "error"
		default:
			return strategies.Outcome(r.Arg).String()
		}
	case RecRequeue:
		if r.Arg == 1 {
			return "ack deadline passed"
		}
		return "after nack"
	case RecCrash:
		step := "the ack"
		switch actKind(r.Arg >> 8 & 0xff) {
		case actCall:
			step = op(r.Arg & 0xff).String()
		case actNack:
			step = "the nack"
		}
		if r.Arg>>16 == 1 {
			return "with " + step + " in flight"
		}
		return "before " + step
	case RecStall:
		return time.Duration(r.Arg).String()
	case RecPartition:
		if r.Arg == 0 {
			return "healed"
		}
		return "from " + targetNames(uint8(r.Arg))
	case RecStoreLoss:
		if r.Arg == 1 {
			return fmt.Sprintf("restart empty, %d marks lost", r.Event)
		}
		return fmt.Sprintf("failover to a lagging replica, %d marks lost", r.Event)
	case RecPark:
		return fmt.Sprintf("behind tx %d", r.Arg)
	case RecTxAbort:
		return fmt.Sprintf("tx %d", r.Arg)
	case RecEnd:
		return fmt.Sprintf("%d events not settled", r.Arg)
	case RecPublish, RecHeal, RecStoreUp, RecRestart:
		return ""
	}
	return fmt.Sprintf("tag %d", r.Arg)
}

var replyNames = [...]string{codeFalse: "false", codeTrue: "true", codeRefused: "refused", codeTxAborted: "tx aborted"}

func targetNames(mask uint8) string {
	var parts []string
	for _, t := range []struct {
		bit  uint8
		name string
	}{{toBroker, "broker"}, {toRedis, "redis"}, {toDB, "database"}} {
		if mask&t.bit != 0 {
			parts = append(parts, t.name)
		}
	}
	return strings.Join(parts, "+")
}

// WriteTrace writes records one per line.
func WriteTrace(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	for _, r := range recs {
		if _, err := bw.WriteString(r.String() + "\n"); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// tracer digests every record into a running hash and, when asked, keeps
// the records themselves. The digest covers every field of every record in
// order, so two runs with the same hash took the same steps.
type tracer struct {
	h    uint64
	keep bool
	recs []Record
}

func mix(h, x uint64) uint64 {
	h ^= x
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}

func (t *tracer) add(r Record) {
	h := mix(t.h, uint64(r.At))
	h = mix(h, uint64(r.Kind)|uint64(uint32(r.Inst))<<8|uint64(r.Msg)<<40)
	h = mix(h, uint64(r.Event))
	t.h = mix(h, uint64(r.Arg))
	if t.keep {
		t.recs = append(t.recs, r)
	}
}
