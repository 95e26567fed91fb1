package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestInflateAheadSameBytesAndError: reading through inflateAhead gives
// the stream's bytes and then its error, however the reads are sized and
// whatever the stream's length against the chunk size.
func TestInflateAheadSameBytesAndError(t *testing.T) {
	errCut := errors.New("unexpected end of the gzip stream")
	for _, size := range []int{0, 1, inflateChunkSize - 1, inflateChunkSize, 3*inflateChunkSize + 17, 9 * inflateChunkSize} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + i>>9)
		}
		for _, want := range []error{io.EOF, errCut} {
			src := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(want))
			z := newInflateAhead(iotest.HalfReader(src))
			got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(z, 1)))
			rest, err2 := io.ReadAll(z)
			got = append(got, rest...)
			if err == nil {
				err = err2
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d, %v: read %d bytes, want %d (same: %v)", size, want, len(got), len(data), bytes.Equal(got, data[:min(len(got), len(data))]))
			}
			if want == io.EOF && err != nil || want != io.EOF && !errors.Is(err, want) {
				t.Fatalf("size %d: error %v, want %v", size, err, want)
			}
			// Sticky, as gzip.Reader's.
			if n, err := z.Read(make([]byte, 8)); n != 0 || (want != io.EOF && !errors.Is(err, want)) || (want == io.EOF && err != io.EOF) {
				t.Fatalf("size %d: read after the end gave %d, %v", size, n, err)
			}
			z.stop()
		}
	}
}

// TestInflateAheadStopUnread: stopping a stream never read, or read in
// part, ends without blocking.
func TestInflateAheadStopUnread(t *testing.T) {
	newInflateAhead(bytes.NewReader(make([]byte, 10))).stop()
	z := newInflateAhead(bytes.NewReader(make([]byte, 10*inflateChunkSize)))
	if _, err := z.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	z.stop()
	z.stop()
}
