package synth

import (
	"encoding/binary"
	"time"
)

// relayDelay is how long the TURN server takes to relay a packet.
const relayDelay = 400 * time.Microsecond

// mediaPair is what the two directions of a call share: each side's last
// sender report, which the other side's reports echo (RFC 3550 §6.4.1).
type mediaPair struct {
	m [2]*media
}

// media is one direction of a call's audio: RTP every 20 ms and an RTCP
// sender report every 5 s. On a relayed call each packet is written twice,
// on the leg to the TURN server and on the leg from it, ChannelData on the
// client's side.
type media struct {
	pair     *mediaPair
	dir      int
	legs     [2]*flow // legs[1] nil when not relayed
	rtcpLegs [2]*flow
	channel  [2]uint16 // per leg; 0: plain UDP
	dscp     uint8
	loss     float64 // probability that a packet is lost before the capture

	ssrc     uint32
	seq      uint16
	ts       uint32
	end      time.Duration
	sent     uint32 // packets and octets the sender sent (SR counts)
	octets   uint32
	received uint32 // packets the capture holds, for the far side's reports
	baseSeq  uint16
	maxSeq   uint16

	lastSR     uint32 // middle 32 bits of the last SR's NTP timestamp
	lastSRAt   time.Duration
	nextRTCP   time.Duration
	leg        int  // the leg due next
	lost       bool // the packet in flight is lost
	first      bool
	rtp, rtcp  []byte
	wrapped    []byte
	packetTime time.Duration
}

func (g *gen) newMedia(pair *mediaPair, dir int, end time.Duration) *media {
	m := &media{
		pair: pair, dir: dir, end: end,
		ssrc: g.rng.Uint32(), seq: uint16(g.rng.Uint32()), ts: g.rng.Uint32(),
		first: true,
		rtp:   make([]byte, 12+audioBytes),
	}
	m.baseSeq, m.maxSeq = m.seq, m.seq-1
	switch r := g.rng.IntN(20); {
	case r < 14:
		m.dscp = dscpEF
	case r < 17:
		m.dscp = dscpAF41
	}
	switch r := g.rng.IntN(10); {
	case r < 6:
	case r < 9:
		m.loss = 0.005
	default:
		m.loss = 0.03
	}
	for i := 12; i < len(m.rtp); i++ {
		m.rtp[i] = 0xff // µ-law silence
	}
	m.nextRTCP = rtcpInterval/2 + time.Duration(g.rng.Int64N(int64(rtcpInterval)))
	pair.m[dir] = m
	return m
}

func (m *media) emit(g *gen, at time.Duration) (time.Duration, bool, error) {
	if m.leg == 0 {
		if at >= m.end {
			return 0, false, nil
		}
		m.packetTime = at
		m.header()
		m.lost = g.rng.Float64() < m.loss
		m.sent++
		m.octets += audioBytes
		if !m.lost {
			m.received++
			m.maxSeq = m.seq
		}
	}
	if !m.lost {
		if err := g.write(at, m.legs[m.leg], m.wrap(m.leg, m.rtp)); err != nil {
			return 0, false, err
		}
	}
	if m.leg == 0 && m.legs[1] != nil {
		m.leg = 1
		return at + relayDelay, true, nil
	}
	m.leg = 0
	m.seq++
	m.ts += audioBytes
	m.first = false
	if m.packetTime >= m.nextRTCP {
		if err := m.sendRTCP(g, at); err != nil {
			return 0, false, err
		}
		m.nextRTCP += rtcpInterval
	}
	return m.packetTime + frameInterval, true, nil
}

func (m *media) header() {
	b := m.rtp
	b[0], b[1] = 0x80, 0 // version 2, PCMU
	if m.first {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], m.seq)
	binary.BigEndian.PutUint32(b[4:], m.ts)
	binary.BigEndian.PutUint32(b[8:], m.ssrc)
}

// wrap puts p in a ChannelData message when leg is the client's.
func (m *media) wrap(leg int, p []byte) []byte {
	if m.channel[leg] == 0 {
		return p
	}
	n := (4 + len(p) + 3) &^ 3
	if cap(m.wrapped) < n {
		m.wrapped = make([]byte, n)
	}
	b := m.wrapped[:n]
	binary.BigEndian.PutUint16(b, m.channel[leg])
	binary.BigEndian.PutUint16(b[2:], uint16(len(p)))
	copy(b[4:], p)
	clear(b[4+len(p):])
	return b
}

// sendRTCP writes a compound RTCP packet: a sender report with one report
// block about the other direction (RFC 3550 §6.4.1), then SDES CNAME.
func (m *media) sendRTCP(g *gen, at time.Duration) error {
	other := m.pair.m[1-m.dir]
	wall := g.base.Add(at)
	secs := uint64(wall.Unix()) + 2208988800 // NTP epoch 1900
	frac := uint64(wall.Nanosecond()) << 32 / 1e9
	ntp := secs<<32 | frac

	b := m.rtcp[:0]
	b = append(b, 0x81, 200, 0, 12) // V=2 RC=1 SR, 13 words
	b = binary.BigEndian.AppendUint32(b, m.ssrc)
	b = binary.BigEndian.AppendUint64(b, ntp)
	b = binary.BigEndian.AppendUint32(b, m.ts)
	b = binary.BigEndian.AppendUint32(b, m.sent)
	b = binary.BigEndian.AppendUint32(b, m.octets)
	// Report block on what this side received of the other's stream.
	var lost, expected uint32
	var lsr, dlsr uint32
	var highest uint32
	if other != nil {
		expected = uint32(other.maxSeq - other.baseSeq + 1)
		if expected > other.received {
			lost = expected - other.received
		}
		highest = uint32(other.maxSeq)
		if other.lastSR != 0 {
			lsr = other.lastSR
			dlsr = uint32((at - other.lastSRAt) * 65536 / time.Second)
		}
		b = binary.BigEndian.AppendUint32(b, other.ssrc)
	} else {
		b = binary.BigEndian.AppendUint32(b, 0)
	}
	fraction := uint32(0)
	if expected > 0 {
		fraction = lost * 256 / expected
	}
	b = binary.BigEndian.AppendUint32(b, fraction<<24|lost&0xffffff)
	b = binary.BigEndian.AppendUint32(b, highest)
	b = binary.BigEndian.AppendUint32(b, 0) // jitter
	b = binary.BigEndian.AppendUint32(b, lsr)
	b = binary.BigEndian.AppendUint32(b, dlsr)
	// SDES with one chunk: SSRC, CNAME "synth", end, padded to 32 bits.
	b = append(b, 0x81, 202, 0, 3)
	b = binary.BigEndian.AppendUint32(b, m.ssrc)
	b = append(b, 1, 5, 's', 'y', 'n', 't', 'h', 0)
	m.rtcp = b
	m.lastSR, m.lastSRAt = uint32(ntp>>16), at

	for leg := range m.rtcpLegs {
		f := m.rtcpLegs[leg]
		if f == nil {
			break
		}
		if err := g.write(at, f, m.wrap(leg, b)); err != nil {
			return err
		}
	}
	return nil
}
