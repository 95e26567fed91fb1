package capture

import (
	"fmt"
	"time"
)

// pcapng options written for live captures (draft-ietf-opsawg-pcapng,
// sections 4.2 and 4.6).
const (
	blockISB = 0x00000005 // interface statistics

	optIfName = 2 // if_name, UTF-8

	optISBStartTime = 2 // isb_starttime
	optISBEndTime   = 3 // isb_endtime
	optISBIfRecv    = 4 // isb_ifrecv
	optISBIfDrop    = 5 // isb_ifdrop
	optISBUsrDeliv  = 8 // isb_usrdeliv
)

// InterfaceDescription is what an interface description block tells.
type InterfaceDescription struct {
	Name     string // if_name; omitted when empty
	LinkType LinkType
	Snaplen  int // 0 means 262144
	// TSResol is the if_tsresol byte: 6 (or 0) for microseconds, 9 for
	// nanoseconds, 0x80|n for units of 2^-n seconds.
	TSResol uint8
}

// AddInterfaceDescription writes an interface description block with the
// interface's name and snaplen and returns the interface's index.
func (nw *PcapngWriter) AddInterfaceDescription(d InterfaceDescription) (int, error) {
	snap := d.Snaplen
	if snap <= 0 {
		snap = maxCapLen
	}
	if snap > maxCapLen {
		return 0, fmt.Errorf("capture: snaplen %d exceeds %d", snap, maxCapLen)
	}
	tsresol := d.TSResol
	if tsresol == 0 {
		tsresol = 6
	}
	body := make([]byte, 8, 32+len(d.Name))
	nw.order.PutUint16(body[0:], uint16(d.LinkType))
	nw.order.PutUint32(body[4:], uint32(snap))
	if d.Name != "" {
		if len(d.Name) > 0xffff-4 {
			return 0, fmt.Errorf("capture: interface name of %d bytes", len(d.Name))
		}
		body = nw.appendOption(body, optIfName, []byte(d.Name))
	}
	if tsresol != 6 {
		body = nw.appendOption(body, optTSResol, []byte{tsresol})
	}
	if len(body) > 8 {
		body = append(body, 0, 0, 0, 0) // opt_endofopt
	}
	if err := nw.writeBlock(blockIDB, body); err != nil {
		return 0, err
	}
	nw.ifaces = append(nw.ifaces, ngInterface{link: d.LinkType, snapLen: uint32(snap), pow2: tsresol&0x80 != 0, exp: tsresol & 0x7f})
	return len(nw.ifaces) - 1, nil
}

// InterfaceStatistics is what an interface statistics block tells.
type InterfaceStatistics struct {
	Time       time.Time // when the counters were read
	Start, End time.Time // isb_starttime, isb_endtime; omitted when zero
	// With HasCounters, Received, Dropped and Delivered are written as
	// isb_ifrecv, isb_ifdrop and isb_usrdeliv. Dropped holds the packets
	// the capturing system dropped, as dumpcap writes libpcap's ps_drop.
	HasCounters bool
	Received    uint64
	Dropped     uint64
	Delivered   uint64
}

// WriteStatistics writes an interface statistics block for interface
// iface, usually at the end of the capture.
func (nw *PcapngWriter) WriteStatistics(iface int, s InterfaceStatistics) error {
	if iface < 0 || iface >= len(nw.ifaces) {
		return fmt.Errorf("capture: interface %d not added", iface)
	}
	ifc := &nw.ifaces[iface]
	ts, err := ifc.units(s.Time)
	if err != nil {
		return err
	}
	body := make([]byte, 12, 80)
	nw.order.PutUint32(body[0:], uint32(iface))
	nw.order.PutUint32(body[4:], uint32(ts>>32))
	nw.order.PutUint32(body[8:], uint32(ts))
	for _, opt := range []struct {
		code uint16
		t    time.Time
	}{{optISBStartTime, s.Start}, {optISBEndTime, s.End}} {
		if opt.t.IsZero() {
			continue
		}
		u, err := ifc.units(opt.t)
		if err != nil {
			return err
		}
		// Two 32-bit halves, high first, as in an EPB (section 4.6).
		var v [8]byte
		nw.order.PutUint32(v[0:], uint32(u>>32))
		nw.order.PutUint32(v[4:], uint32(u))
		body = nw.appendOption(body, opt.code, v[:])
	}
	if s.HasCounters {
		for _, opt := range []struct {
			code uint16
			n    uint64
		}{{optISBIfRecv, s.Received}, {optISBIfDrop, s.Dropped}, {optISBUsrDeliv, s.Delivered}} {
			var v [8]byte
			nw.order.PutUint64(v[:], opt.n)
			body = nw.appendOption(body, opt.code, v[:])
		}
	}
	if len(body) > 12 {
		body = append(body, 0, 0, 0, 0) // opt_endofopt
	}
	return nw.writeBlock(blockISB, body)
}

// appendOption appends one option, padded to 32 bits.
func (nw *PcapngWriter) appendOption(body []byte, code uint16, val []byte) []byte {
	body = nw.order.AppendUint16(body, code)
	body = nw.order.AppendUint16(body, uint16(len(val)))
	body = append(body, val...)
	var pad [3]byte
	return append(body, pad[:(4-len(val)%4)%4]...)
}

// writePacket writes an enhanced packet block as WriteEPB does, building
// it in the writer's buffer so that a live capture's copy allocates
// nothing per packet.
func (nw *PcapngWriter) writePacket(iface int, t time.Time, data []byte, origLen int) error {
	ts, err := nw.packetTime(iface, t, len(data))
	if err != nil {
		return err
	}
	padded := (len(data) + 3) &^ 3
	length := uint32(blockOverhead + 20 + padded)
	b := nw.buf[:0]
	b = nw.order.AppendUint32(b, blockEPB)
	b = nw.order.AppendUint32(b, length)
	b = nw.order.AppendUint32(b, uint32(iface))
	b = nw.order.AppendUint32(b, uint32(ts>>32))
	b = nw.order.AppendUint32(b, uint32(ts))
	b = nw.order.AppendUint32(b, uint32(len(data)))
	b = nw.order.AppendUint32(b, uint32(max(origLen, len(data))))
	b = append(b, data...)
	var pad [3]byte
	b = append(b, pad[:padded-len(data)]...)
	b = nw.order.AppendUint32(b, length)
	nw.buf = b
	_, err = nw.w.Write(b)
	return err
}
