package capture

import (
	"encoding/binary"
	"io"
	"math/bits"
	"time"
)

// pcapng block types (draft-ietf-opsawg-pcapng, section 10.1).
const (
	blockSHB = 0x0A0D0D0A // section header
	blockIDB = 0x00000001 // interface description
	blockOPB = 0x00000002 // obsolete packet block (section 4.4 of old drafts)
	blockSPB = 0x00000003 // simple packet
	blockEPB = 0x00000006 // enhanced packet

	// Blocks that are records (frames) to Wireshark but not packets.
	blockJournal                 = 0x00000009 // systemd journal export
	blockSysdigEvent             = 0x00000204
	blockSysdigEventFlags        = 0x00000208
	blockSysdigEventV2           = 0x00000216
	blockSysdigEventFlagsV2      = 0x00000217
	blockSysdigEventV2Large      = 0x00000221
	blockSysdigEventFlagsV2Large = 0x00000222

	byteOrderMagic uint32 = 0x1A2B3C4D

	blockOverhead = 12 // type, total length, trailing total length
	optTSResol    = 9  // if_tsresol
	optTSOffset   = 14 // if_tsoffset
)

// ngInterface is what packet blocks need from an IDB.
type ngInterface struct {
	link    LinkType
	snapLen uint32
	// Timestamps count units of 10^-exp seconds, or 2^-exp when pow2
	// (if_tsresol, section 4.2); offset is if_tsoffset, seconds added to
	// every timestamp.
	pow2   bool
	exp    uint8
	offset int64
}

var pow10 = [20]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// time converts a 64-bit timestamp in the interface's units.
func (ifc *ngInterface) time(ts uint64) time.Time {
	var sec, nsec uint64
	k := uint(ifc.exp)
	switch {
	case ifc.pow2 && k == 0:
		sec = ts
	case ifc.pow2 && k < 64:
		sec = ts >> k
		hi, lo := bits.Mul64(ts&(1<<k-1), 1e9)
		nsec = hi<<(64-k) | lo>>k
	case ifc.pow2:
		hi, _ := bits.Mul64(ts, 1e9)
		nsec = hi >> (k - 64)
	case k < uint(len(pow10)):
		div := pow10[k]
		sec, nsec = ts/div, ts%div
		if k <= 9 {
			nsec *= pow10[9-k]
		} else {
			nsec /= pow10[k-9]
		}
	case k-9 < uint(len(pow10)):
		// Resolutions finer than 10^-19 s: 2^64 units are under a second.
		nsec = ts / pow10[k-9]
	}
	return time.Unix(int64(sec)+ifc.offset, int64(nsec))
}

// nextBlock reads blocks until a packet, which it leaves in r.rec; false
// ends the file.
func (r *Reader) nextBlock() bool {
	for {
		p, err := r.peek(blockOverhead)
		if len(p) < blockOverhead {
			r.short(len(p), blockOverhead, err, 0, "block header")
			return false
		}
		typ := r.order.Uint32(p)
		if typ == blockSHB {
			// Each section has its own byte order (section 4.1).
			switch byteOrderMagic {
			case binary.LittleEndian.Uint32(p[8:]):
				r.order = binary.LittleEndian
			case binary.BigEndian.Uint32(p[8:]):
				r.order = binary.BigEndian
			default:
				r.corrupted(0, "section header has byte-order magic % x", p[8:12])
				return false
			}
		}
		length := r.order.Uint32(p[4:])
		if length < blockOverhead || length%4 != 0 {
			r.corrupted(0, "block type %#x has total length %d", typ, length)
			return false
		}
		switch typ {
		case blockSHB:
			if !r.sectionHeader(length) {
				return false
			}
		case blockIDB:
			if !r.interfaceDescription(length) {
				return false
			}
		case blockEPB, blockOPB, blockSPB:
			return r.packetBlock(typ, length)
		case blockJournal, blockSysdigEvent, blockSysdigEventFlags, blockSysdigEventV2,
			blockSysdigEventFlagsV2, blockSysdigEventV2Large, blockSysdigEventFlagsV2Large:
			// Not packets, but Wireshark shows each as a frame: count
			// them so that frame numbers stay Wireshark's.
			if !r.skipBlock(typ, length) {
				return false
			}
			r.frame++
			r.files[len(r.files)-1].Packets++
		default:
			// Statistics, name resolution, secrets, custom blocks: nothing
			// a packet needs.
			if !r.skipBlock(typ, length) {
				return false
			}
		}
	}
}

func (r *Reader) sectionHeader(length uint32) bool {
	const fixed = blockOverhead + 16 // BOM, versions, section length
	if length < fixed {
		r.corrupted(0, "section header block of %d bytes", length)
		return false
	}
	p, err := r.peek(fixed)
	if len(p) < fixed {
		r.short(len(p), int(length), unexpectedEOF(err), 0, "section header block")
		return false
	}
	if major := r.order.Uint16(p[12:]); major != 1 {
		r.corrupted(0, "pcapng major version %d", major)
		return false
	}
	r.ifaces = r.ifaces[:0]
	return r.skipBlock(blockSHB, length)
}

