package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/klauspost/compress/gzip"
)

const (
	// maxCapLen is the largest captured length accepted for one packet: the
	// 262144-byte maximum snaplen of libpcap and Wireshark. A bigger record
	// means a corrupted (or hostile) file, never a real packet.
	maxCapLen = 262144

	// bufSize is the read buffer. Every packet record, header and block
	// included, must fit in it so that Record.Data can alias the buffer
	// instead of being copied; a pcapng packet block longer than this would
	// need over 768 KiB of options and is treated as corrupted.
	bufSize = 1 << 20

	// maxWarnings bounds the warnings kept: a badly broken input must not
	// grow memory with its size.
	maxWarnings = 100
)

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("capture: reader closed")

type format uint8

const (
	formatPcap format = iota + 1
	formatPcapNs
	formatPcapng
)

func (f format) String() string {
	switch f {
	case formatPcap:
		return "pcap"
	case formatPcapNs:
		return "pcap-ns"
	case formatPcapng:
		return "pcapng"
	}
	return "unknown"
}

// source is one input not yet being read. stream is nil for a named file,
// which is opened (again) only when its turn comes so that a long list of
// files does not hold a descriptor each; stdin and NewReader streams cannot
// be reopened and keep the stream that was sniffed.
type source struct {
	path    string
	stream  io.Reader
	format  format
	gzip    bool
	inflate *inflateAhead // the gzip stream's decompressing goroutine
}

// Reader reads packet records from one capture file, or from several
// merged into one capture by packet time (see Open). Next copies nothing
// and allocates nothing per packet: Record.Data points either into a
// read-only memory mapping of a file, or into a 1 MiB read buffer.
//
// Plain (uncompressed) regular files are mapped on Linux: reading them
// makes no read(2) call and no copy, and the kernel reads ahead. Every mapping stays until Close, so the
// Data of a record read from one stays valid and unchanged until Close,
// across later records and later files (StableData). The pages behind the
// reader are given back to the page cache as reading moves on, so a large
// file does not stay resident; a record touched again is faulted back in
// from the page cache. A file is mapped as far as its size when its turn
// comes; see start for a file that grows or shrinks while it is read.
//
// Compressed files, stdin, NewReader streams, pipes and other files that
// are not regular, files the system will not map, and every file on other
// systems are read through the buffer, where Data is valid only until the
// next call to Next.
//
// A record longer than the 256 KiB snaplen limit marks its file as
// corrupted instead of growing the buffer, whichever way the file is read.
// A Reader is not safe for concurrent use.
type Reader struct {
	pending []source

	br     *bufio.Reader
	closer io.Closer // the open file, if the Reader opened it
	active bool
	closed bool

	// mapped is the current file's mapping while Next reads from it (nil
	// when reading through br); r.off is the position in it. file is the
	// mapped file, kept open to see at the end of the mapping whether it
	// grew. released is the offset below which the pages have been given
	// back. mappings holds every mapping made, for Close to unmap.
	mapped   []byte
	file     *os.File
	released int64
	mappings [][]byte
	inflate  *inflateAhead // the current file's, when it is gzip
	noMmap   bool          // read files through the buffer only (tests)
	stable   bool          // the last record's Data is in a mapping

	path   string
	off    int64 // bytes consumed from the current (decompressed) stream
	format format
	order  binary.ByteOrder
	// bigEndian caches order == binary.BigEndian for pcap's per-record
	// reads (Reader.uint32).
	bigEndian bool

	pcapLink LinkType
	ifaces   []ngInterface // interfaces of the current pcapng section

	files      []FileInfo
	warnings   []Warning
	suppressed int

	frame uint64
	rec   Record

	// merge reads several files by packet time: see merge.go. The
	// Reader's own fields then hold the merged stream's frame counter,
	// record and warnings, and one Reader per open file does the reading.
	// (Last, so that the fields a single file's records use keep their
	// places.)
	merge *merger
	// mapOwner, for a file read for a merge, is the Reader that keeps its
	// mappings until Close.
	mapOwner *Reader
	// peeking reads a file only for its first record: gzip is inflated
	// without the goroutine that reads ahead.
	peeking bool
	// maxOpen overrides maxOpenFiles (tests).
	maxOpen int
}

