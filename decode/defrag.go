package decode

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5).
//
// gopacket's ip4defrag/ip6defrag are not used: they bound neither the number
// of datagrams in progress nor the bytes they hold, and allocate per
// fragment. This one keeps one buffer per datagram, evicts the oldest
// datagram when a limit is reached, and expires datagrams by packet time,
// so its memory is bounded by Options whatever the input.

const (
	maxDatagramSize     = 65535 // the IPv4 total length / IPv6 payload length field
	maxFragsPerDatagram = 128   // a 64 KiB datagram needs 46 fragments at a 1500 MTU
)

// Limits of what the decoder remembers about fragments, for the evidence
// of findings: a handful of frames per datagram, a bounded list of the
// flows whose datagrams never completed.
const (
	// MaxFragmentFrames bounds Fragments.Frames, the frames remembered per
	// datagram: a SIP message needs two or three fragments.
	MaxFragmentFrames = 8
	// MaxFragmentLossFlows bounds Stats.FragmentLoss.
	MaxFragmentLossFlows = 64
	// MaxFragmentLossHead bounds FragmentLoss.Head: enough for a SIP
	// request line and the headers that identify its transaction.
	MaxFragmentLossHead = 1024
)

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4 only: part of the RFC 791 identity; IPv6 uses 0
	v6       bool
}

type fragRange struct{ start, end int }

type fragDatagram struct {
	key    fragKey
	first  time.Time // arrival of its first fragment, for expiry and eviction
	buf    []byte    // len is the highest end seen
	ranges []fragRange
	got    int                       // bytes received, without duplicates
	total  int                       // datagram length, -1 until the last fragment arrived
	proto  uint8                     // the protocol of the payload
	hasOff bool                      // the fragment at offset 0 arrived (its proto wins, RFC 8200 §4.5)
	frames [MaxFragmentFrames]uint64 // of the first fragments stored, in arrival order
}

type defragmenter struct {
	maxDatagrams, maxBytes int
	timeout                time.Duration

	datagrams map[fragKey]*fragDatagram
	bytes     int       // sum of cap(buf) of datagrams in progress
	nextSweep time.Time // expiry runs at most once per second of capture time
	spare     []byte    // a finished datagram's buffer, reused by the next

	// done describes the datagram add completed last, until the next one.
	done       Fragments
	doneFrames [MaxFragmentFrames]uint64
}

func (f *defragmenter) init(o Options) {
	f.maxDatagrams, f.maxBytes, f.timeout = o.MaxFragDatagrams, o.MaxFragBytes, o.FragTimeout
	f.datagrams = make(map[fragKey]*fragDatagram)
}

