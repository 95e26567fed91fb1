package diagnose_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/synth"
	"github.com/callscope/callscope/rules"
)

// writeSynthetic writes a synthetic capture into dir and returns its path.
func writeSynthetic(tb testing.TB, dir string, cfg synth.TURNConfig) (string, *synth.Expected) {
	tb.Helper()
	var buf bytes.Buffer
	sc, err := synth.WriteTURN(&buf, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "synthetic.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path, sc
}

// TestSyntheticCaptureFindings checks the whole pipeline against the
// generator's ground truth, and so the generator against the pipeline:
// every healthy allocation with its outcome, relayed counts, refreshes,
// channel and permission; the two failures as the only findings.
func TestSyntheticCaptureFindings(t *testing.T) {
	cfg := synth.SmallTURNConfig(3)
	path, sc := writeSynthetic(t, t.TempDir(), cfg)
	cred := diagnose.Credential{Username: cfg.Username, Password: cfg.Password}
	a, findings, err := diagnose.Analyze([]string{path}, diagnose.Options{Credentials: []diagnose.Credential{cred}}, rules.All())
	if err != nil {
		t.Fatal(err)
	}

	st := a.Stats
	if st.Packets != uint64(sc.Packets) || st.Bytes != uint64(sc.Bytes) {
		t.Errorf("decoded %d packets, %d bytes; wrote %d, %d", st.Packets, st.Bytes, sc.Packets, sc.Bytes)
	}
	if st.Malformed != 0 || st.Truncated != 0 || st.IPv6 == 0 {
		t.Errorf("stats: %d malformed, %d truncated, %d IPv6", st.Malformed, st.Truncated, st.IPv6)
	}
	if a.UnmatchedChannelData != 0 || a.OrphanResponses != 0 || len(a.Warnings) != 0 {
		t.Errorf("%d unmatched ChannelData, %d orphan responses, warnings %v", a.UnmatchedChannelData, a.OrphanResponses, a.Warnings)
	}

	byClient := make(map[string]*diagnose.Allocation)
	for _, al := range a.Allocations {
		byClient[al.Client.String()] = al
	}
	if len(a.Allocations) != len(sc.Allocations)+2 {
		t.Errorf("%d allocations, want %d healthy and 2 failed", len(a.Allocations), len(sc.Allocations))
	}
	var channelData uint64
	outcomes := map[string]int{}
	for _, want := range sc.Allocations {
		outcomes[want.Outcome]++
		got := byClient[want.Client.String()]
		if got == nil {
			t.Errorf("allocation of %v not found", want.Client)
			continue
		}
		if got.Outcome != want.Outcome || got.Relayed != want.Relayed || got.Mapped != want.Client || got.Server != want.Server {
			t.Errorf("allocation of %v: %s relayed %v mapped %v server %v; want %s %v %v %v", want.Client,
				got.Outcome, got.Relayed, got.Mapped, got.Server, want.Outcome, want.Relayed, want.Client, want.Server)
		}
		if got.Sent != diagnose.RelayCounter(want.Sent) || got.Received != diagnose.RelayCounter(want.Received) {
			t.Errorf("allocation of %v relayed sent %+v received %+v; want %+v %+v", want.Client, got.Sent, got.Received, want.Sent, want.Received)
		}
		if got.Refreshes != want.Refreshes || got.Username != cred.Username || got.Lifetime != 600 {
			t.Errorf("allocation of %v: %d refreshes, user %q, lifetime %d; want %d %q 600", want.Client, got.Refreshes, got.Username, got.Lifetime, want.Refreshes, cred.Username)
		}
		if len(got.Channels) != 1 || got.Channels[0].Number != want.Channel || got.Channels[0].Peer != want.Peer {
			t.Errorf("allocation of %v: channels %+v, want %#x to %v", want.Client, got.Channels, want.Channel, want.Peer)
		}
		if len(got.Permissions) != 1 || got.Permissions[0].Peer != want.Peer.Addr() {
			t.Errorf("allocation of %v: permissions %+v, want %v", want.Client, got.Permissions, want.Peer.Addr())
		}
		if len(got.Attempts) != 2 || got.Attempts[0].ErrorCode != 401 || got.Attempts[1].Class.String() != "success" {
			t.Errorf("allocation of %v: %d attempts, want a challenge and a success", want.Client, len(got.Attempts))
		}
		channelData += want.Sent.ChannelData + want.Received.ChannelData
	}
	if outcomes["deleted"] == 0 || outcomes["allocated"] == 0 {
		t.Errorf("generator made no variety of outcomes: %v", outcomes)
	}
	if st.ChannelData != channelData {
		t.Errorf("decoder counted %d ChannelData messages, allocations %d", st.ChannelData, channelData)
	}

	if al := byClient[sc.UnansweredClient.String()]; al == nil || al.Outcome != "unanswered" || len(al.Attempts) != 1 || al.Attempts[0].RequestCount != sc.UnansweredSends {
		t.Errorf("unanswered allocation: %+v", al)
	}
	if al := byClient[sc.WrongPasswordClient.String()]; al == nil || al.Outcome != "rejected" || len(al.Attempts) != 3 {
		t.Errorf("wrong-password allocation: %+v", al)
	}
	var match, mismatch int
	for _, tx := range a.Transactions {
		switch tx.Integrity {
		case diagnose.IntegrityMatch:
			match++
		case diagnose.IntegrityMismatch:
			mismatch++
			if tx.Client != sc.WrongPasswordClient {
				t.Errorf("integrity mismatch from %v", tx.Client)
			}
		}
	}
	if match != sc.AuthenticatedRequests || mismatch != 2 {
		t.Errorf("integrity: %d match, %d mismatch; want %d and 2", match, mismatch, sc.AuthenticatedRequests)
	}

	directs := 0
	for _, b := range a.Bindings {
		if b.Unanswered != 0 || b.Errors != 0 || b.Answered != b.Requests {
			t.Errorf("binding flow %v -> %v: %+v", b.Client, b.Server, b)
		}
		for _, d := range sc.DirectCalls {
			if b.Client == d[0] && b.Server == d[1] {
				directs++
			}
		}
	}
	if directs != len(sc.DirectCalls) {
		t.Errorf("ICE checks of %d direct calls found, want %d", directs, len(sc.DirectCalls))
	}

	// The failures are the only TURN and STUN findings. Of the others only
	// dscp.missing is expected, once for every audio stream the generator
	// marks AF41 or 0 on purpose; the media is otherwise clean (no loss,
	// 1 ms of jitter, both ways).
	var got []string
	unmarked := make(map[[2]string]bool)
	for _, ends := range sc.UnmarkedAudio {
		unmarked[[2]string{ends[0].String(), ends[1].String()}] = true
	}
	dscpFindings := 0
	for _, f := range findings {
		if f.Rule == "dscp.missing" {
			dscpFindings++
			if len(f.Endpoints) != 2 || !unmarked[[2]string{f.Endpoints[0], f.Endpoints[1]}] {
				t.Errorf("dscp.missing for a stream sent with EF: %s", f.Title)
			}
			continue
		}
		if !strings.HasPrefix(f.Rule, "turn.") && !strings.HasPrefix(f.Rule, "stun.") {
			t.Errorf("unexpected finding %s: %s", f.Rule, f.Detail)
			continue
		}
		got = append(got, f.Rule)
		switch f.Rule {
		case "turn.integrity-failure":
			if !slices.Contains(f.Endpoints, sc.WrongPasswordClient.String()) {
				t.Errorf("integrity failure cites %v, not %v", f.Endpoints, sc.WrongPasswordClient)
			}
		case "turn.allocate-timeout":
			if !slices.Contains(f.Endpoints, sc.UnansweredServer.String()) || len(f.Frames) != sc.UnansweredSends {
				t.Errorf("allocate timeout cites %v, frames %v", f.Endpoints, f.Frames)
			}
		}
	}
	if hasRule("dscp.missing") && dscpFindings != len(sc.UnmarkedAudio) {
		t.Errorf("%d dscp.missing findings for %d audio streams not marked EF", dscpFindings, len(sc.UnmarkedAudio))
	}
	slices.Sort(got)
	if want := []string{"turn.allocate-timeout", "turn.integrity-failure"}; !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
}

func hasRule(id string) bool {
	return slices.ContainsFunc(rules.All(), func(r diagnose.Rule) bool { return r.ID() == id })
}

// relayFixture is a decoder and engine that have seen one allocation set
// up, and frames of its steady state.
type relayFixture struct {
	dec              *decode.Decoder
	eng              *diagnose.Engine
	emit             func(*decode.Message)
	channelData, rtp capture.Record
}

func newRelayFixture(tb testing.TB) *relayFixture {
	tb.Helper()
	setup, cd, rtp, err := synth.RelayFrames()
	if err != nil {
		tb.Fatal(err)
	}
	f := &relayFixture{dec: decode.NewDecoder(), eng: diagnose.NewEngine(diagnose.Options{})}
	f.emit = f.eng.Observe
	for i, fr := range setup {
		f.dec.Decode(&capture.Record{Frame: uint64(i + 1), Time: fr.Time, LinkType: capture.LinkEthernet, Data: fr.Data, OrigLen: len(fr.Data)}, f.emit)
	}
	next := uint64(len(setup) + 1)
	f.channelData = capture.Record{Frame: next, Time: cd.Time, LinkType: capture.LinkEthernet, Data: cd.Data, OrigLen: len(cd.Data)}
	f.rtp = capture.Record{Frame: next, Time: rtp.Time, LinkType: capture.LinkEthernet, Data: rtp.Data, OrigLen: len(rtp.Data)}
	return f
}

// decode feeds rec again as the next frame of its RTP stream, a
// microsecond later: time moves, but never far enough to expire anything
// (the decoder believes ChannelData for 15 minutes after the last STUN).
// The UDP checksum goes stale, which nothing checks.
func (f *relayFixture) decode(rec *capture.Record) {
	rec.Frame++
	rec.Time = rec.Time.Add(time.Microsecond)
	rtp := rec.Data[len(rec.Data)-synth.RTPBytes:]
	binary.BigEndian.PutUint16(rtp[2:], binary.BigEndian.Uint16(rtp[2:])+1)
	binary.BigEndian.PutUint32(rtp[4:], binary.BigEndian.Uint32(rtp[4:])+160)
	f.dec.Decode(rec, f.emit)
}

// sent returns the relayed counts of the fixture's allocation.
func (f *relayFixture) sent(tb testing.TB) diagnose.RelayCounter {
	tb.Helper()
	a := f.eng.Finish(f.channelData.Time)
	if len(a.Allocations) != 1 || a.Allocations[0].Outcome != "allocated" {
		tb.Fatalf("fixture allocations: %+v", a.Allocations)
	}
	return a.Allocations[0].Sent
}

// TestSteadyStateDoesNotAllocate checks the requirement that a call's
// media costs no allocation per packet: ChannelData on an established
// allocation and plain UDP, through decoder and engine both.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	f := newRelayFixture(t)
	before := f.dec.Stats().ChannelData
	const runs = 1000
	if n := testing.AllocsPerRun(runs, func() { f.decode(&f.channelData) }); n != 0 {
		t.Errorf("%v allocations per ChannelData packet", n)
	}
	if n := testing.AllocsPerRun(runs, func() { f.decode(&f.rtp) }); n != 0 {
		t.Errorf("%v allocations per RTP packet", n)
	}
	// AllocsPerRun runs the function once more to warm up.
	if got := f.dec.Stats().ChannelData - before; got != runs+1 {
		t.Errorf("decoder emitted %d ChannelData messages for %d packets", got, runs+1)
	}
	if sent := f.sent(t); sent.ChannelData < runs+1 {
		t.Errorf("allocation counted %d ChannelData messages, want at least %d", sent.ChannelData, runs+1)
	}
}