// Open prepares to read the files as one capture; "-" is stdin, at most
// once. Each file is checked now: Open fails, naming the file, if one
// cannot be opened or does not start with a pcap or pcapng magic number
// (gzip is undone first).
//
// Several files are merged by packet time, as mergecap merges them by
// default, so that captures of the same moments from several places
// (both sides of a NAT, a phone and its SBC) interleave into the order
// the packets were seen in: at each step Next returns the earliest of the
// files' next records. A tie goes to the file given later, and a record
// without a time (pcapng simple packet block) goes first, as in mergecap
// (wiretap/merge.c), so frames are numbered as Wireshark numbers those
// of `mergecap -w merged.pcapng FILES...`. Records out of order inside a
// file stay in that file's order. Files that follow each other in time,
// such as a tcpdump -C/-W or dumpcap ring buffer given in order, come out
// concatenated, unless one starts at the very time the one before it
// ended (the tie goes to the later file there too). FileInfo describes
// each file as if read alone. A file cut short or corrupted ends with the
// warning it has when read alone, whose frame is the next frame number
// when the merge came to the damage, and the other files are read on; one
// with the same records as a file given before it is read in full with a
// warning (WarningOverlap).
//
// Files are opened one by one as the merge reaches them: Next first reads
// each file's first record (opening and closing it), then opens a file
// when the merge gets to its first packet and closes it at its end, so
// only files that overlap in time are open together. At most 32 can be:
// when a 33rd overlaps them, Next returns an error saying so, after the
// records before it (merge some of the files first, with mergecap). Stdin
// is read once, so it stays open from the first call to Next.
func Open(paths ...string) (*Reader, error) {
	if len(paths) == 0 {
		return nil, errors.New("capture: no input files")
	}
	r := &Reader{}
	stdin := false
	for _, p := range paths {
		if p == "-" {
			if stdin {
				return nil, errors.New("capture: stdin (-) given more than once")
			}
			stdin = true
			src, err := sniff(os.Stdin, "-", true)
			if err != nil {
				return nil, err
			}
			r.pending = append(r.pending, src)
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		src, err := sniff(f, p, true)
		f.Close()
		if err != nil {
			return nil, err
		}
		src.stream = nil
		r.pending = append(r.pending, src)
	}
	if len(r.pending) > 1 {
		r.merge = newMerger(r.pending)
		r.pending = nil
	}
	return r, nil
}

// NewReader reads one already-open stream; name stands for it in FileInfo
// and messages. It fails if the stream is not pcap or pcapng (after gzip).
func NewReader(rd io.Reader, name string) (*Reader, error) {
	src, err := sniff(rd, name, true)
	if err != nil {
		return nil, err
	}
	return &Reader{pending: []source{src}}, nil
}

// sniff reads the magic number, undoing gzip, and returns a stream that
// still starts at the first byte of the capture. A gzip stream is
// inflated in a goroutine of its own, ahead of the reader, if ahead.
func sniff(raw io.Reader, name string, ahead bool) (source, error) {
	src := source{path: name}
	var magic [4]byte
	n, err := io.ReadFull(raw, magic[:])
	if err != nil {
		if n == 0 && err == io.EOF {
			return src, fmt.Errorf("capture: %s: empty file", name)
		}
		if err == io.ErrUnexpectedEOF {
			return src, fmt.Errorf("capture: %s: %d bytes, too short for a capture file", name, n)
		}
		return src, fmt.Errorf("capture: %s: %w", name, err)
	}
	stream := io.MultiReader(bytes.NewReader(magic[:]), raw)
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(stream)
		if err != nil {
			return src, fmt.Errorf("capture: %s: %w", name, err) // "gzip: invalid header"
		}
		n, err := io.ReadFull(zr, magic[:])
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return src, fmt.Errorf("capture: %s: gzip content is %d bytes, too short for a capture file", name, n)
			}
			return src, fmt.Errorf("capture: %s: gzip: %w", name, err)
		}
		src.gzip = true
		var inflated io.Reader = zr
		if ahead {
			src.inflate = newInflateAhead(zr)
			inflated = src.inflate
		}
		stream = io.MultiReader(bytes.NewReader(magic[:]), inflated)
	}
	src.format = magicFormat(magic)
	if src.format == 0 {
		what := ""
		if src.gzip {
			what = " after gunzip"
		}
		return src, fmt.Errorf("capture: %s: not a pcap or pcapng file (magic % x at offset 0%s)", name, magic, what)
	}
	src.stream = stream
	return src, nil
}