// add stores one fragment, which arrived in frame. When it completes its
// datagram, add returns the reassembled payload and the payload's protocol,
// and f.done describes its fragments; the caller hands the buffer back with
// recycle when done with it.
func (f *defragmenter) add(key fragKey, offset int, more bool, data []byte, proto uint8, now time.Time, frame uint64, st *Stats) ([]byte, uint8, bool) {
	end := offset + len(data)
	// Every fragment but the last carries a multiple of 8 octets (RFC 791
	// §3.2, RFC 8200 §4.5); anything past 64 KiB is an attack.
	if end > maxDatagramSize || (more && len(data)%8 != 0) || (more && len(data) == 0) {
		if dg := f.datagrams[key]; dg != nil {
			f.drop(dg, st)
		} else {
			st.FragmentsDropped++
		}
		return nil, 0, false
	}
	dg := f.datagrams[key]
	if dg == nil {
		if len(f.datagrams) >= f.maxDatagrams {
			f.drop(f.oldest(), st)
		}
		dg = &fragDatagram{key: key, first: now, total: -1, proto: proto, buf: f.takeSpare()}
		f.bytes += cap(dg.buf)
		f.datagrams[key] = dg
	}

	if !more {
		if dg.total >= 0 && dg.total != end {
			f.drop(dg, st) // two different last fragments
			return nil, 0, false
		}
		// Fragments stored earlier may lie past the end this one sets:
		// then got could reach total with a hole left, filled with stale
		// bytes of a reused buffer.
		if n := len(dg.ranges); n > 0 && dg.ranges[n-1].end > end {
			f.drop(dg, st)
			return nil, 0, false
		}
		dg.total = end
	}
	if dg.total >= 0 && end > dg.total {
		f.drop(dg, st) // data past the end
		return nil, 0, false
	}

	// Ranges stay sorted and disjoint. An exact duplicate (a retransmitted
	// fragment) is ignored; any other overlap discards the datagram, as
	// RFC 5722 requires for IPv6 and as is safe for IPv4, where
	// overlapping fragments serve only to evade inspection.
	i := sort.Search(len(dg.ranges), func(i int) bool { return dg.ranges[i].start >= offset })
	if i < len(dg.ranges) && dg.ranges[i].start == offset && dg.ranges[i].end == end {
		return nil, 0, false
	}
	if (i < len(dg.ranges) && dg.ranges[i].start < end) || (i > 0 && dg.ranges[i-1].end > offset) {
		f.drop(dg, st)
		return nil, 0, false
	}
	if len(dg.ranges) >= maxFragsPerDatagram {
		f.drop(dg, st)
		return nil, 0, false
	}
	if end > len(dg.buf) {
		if end > cap(dg.buf) {
			grown := cap(dg.buf) * 2
			if grown < end {
				grown = end
			}
			if grown > maxDatagramSize {
				grown = maxDatagramSize
			}
			for f.bytes+grown-cap(dg.buf) > f.maxBytes {
				old := f.oldestExcept(dg)
				if old == nil {
					f.drop(dg, st)
					return nil, 0, false
				}
				f.drop(old, st)
			}
			nb := make([]byte, end, grown)
			copy(nb, dg.buf)
			f.bytes += grown - cap(dg.buf)
			dg.buf = nb
		}
		dg.buf = dg.buf[:end]
	}
	copy(dg.buf[offset:end], data)
	if n := len(dg.ranges); n < MaxFragmentFrames {
		dg.frames[n] = frame
	}
	dg.ranges = append(dg.ranges, fragRange{})
	copy(dg.ranges[i+1:], dg.ranges[i:])
	dg.ranges[i] = fragRange{offset, end}
	dg.got += end - offset
	if offset == 0 {
		dg.proto, dg.hasOff = proto, true
	}

	// Ranges are disjoint and within [0, total), so got == total means the
	// datagram is whole; hasOff says so again, for the reader.
	if dg.total < 0 || dg.got != dg.total || !dg.hasOff {
		return nil, 0, false
	}
	delete(f.datagrams, key)
	f.bytes -= cap(dg.buf)
	n := copy(f.doneFrames[:], dg.frames[:min(len(dg.ranges), MaxFragmentFrames)])
	f.done = Fragments{Count: len(dg.ranges), Frames: f.doneFrames[:n:n]}
	return dg.buf[:dg.total], dg.proto, true
}

// recycle takes back the buffer of a datagram add completed.
func (f *defragmenter) recycle(b []byte) {
	if cap(b) > cap(f.spare) {
		f.spare = b[:0]
	}
}

func (f *defragmenter) takeSpare() []byte {
	b := f.spare
	f.spare = nil
	return b[:0]
}

func (f *defragmenter) drop(dg *fragDatagram, st *Stats) {
	if dg == nil {
		return
	}
	delete(f.datagrams, dg.key)
	f.bytes -= cap(dg.buf)
	st.FragmentsDropped++
}

func (f *defragmenter) oldest() *fragDatagram { return f.oldestExcept(nil) }

func (f *defragmenter) oldestExcept(not *fragDatagram) *fragDatagram {
	var old *fragDatagram
	for _, dg := range f.datagrams {
		if dg != not && (old == nil || dg.first.Before(old.first)) {
			old = dg
		}
	}
	return old
}