func BenchmarkObserveChannelData(b *testing.B) {
	f := newRelayFixture(b)
	b.SetBytes(int64(len(f.channelData.Data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.decode(&f.channelData)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	b.StopTimer()
	if sent := f.sent(b); sent.ChannelData < uint64(b.N) {
		b.Fatalf("allocation counted %d ChannelData messages for %d packets", sent.ChannelData, b.N)
	}
}

func BenchmarkDecodeAndObserveRTP(b *testing.B) {
	f := newRelayFixture(b)
	b.SetBytes(int64(len(f.rtp.Data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.decode(&f.rtp)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// benchPackets is the size of BenchmarkAnalyze's capture.
const benchPackets = 200_000

var benchCapture = sync.OnceValues(func() ([]byte, error) {
	var buf bytes.Buffer
	_, err := synth.WriteTURN(&buf, synth.TURNConfigFor(benchPackets, 1))
	return buf.Bytes(), err
})

// BenchmarkAnalyze runs the whole pipeline, rules included, on a
// synthetic capture of about 200,000 packets read from a file.
func BenchmarkAnalyze(b *testing.B) {
	data, err := benchCapture()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "synthetic.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	opts := diagnose.Options{Credentials: []diagnose.Credential{{Username: "alice", Password: "s3cret"}}}
	a, _, err := diagnose.Analyze([]string{path}, opts, rules.All())
	if err != nil {
		b.Fatal(err)
	}
	packets := float64(a.Stats.Packets)

	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		if _, _, err := diagnose.Analyze([]string{path}, opts, rules.All()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(packets*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/(packets*float64(b.N)), "allocs/packet")
}
