package rules

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
)

// toStaleBindingScan is what nat.binding-expired did for each rebinding.
func toStaleBindingScan(a *diagnose.Analysis, old netip.AddrPort, since time.Time) ([]*diagnose.SIPTransaction, []*diagnose.ICMPEvent) {
	old = unmapped(old)
	var txs []*diagnose.SIPTransaction
	for _, t := range a.SIPTransactions {
		if t == nil || t.Transport != decode.UDP || unmapped(t.Server) != old || len(t.Requests) == 0 || len(t.Responses) > 0 {
			continue
		}
		if t.Requests[0].Time.After(since) {
			txs = append(txs, t)
		}
	}
	var icmp []*diagnose.ICMPEvent
	for _, e := range a.ICMPErrors {
		if e != nil && e.Transport == decode.UDP && unmapped(e.Flow[1]) == old && e.Time.After(since) {
			icmp = append(icmp, e)
		}
	}
	return txs, icmp
}

// maybeMapped is ap, or now and then its IPv4-mapped IPv6 form.
func maybeMapped(r *rand.Rand, ap netip.AddrPort) netip.AddrPort {
	if r.IntN(4) == 0 {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return ap
}

func TestStaleBindingIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range indexTrials {
		a := &diagnose.Analysis{}
		for range r.IntN(16) {
			tx := randomSIPTransaction(r)
			if tx != nil {
				tx.Server = maybeMapped(r, tx.Server)
			}
			a.SIPTransactions = append(a.SIPTransactions, tx)
		}
		for range r.IntN(8) {
			if r.IntN(8) == 0 {
				a.ICMPErrors = append(a.ICMPErrors, nil)
				continue
			}
			a.ICMPErrors = append(a.ICMPErrors, &diagnose.ICMPEvent{
				FrameRef:  diagnose.FrameRef{Frame: uint64(r.IntN(50)), Time: sometime(r)},
				Flow:      [2]netip.AddrPort{few(r, 5060), maybeMapped(r, few(r, 5070))},
				Transport: oneOf(r, decode.UDP, decode.UDP, decode.TCP),
			})
		}
		if r.IntN(4) == 0 && len(a.SIPTransactions) > 0 {
			a.SIPTransactions = append(a.SIPTransactions, a.SIPTransactions[r.IntN(len(a.SIPTransactions))]) // listed twice
		}
		if r.IntN(4) == 0 && len(a.ICMPErrors) > 0 {
			a.ICMPErrors = append(a.ICMPErrors, a.ICMPErrors[r.IntN(len(a.ICMPErrors))])
		}
		ix := newStaleBindingIndex(a)
		for range 8 {
			old, since := maybeMapped(r, few(r, 5070)), sometime(r)
			gotTxs, gotICMP := ix.toStaleBinding(old, since)
			wantTxs, wantICMP := toStaleBindingScan(a, old, since)
			if !slices.Equal(gotTxs, wantTxs) || (gotTxs == nil) != (wantTxs == nil) ||
				!slices.Equal(gotICMP, wantICMP) || (gotICMP == nil) != (wantICMP == nil) {
				t.Fatalf("trial %d, %s since %s: %v and %v, the scan says %v and %v", trial, old, since, gotTxs, gotICMP, wantTxs, wantICMP)
			}
		}
	}
}

// twinScan is what dscp.missing did for each stream failing its mark:
// every stream of the same SSRC, in Analysis order.
func twinScan(streams []*diagnose.Stream, s *diagnose.Stream, want int) *diagnose.Stream {
	for _, t := range streams {
		if t == nil || t.SSRC != s.SSRC {
			continue
		}
		switch {
		case t == s, t.Src == s.Src && t.Dst == s.Dst && t.Transport == s.Transport && !seenApart(t, s),
			t.Src == s.Dst && t.Dst == s.Src, // the other direction
			t.PayloadType != s.PayloadType, t.FirstSeq != s.FirstSeq, t.FirstTimestamp != s.FirstTimestamp:
			continue
		}
		gap := s.First.Time.Sub(t.First.Time)
		if gap < 0 || gap > maxTwinGap || (gap == 0 && t.First.Frame > s.First.Frame) {
			continue
		}
		if n := t.DSCP.Total(); n == 0 || t.DSCP.Packets(want) != n {
			continue
		}
		return t
	}
	return nil
}