// expire drops datagrams whose first fragment is older than the timeout,
// measured in packet time so that reading a capture fast or slow gives the
// same answer (RFC 791 suggests 15 s, RFC 8200 60 s).
func (f *defragmenter) expire(now time.Time, st *Stats) {
	if len(f.datagrams) == 0 || now.Before(f.nextSweep) {
		return
	}
	f.nextSweep = now.Add(time.Second)
	var gone []*fragDatagram
	for _, dg := range f.datagrams {
		if now.Sub(dg.first) > f.timeout {
			gone = append(gone, dg)
		}
	}
	f.giveUp(gone, st)
}

func (f *defragmenter) dropAll(st *Stats) {
	gone := make([]*fragDatagram, 0, len(f.datagrams))
	for _, dg := range f.datagrams {
		gone = append(gone, dg)
	}
	f.giveUp(gone, st)
}

// giveUp drops datagrams with fragments missing, in the order they began
// (not the map's), so that Stats.FragmentLoss is the same on every run.
func (f *defragmenter) giveUp(gone []*fragDatagram, st *Stats) {
	slices.SortFunc(gone, func(a, b *fragDatagram) int {
		if c := a.first.Compare(b.first); c != 0 {
			return c
		}
		return cmp.Compare(a.frames[0], b.frames[0])
	})
	for _, dg := range gone {
		f.lost(dg, st)
		f.drop(dg, st)
	}
}

// lost counts a datagram given up with fragments missing (timed out, or
// unfinished at the end of the capture) in the FragmentLoss of its flow.
// Datagrams evicted by a limit or discarded as inconsistent are not
// counted: that is the decoder's doing, not the network's.
func (f *defragmenter) lost(dg *fragDatagram, st *Stats) {
	src, dst := netip.AddrPortFrom(dg.key.src, 0), netip.AddrPortFrom(dg.key.dst, 0)
	var head []byte
	size := 0
	if dg.total >= 0 {
		size = dg.total
	}
	// The first fragment holds the transport header: ports, and for UDP
	// the whole datagram's length.
	if dg.hasOff && len(dg.ranges) > 0 && dg.ranges[0].start == 0 {
		first := dg.buf[:dg.ranges[0].end]
		if (dg.proto == protoUDP || dg.proto == protoTCP) && len(first) >= 4 {
			src = netip.AddrPortFrom(dg.key.src, binary.BigEndian.Uint16(first))
			dst = netip.AddrPortFrom(dg.key.dst, binary.BigEndian.Uint16(first[2:]))
		}
		if dg.proto == protoUDP && len(first) >= 8 {
			if n := int(binary.BigEndian.Uint16(first[4:])); n >= 8 {
				size = n
			}
			head = first[8:]
		}
	}
	var fl *FragmentLoss
	for i := range st.FragmentLoss {
		l := &st.FragmentLoss[i]
		if l.Src == src && l.Dst == dst && l.Protocol == dg.proto && l.WithoutFirst == !dg.hasOff {
			fl = l
			break
		}
	}
	if fl == nil {
		if len(st.FragmentLoss) >= MaxFragmentLossFlows {
			return
		}
		st.FragmentLoss = append(st.FragmentLoss, FragmentLoss{
			Src: src, Dst: dst, Protocol: dg.proto, WithoutFirst: !dg.hasOff,
			Size: size, First: dg.first,
			Head: append([]byte(nil), head[:min(len(head), MaxFragmentLossHead)]...),
		})
		fl = &st.FragmentLoss[len(st.FragmentLoss)-1]
	}
	fl.Datagrams++
	fl.Fragments += uint64(len(dg.ranges))
	if dg.first.Before(fl.First) {
		fl.First = dg.first
	}
	if dg.first.After(fl.Last) {
		fl.Last = dg.first
	}
	for _, fr := range dg.frames[:min(len(dg.ranges), MaxFragmentFrames)] {
		if len(fl.Frames) < MaxListedFrames {
			fl.Frames = append(fl.Frames, fr)
		}
	}
}
