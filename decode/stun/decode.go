package stun

// Decode parses b as a STUN message (RFC 8489 §5, or RFC 3489 when there is
// no magic cookie), resetting m. The error says what was wrong and where.
func (m *Message) Decode(b []byte) error {
	// TODO(helper): implemented by the STUN decoding work.
	return nil
}
