package diagnose

import (
	"fmt"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

// sipSeen is a SIP message as a capture on a router shows it: at a
// capture point, with a mark, at seconds after simStart.
type sipSeen struct {
	ev    sipEvent
	at    float64
	point capturePoint
	dscp  uint8
}

// seenTwice is ev arriving on interface in marked inMark, and its copy
// leaving on interface out marked outMark 20 µs later.
func seenTwice(ev sipEvent, in, out uint32, inMark, outMark uint8) []sipSeen {
	return []sipSeen{
		{ev: ev, at: ev.at, point: capturePoint{direction: decode.Arriving, ifindex: in}, dscp: inMark},
		{ev: ev, at: ev.at + 20e-6, point: capturePoint{direction: decode.Leaving, ifindex: out}, dscp: outMark},
	}
}

// observeSeen feeds the messages as the decoder would, parsed from their
// bytes, frames numbered from 1.
func observeSeen(t *testing.T, e *Engine, seen []sipSeen) {
	t.Helper()
	for i, s := range seen {
		raw := []byte(s.ev.spec.render(s.ev.src))
		var sm sip.Message
		if err := sm.Parse(raw); err != nil {
			t.Fatalf("message %d does not parse: %v", i, err)
		}
		m := &decode.Message{
			Packet: decode.Packet{Frame: uint64(i + 1), Time: simAt(s.at), Src: s.ev.src, Dst: s.ev.dst, Transport: decode.UDP,
				DSCP: s.dscp, Direction: s.point.direction, Interface: s.point.ifindex},
			Kind: decode.KindSIP, SIP: &sm, Payload: raw,
		}
		e.Observe(m)
		clear(raw) // nothing kept may point into the datagram
	}
}

// TestSIPCopiesAtTwoPoints: a capture on a router forwarding without NAT
// (tcpdump -i any) shows each SIP message twice on its 5-tuple, arriving
// on one interface and leaving on another; the copies pair by their
// bytes, per flow and pair of points, with each side's marks.
func TestSIPCopiesAtTwoPoints(t *testing.T) {
	A, P := sipAlice, sipProxy
	invite := sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP())
	trying := sipResp(0.010, P, A, 100, "Trying", "INVITE", "z9hG4bK-1", 1)
	ok := sipResp(1, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP())
	ack := sipReq(1.01, A, P, "ACK", "z9hG4bK-2", 1, withToTag("b1"))
	bye := sipReq(3, A, P, "BYE", "z9hG4bK-3", 2, withToTag("b1"))
	again := func(ev sipEvent, sec float64) sipEvent { ev.at = sec; return ev }
	join := func(parts ...[]sipSeen) []sipSeen {
		var out []sipSeen
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	type side struct {
		where string
		dscp  string
		first uint64
	}
	type copies struct {
		src      string
		messages uint64
		before   side
		after    side
	}
	tests := []struct {
		name string
		seen []sipSeen
		want []copies
	}{
		{
			name: "the box re-marks the caller's signalling",
			seen: join(seenTwice(invite, 2, 3, 24, 0), seenTwice(trying, 3, 2, 24, 24), seenTwice(ok, 3, 2, 24, 24),
				seenTwice(ack, 2, 3, 24, 0), seenTwice(bye, 2, 3, 24, 0)),
			want: []copies{
				{A.String(), 3, side{"arriving on interface 2", "24:3", 1}, side{"leaving on interface 3", "0:3", 2}},
				{P.String(), 2, side{"arriving on interface 3", "24:2", 3}, side{"leaving on interface 2", "24:2", 4}},
			},
		},
		{
			// The INVITE sent again 500 ms later (T1, RFC 3261
			// §17.1.1.2): the same bytes, but a message of its own,
			// paired with its own copy, not with the first.
			name: "a retransmission pairs with its own copy",
			seen: join(seenTwice(invite, 2, 3, 24, 0), seenTwice(again(invite, 0.5), 2, 3, 24, 0)),
			want: []copies{{A.String(), 2, side{"arriving on interface 2", "24:2", 1}, side{"leaving on interface 3", "0:2", 2}}},
		},
		{
			// The box drops the retransmission: it shows once, and
			// 500 ms after the first copy, which it is not a copy of.
			name: "a message seen once",
			seen: join(seenTwice(invite, 2, 3, 24, 0), []sipSeen{{ev: invite, at: 0.5, point: capturePoint{direction: decode.Arriving, ifindex: 2}, dscp: 24}}),
			want: []copies{{A.String(), 1, side{"arriving on interface 2", "24:1", 1}, side{"leaving on interface 3", "0:1", 2}}},
		},
		{
			// Seen twice at the same point (a duplicate on one wire):
			// not two points of a box.
			name: "twice at one point",
			seen: join(seenTwice(invite, 2, 2, 24, 24)[:1], seenTwice(invite, 2, 2, 24, 24)[:1]),
		},
		{
			// An ALG on the box rewrites the message: other bytes.
			name: "rewritten by the box",
			seen: join(seenTwice(invite, 2, 3, 24, 0)[:1], seenTwice(withContact(invite, "sip:alice@203.0.113.1:5060"), 2, 3, 24, 0)[1:]),
		},
		{
			// A copy later than SIPCopyGap is another message.
			name: "copy too late",
			seen: []sipSeen{
				{ev: invite, at: 0, point: capturePoint{direction: decode.Arriving, ifindex: 2}, dscp: 24},
				{ev: invite, at: 0.011, point: capturePoint{direction: decode.Leaving, ifindex: 3}, dscp: 0},
			},
		},
		{
			// LINUX_SLL: the direction alone.
			name: "no interface index",
			seen: seenTwice(invite, 0, 0, 24, 0),
			want: []copies{{A.String(), 1, side{"arriving", "24:1", 1}, side{"leaving", "0:1", 2}}},
		},
		{
			// Any capture but a Linux cooked one: nothing to pair.
			name: "no capture point",
			seen: []sipSeen{{ev: invite, at: 0, dscp: 24}, {ev: invite, at: 20e-6, dscp: 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(Options{})
			observeSeen(t, e, tt.seen)
			a := e.Finish(simAt(10))
			if len(a.SIPCopies) != len(tt.want) {
				t.Fatalf("%d SIP copy flows, want %d: %s", len(a.SIPCopies), len(tt.want), describeSIPCopies(a.SIPCopies))
			}
			for i, c := range a.SIPCopies {
				w := tt.want[i]
				got := copies{c.Src.String(), c.Messages,
					side{c.Before.CapturePoint(), c.Before.DSCP.String(), c.Before.First.Frame},
					side{c.After.CapturePoint(), c.After.DSCP.String(), c.After.First.Frame}}
				if got != w || c.Dst.String() == c.Src.String() {
					t.Errorf("copies %d: %+v, want %+v", i, got, w)
				}
			}
			if n := len(e.sip.copies.pending); n != 0 {
				t.Errorf("%d messages still pending after Finish", n)
			}
		})
	}
}

// TestSIPCopiesBounded: a flood of SIP messages whose copies never come
// keeps at most MaxPendingSIPCopies waiting, and the queue no longer.
func TestSIPCopiesBounded(t *testing.T) {
	e := NewEngine(Options{})
	var seen []sipSeen
	for i := range MaxPendingSIPCopies + 500 {
		ev := sipReq(float64(i)*1e-6, sipAlice, sipProxy, "OPTIONS", fmt.Sprintf("z9hG4bK-%d", i), 1)
		seen = append(seen, sipSeen{ev: ev, at: ev.at, point: capturePoint{direction: decode.Arriving, ifindex: 2}, dscp: 24})
	}
	observeSeen(t, e, seen)
	s := &e.sip.copies
	if len(s.pending) > MaxPendingSIPCopies || len(s.queue)-s.head > MaxPendingSIPCopies+1 {
		t.Errorf("%d pending, %d queued; want at most %d", len(s.pending), len(s.queue)-s.head, MaxPendingSIPCopies)
	}
}

// withContact is ev with another Contact, as an ALG writes it.
func withContact(ev sipEvent, contact string) sipEvent {
	ev.spec.contact = contact
	return ev
}

func describeSIPCopies(cs []*SIPCopies) string {
	var out string
	for _, c := range cs {
		out += fmt.Sprintf("[%s → %s ×%d %s %s] ", c.Src, c.Dst, c.Messages, c.Before.CapturePoint(), c.After.CapturePoint())
	}
	return out
}
