package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// PcapWriter writes a classic little-endian pcap file; it exists so tests and
// benchmarks can synthesize captures.
type PcapWriter struct {
	w     io.Writer
	order byteOrder
	nanos bool
	buf   []byte
}

// NewPcapWriter writes the file header: link type link, snaplen 262144,
// nanosecond timestamps if nanos.
func NewPcapWriter(w io.Writer, link LinkType, nanos bool) (*PcapWriter, error) {
	return newPcapWriter(w, link, nanos, binary.LittleEndian)
}

func newPcapWriter(w io.Writer, link LinkType, nanos bool, order byteOrder) (*PcapWriter, error) {
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	h := make([]byte, pcapFileHeaderLen)
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], maxCapLen)
	order.PutUint32(h[20:], uint32(link))
	if _, err := w.Write(h); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w, order: order, nanos: nanos}, nil
}

// WritePacket writes one record; origLen below len(data) means len(data).
func (pw *PcapWriter) WritePacket(t time.Time, data []byte, origLen int) error {
	if len(data) > maxCapLen {
		return fmt.Errorf("capture: %d-byte packet exceeds the %d-byte snaplen", len(data), maxCapLen)
	}
	frac := uint32(t.Nanosecond())
	if !pw.nanos {
		frac /= 1000
	}
	pw.buf = append(pw.buf[:0], make([]byte, pcapRecordHeaderLen)...)
	pw.order.PutUint32(pw.buf[0:], uint32(t.Unix()))
	pw.order.PutUint32(pw.buf[4:], frac)
	pw.order.PutUint32(pw.buf[8:], uint32(len(data)))
	pw.order.PutUint32(pw.buf[12:], uint32(max(origLen, len(data))))
	pw.buf = append(pw.buf, data...)
	_, err := pw.w.Write(pw.buf)
	return err
}

// PcapngWriter writes a minimal little-endian pcapng file: one section,
// interfaces with a timestamp resolution, enhanced packet blocks.
type PcapngWriter struct {
	w      io.Writer
	order  byteOrder
	ifaces []ngInterface
	buf    []byte
}

// NewPcapngWriter writes the section header block.
func NewPcapngWriter(w io.Writer) (*PcapngWriter, error) {
	return newPcapngWriter(w, binary.LittleEndian)
}

func newPcapngWriter(w io.Writer, order byteOrder) (*PcapngWriter, error) {
	nw := &PcapngWriter{w: w, order: order}
	body := make([]byte, 16)
	order.PutUint32(body[0:], byteOrderMagic)
	order.PutUint16(body[4:], 1)
	order.PutUint64(body[8:], ^uint64(0)) // section length not given
	return nw, nw.writeBlock(blockSHB, body)
}

// AddInterface writes an interface description block and returns the
// interface's index. tsresol is the if_tsresol byte: 6 for microseconds,
// 9 for nanoseconds, 0x80|n for units of 2^-n seconds.
func (nw *PcapngWriter) AddInterface(link LinkType, tsresol uint8) (int, error) {
	body := make([]byte, 8, 20)
	nw.order.PutUint16(body[0:], uint16(link))
	nw.order.PutUint32(body[4:], maxCapLen)
	if tsresol != 6 {
		opt := make([]byte, 8)
		nw.order.PutUint16(opt[0:], optTSResol)
		nw.order.PutUint16(opt[2:], 1)
		opt[4] = tsresol
		body = append(body, opt...)
		body = append(body, 0, 0, 0, 0) // opt_endofopt
	}
	if err := nw.writeBlock(blockIDB, body); err != nil {
		return 0, err
	}
	nw.ifaces = append(nw.ifaces, ngInterface{link: link, snapLen: maxCapLen, pow2: tsresol&0x80 != 0, exp: tsresol & 0x7f})
	return len(nw.ifaces) - 1, nil
}

// WriteEPB writes an enhanced packet block; origLen below len(data) means
// len(data).
func (nw *PcapngWriter) WriteEPB(iface int, t time.Time, data []byte, origLen int) error {
	ts, err := nw.packetTime(iface, t, len(data))
	if err != nil {
		return err
	}
	body := make([]byte, 20, 20+len(data)+3)
	nw.order.PutUint32(body[0:], uint32(iface))
	nw.order.PutUint32(body[4:], uint32(ts>>32))
	nw.order.PutUint32(body[8:], uint32(ts))
	nw.order.PutUint32(body[12:], uint32(len(data)))
	nw.order.PutUint32(body[16:], uint32(max(origLen, len(data))))
	body = append(body, data...)
	return nw.writeBlock(blockEPB, body)
}

// writeBlock frames body (padded to 32 bits) as a block of type typ.
func (nw *PcapngWriter) writeBlock(typ uint32, body []byte) error {
	padded := (len(body) + 3) &^ 3
	length := uint32(padded + blockOverhead)
	nw.buf = nw.buf[:0]
	nw.buf = nw.order.AppendUint32(nw.buf, typ)
	nw.buf = nw.order.AppendUint32(nw.buf, length)
	nw.buf = append(nw.buf, body...)
	nw.buf = append(nw.buf, make([]byte, padded-len(body))...)
	nw.buf = nw.order.AppendUint32(nw.buf, length)
	_, err := nw.w.Write(nw.buf)
	return err
}

// packetTime checks that a packet of n bytes may be written on interface
// iface and returns its time in the interface's units.
func (nw *PcapngWriter) packetTime(iface int, t time.Time, n int) (uint64, error) {
	if iface < 0 || iface >= len(nw.ifaces) {
		return 0, fmt.Errorf("capture: interface %d not added", iface)
	}
	if n > maxCapLen {
		return 0, fmt.Errorf("capture: %d-byte packet exceeds the %d-byte snaplen", n, maxCapLen)
	}
	return nw.ifaces[iface].units(t)
}

// units converts t to the interface's timestamp units (if_tsoffset is
// not written, so it is taken as 0).
func (ifc *ngInterface) units(t time.Time) (uint64, error) {
	sec, nsec := t.Unix(), uint64(t.Nanosecond())
	if sec < 0 {
		return 0, errors.New("capture: time before 1970")
	}
	k := uint(ifc.exp)
	if ifc.pow2 {
		if k >= 32 {
			return 0, fmt.Errorf("capture: resolution 2^-%d not supported by the writer", k)
		}
		// nsec·2^k / 1e9 fits: nsec < 2^30 and k < 32.
		hi, lo := bits.Mul64(nsec, 1<<k)
		frac, _ := bits.Div64(hi, lo, 1e9)
		return uint64(sec)<<k + frac, nil
	}
	if k > 9 {
		if k > 12 {
			return 0, fmt.Errorf("capture: resolution 10^-%d not supported by the writer", k)
		}
		return uint64(sec)*pow10[k] + nsec*pow10[k-9], nil
	}
	return uint64(sec)*pow10[k] + nsec/pow10[9-k], nil
}
