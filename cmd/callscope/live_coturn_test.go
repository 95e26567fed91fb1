//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// TestLiveCoturnWrongPassword captures on lo while coturn's
// turnutils_uclient tries to allocate with a wrong password, and checks
// that turn.integrity-failure streams while the capture is still on,
// within a second of packet time of the failing Allocates; and that the
// --write copy reads back in callscope analyze (same finding) and tshark.
func TestLiveCoturnWrongPassword(t *testing.T) {
	requireRoot(t)
	server, err := exec.LookPath("turnserver")
	if err != nil {
		t.Skip("skipped: turnserver not installed (Debian package coturn; CI installs it)")
	}
	client, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("skipped: turnutils_uclient not installed (Debian package coturn; CI installs it)")
	}
	port := freeUDPPort(t)
	startTurnserver(t, server, port)

	dir := t.TempDir()
	saved := filepath.Join(dir, "live.pcapng")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args := []string{"live", "-i", "lo", "--filter", "udp port " + strconv.Itoa(port), "--format", "jsonl", "--duration", "4s", "--write", saved}
	go func() { done <- run(args, stdout, stderr) }()
	waitFor(t, 3*time.Second, done, stderr, "capturing on")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, client, "-y", "-u", "alice", "-w", "not-the-password", "-p", strconv.Itoa(port), "-n", "1", "-m", "1", "127.0.0.1").CombinedOutput()

	// The finding must arrive while the capture goes on.
	var streamed map[string]any
	deadline := time.Now().Add(2 * time.Second)
	for streamed == nil {
		select {
		case code := <-done:
			t.Fatalf("capture ended (exit %d) before turn.integrity-failure was streamed:\n%s\nstderr:\n%s\nuclient:\n%s", code, stdout.String(), stderr.String(), out)
		default:
		}
		streamed = findRecord(stdout.String(), "finding", "turn.integrity-failure")
		if streamed == nil {
			if time.Now().After(deadline) {
				t.Fatalf("turn.integrity-failure not streamed within 2 s of the client's end:\n%s\nuclient:\n%s", stdout.String(), out)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	at, err1 := time.Parse(time.RFC3339Nano, streamed["at"].(string))
	first, err2 := time.Parse(time.RFC3339Nano, streamed["first"].(string))
	if err1 != nil || err2 != nil {
		t.Fatalf("finding record times: %v, %v: %v", err1, err2, streamed)
	}
	if d := at.Sub(first); d < 0 || d > time.Second {
		t.Errorf("streamed %v after the first Allocate (packet time); want within 1 s", d)
	}

	var code int
	select {
	case code = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callscope live did not end after --duration")
	}
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	final := stdout.String()
	if n := strings.Count(final, `"rule":"turn.integrity-failure"`); n != 1 {
		t.Errorf("turn.integrity-failure written %d times; want once:\n%s", n, final)
	}
	if findRecord(final, "allocation", "") == nil || findRecord(final, "summary", "") == nil {
		t.Errorf("no allocation or summary record at the end:\n%s", final)
	}

	// The saved copy reads back with the same finding.
	var aOut, aErr bytes.Buffer
	if code := run([]string{"analyze", "--format", "json", saved}, &aOut, &aErr); code != 0 {
		t.Fatalf("analyze %s: exit %d: %s", saved, code, aErr.String())
	}
	if !strings.Contains(aOut.String(), `"rule": "turn.integrity-failure"`) {
		t.Errorf("analyze of the --write copy lacks turn.integrity-failure:\n%s", aOut.String())
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		b, err := exec.Command(tshark, "-r", saved, "-Y", "stun.type.method == 0x003").CombinedOutput()
		if err != nil || strings.Count(string(b), "\n") < 4 {
			t.Errorf("tshark -r %s: %v\n%s", saved, err, b)
		}
	} else {
		t.Log("tshark not installed: the --write copy was not checked with it")
	}
}

// freeUDPPort returns a UDP port free on 127.0.0.1 a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startTurnserver runs coturn with the long-term credential alice:secret
// on 127.0.0.1:port, and waits until it answers a Binding request.
func startTurnserver(t *testing.T, path string, port int) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(path, "-n", "--lt-cred-mech", "--user", "alice:secret", "--realm", "callscope.test",
		"-L", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", strconv.Itoa(port),
		"--no-tls", "--no-dtls", "--no-cli", "--log-file", "stdout", "--simple-log")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting turnserver: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	conn, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		conn.Write(req.Raw)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := conn.Read(buf); err == nil && stun.IsMessage(buf[:n]) {
			return
		}
	}
	t.Fatalf("turnserver on port %d did not answer within 5 s:\n%s", port, log.String())
}

// waitFor waits until the command's stderr holds want.
func waitFor(t *testing.T, d time.Duration, done chan int, stderr *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(stderr.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("callscope ended (exit %d) before %q:\n%s", code, want, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v:\n%s", want, d, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// findRecord returns the first jsonl record of the type (and rule, when
// not empty) in out.
func findRecord(out, typ, rule string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec["type"] != typ {
			continue
		}
		if rule == "" || rec["rule"] == rule {
			return rec
		}
	}
	return nil
}
