package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"time"
)

// maxOpenFiles bounds the files a merge reads at the same time: each holds
// a descriptor and, unless it is mapped, a 1 MiB read buffer (and, for
// gzip, the 1 MiB its inflating goroutine reads ahead). Files that follow
// each other in time are open one at a time however many there are; this
// many overlapping at one moment is already far more than the taps along
// one network path.
const maxOpenFiles = 32

// mergeTimeLayout gives times in merge errors: UTC, to the microsecond
// that pcap files hold.
const mergeTimeLayout = "2006-01-02 15:04:05.000000 UTC"

type inputState uint8

const (
	inputPending inputState = iota // its first record's time is known; not open
	inputEmpty                     // no record at the first look: read when the files given before it are done
	inputOpen                      // being read; head is its next record
	inputDone
)

// mergeInput is one file of a merge.
type mergeInput struct {
	index int // in the order given
	src   source
	state inputState
	sub   *Reader // reads the file while it is open
	head  *Record // the file's next record (sub's), while open

	// The time of head, or of the first record while pending, in the two
	// parts mergecap compares; noTime for a record without one.
	sec    int64
	nsec   int32
	noTime bool
	// skipped counts the frames just before head that are not packets
	// (pcapng event blocks): they are numbered with it, just before it.
	skipped uint64
	heapAt  int // position in merger.heap, -1 when not in it

	info    FileInfo // once done, if the file got as far as its header
	hasInfo bool

	// A file whose first record has the same time as another's may
	// repeat it: its records are hashed to tell at the end.
	digest bool
	hash   maphash.Hash
	sum    uint64
}

// merger reads several files as one capture in packet-time order; see
// Open. One Reader per open file (sub) does the reading and numbers its
// warnings from the merged stream's frame counter; the merger picks which
// file's next record comes next.
//
// A file is read on (its sub's Next called) only at the call to Next after
// the one that returned its record, so the Data of every record returned
// stays valid until the next call, as from a single file; records of a
// mapped file stay valid until Close.
type merger struct {
	inputs []*mergeInput
	heap   []*mergeInput // pending and open inputs, earliest next record first
	last   *mergeInput   // whose record Next returned last
	prefix int           // inputs[:prefix] are done
	open   int
	max    int

	started, ended bool
	err            error

	buffers []*bufio.Reader // read buffers of files done, for the next ones
	seed    maphash.Seed
}

func newMerger(srcs []source) *merger {
	m := &merger{max: maxOpenFiles, seed: maphash.MakeSeed()}
	for i, src := range srcs {
		m.inputs = append(m.inputs, &mergeInput{index: i, src: src, heapAt: -1})
	}
	return m
}

func (m *merger) next(r *Reader) (*Record, error) {
	if m.err != nil {
		return nil, m.err
	}
	if !m.started {
		m.begin(r)
	}
	if in := m.last; in != nil {
		m.last = nil
		m.advance(r, in)
	}
	for {
		m.takeTurns(r)
		if len(m.heap) == 0 {
			if !m.ended {
				m.ended = true
				m.warnRepeats(r)
			}
			return nil, io.EOF
		}
		in := m.heap[0]
		if in.state == inputPending {
			if m.open >= m.max {
				m.err = m.tooMany(in)
				return nil, m.err
			}
			// Its first record is the earliest now: it may come next.
			m.openInput(r, in)
			continue
		}
		r.frame += in.skipped + 1
		r.rec = *in.head
		r.rec.Frame = r.frame
		r.stable = in.sub.stable
		m.last = in
		return &r.rec, nil
	}
}

