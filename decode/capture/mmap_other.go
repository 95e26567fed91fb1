//go:build !linux

package capture

import (
	"errors"
	"os"
)

// Every file is read through the buffer here: see mmap_linux.go.
const mmapSupported = false

const pageSize = 4096

func mapFile(*os.File, int64) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmapFile([]byte) {}

func releasePages([]byte) {}
