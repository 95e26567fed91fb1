package diagnose

import (
	"bufio"
	"encoding/json"
	"io"
	"iter"
	"slices"
)

// WriteJSON writes the report as one indented JSON document. Field order
// follows the struct definitions, so output is stable for diffs; times are
// RFC 3339 in UTC with up to nanosecond precision.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// A hostile USERNAME should not turn into markup if a browser shows the
	// JSON, so HTML escaping stays on.
	return enc.Encode(r)
}

// ReportParts is a Report to be written piece by piece: Head is the
// report without its per-record arrays (allocations, bindings, calls,
// registrations, streams, ICE sessions, TLS connections), which the
// methods yield one record at a time, each built when it is asked for.
// Writers that need no random access over the records (JSON, JSON lines)
// use it instead of NewReport, so that a long capture's report is never
// in memory beside its Analysis.
type ReportParts struct {
	Head *Report
	a    *Analysis
	ix   reportIndexes
}

// NewReportParts is NewReport split: the records yielded, in order, are
// those of NewReport(a, findings, version).
func NewReportParts(a *Analysis, findings []Finding, version string) *ReportParts {
	if a == nil {
		a = &Analysis{}
	}
	return &ReportParts{Head: newReportHead(a, findings, version), a: a, ix: newReportIndexes(a)}
}

func (p *ReportParts) Allocations() iter.Seq[AllocationReport] { return allocationReports(p.a) }
func (p *ReportParts) Bindings() iter.Seq[BindingReport]       { return bindingReports(p.a) }
func (p *ReportParts) Calls() iter.Seq[CallReport]             { return callReports(p.a, p.ix.streams) }
func (p *ReportParts) Registrations() iter.Seq[RegistrationReport] {
	return registrationReports(p.a)
}
func (p *ReportParts) Streams() iter.Seq[StreamReport]         { return streamReports(p.a) }
func (p *ReportParts) ICESessions() iter.Seq[ICESessionReport] { return iceSessionReports(p.a, p.ix) }
func (p *ReportParts) TLSConnections() iter.Seq[TLSConnectionReport] {
	return tlsConnectionReports(p.a, p.ix)
}

// WriteJSONReport writes the same bytes as NewReport(a, findings,
// version).WriteJSON(w), building each allocation, call, stream, ICE
// session and TLS connection of the report only when it is written:
// neither the whole Report nor the whole document is ever in memory,
// which for a long capture are several times the Analysis itself.
func WriteJSONReport(w io.Writer, a *Analysis, findings []Finding, version string) error {
	p := NewReportParts(a, findings, version)
	head := p.Head
	jw := newJSONStream(w)
	// The order and omitempty of Report's fields, which
	// TestWriteJSONReportFieldsFollowReport holds to the struct.
	jw.begin()
	jw.field("tool", head.Tool)
	jw.field("captures", head.Captures)
	jw.field("warnings", head.Warnings)
	if len(head.CaptureDrops) > 0 {
		jw.field("capture_drops", head.CaptureDrops)
	}
	jw.field("stats", head.Stats)
	streamArray(jw, "allocations", p.Allocations())
	if hasBinding(p.a) {
		streamArray(jw, "bindings", p.Bindings())
	}
	streamArray(jw, "calls", p.Calls())
	streamArray(jw, "registrations", p.Registrations())
	streamArray(jw, "streams", p.Streams())
	streamArray(jw, "ice_sessions", p.ICESessions())
	streamArray(jw, "tls_connections", p.TLSConnections())
	streamArray(jw, "findings", slices.Values(head.Findings))
	return jw.end()
}

// hasBinding tells whether the report has binding flows: Report.Bindings
// is omitted when empty.
func hasBinding(a *Analysis) bool {
	for _, b := range a.Bindings {
		if b != nil {
			return true
		}
	}
	return false
}

