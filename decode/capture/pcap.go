package capture

import (
	"encoding/binary"
	"io"
	"strconv"
	"time"
)

// Classic pcap: a 24-byte file header, then records of a 16-byte header and
// the captured bytes. The magic number's byte order is the file's byte order
// and tells micro- from nanosecond timestamps
// (draft-ietf-opsawg-pcap, sections 4 and 5).
const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
)

// pcapHeader reads the file header; false ends the file.
func (r *Reader) pcapHeader() bool {
	p, err := r.peek(pcapFileHeaderLen)
	if len(p) < pcapFileHeaderLen {
		if err == io.EOF {
			// The magic number was there, so even an empty rest is a cut.
			err = io.ErrUnexpectedEOF
		}
		r.short(len(p), pcapFileHeaderLen, err, 0, "file header")
		return false
	}
	if p[0] == 0xa1 {
		r.order = binary.BigEndian
	} else {
		r.order = binary.LittleEndian
	}
	r.bigEndian = r.order == binary.BigEndian
	// The upper bits of the link-type field carry FCS information
	// (section 5.8); the link type proper is the low 16 bits.
	r.pcapLink = LinkType(r.order.Uint32(p[20:]))
	r.addLinkType(r.pcapLink)
	r.consume(pcapFileHeaderLen)
	return true
}

// nextPcap reads one pcap record into r.rec; false ends the file.
func (r *Reader) nextPcap() bool {
	frame := r.frame + 1
	p, err := r.peek(pcapRecordHeaderLen)
	if len(p) < pcapRecordHeaderLen {
		r.short(len(p), pcapRecordHeaderLen, err, frame, recordName(frame))
		return false
	}
	capLen := r.uint32(p[8:])
	if capLen > maxCapLen {
		r.corrupted(frame, "record %d claims %d captured bytes (limit %d)", frame, capLen, maxCapLen)
		return false
	}
	n := pcapRecordHeaderLen + int(capLen)
	p, err = r.peek(n)
	if len(p) < n {
		r.short(len(p), n, err, frame, recordName(frame))
		return false
	}
	sec := r.uint32(p[0:])
	frac := int64(r.uint32(p[4:]))
	if r.format == formatPcap {
		frac *= 1000
	}
	// Seconds are unsigned: pcap files survive 2038.
	r.rec.Time = time.Unix(int64(sec), frac)
	r.rec.LinkType = r.pcapLink
	r.rec.Interface = 0
	r.rec.Data = p[pcapRecordHeaderLen:n:n]
	r.rec.OrigLen = max(int(r.uint32(p[12:])), int(capLen))
	r.consume(n)
	return true
}

func recordName(frame uint64) string { return "record " + strconv.FormatUint(frame, 10) }

// uint32 reads a field in the file's byte order. Most files are
// little-endian: reading that directly, not through the ByteOrder
// interface, lets the compiler inline it on the per-record path.
func (r *Reader) uint32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}
