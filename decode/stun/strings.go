package stun

// recentStrings keeps the last few strings made for each text attribute,
// so flows that repeat the same USERNAME, REALM, NONCE, SOFTWARE or reason
// phrase in every message (ICE checks in both directions, TURN refreshes)
// cost no allocation after the first. A handful per attribute covers a
// request/response pair from two different agents plus some interleaving.
type recentStrings struct {
	slots [slotCount]recentSlot
}

type recentSlot struct {
	s    [recentPerSlot]string
	next uint8
}

const recentPerSlot = 4

const (
	slotUsername = iota
	slotRealm
	slotNonce
	slotSoftware
	slotReason
	slotCount
)

func (r *recentStrings) get(slot int, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	sl := &r.slots[slot]
	for _, s := range sl.s {
		// The conversion in a comparison does not allocate.
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	sl.s[sl.next] = s
	sl.next = (sl.next + 1) % recentPerSlot
	return s
}
