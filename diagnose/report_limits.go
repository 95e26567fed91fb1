package diagnose

import "strings"

// limits prints what the analysis left out to keep its memory bounded
// (Options.MaxCalls and the other Max limits, MaxICESessions,
// MaxTLSConnections): the report is then partial, and a reader must know
// it before trusting a count or the absence of a finding. A capture from a
// busy SBC holds more calls in a minute than MaxCalls.
func (t *textWriter) limits(st StatsReport) {
	var parts []string
	add := func(n uint64, one, many string) {
		if n > 0 {
			parts = append(parts, count(n, one, many))
		}
	}
	add(uint64(st.DroppedCalls), "call", "calls")
	add(uint64(st.DroppedSIPTransactions), "SIP transaction", "SIP transactions")
	add(uint64(st.DroppedRegistrations), "registration", "registrations")
	add(uint64(st.DroppedTransactions), "STUN transaction", "STUN transactions")
	add(uint64(st.DroppedAllocations), "TURN allocation", "TURN allocations")
	add(uint64(st.DroppedStreams), "RTP stream", "RTP streams")
	add(st.UntrackedRTPPackets, "RTP packet of untracked streams", "RTP packets of untracked streams")
	add(uint64(st.DroppedICESessions), "ICE session", "ICE sessions")
	add(uint64(st.DroppedTLSConnections), "TLS connection", "TLS connections")
	if len(parts) == 0 {
		return
	}
	t.printf("  %s left out at the analysis's memory limits: %s\n",
		t.s.warn.Sprint("partial report,"), strings.Join(parts, " · "))
}
