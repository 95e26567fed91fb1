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
	// Sized for a flow per stream, as most are: growing the index and
	// rehashing it was most of the cost on captures of many calls.
	flows := make([]*Flow, 0, len(streams))
	streamsIn := make([]int, 0, len(streams)) // per flow
	index := make(map[mediaFlowKey]int, len(streams))
	for _, s := range streams {
		key := mediaFlowKey{src: s.Src, dst: s.Dst, transport: s.Transport, class: s.MediaType, allocation: s.Allocation}
		i, ok := index[key]
		if !ok {
			// A flow of one stream, most of them, shares that stream's
			// frames: clipped, so that a second stream's append copies.
			f := &Flow{Src: s.Src, Dst: s.Dst, Transport: s.Transport, Class: s.MediaType,
				Allocation: s.Allocation, Packets: s.Packets, First: s.First, Last: s.Last,
				Frames: slices.Clip(s.FirstFrames)}
			f.DSCP.AddAll(&s.DSCP)
			index[key] = len(flows)
			flows = append(flows, f)
			streamsIn = append(streamsIn, 1)
			continue
		}
		f := flows[i]
		streamsIn[i]++
		f.Packets += s.Packets
		f.DSCP.AddAll(&s.DSCP)
		if s.First.Frame < f.First.Frame {
			f.First = s.First
		}
		if s.Last.Frame > f.Last.Frame {
			f.Last = s.Last
		}
		f.Frames = append(f.Frames, s.FirstFrames...)
	}
	for i, f := range flows {
		if streamsIn[i] == 1 {
			if increasing(f.Frames) && len(f.Frames) <= MaxFramesPerFinding {
				continue
			}
			f.Frames = slices.Clone(f.Frames) // not the stream's to sort
		}
		slices.Sort(f.Frames)
		f.Frames = slices.Compact(f.Frames)
		// Exactly as long as what is kept: the streams' frames together
		// may have been several times that.
		f.Frames = slices.Clone(f.Frames[:min(len(f.Frames), MaxFramesPerFinding)])
	}
	return flows
}

// increasing says whether frames are sorted and hold no duplicate, as
// sorting and compacting would leave them.
func increasing(frames []uint64) bool {
	for i := 1; i < len(frames); i++ {
		if frames[i] <= frames[i-1] {
			return false
		}
	}
	return true
}
