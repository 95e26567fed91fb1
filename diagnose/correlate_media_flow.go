package diagnose

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/callscope/callscope/decode"
)

// sortStreams orders streams by their first packet; streams promoted from
// the same frame keep the order they were made in.
func sortStreams(list []*streamState) {
	slices.SortStableFunc(list, func(a, b *streamState) int {
		if c := cmp.Compare(a.s.First.Frame, b.s.First.Frame); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
}

// mediaFlowKey groups streams into the flows the DSCP and port rules read.
// The class is part of the key: with BUNDLE (RFC 9143) audio and video
// share a 5-tuple yet should carry different marks.
type mediaFlowKey struct {
	src, dst   netip.AddrPort
	transport  decode.Transport
	class      string
	allocation *Allocation
}

// mediaFlows derives media Flows from the streams, in order of their first
// stream: one per 5-tuple and class ("audio", "video", or "" when neither
// SDP nor the static payload type table says), summing the streams' DSCP
// marks. They are derived at Finish rather than counted per packet so that
// the hot path updates one record, and so that flows hold only what proved
// to be RTP.
func mediaFlows(streams []*Stream) []*Flow {
	var flows []*Flow
	index := make(map[mediaFlowKey]*Flow)
	for _, s := range streams {
		key := mediaFlowKey{src: s.Src, dst: s.Dst, transport: s.Transport, class: s.MediaType, allocation: s.Allocation}
		f := index[key]
		if f == nil {
			f = &Flow{Src: s.Src, Dst: s.Dst, Transport: s.Transport, Class: s.MediaType,
				Allocation: s.Allocation, First: s.First, Last: s.Last}
			index[key] = f
			flows = append(flows, f)
		}
		f.Packets += s.Packets
		for i, n := range s.DSCP {
			f.DSCP[i] += n
		}
		if s.First.Frame < f.First.Frame {
			f.First = s.First
		}
		if s.Last.Frame > f.Last.Frame {
			f.Last = s.Last
		}
		f.Frames = append(f.Frames, s.FirstFrames...)
	}
	for _, f := range flows {
		slices.Sort(f.Frames)
		f.Frames = slices.Compact(f.Frames)
		if len(f.Frames) > MaxFramesPerFinding {
			f.Frames = slices.Clip(f.Frames[:MaxFramesPerFinding])
		}
	}
	return flows
}
