// Package capture is where packet records come from. Open reads capture
// files: pcap (micro- and nanosecond, either byte order) and pcapng (several
// interfaces, per-interface link type and timestamp resolution; EPB, SPB and
// OPB), gzip-compressed or not, detected from the magic number rather than
// the file name. Several files form one capture, merged by packet time as
// mergecap merges them (see Open), whose frames are numbered 1, 2, ... as
// Wireshark numbers the frames of the merged file.
//
// OpenLive captures on network interfaces instead (Linux AF_PACKET with a
// TPACKET_V3 ring, no cgo; root or CAP_NET_RAW), with a kernel filter such
// as package bpf compiles, and can save what it captures as pcapng. Both
// give Records one at a time through Next, so that package diagnose
// analyzes files and live traffic alike.
package capture

import "time"

// LinkType is a LINKTYPE_ value from the tcpdump.org link-layer header types
// registry (the value stored in pcap and pcapng headers).
type LinkType uint16

const (
	LinkNull     LinkType = 0 // BSD loopback, host byte order family
	LinkEthernet LinkType = 1
	LinkRaw      LinkType = 101 // raw IPv4 or IPv6
	LinkLoop     LinkType = 108 // OpenBSD loopback, network byte order family
	LinkLinuxSLL LinkType = 113
	LinkIPv4     LinkType = 228
	LinkIPv6     LinkType = 229
	LinkSLL2     LinkType = 276
)

// Record is one packet record. Data aliases the reader's memory and is
// read-only. It is valid only until the next call to Next, unless
// Reader.StableData reports true for the record: then it lies in a memory
// mapping of the file and stays valid and unchanged until Reader.Close
// (and no longer: touching it after Close is a fatal fault).
type Record struct {
	Frame     uint64    // 1-based, counting every packet record of every file read so far
	Time      time.Time // zero for a pcapng simple packet block, which has no timestamp
	LinkType  LinkType
	Interface int    // pcapng interface index; 0 for pcap
	Data      []byte // the captured bytes (CapLen of them)
	OrigLen   int    // the packet's length on the wire; > len(Data) when cut by the snaplen
}

// FileInfo summarizes one input file, for reports.
type FileInfo struct {
	Path      string     `json:"path"`
	Format    string     `json:"format"` // "pcap", "pcap-ns", "pcapng"; "+gzip" appended when compressed
	LinkTypes []LinkType `json:"link_types"`
	Packets   uint64     `json:"packets"` // records, as capinfos counts them (pcapng event and journal blocks too)
	First     time.Time  `json:"first"`
	Last      time.Time  `json:"last"`
}

// Warning is something wrong with the input that did not stop reading:
// a truncated last record, an unknown block, a snaplen-cut packet.
type Warning struct {
	Path    string `json:"path"`
	Frame   uint64 `json:"frame,omitempty"`
	Message string `json:"message"`
	// Kind is "" for a problem reading the input (truncation, corruption:
	// part of it could not be read), or WarningOverlap. Only the former
	// make the report partial; see ReadProblem.
	Kind string `json:"kind,omitempty"`
}

// WarningOverlap is the Kind of a warning that a file repeats one given
// before it (the same file given twice, or a copy): every record was read,
// and each of its packets counts twice. Files that merely overlap in time
// are merged without a warning.
const WarningOverlap = "overlap"

// ReadProblem says whether the warning means part of the input could not
// be read, so that an analysis of it is partial.
func (w Warning) ReadProblem() bool { return w.Kind != WarningOverlap }
