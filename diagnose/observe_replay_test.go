//go:build linux

package diagnose

import (
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/rtp"
)

// replayMedia is an RTP or ChannelData message of a recorded capture,
// compact enough to hold millions of them and free of pointers, so that
// the collector does not scan them while Observe is timed.
type replayMedia struct {
	frame      uint64
	unixNano   int64
	src, dst   [16]byte
	sport      uint16
	dport      uint16
	v4         bool
	transport  decode.Transport
	dscp       uint8
	kind       decode.Kind
	rtp        rtp.Header
	channel    uint16
	length     uint16
	start, end int // the ChannelData payload in replayCapture.payloads
}

func addrOf(b [16]byte, v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return netip.AddrFrom16(b)
}

// replayCapture is a capture decoded once, so that Engine.Observe can be
// timed without the reading and decoding around it: media messages as
// decoded, and the records of everything else to decode again (the
// decoder reuses the messages it points into).
type replayCapture struct {
	media    []replayMedia
	payloads []byte
	noise    []byte
	others   []capture.Record
	order    []int32 // ≥ 0: media index; < 0: -1-index into others
	packets  int
}

func recordReplay(tb testing.TB, path string) *replayCapture {
	r, err := capture.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	rc := &replayCapture{noise: make([]byte, 96<<20)}
	for i := range rc.noise {
		rc.noise[i] = byte(i) // not the zero page
	}
	dec := decode.NewDecoder()
	var batch []replayMedia
	other := false
	collect := func(m *decode.Message) {
		if m == nil {
			return
		}
		switch m.Kind {
		case decode.KindRTP, decode.KindChannelData:
			rm := replayMedia{
				frame: m.Frame, unixNano: m.Time.UnixNano(),
				src: m.Src.Addr().As16(), dst: m.Dst.Addr().As16(), sport: m.Src.Port(), dport: m.Dst.Port(),
				v4: m.Src.Addr().Is4(), transport: m.Transport, dscp: m.DSCP, kind: m.Kind, rtp: m.RTP,
				channel: m.Channel.Number, length: m.Channel.Length,
				start: len(rc.payloads),
			}
			rc.payloads = append(rc.payloads, m.Channel.Payload...)
			rm.end = len(rc.payloads)
			batch = append(batch, rm)
		default:
			other = true
		}
	}
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		rc.packets++
		batch, other = batch[:0], false
		dec.Decode(rec, collect)
		if other {
			cp := *rec
			cp.Data = append([]byte(nil), rec.Data...)
			rc.order = append(rc.order, int32(-1-len(rc.others)))
			rc.others = append(rc.others, cp)
			continue
		}
		for _, rm := range batch {
			rc.order = append(rc.order, int32(len(rc.media)))
			rc.media = append(rc.media, rm)
		}
	}
	return rc
}

// replay feeds the capture to e; observe false only decodes the records
// that are not media and copies the media messages, the overhead that
// replaying adds to Observe.
func (rc *replayCapture) replay(e *Engine, observe bool) {
	dec := decode.NewDecoder()
	var m decode.Message
	var sum byte
	pos := 0
	emit := func(*decode.Message) {}
	if observe {
		emit = e.Observe
	}
	for _, i := range rc.order {
		if i < 0 {
			dec.Decode(&rc.others[-1-i], emit)
			continue
		}
		// Read as much fresh memory as the reading and decoding of a
		// packet do, which evicts some of the engine's state between
		// packets as in a real run.
		for j := 0; j < replayNoise; j += 64 {
			sum += rc.noise[pos+j]
		}
		pos = (pos + replayNoise) % (len(rc.noise) - replayNoise)
		rm := &rc.media[i]
		m.Packet = decode.Packet{
			Frame: rm.frame, Time: time.Unix(0, rm.unixNano),
			Src:       netip.AddrPortFrom(addrOf(rm.src, rm.v4), rm.sport),
			Dst:       netip.AddrPortFrom(addrOf(rm.dst, rm.v4), rm.dport),
			Transport: rm.transport, DSCP: rm.dscp,
		}
		m.Kind, m.RTP = rm.kind, rm.rtp
		m.Channel = decode.ChannelData{Number: rm.channel, Length: rm.length, Payload: rc.payloads[rm.start:rm.end]}
		if observe {
			e.Observe(&m)
		}
	}
	replaySink = sum
}

var replaySink byte

// replayNoise is how many bytes of fresh memory a replay reads per
// message; replayCapture.noise is where from, larger than the caches.
const replayNoise = 512

// BenchmarkObserveReplay times Engine.Observe alone over the capture named
// by CALLSCOPE_BENCH_PCAP, decoded beforehand: observe-ns/packet is the
// time of a replay less that of replaying without observing, over the
// capture's records.
func BenchmarkObserveReplay(b *testing.B) {
	path := os.Getenv("CALLSCOPE_BENCH_PCAP")
	if path == "" {
		b.Skip("CALLSCOPE_BENCH_PCAP names no capture")
	}
	rc := recordReplay(b, path)
	runtime.GC()
	// The thread's CPU time, not the wall clock: other jobs share the
	// machine.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	overhead := time.Duration(1 << 62)
	for range 3 {
		t0 := threadCPU()
		rc.replay(nil, false)
		overhead = min(overhead, threadCPU()-t0)
	}
	var observing time.Duration
	b.ResetTimer()
	for range b.N {
		e := NewEngine(Options{})
		t0 := threadCPU()
		rc.replay(e, true)
		observing += threadCPU() - t0
		b.StopTimer()
		e.Finish(time.Time{})
		b.StartTimer()
	}
	perRun := observing / time.Duration(b.N)
	b.ReportMetric(float64(perRun-overhead)/float64(rc.packets), "observe-cpu-ns/packet")
	b.ReportMetric(float64(overhead)/float64(rc.packets), "overhead-cpu-ns/packet")
}

// threadCPU is the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