// begin reads the first record of every file, opening and closing them
// one at a time, to know when each must be opened. Stdin cannot be read
// twice: it is opened now and stays open.
func (m *merger) begin(r *Reader) {
	m.started = true
	if r.maxOpen > 0 {
		m.max = r.maxOpen
	}
	var peekBuf *bufio.Reader
	for _, in := range m.inputs {
		if in.src.stream != nil {
			m.openInput(r, in)
			continue
		}
		peek := &Reader{pending: []source{in.src}, noMmap: r.noMmap, peeking: true, br: peekBuf}
		if rec, err := peek.Next(); err == nil {
			in.setTime(rec.Time)
			in.state = inputPending
			m.push(in)
		} else {
			// Empty, damaged before its first record, or gone: what
			// is wrong is said when its turn comes (takeTurns).
			in.state = inputEmpty
		}
		peekBuf = peek.br
		peek.Close()
	}

	type firstTime struct {
		sec    int64
		nsec   int32
		noTime bool
	}
	firsts := make(map[firstTime]*mergeInput, len(m.heap))
	for _, in := range m.heap {
		k := firstTime{in.sec, in.nsec, in.noTime}
		if other := firsts[k]; other != nil {
			m.track(other)
			m.track(in)
		} else {
			firsts[k] = in
		}
	}
}

// track hashes the records of in, from its first, to tell at the end
// whether it repeats another file.
func (m *merger) track(in *mergeInput) {
	if in.digest {
		return
	}
	in.digest = true
	in.hash.SetSeed(m.seed)
	if in.state == inputOpen {
		in.addDigest(in.head)
	}
}

// openInput starts reading in and reads its first record.
func (m *merger) openInput(r *Reader, in *mergeInput) {
	sub := &Reader{pending: []source{in.src}, noMmap: r.noMmap, mapOwner: r}
	if n := len(m.buffers); n > 0 {
		sub.br = m.buffers[n-1]
		m.buffers[n-1] = nil
		m.buffers = m.buffers[:n-1]
	}
	in.src = source{path: in.src.path}
	in.sub = sub
	m.open++
	m.advance(r, in)
}

// advance reads in's next record, or finds the file's end.
func (m *merger) advance(r *Reader, in *mergeInput) {
	sub := in.sub
	// The file's warnings name the frame a damaged record would have
	// been: the next one.
	sub.frame = r.frame
	rec, err := sub.Next()
	if len(sub.warnings) > 0 || sub.suppressed > 0 {
		r.adopt(sub)
	}
	if err != nil {
		// io.EOF: the file's problems are warnings. Event blocks after
		// its last packet are numbered now.
		r.frame = sub.frame
		m.done(in)
		return
	}
	in.skipped = sub.frame - r.frame - 1
	in.head = rec
	in.setTime(rec.Time)
	if in.digest {
		in.addDigest(rec)
	}
	in.state = inputOpen
	if in.heapAt < 0 {
		m.push(in)
	} else {
		m.fix(in.heapAt)
	}
}

// done closes in at its end.
func (m *merger) done(in *mergeInput) {
	sub := in.sub
	if len(sub.files) > 0 {
		in.info, in.hasInfo = sub.files[0], true
	}
	if sub.br != nil {
		m.buffers = append(m.buffers, sub.br)
	}
	sub.Close() // its mappings are r's, kept until r.Close
	in.sub, in.head = nil, nil
	in.state = inputDone
	m.open--
	if in.heapAt >= 0 {
		m.remove(in)
	}
	if in.digest {
		in.sum = in.hash.Sum64()
	}
}

// takeTurns reads the files that had no record at the first look once
// every file given before them is done: where reading them one after the
// other would have, so that their warnings name the same frames. One that
// has records by now is merged from here.
func (m *merger) takeTurns(r *Reader) {
	for m.prefix < len(m.inputs) {
		switch in := m.inputs[m.prefix]; in.state {
		case inputDone:
			m.prefix++
		case inputEmpty:
			m.openInput(r, in)
		default:
			return
		}
	}
}

func (m *merger) tooMany(in *mergeInput) error {
	at := "the start"
	if !in.noTime {
		at = time.Unix(in.sec, int64(in.nsec)).UTC().Format(mergeTimeLayout)
	}
	return fmt.Errorf("capture: %s starts at %s, while %d other files being merged are still open: "+
		"at most %d files that overlap in time can be merged; merge some of them first (mergecap -w part.pcapng FILES...)",
		in.src.path, at, m.open, m.max)
}