// jsonStream writes a JSON object one field, or one array element, at a
// time, indented as json.Encoder with SetIndent("", "  ") indents the
// whole: a value at depth d is encoded with a prefix of d indents, which
// indents its inner lines, and its first line is placed by the caller.
type jsonStream struct {
	out    *bufio.Writer
	e      jsonAppender
	fields int
	err    error
}

const jsonIndent = "  "

func newJSONStream(w io.Writer) *jsonStream {
	return &jsonStream{out: bufio.NewWriterSize(w, 64<<10)}
}

func (jw *jsonStream) write(s string) {
	if jw.err == nil {
		_, jw.err = jw.out.WriteString(s)
	}
}

// value writes v encoded at depth d; records are given by pointer, so
// that those with an appender (report_json_append.go) skip reflection.
func (jw *jsonStream) value(d int, v any) {
	if jw.err != nil {
		return
	}
	if jw.err = jw.e.appendRecord(v, true, d); jw.err != nil {
		return
	}
	_, jw.err = jw.out.Write(jw.e.b)
}

func (jw *jsonStream) begin() { jw.write("{") }

// key starts the next field of the top-level object.
func (jw *jsonStream) key(name string) {
	if jw.fields > 0 {
		jw.write(",")
	}
	jw.fields++
	jw.write("\n" + jsonIndent + `"` + name + `": `)
}

func (jw *jsonStream) field(name string, v any) {
	jw.key(name)
	jw.value(1, v)
}

// streamArray writes the field name with the elements seq yields, as
// json encodes a non-nil slice of them. The records are built ahead on
// another goroutine (BuildAhead) while these are encoded.
func streamArray[T any](jw *jsonStream, name string, seq iter.Seq[T]) {
	jw.key(name)
	n := 0
	for batch := range BuildAhead(seq) {
		for i := range batch {
			if jw.err != nil {
				return
			}
			if n == 0 {
				jw.write("[")
			} else {
				jw.write(",")
			}
			jw.write("\n" + jsonIndent + jsonIndent)
			jw.value(2, &batch[i])
			n++
		}
	}
	if n == 0 {
		jw.write("[]")
	} else {
		jw.write("\n" + jsonIndent + "]")
	}
}

// buildAheadBatch is how many records BuildAhead hands over at a time:
// enough that the hand-over costs nothing beside building them.
const buildAheadBatch = 128

// BuildAhead yields what seq yields, in order, in batches, running seq
// on another goroutine: on a capture with many calls, building the
// records (addresses printed, SDP summarized) is half of writing the
// report, which then takes two cores instead of one. For ReportParts'
// sequences: batches are reused once the next one is asked for. seq must only read
// what it builds from (the report's builders read the Analysis), and is
// run to its end or until the caller stops, never past.
func BuildAhead[T any](seq iter.Seq[T]) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		full := make(chan []T, 2)
		// Three batches circulate: one built, one handed over, one encoded.
		free := make(chan []T, 3)
		for range cap(free) {
			free <- make([]T, 0, buildAheadBatch)
		}
		stop := make(chan struct{})
		go func() {
			defer close(full)
			batch := <-free
			for v := range seq {
				batch = append(batch, v)
				if len(batch) < buildAheadBatch {
					continue
				}
				select {
				case full <- batch:
				case <-stop:
					return
				}
				select {
				case batch = <-free:
				case <-stop:
					return
				}
			}
			if len(batch) > 0 {
				select {
				case full <- batch:
				case <-stop:
				}
			}
		}()
		defer func() {
			close(stop)
			for range full {
			}
		}()
		for batch := range full {
			if !yield(batch) {
				return
			}
			clear(batch) // no record kept alive by a pointer past its use
			free <- batch[:0]
		}
	}
}

func (jw *jsonStream) end() error {
	if jw.fields == 0 {
		jw.write("}\n")
	} else {
		jw.write("\n}\n")
	}
	if jw.err != nil {
		return jw.err
	}
	return jw.out.Flush()
}
