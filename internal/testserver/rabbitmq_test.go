package testserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ownedRabbitMQ returns a RabbitMQ server the test owns, skipping the test
// when IDEMSIM_AMQP_URL points at an existing one.
func ownedRabbitMQ(t *testing.T) *RabbitMQServer {
	t.Helper()
	began := time.Now()
	s := RabbitMQ(t)
	if !s.Owned {
		t.Skipf("%s is set: this test kills the server", envAMQPURL)
	}
	t.Logf("RabbitMQ node %s started in %v", s.Node, time.Since(began).Round(time.Millisecond))
	return s
}

// declareQuorum declares a durable quorum queue named name on ch.
func declareQuorum(t *testing.T, ch *amqp.Channel, name string) {
	t.Helper()
	_, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	require.NoError(t, err)
}

// publishConfirmed publishes body to queue on ch, which is in confirm
// mode, and waits for the broker's confirm.
func publishConfirmed(t *testing.T, ch *amqp.Channel, queue, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		Body:         []byte(body),
	})
	require.NoError(t, err)
	ok, err := dc.WaitContext(ctx)
	require.NoError(t, err)
	require.True(t, ok, "the broker nacked the publish")
}

// receive waits up to 10 s for a delivery on deliveries.
func receive(t *testing.T, deliveries <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-deliveries:
		require.True(t, ok, "the consumer's channel closed")
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10 s")
		return amqp.Delivery{}
	}
}

