package sdp

// staticType is an RFC 3551 §6 static payload type.
type staticType struct {
	encoding string
	media    string // "audio" or "video"
	clock    uint32
	channels int
}

// staticTypes is RFC 3551 §6, Tables 4 and 5. G722 runs at 16 kHz but its
// RTP clock rate is 8000 (RFC 3551 §4.5.2, an error kept for
// compatibility). Unassigned and reserved numbers are absent.
var staticTypes = [...]staticType{
	0:  {"PCMU", "audio", 8000, 1},
	3:  {"GSM", "audio", 8000, 1},
	4:  {"G723", "audio", 8000, 1},
	5:  {"DVI4", "audio", 8000, 1},
	6:  {"DVI4", "audio", 16000, 1},
	7:  {"LPC", "audio", 8000, 1},
	8:  {"PCMA", "audio", 8000, 1},
	9:  {"G722", "audio", 8000, 1},
	10: {"L16", "audio", 44100, 2},
	11: {"L16", "audio", 44100, 1},
	12: {"QCELP", "audio", 8000, 1},
	13: {"CN", "audio", 8000, 1},
	14: {"MPA", "audio", 90000, 1},
	15: {"G728", "audio", 8000, 1},
	16: {"DVI4", "audio", 11025, 1},
	17: {"DVI4", "audio", 22050, 1},
	18: {"G729", "audio", 8000, 1},
	25: {"CelB", "video", 90000, 0},
	26: {"JPEG", "video", 90000, 0},
	28: {"nv", "video", 90000, 0},
	31: {"H261", "video", 90000, 0},
	32: {"MPV", "video", 90000, 0},
	33: {"MP2T", "video", 90000, 0}, // "AV" in RFC 3551: audio and video in one stream
	34: {"H263", "video", 90000, 0},
}

// StaticPayloadType gives the RFC 3551 static payload type pt: its
// encoding, clock rate and channels, and its media type ("audio" or
// "video"). ok is false for dynamic (96-127), unassigned and reserved
// numbers.
func StaticPayloadType(pt uint8) (RTPMap, string, bool) {
	if int(pt) >= len(staticTypes) || staticTypes[pt].encoding == "" {
		return RTPMap{}, "", false
	}
	t := staticTypes[pt]
	return RTPMap{Encoding: t.encoding, ClockRate: t.clock, Channels: t.channels}, t.media, true
}

// Codec gives what payload type pt carries in this m= section: its
// a=rtpmap, or else the static table (an rtpmap may rename a static type,
// and then it wins; RFC 8866 §6.6).
func (m *Media) Codec(pt uint8) (RTPMap, bool) {
	if rm, ok := m.RTPMap[pt]; ok {
		return rm, true
	}
	rm, _, ok := StaticPayloadType(pt)
	return rm, ok
}