func (r *Reader) interfaceDescription(length uint32) bool {
	if length < blockOverhead+8 || length > bufSize {
		r.corrupted(0, "interface description block of %d bytes", length)
		return false
	}
	n := int(length)
	p, err := r.peek(n)
	if len(p) < n {
		r.short(len(p), n, unexpectedEOF(err), 0, "interface description block")
		return false
	}
	if !r.trailerMatches(p, length) {
		return false
	}
	body := p[8 : n-4]
	ifc := ngInterface{
		link:    LinkType(r.order.Uint16(body)),
		snapLen: r.order.Uint32(body[4:]),
		exp:     6, // microseconds unless if_tsresol says otherwise
	}
	for opts := body[8:]; len(opts) >= 4; {
		code, olen := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == 0 {
			break
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			break // a malformed option list costs the options, not the interface
		}
		val := opts[4 : 4+olen]
		switch {
		case code == optTSResol && olen >= 1:
			ifc.pow2 = val[0]&0x80 != 0
			ifc.exp = val[0] & 0x7f
		case code == optTSOffset && olen == 8:
			ifc.offset = int64(r.order.Uint64(val))
		}
		opts = opts[4+padded:]
	}
	r.ifaces = append(r.ifaces, ifc)
	r.addLinkType(ifc.link)
	r.consume(n)
	return true
}

// packetBlock reads an EPB, OPB or SPB whole, trailer included, so that a
// packet cut short is not returned: Wireshark does not count it either.
func (r *Reader) packetBlock(typ, length uint32) bool {
	frame := r.frame + 1
	if length > bufSize {
		r.corrupted(frame, "packet block of %d bytes", length)
		return false
	}
	n := int(length)
	p, err := r.peek(n)
	if len(p) < n {
		r.short(len(p), n, unexpectedEOF(err), frame, recordName(frame))
		return false
	}
	if !r.trailerMatches(p, length) {
		return false
	}
	body := p[8 : n-4]
	var iface int
	var ts uint64
	var capLen, origLen uint32
	var data []byte
	switch typ {
	case blockEPB, blockOPB:
		if len(body) < 20 {
			r.corrupted(frame, "packet block of %d bytes", length)
			return false
		}
		if typ == blockEPB {
			iface = int(r.order.Uint32(body))
		} else {
			iface = int(r.order.Uint16(body)) // followed by a 16-bit drops count
		}
		ts = uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
		capLen = r.order.Uint32(body[12:])
		origLen = r.order.Uint32(body[16:])
		data = body[20:]
		if capLen > maxCapLen {
			r.corrupted(frame, "record %d claims %d captured bytes (limit %d)", frame, capLen, maxCapLen)
			return false
		}
		if int(capLen) > len(data) {
			r.corrupted(frame, "record %d claims %d captured bytes in a %d-byte block", frame, capLen, length)
			return false
		}
	case blockSPB:
		if len(body) < 4 {
			r.corrupted(frame, "simple packet block of %d bytes", length)
			return false
		}
		origLen = r.order.Uint32(body)
		data = body[4:]
	}
	if iface >= len(r.ifaces) {
		r.corrupted(frame, "record %d is on interface %d but %d interfaces are described", frame, iface, len(r.ifaces))
		return false
	}
	ifc := &r.ifaces[iface]
	if typ == blockSPB {
		// An SPB has no captured length: it is the packet length cut to
		// the snaplen of interface 0 (section 4.4), and the block holds
		// at most that much (plus padding).
		capLen = min(origLen, uint32(len(data)), maxCapLen)
		if ifc.snapLen != 0 {
			capLen = min(capLen, ifc.snapLen)
		}
		// SPBs carry no timestamp.
		r.rec.Time = time.Time{}
	} else {
		r.rec.Time = ifc.time(ts)
	}
	r.rec.LinkType = ifc.link
	r.rec.Interface = iface
	r.rec.Data = data[:capLen:capLen]
	r.rec.OrigLen = max(int(origLen), int(capLen))
	r.consume(n)
	return true
}

// trailerMatches checks the block's trailing total length against the
// leading one, as Wireshark does: a mismatch means the blocks are no longer
// aligned.
func (r *Reader) trailerMatches(p []byte, length uint32) bool {
	if trailer := r.order.Uint32(p[len(p)-4:]); trailer != length {
		r.corrupted(0, "block total length %d but trailing length %d", length, trailer)
		return false
	}
	return true
}

// skipBlock passes over a block of any size without buffering it whole.
func (r *Reader) skipBlock(typ, length uint32) bool {
	body := int64(length) - 4
	start := r.off
	n, err := r.discard(int(body))
	if int64(n) < body {
		r.off = start // the warning gives the block's offset; the file ends here
		r.short(n, int(length), unexpectedEOF(err), 0, blockName(typ))
		return false
	}
	p, err := r.peek(4)
	if len(p) < 4 {
		r.short(n+len(p), int(length), unexpectedEOF(err), 0, blockName(typ))
		return false
	}
	if !r.trailerMatches(p, length) {
		return false
	}
	r.consume(4)
	return true
}

func blockName(typ uint32) string {
	switch typ {
	case blockSHB:
		return "section header block"
	case 4:
		return "name resolution block"
	case 5:
		return "interface statistics block"
	}
	return "block"
}

// unexpectedEOF turns io.EOF inside a block into the truncation it is.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
