package sim

import "fmt"

// The codes that trace records carry in Arg, for a backend other than the
// simulator (package realrun) that writes the same records.

// Store operations: the Arg of RecCall, RecCallHeld and RecTimeout.
const (
	OpSetNX    = int64(opSetNX)
	OpExists   = int64(opExists)
	OpSet      = int64(opSet)
	OpInsert   = int64(opInsert)
	OpApply    = int64(opApply)
	OpCommit   = int64(opCommit)
	OpRollback = int64(opRollback)
)

// Reply codes: the Arg of RecServe and RecReply.
const (
	ReplyFalse     = int64(codeFalse)
	ReplyTrue      = int64(codeTrue)
	ReplyRefused   = int64(codeRefused)
	ReplyTxAborted = int64(codeTxAborted)
)

// CrashBeforeCall, CrashInFlight and CrashBeforeAck build the Arg of a
// RecCrash: before the store call op, with op in flight (its request sent),
// or before the ack.
func CrashBeforeCall(op int64) int64 { return int64(actCall)<<8 | op }

// CrashInFlight is the Arg of a crash with the call op in flight.
func CrashInFlight(op int64) int64 { return 1<<16 | CrashBeforeCall(op) }

// CrashBeforeAck is the Arg of a crash before the ack.
func CrashBeforeAck() int64 { return int64(actAck) << 8 }

// RequeueDeadline and RequeueNack are the Arg of a RecRequeue.
const (
	RequeueDeadline = 1
	RequeueNack     = 2
)

// PartitionRedis and PartitionDB are the Arg bits of a RecPartition: the
// stores an instance is cut off from (0: healed).
const (
	PartitionRedis = int64(toRedis)
	PartitionDB    = int64(toDB)
)

// OpName names a store operation code as traces do ("SetNX", "Apply", ...).
func OpName(code int64) string {
	if code > 0 && int(code) < len(opNames) {
		return opNames[code]
	}
	return fmt.Sprintf("op(%d)", code)
}