// randomCopy is a stream whose few header values, endpoints, marks and
// first times (around maxTwinGap apart) collide often.
func randomCopy(r *rand.Rand) *diagnose.Stream {
	if r.IntN(10) == 0 {
		return nil
	}
	ms := time.Millisecond
	s := &diagnose.Stream{
		Src: few(r, 4000), Dst: few(r, 4000), Transport: oneOf(r, decode.UDP, decode.UDP, decode.TCP),
		SSRC: uint32(r.IntN(2)), PayloadType: uint8(r.IntN(2)), FirstSeq: uint16(r.IntN(2)), FirstTimestamp: uint32(r.IntN(2)),
		Direction: oneOf(r, decode.DirectionUnknown, decode.DirectionUnknown, decode.Arriving, decode.Leaving),
		Interface: uint32(r.IntN(2)),
		First: diagnose.FrameRef{Frame: uint64(r.IntN(6)),
			Time: oneOf(r, time.Time{}, t0, t0.Add(ms), t0.Add(5*ms), t0.Add(maxTwinGap), t0.Add(maxTwinGap+ms), t0.Add(maxTwinGap+time.Nanosecond), t0.Add(20*ms))},
	}
	switch r.IntN(5) {
	case 0: // no packets counted
	case 1:
		s.DSCP.Add(46, uint64(1+r.IntN(3)))
		s.DSCP.Add(0, uint64(1+r.IntN(3)))
	case 2:
		s.DSCP.Add(0, 5)
	default:
		s.DSCP.Add(oneOf(r, 46, 34), uint64(1+r.IntN(3)))
	}
	return s
}

func TestTwinIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range indexTrials {
		var streams []*diagnose.Stream
		for range r.IntN(20) {
			streams = append(streams, randomCopy(r))
		}
		for range r.IntN(3) {
			if len(streams) > 0 {
				streams = append(streams, streams[r.IntN(len(streams))]) // listed twice
			}
		}
		tw := newTwinIndex(streams)
		for i, s := range streams {
			if s == nil {
				continue
			}
			for _, want := range []int{0, 34, 46} {
				if got, want := tw.twin(s, want), twinScan(streams, s, want); got != want {
					t.Fatalf("trial %d, stream %d: copy %+v, the scan says %+v", trial, i, got, want)
				}
			}
		}
	}
}

// TestTwinTies: of the copies first seen at the same time, the first
// listed is the one named, however they sort by time.
func TestTwinTies(t *testing.T) {
	out := rtpStream("198.51.100.7:7000", "203.0.113.9:9000", 1, 100, 1, 10)
	out.DSCP = diagnose.DSCPCounts{}
	out.DSCP.Add(0, 10)
	streams := []*diagnose.Stream{out}
	for i := range 50 {
		in := rtpStream("192.168.1."+strconv.Itoa(i+1)+":6000", "203.0.113.9:9000", 1, uint64(50-i%5), 1-float64(i%5)/1000, 10)
		streams = append(streams, in)
	}
	if got, want := newTwinIndex(streams).twin(out, 46), twinScan(streams, out, 46); got != want || got != streams[1] {
		t.Fatalf("copy %v, the scan says %v", got.Src, want.Src)
	}
}

