package capture

import (
	"errors"
	"time"
)

// ErrIdle says NextWithin waited its time and no packet came: the capture
// goes on. A consumer driven by packet time uses it to let time pass
// (timeouts, idle streams) while the network is quiet.
var ErrIdle = errors.New("capture: no packet arrived in time")

// NextWithin is Next waiting at most d for a packet: it returns ErrIdle
// when none arrived by then. d <= 0 waits as Next does.
func (s *LiveSource) NextWithin(d time.Duration) (*Record, error) {
	if d <= 0 {
		return s.next(nil)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	return s.next(t.C)
}