// warnRepeats warns of each file with the same records as one given
// before it, which makes every packet in it count twice.
func (m *merger) warnRepeats(r *Reader) {
	for j, b := range m.inputs {
		if !b.digest || !b.hasInfo || b.info.Packets == 0 {
			continue
		}
		for _, a := range m.inputs[:j] {
			if !a.digest || !a.hasInfo || a.sum != b.sum || a.info.Packets != b.info.Packets ||
				!a.info.First.Equal(b.info.First) || !a.info.Last.Equal(b.info.Last) {
				continue
			}
			msg := fmt.Sprintf("repeats %s (the same %d packets): each is analyzed twice", a.info.Path, b.info.Packets)
			if a.info.Path == b.info.Path {
				msg = fmt.Sprintf("given twice: each of its %d packets is analyzed twice", b.info.Packets)
			}
			r.addWarning(Warning{Path: b.info.Path, Message: msg, Kind: WarningOverlap})
			break
		}
	}
}

// files is Reader.Files: the files opened so far, in the order given.
func (m *merger) files() []FileInfo {
	var out []FileInfo
	for _, in := range m.inputs {
		switch {
		case in.hasInfo:
			out = append(out, in.info)
		case in.sub != nil && len(in.sub.files) > 0:
			out = append(out, in.sub.files[0])
		}
	}
	return out
}

func (m *merger) close() {
	for _, in := range m.inputs {
		if in.sub != nil {
			in.sub.Close()
			in.sub, in.head = nil, nil
		}
	}
	m.heap, m.last = nil, nil
}

// adopt moves sub's warnings to r.
func (r *Reader) adopt(sub *Reader) {
	for _, w := range sub.warnings {
		r.addWarning(w)
	}
	r.suppressed += sub.suppressed
	clear(sub.warnings)
	sub.warnings, sub.suppressed = sub.warnings[:0], 0
}

func (in *mergeInput) setTime(t time.Time) {
	in.noTime = t.IsZero()
	in.sec, in.nsec = t.Unix(), int32(t.Nanosecond())
}

func (in *mergeInput) addDigest(rec *Record) {
	var h [22]byte
	binary.LittleEndian.PutUint64(h[0:], uint64(in.sec))
	binary.LittleEndian.PutUint32(h[8:], uint32(in.nsec))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(rec.Data)))
	binary.LittleEndian.PutUint32(h[16:], uint32(rec.OrigLen))
	binary.LittleEndian.PutUint16(h[20:], uint16(rec.LinkType))
	in.hash.Write(h[:])
	in.hash.Write(rec.Data)
}

// before reports whether a's next record comes before b's: mergecap's
// order (wiretap/merge.c, merge_read_packet). It scans the files in the
// order given for the earliest time, keeping a later file's record when
// its time is equal ("not later than"), so a tie goes to the file given
// later; a record without a time is taken at once, from the first file in
// order that has one.
func (a *mergeInput) before(b *mergeInput) bool {
	if a.noTime || b.noTime {
		return a.noTime && (!b.noTime || a.index < b.index)
	}
	if a.sec != b.sec {
		return a.sec < b.sec
	}
	if a.nsec != b.nsec {
		return a.nsec < b.nsec
	}
	return a.index > b.index
}

// The heap is container/heap's, without the interface calls.

func (m *merger) push(in *mergeInput) {
	in.heapAt = len(m.heap)
	m.heap = append(m.heap, in)
	m.up(in.heapAt)
}

func (m *merger) remove(in *mergeInput) {
	i, last := in.heapAt, len(m.heap)-1
	if i != last {
		m.swap(i, last)
	}
	m.heap[last] = nil
	m.heap = m.heap[:last]
	in.heapAt = -1
	if i != last {
		m.fix(i)
	}
}

func (m *merger) fix(i int) {
	if !m.down(i) {
		m.up(i)
	}
}

func (m *merger) swap(i, j int) {
	h := m.heap
	h[i], h[j] = h[j], h[i]
	h[i].heapAt, h[j].heapAt = i, j
}

func (m *merger) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !m.heap[j].before(m.heap[i]) {
			break
		}
		m.swap(i, j)
		j = i
	}
}

func (m *merger) down(i0 int) bool {
	h, i := m.heap, i0
	for {
		j := 2*i + 1
		if j >= len(h) {
			break
		}
		if j2 := j + 1; j2 < len(h) && h[j2].before(h[j]) {
			j = j2
		}
		if !h[j].before(h[i]) {
			break
		}
		m.swap(i, j)
		i = j
	}
	return i > i0
}