// magicFormat is the format a file's first four bytes announce, 0 for none.
func magicFormat(magic [4]byte) format {
	switch binary.BigEndian.Uint32(magic[:]) {
	case 0xa1b2c3d4, 0xd4c3b2a1:
		return formatPcap
	case 0xa1b23c4d, 0x4d3cb2a1:
		return formatPcapNs
	case blockSHB:
		return formatPcapng
	}
	return 0
}

// Next returns the next packet record of the capture, or io.EOF after the
// last one. The Record is reused by the next call, and so is its Data
// unless StableData says otherwise. Problems in
// the input (truncation, corruption) end the file they are in with a
// Warning and reading goes on with the other files; the only other errors
// are ErrClosed and, merging files, too many files overlapping in time
// (see Open), which ends the capture.
func (r *Reader) Next() (*Record, error) {
	if r.closed {
		return nil, ErrClosed
	}
	for {
		if !r.active {
			if r.merge != nil {
				return r.merge.next(r)
			}
			if len(r.pending) == 0 {
				return nil, io.EOF
			}
			src := r.pending[0]
			r.pending[0] = source{}
			r.pending = r.pending[1:]
			r.start(src)
			continue
		}
		var ok bool
		if r.format == formatPcapng {
			ok = r.nextBlock()
		} else {
			ok = r.nextPcap()
		}
		if !ok {
			r.finish()
			continue
		}
		r.frame++
		r.rec.Frame = r.frame
		r.stable = r.mapped != nil
		if r.mapped != nil && r.off-r.released >= 2*releaseChunk {
			r.releaseBehind()
		}
		info := &r.files[len(r.files)-1]
		info.Packets++
		if t := r.rec.Time; !t.IsZero() {
			// Earliest and latest, as capinfos reports them: records
			// are not always in time order (several interfaces, clock
			// steps).
			if info.First.IsZero() || t.Before(info.First) {
				info.First = t
			}
			if info.Last.IsZero() || t.After(info.Last) {
				info.Last = t
			}
		}
		return &r.rec, nil
	}
}

// StableData reports whether the Data of the record Next last returned
// stays valid and unchanged until Close: true when it was read from a
// memory-mapped file, false when it is in the read buffer (compressed
// files, stdin, streams, non-regular files) and is overwritten by the next
// call to Next. It can change from one record to the next, in a capture of
// several files or when a mapped file grew while it was read. "Unchanged"
// assumes nobody rewrites the file in place while it is read: the mapping
// shows the file's current contents.
func (r *Reader) StableData() bool { return r.stable && !r.closed }

// start begins reading src; on failure it leaves a warning and the Reader
// inactive so that Next moves on.
//
// A named file is mapped if it can be: see mapFile. The mapping covers the
// file's size now (fstat), never more, because touching a page beyond the
// end of a file is a SIGBUS rather than an error. A capture still being
// written is read as the buffered path reads it, to wherever the file ends
// when reading gets there: at the end of the mapping the size is looked at
// again and, if the file grew, the rest is read through the buffer (see
// leaveMapping). What no check can prevent is a file truncated while it is
// mapped: touching the pages that were cut off kills the process with
// SIGBUS (the buffered path would see a short file instead), and so does
// an I/O error on a mapped page (the buffered path warns of a read error).
// Capture files are written by appending, so the first takes a deliberate
// truncation.
func (r *Reader) start(src source) {
	r.path = src.path
	if src.stream == nil {
		f, err := os.Open(src.path)
		if err != nil {
			r.warn(0, "cannot open: %v", err)
			return
		}
		if mapped, format := r.mapCapture(f); mapped != nil {
			r.closer, r.file, r.mapped, r.released = f, f, mapped, 0
			src.format, src.gzip = format, false
		} else {
			s, err := sniff(f, src.path, !r.peeking)
			if err != nil {
				f.Close()
				r.warn(0, "%v", err)
				return
			}
			src = s
			r.closer = f
		}
	}
	r.inflate = src.inflate
	if r.mapped == nil {
		if r.br == nil {
			r.br = bufio.NewReaderSize(src.stream, bufSize)
		} else {
			r.br.Reset(src.stream)
		}
	}
	r.active = true
	r.off = 0
	r.format = src.format
	r.ifaces = r.ifaces[:0]
	r.order, r.bigEndian = binary.LittleEndian, false
	name := src.format.String()
	if src.gzip {
		name += "+gzip"
	}
	r.files = append(r.files, FileInfo{Path: src.path, Format: name, LinkTypes: []LinkType{}})
	if src.format != formatPcapng && !r.pcapHeader() {
		r.finish()
	}
}

