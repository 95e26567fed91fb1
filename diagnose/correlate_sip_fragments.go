package diagnose

import "github.com/callscope/callscope/decode"

// SIPFragments records the sends of a SIP message over UDP that came in IP
// fragments the decoder reassembled: every fragment of those sends reached
// the capture point. A request larger than the path MTU is fragmented by
// its sender, and firewalls, NATs and load balancers that drop fragments
// lose it whole (RFC 3261 §18.1.1 moves requests above 1300 bytes to TCP).
// Sends whose fragments did not all arrive are not messages at all: the
// decoder counts them in decode.Stats.FragmentLoss.
type SIPFragments struct {
	Sends     int      // sends reassembled from fragments
	Fragments int      // the most fragments one of them came in
	Count     int      // their fragments in all
	Frames    []uint64 // their fragments' frames, the first MaxFramesPerFinding
}

// sipRequestSent records the size of a request and the fragments of a
// send that came in them.
func sipRequestSent(tx *SIPTransaction, m *decode.Message) {
	sipSent(&tx.Size, &tx.Fragmented, m)
}

// sipResponseSent does the same for a response.
func sipResponseSent(r *SIPResponse, m *decode.Message) {
	sipSent(&r.Size, &r.Fragmented, m)
}

func sipSent(size *int, frags **SIPFragments, m *decode.Message) {
	if *size == 0 {
		*size = len(m.Payload)
	}
	f := m.Fragments
	if f == nil {
		return
	}
	if *frags == nil {
		*frags = &SIPFragments{}
	}
	tf := *frags
	tf.Sends++
	tf.Fragments = max(tf.Fragments, f.Count)
	tf.Count += f.Count
	for _, fr := range f.Frames {
		if len(tf.Frames) < MaxFramesPerFinding {
			tf.Frames = append(tf.Frames, fr)
		}
	}
}
