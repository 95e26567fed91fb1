//go:build !linux

package capture

import "errors"

// OpenLive captures with AF_PACKET sockets, which only Linux has.
func OpenLive(opts LiveOptions) (*LiveSource, error) {
	return nil, errors.New("capture: live capture is supported on Linux only")
}
