package testserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// errPortInUse reports that a server could not bind its port, because some
// other process took it between freePort closing it and the server binding
// it. The caller picks another port and tries again.
var errPortInUse = errors.New("testserver: port already in use")

// missingError reports that a server's binaries (or, as root, the user to
// run them as) are not installed. fail skips on it, or fails under CI.
type missingError struct {
	msg string
}

func (e *missingError) Error() string { return e.msg }

// fail ends the test for err: a skip when a server is missing and CI is not
// set, a failure otherwise.
func fail(tb testing.TB, err error) {
	tb.Helper()
	var missing *missingError
	if errors.As(err, &missing) && os.Getenv("CI") == "" {
		tb.Skipf("%v (skipping; with CI set this fails)", err)
	}
	tb.Fatalf("%v", err)
}

// freePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before the server binds it; servers report that as
// errPortInUse.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testserver: finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("testserver: finding a free port: %w", err)
	}
	return port, nil
}

// spawnReq asks the spawner goroutine to start cmd.
type spawnReq struct {
	cmd  *exec.Cmd
	errc chan<- error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// spawn starts cmd from one goroutine locked to its OS thread for the life
// of the process. The kernel sends a child its parent-death signal
// (SysProcAttr.Pdeathsig) when the thread that forked it exits, not the
// process; Go may end a thread whose goroutine locked it and exited, so
// children forked from arbitrary goroutines could be killed at random. A
// thread that never exits makes the signal mean "the test binary died".
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives until the process ends
			for req := range spawnCh {
				req.errc <- req.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, errc: errc}
	return <-errc
}

// process is a running server child.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error         // cmd.Wait's result; read only after done is closed
}

// startProcess starts cmd with its output appended to logPath. deathSig is
// the signal the kernel sends it if the test binary dies first.
func startProcess(cmd *exec.Cmd, logPath string, deathSig syscall.Signal) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testserver: opening log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor once started
	cmd.Stdout = logf
	cmd.Stderr = logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group, so a Ctrl-C at the terminal reaches the test
	// binary only and the server is stopped by cleanup, or by deathSig.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = deathSig
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("testserver: starting %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the process to exit, then sends
// SIGKILL and waits for it to be reaped.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("testserver: signalling %s (pid %d): %w", p.cmd.Path, p.cmd.Process.Pid, err)
	}
	if sig != syscall.SIGKILL {
		select {
		case <-p.done:
			return nil
		case <-time.After(grace):
		}
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("testserver: killing %s (pid %d): %w", p.cmd.Path, p.cmd.Process.Pid, err)
		}
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("testserver: %s (pid %d) did not exit 10 s after SIGKILL", p.cmd.Path, p.cmd.Process.Pid)
	}
}

// exitError describes a server that exited while starting, with the end of
// its log; it wraps errPortInUse when the log says the port was taken.
func (p *process) exitError(what string) error {
	log := tailFile(p.logPath, 2000)
	err := fmt.Errorf("testserver: %s exited while starting (%v); end of %s:\n%s", what, p.waitErr, p.logPath, log)
	if strings.Contains(log, "already in use") {
		return fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return err
}

// tailFile returns up to the last n bytes of the file at path, or a note
// saying why it could not be read.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		if _, err := f.Seek(-n, io.SeekEnd); err != nil {
			return fmt.Sprintf("(log unreadable: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	return string(b)
}

// startWithRetry runs start on up to 5 fresh ports when fixed is 0, moving
// on when the port turned out to be taken. With a fixed port (a restart) it
// retries the same port a few times, since whatever held it may let go.
func startWithRetry(fixed int, start func(port int) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		port := fixed
		if port == 0 {
			if port, err = freePort(); err != nil {
				return err
			}
		} else if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		if err = start(port); !errors.Is(err, errPortInUse) {
			return err
		}
	}
	return err
}

// signalGroup sends sig to the process and every process it forked
// (PostgreSQL's backends), so that SIGSTOP freezes all of it. PostgreSQL's
// children make themselves process-group leaders, so the group alone would
// not reach them: the descendants are found through /proc.
func (p *process) signalGroup(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	pids := append([]int{p.cmd.Process.Pid}, descendants(p.cmd.Process.Pid)...)
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("testserver: signalling pid %d of %s: %w", pid, p.cmd.Path, err)
		}
	}
	return nil
}

// descendants lists the pids of every process below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: the
		// fields after its closing parenthesis are state, then ppid.
		end := strings.LastIndexByte(string(stat), ')')
		if end < 0 {
			continue
		}
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(fields[1])
		if err == nil {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
