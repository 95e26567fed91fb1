package capture

import (
	"errors"
	"math"
	"os"
	"syscall"
)

// Files are mapped on Linux only: elsewhere package syscall has no
// madvise, so the pages read could not be given back behind the reader
// and a large capture would stay resident to the end.
const mmapSupported = true

// pageSize is the granularity of releasePages.
var pageSize = int64(os.Getpagesize())

// mapFile maps the first size bytes of f read-only and asks for aggressive
// read-ahead: the file is read once, front to back. MAP_SHARED and
// MAP_PRIVATE are the same for pages never written. A file larger than
// the address space (32-bit systems) is not mapped.
//
// Tried on the 473 MB bench capture, warm in the page cache: MAP_POPULATE
// and MADV_WILLNEED made no difference to CPU or wall time (the kernel
// maps the cached file a large folio per fault, ~2,300 faults for the whole
// file), and populating maps the whole file at once, so its pages are
// resident until released.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || size > math.MaxInt {
		return nil, errors.ErrUnsupported
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	syscall.Madvise(data, syscall.MADV_SEQUENTIAL)
	return data, nil
}

func unmapFile(data []byte) { syscall.Munmap(data) }

// releasePages drops the process's mapping of the pages (page-aligned):
// they stay in the page cache, and a later touch maps them again with the
// file's contents, so Data pointing there stays valid.
func releasePages(data []byte) { syscall.Madvise(data, syscall.MADV_DONTNEED) }