// TestRabbitMQPublishConsumeAck starts a throwaway node, publishes one
// message to a quorum queue with a publisher confirm, consumes it with
// manual ack and a prefetch of 1, and stops the node, checking that the
// node and its epmd are gone afterwards.
func TestRabbitMQPublishConsumeAck(t *testing.T) {
	t.Parallel()
	s := ownedRabbitMQ(t)
	require.Equal(t, "amqp://guest:guest@"+s.Addr+"/", s.URL)
	assert.NotEqual(t, "127.0.0.1:5672", s.Addr, "never the machine's RabbitMQ")
	assert.NotContains(t, s.Node, "rabbit@", "never the machine's node name")

	conn, err := dialAMQP(s.URL, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, s.Node, conn.Properties["cluster_name"])
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	require.NoError(t, ch.Qos(1, 0, false))
	declareQuorum(t, ch, "idemsim_test_q")
	publishConfirmed(t, ch, "idemsim_test_q", "m1")

	deliveries, err := ch.Consume("idemsim_test_q", "c1", false, false, false, false, nil)
	require.NoError(t, err)
	d := receive(t, deliveries)
	assert.Equal(t, "m1", string(d.Body))
	assert.False(t, d.Redelivered)
	require.NoError(t, d.Ack(false))
	require.NoError(t, ch.Cancel("c1", false))
	// Cancel is a round trip on the channel after the ack, so the ack has
	// been processed: the queue is empty.
	q, err := ch.QueueDeclarePassive("idemsim_test_q", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	require.NoError(t, err)
	assert.Zero(t, q.Messages, "the acked message is gone")
	require.NoError(t, conn.Close())

	node, epmd := s.Pids()
	require.NotZero(t, node)
	require.NotZero(t, epmd)
	pids := append([]int{node, epmd}, descendants(node)...)
	began := time.Now()
	require.NoError(t, s.close())
	t.Logf("stopped in %v", time.Since(began).Round(time.Millisecond))
	for _, pid := range pids {
		assert.True(t, gone(pid, 5*time.Second), "process %d is left behind", pid)
	}
	_, err = os.Stat(s.dir)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the node's directory is removed")
}

// TestRabbitMQUsesItsOwnEPMD checks that the node registers with its own
// epmd only: the machine's epmd (127.0.0.1:4369), when one runs, never
// hears of it.
func TestRabbitMQUsesItsOwnEPMD(t *testing.T) {
	t.Parallel()
	s := SharedRabbitMQ(t)
	if !s.Owned {
		t.Skipf("%s is set: no throwaway node", envAMQPURL)
	}
	short, _, _ := strings.Cut(s.Node, "@")
	names, err := epmdNames("127.0.0.1:" + strconv.Itoa(s.epmdPort))
	require.NoError(t, err)
	assert.Contains(t, names, "name "+short+" at port "+strconv.Itoa(s.distPort))
	assert.NotEqual(t, 4369, s.epmdPort)

	machine, err := epmdNames("127.0.0.1:4369")
	if err != nil {
		t.Logf("no epmd on 127.0.0.1:4369 (%v): nothing to compare with", err)
		return
	}
	assert.NotContains(t, machine, short)
}

// epmdNames asks the epmd at addr for its registered names (NAMES_REQ).
func epmdNames(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte{0, 1, 110}); err != nil {
		return "", err
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	if len(reply) < 4 {
		return "", fmt.Errorf("short NAMES reply from %s: %q", addr, reply)
	}
	if port := binary.BigEndian.Uint32(reply); port == 0 {
		return "", fmt.Errorf("NAMES reply from %s names port 0", addr)
	}
	return string(reply[4:]), nil
}

// TestRabbitMQKillFreezeRestart: a killed node resets its connections at
// once and comes back on the same port with its durable quorum queue and
// persistent messages; a frozen node keeps its connections open and silent,
// so the client notices only by its heartbeat timeout.
func TestRabbitMQKillFreezeRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ node twice (about 10 s); runs without -short")
	}
	t.Parallel()
	s := ownedRabbitMQ(t)

	// Connections close in cleanups, which run after Freeze's thaw: a
	// deferred Close would wait forever for a frozen node's close-ok.
	conn, err := dialAMQP(s.URL, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	declareQuorum(t, ch, "idemsim_test_kill")
	publishConfirmed(t, ch, "idemsim_test_kill", "kept")

	node, _ := s.Pids()
	helpers := descendants(node)
	// Measured on RabbitMQ 3.10.8: a quorum queue killed a few
	// milliseconds after its declaration (and a confirmed publish) came
	// back with its leader unknown for more than a minute, its basic.get
	// failing after 65 s; killed one second later, it answers within
	// 100 ms of the restart. A clean Stop recovers it either way.
	time.Sleep(time.Second)
	s.Kill(t)
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("a connection to a killed node is still open after 3 s")
	}
	for _, pid := range append([]int{node}, helpers...) {
		assert.True(t, gone(pid, 5*time.Second), "process %d of the killed node is left behind", pid)
	}
	addr := s.Addr
	began := time.Now()
	s.Start(t)
	t.Logf("restarted in %v", time.Since(began).Round(time.Millisecond))
	assert.Equal(t, addr, s.Addr, "a restarted node keeps its port")

	conn2, err := dialAMQP(s.URL, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn2.Close() })
	// The quorum queue's member recovers its log and elects itself
	// leader again some time after the node accepts connections; until
	// then a basic.get fails with a timeout that closes the channel.
	var msg amqp.Delivery
	var ok bool
	began = time.Now()
	for deadline := time.Now().Add(10 * time.Second); ; {
		msg, ok, err = getOnce(conn2, "idemsim_test_kill")
		if ok || time.Now().After(deadline) {
			break
		}
		t.Logf("%v after the restart: %v", time.Since(began).Round(time.Millisecond), err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the quorum queue answered %v after the restart", time.Since(began).Round(time.Millisecond))
	if !ok {
		t.Logf("end of the node's log:\n%s", tailFile(s.dir+"/rabbitmq.log", 8000))
	}
	require.NoError(t, err)
	require.True(t, ok, "the confirmed persistent message survives the kill")
	assert.Equal(t, "kept", string(msg.Body))
	require.NoError(t, msg.Ack(false))

	// Freeze: a client with a 1 s heartbeat gives up 1.5 s after the last
	// frame it read (amqp091 v1.17), while the TCP connection stays open.
	hb, err := amqp.DialConfig(s.URL, amqp.Config{Heartbeat: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hb.Close() })
	hbClosed := hb.NotifyClose(make(chan *amqp.Error, 1))
	// amqp091 arms its read deadline (three heartbeats) only when a frame
	// arrives while its heartbeat goroutine listens, which may miss the
	// frames of the handshake: a node frozen right after the connection
	// opened is then never noticed. Let the node's heartbeats flow first.
	time.Sleep(2500 * time.Millisecond)
	s.Freeze(t)
	began = time.Now()
	select {
	case err := <-hbClosed:
		t.Logf("frozen node noticed after %v: %v", time.Since(began).Round(time.Millisecond), err)
		require.NotNil(t, err)
		assert.Contains(t, err.Reason, "timeout", "a frozen node does not close connections: the client's heartbeat deadline does")
	case <-time.After(10 * time.Second):
		t.Fatal("a 1 s heartbeat did not notice a frozen node within 10 s")
	}
	s.Thaw(t)
	conn3, err := dialAMQP(s.URL, 5*time.Second)
	require.NoError(t, err, "a thawed node accepts connections")
	t.Cleanup(func() { _ = conn3.Close() })

	// Stop: the node tells its clients it is going (320
	// CONNECTION_FORCED) before it exits.
	closed3 := conn3.NotifyClose(make(chan *amqp.Error, 1))
	began = time.Now()
	s.Stop(t)
	t.Logf("stopped cleanly in %v", time.Since(began).Round(time.Millisecond))
	select {
	case err := <-closed3:
		require.NotNil(t, err)
		assert.Equal(t, amqp.ConnectionForced, err.Code, "%v", err)
	case <-time.After(time.Second):
		t.Fatal("a cleanly stopped node left a connection open")
	}
	s.Start(t)
	conn4, err := dialAMQP(s.URL, 5*time.Second)
	require.NoError(t, err, "a node started after Stop accepts connections")
	require.NoError(t, conn4.Close())
}

func TestSharedRabbitMQCannotBeKilled(t *testing.T) {
	t.Parallel()
	s := SharedRabbitMQ(t)
	assert.Same(t, s, SharedRabbitMQ(t))
	if !s.Owned {
		t.Skipf("%s is set", envAMQPURL)
	}
	for name, op := range map[string]func(testing.TB){
		"Kill":    s.Kill,
		"Restart": s.Restart,
		"Freeze":  s.Freeze,
	} {
		rec := record(t, op)
		assert.True(t, rec.failed, "%s on a shared RabbitMQ fails the test", name)
		assert.Contains(t, rec.msg, "shared", name)
	}
	conn, err := dialAMQP(s.URL, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
}

// gone reports whether process pid has exited (or is a zombie waiting to
// be reaped) within d.
func gone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if end := strings.LastIndexByte(string(stat), ')'); end >= 0 {
			if f := strings.Fields(string(stat[end+1:])); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getOnce gets one message from queue on a fresh channel of conn, which
// an error closes.
func getOnce(conn *amqp.Connection, queue string) (amqp.Delivery, bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return amqp.Delivery{}, false, err
	}
	return ch.Get(queue, false)
}