// rebindingsAmongManyTransactions is 5,000 phones behind NATs that each
// re-registered from a new public port after a minute's silence, the
// registrar's INVITE to each old port unanswered and drawing an ICMP
// error, among diagnose.MaxSIPTransactions transactions: the others
// OPTIONS pings the registrar's SBC sent elsewhere, unanswered too.
func rebindingsAmongManyTransactions() *diagnose.Analysis {
	const phones = 5_000
	reg := netip.MustParseAddrPort("203.0.113.5:5060")
	a := &diagnose.Analysis{Captures: []capture.FileInfo{capture0(3600)}}
	frame := uint64(1)
	register := func(i int, port uint16, cseq uint32, sec float64) *diagnose.Registration {
		tx := sipAt("REGISTER", "reg"+strconv.Itoa(i), publicAt(i, port), reg, frame, sec)
		tx.CSeq, tx.Branch = cseq, tx.Branch+strconv.Itoa(int(cseq))
		tx.ViaSentBy, tx.Expires = "192.168.1.10:5060", 60
		respond(tx, 200, "OK", frame+1, sec+0.05)
		frame += 2
		a.SIPTransactions = append(a.SIPTransactions, tx)
		return &diagnose.Registration{AOR: "sip:phone" + strconv.Itoa(i) + "@example.org", Client: tx.Client, Registrar: reg,
			Transport: decode.UDP, Transactions: []*diagnose.SIPTransaction{tx}, Outcome: "registered", FinalStatus: 200, Expires: 60,
			First: tx.Requests[0], Last: tx.Responses[0].FrameRef}
	}
	for i := range phones {
		sec := float64(i) / 10
		a.Registrations = append(a.Registrations, register(i, 40000, 1, sec), register(i, 40001, 2, sec+60))
		inv := sipAt("INVITE", "in"+strconv.Itoa(i), reg, publicAt(i, 40000), frame, sec+30)
		a.SIPTransactions = append(a.SIPTransactions, inv)
		a.ICMPErrors = append(a.ICMPErrors, &diagnose.ICMPEvent{FrameRef: sipRef(frame+1, sec+30.001), From: publicAt(i, 0).Addr(),
			Description: "port unreachable", Flow: [2]netip.AddrPort{reg, publicAt(i, 40000)}, Transport: decode.UDP})
		frame += 2
	}
	for i := 0; len(a.SIPTransactions) < diagnose.MaxSIPTransactions; i++ {
		a.SIPTransactions = append(a.SIPTransactions, sipAt("OPTIONS", "ping"+strconv.Itoa(i), reg, hostAt(i, 5060), frame, float64(i)/100))
		frame++
	}
	return a
}

// sippReplays is diagnose.MaxStreams unmarked audio streams, each a flow
// of its own, that all carry one RTP capture replayed by SIPp: one SSRC,
// payload type, first sequence number and timestamp. With inside, every
// other stream is instead the call before seen before the box that
// clears its mark, marked EF.
func sippReplays(inside bool) *diagnose.Analysis {
	a := &diagnose.Analysis{}
	for i := range diagnose.MaxStreams {
		sec := float64(i/2) / 50
		src := hostAt(i, 6000)
		mark := 0
		if inside && i%2 == 1 {
			src, mark = publicAt(i-1, 6000), 46 // the inside leg of the call before
			sec -= 0.001
		}
		s := rtpStream(src.String(), "198.51.100.7:7000", 0x5150, uint64(i+1), sec, 100)
		s.Dst = publicAt(i/2, 7000)
		s.FirstSeq, s.FirstTimestamp = 1, 160
		s.DSCP = diagnose.DSCPCounts{}
		s.DSCP.Add(mark, 100)
		a.Streams = append(a.Streams, s)
		f := &diagnose.Flow{Src: s.Src, Dst: s.Dst, Transport: decode.UDP, Class: "audio", First: s.First, Last: s.Last}
		f.DSCP.Add(mark, 100)
		a.Flows = append(a.Flows, f)
	}
	return a
}

func init() {
	p, err := LoadProfile("default")
	if err != nil {
		panic(err)
	}
	scaleCases = append(scaleCases,
		// Every SIP transaction and ICMP error per rebinding (toStaleBinding): 43 s, now 0.29 s.
		scaleCase{"nat-binding-expired-rebindings", rebindingsAmongManyTransactions, []diagnose.Rule{NATBindingExpired{}}},
		// Every stream of the SSRC per unmarked stream (twin): 19.7 s, now 0.25 s.
		scaleCase{"dscp-missing-sipp-replays", func() *diagnose.Analysis { return sippReplays(false) }, []diagnose.Rule{DSCPMissing{Profile: p}}},
		// The same up to each stream's copy, half the streams: 3.9 s, now 0.28 s.
		scaleCase{"dscp-missing-remarked-copies", func() *diagnose.Analysis { return sippReplays(true) }, []diagnose.Rule{DSCPMissing{Profile: p}}},
	)
}