// mapCapture maps f if it is a plain pcap or pcapng file that can be
// mapped, and returns the mapping (nil otherwise) and the format. Anything
// else (compressed, not a capture, not regular, too short, mmap refused)
// is left to the buffered path, which also words the errors.
func (r *Reader) mapCapture(f *os.File) ([]byte, format) {
	if r.noMmap {
		return nil, 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < 4 {
		return nil, 0
	}
	data, err := mapFile(f, fi.Size())
	if err != nil {
		return nil, 0
	}
	format := magicFormat([4]byte(data))
	if format == 0 {
		// gzip or not a capture
		unmapFile(data)
		return nil, 0
	}
	owner := r
	if r.mapOwner != nil {
		owner = r.mapOwner
	}
	owner.mappings = append(owner.mappings, data)
	return data, format
}

// leaveMapping is called when reading needs bytes beyond the end of the
// mapping. If the file has grown since it was mapped, reading goes on
// through the buffer from the same offset, which then reads up to the
// file's end as the buffered path does; the mapping stays, for the Data
// already returned. It reports whether it switched.
func (r *Reader) leaveMapping() bool {
	fi, err := r.file.Stat()
	if err != nil || fi.Size() <= int64(len(r.mapped)) {
		return false
	}
	if _, err := r.file.Seek(r.off, io.SeekStart); err != nil {
		return false
	}
	if r.br == nil {
		r.br = bufio.NewReaderSize(r.file, bufSize)
	} else {
		r.br.Reset(r.file)
	}
	r.releaseAll()
	r.mapped = nil
	return true
}

// releaseChunk is how far reading gets ahead of the pages it gives back,
// and how much it gives back at a time: records that far behind are long
// done with unless the caller kept them, and they still work if it did.
// Reading the 473 MB bench capture peaks at 470 MB resident without
// releasing, 14 MB with 2 MiB chunks (26 MB with 8 MiB, 10 MB through the
// buffer), for the same CPU time.
const releaseChunk = MappedReadBehind

// MappedReadBehind is how far behind the reading position the records of
// a mapped file stay resident. A consumer that holds on to records
// longer still reads them correctly, but they are faulted back in and
// stay resident.
const MappedReadBehind = 2 << 20

// releaseBehind gives back the pages of the current mapping more than
// releaseChunk behind the reading position. They stay in the page cache;
// their Data is still valid and is faulted back in if touched again. This
// keeps the resident memory of a mapped file bounded instead of growing to
// the file's size.
func (r *Reader) releaseBehind() {
	end := (r.off - releaseChunk) &^ (pageSize - 1)
	if end <= r.released {
		return
	}
	releasePages(r.mapped[r.released:end])
	r.released = end
}

// releaseAll gives back every page of the current mapping read so far.
func (r *Reader) releaseAll() {
	end := min(r.off&^(pageSize-1), int64(len(r.mapped)))
	if end > r.released {
		releasePages(r.mapped[r.released:end])
		r.released = end
	}
}

// finish ends the current file.
func (r *Reader) finish() {
	if r.mapped != nil {
		r.releaseAll()
		r.mapped = nil
	}
	r.file = nil
	if r.inflate != nil {
		r.inflate.stop()
		r.inflate = nil
	}
	if r.closer != nil {
		r.closer.Close()
		r.closer = nil
	}
	if r.br != nil {
		// Drop the stream (and the buffered bytes' owner) now rather
		// than at the next file.
		r.br.Reset(eofReader{})
	}
	r.active = false
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// addLinkType records a link type seen in a header of the current file.
func (r *Reader) addLinkType(lt LinkType) {
	info := &r.files[len(r.files)-1]
	if !slices.Contains(info.LinkTypes, lt) {
		info.LinkTypes = append(info.LinkTypes, lt)
	}
}

// warnKind records a warning of a Kind other than a read problem.
func (r *Reader) warnKind(kind string, frame uint64, format string, args ...any) {
	if len(r.warnings) >= maxWarnings {
		r.suppressed++ // without formatting a message that is dropped
		return
	}
	r.addWarning(Warning{Path: r.path, Frame: frame, Message: fmt.Sprintf(format, args...), Kind: kind})
}

// addWarning records w unless maxWarnings are kept already.
func (r *Reader) addWarning(w Warning) {
	if len(r.warnings) >= maxWarnings {
		r.suppressed++
		return
	}
	r.warnings = append(r.warnings, w)
}

// warn records a warning about the current file; frame is the record it is
// about, 0 for none.
func (r *Reader) warn(frame uint64, format string, args ...any) {
	r.warnKind("", frame, format, args...)
}

// short reports a read that returned fewer than want bytes of something
// (what, for example "record 7" or "interface description block") at the
// current offset. A clean end of stream before the first byte is no
// problem at all.
func (r *Reader) short(got, want int, err error, frame uint64, what string) {
	switch {
	case got == 0 && err == io.EOF:
	case got == 0 && err == io.ErrUnexpectedEOF:
		// Only the decompressor says this on a record boundary.
		r.warn(frame, "truncated: stream ends early, before %s (offset %d)", what, r.off)
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		r.warn(frame, "truncated: %s cut after %d of %d bytes (offset %d)", what, got, want, r.off)
	default:
		r.warn(frame, "read error at offset %d: %v", r.off, err)
	}
}

// corrupted reports a malformed header; the rest of the file is skipped
// because nothing after it can be trusted to be aligned on a record.
func (r *Reader) corrupted(frame uint64, format string, args ...any) {
	r.warn(frame, "corrupted at offset %d: %s; rest of file skipped", r.off, fmt.Sprintf(format, args...))
}

// peek returns the next n bytes without consuming them, or fewer and the
// reason (io.EOF at the end of the file). n is at most bufSize.
func (r *Reader) peek(n int) ([]byte, error) {
	if r.mapped == nil {
		return r.br.Peek(n)
	}
	if end := r.off + int64(n); end <= int64(len(r.mapped)) {
		return r.mapped[r.off:end], nil
	}
	if r.leaveMapping() {
		return r.br.Peek(n)
	}
	return r.mapped[r.off:], io.EOF
}

// discard consumes up to n bytes, fewer only at the end of the file or on
// a read error, and returns how many.
func (r *Reader) discard(n int) (int, error) {
	if r.mapped != nil {
		rest := int64(len(r.mapped)) - r.off
		if rest >= int64(n) || !r.leaveMapping() {
			d := int(min(rest, int64(n)))
			r.off += int64(d)
			if d < n {
				return d, io.EOF
			}
			return d, nil
		}
	}
	d, err := r.br.Discard(n)
	r.off += int64(d)
	return d, err
}

// consume discards n bytes already known to be there (peeked).
func (r *Reader) consume(n int) {
	if r.mapped == nil {
		r.br.Discard(n)
	}
	r.off += int64(n)
}

// Files describes the files read so far, in the order given; one still
// being read is complete only after Next has returned io.EOF.
func (r *Reader) Files() []FileInfo {
	if r.merge != nil {
		return r.merge.files()
	}
	return slices.Clone(r.files)
}

// Warnings returns the first warnings (at most 100), followed by one that
// counts the others if there were more.
func (r *Reader) Warnings() []Warning {
	w := slices.Clone(r.warnings)
	if r.suppressed > 0 {
		w = append(w, Warning{Message: fmt.Sprintf("%d more warnings not shown", r.suppressed)})
	}
	return w
}

// Close releases the open file and unmaps the files that were mapped:
// the Data of every record read from them becomes invalid, and touching it
// after Close is a fault that kills the process. Stdin is not closed.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.merge != nil {
		r.merge.close()
	}
	if r.inflate != nil {
		r.inflate.stop()
		r.inflate = nil
	}
	var err error
	if r.closer != nil {
		err = r.closer.Close()
		r.closer = nil
	}
	r.mapped, r.file = nil, nil
	for i, m := range r.mappings {
		unmapFile(m)
		r.mappings[i] = nil
	}
	r.mappings = nil
	r.active = false
	r.pending = nil
	return err
}
