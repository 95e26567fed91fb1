package diagnose

import "strconv"

// ErrorCodeInfo describes a STUN/TURN error code for people who have to fix
// it: the registered reason phrase, what the code means, and what usually
// causes it in a TURN deployment.
type ErrorCodeInfo struct {
	Code    int
	Name    string // the reason phrase registered with IANA, e.g. "Forbidden"
	Meaning string // what the server says with it
	Cause   string // what usually causes it; empty when there is nothing to add
}

// errorCodes is the one table of error codes rules and reports share. It
// lives in package diagnose, not rules, because reports name the responses
// of allocation attempts and package rules imports diagnose. Codes: RFC 8489
// §14.8 (STUN), RFC 8656 §19 (TURN), RFC 6062 §6.3 (TURN over TCP),
// RFC 8016 §3.4 (TURN mobility), RFC 8445 §7.3.1.1 (ICE role conflict),
// RFC 3489 §11.2.9 (classic STUN codes that RFC 5389 dropped).
var errorCodes = []ErrorCodeInfo{
	{300, "Try Alternate",
		"the server redirects the client to the ALTERNATE-SERVER it named (RFC 8489 §14.8)",
		"a load-balanced TURN service moving the client to another node; the client must follow it"},
	{400, "Bad Request",
		"the request was malformed (RFC 8489 §14.8)",
		"a client and server that disagree on the STUN/TURN version, a middlebox rewriting the packet, or a missing mandatory attribute such as REQUESTED-TRANSPORT"},
	{401, "Unauthorized",
		"the request lacked valid credentials (RFC 8489 §14.8); the first 401 to a request without MESSAGE-INTEGRITY is the normal challenge",
		""},
	{403, "Forbidden",
		"the request was valid but the server refuses it (RFC 8656 §19)",
		"a CreatePermission or ChannelBind to a peer address the server is configured to deny (coturn's denied-peer-ip or no-loopback-peers, often for private ranges such as 10.0.0.0/8 or 192.168.0.0/16), or a user the server does not allow to allocate"},
	{405, "Mobility Forbidden",
		"the server refused a TURN mobility request: valid, but not allowed by its policy (RFC 8016 §3.4)",
		""},
	{420, "Unknown Attribute",
		"the request carried a comprehension-required attribute the server does not understand (RFC 8489 §14.8)",
		"a client using a TURN extension the server does not implement (the response lists the attributes in UNKNOWN-ATTRIBUTES)"},
	{431, "Integrity Check Failure",
		"the MESSAGE-INTEGRITY of the request did not verify (RFC 3489 §11.2.9; RFC 5389 and RFC 8489 answer 401 instead)",
		"client and server disagree on the password, the realm, or the time-limited credential secret"},
	{437, "Allocation Mismatch",
		"the request needs an allocation that does not exist on this 5-tuple, or an Allocate was sent for a 5-tuple that already has one (RFC 8656 §19)",
		"an allocation that expired or was deleted (a Refresh or CreatePermission after it timed out), a NAT that changed the client's public port so the server sees a new 5-tuple, or a client that retried Allocate with a new transaction ID after the first succeeded"},
	{438, "Stale Nonce",
		"the NONCE in the request is no longer valid; the client should retry with the nonce in the response (RFC 8489 §14.8)",
		""},
	{440, "Address Family not Supported",
		"the server does not support the address family the client asked to relay (RFC 8656 §19)",
		"a client requesting an IPv6 relay (REQUESTED-ADDRESS-FAMILY) from a server with no IPv6 relay address, or the reverse"},
	{441, "Wrong Credentials",
		"the request used credentials other than those of the allocation it refers to (RFC 8656 §19)",
		"a client that changed USERNAME during the life of an allocation"},
	{442, "Unsupported Transport Protocol",
		"the server does not support the REQUESTED-TRANSPORT the client asked for (RFC 8656 §19)",
		"a client asking for a TCP relay (RFC 6062) from a server without TCP relaying, or a server with UDP relaying disabled"},
	{443, "Peer Address Family Mismatch",
		"the peer address in the request is of another family than the relayed address (RFC 8656 §19)",
		"an IPv4 allocation asked to reach an IPv6 peer (or the reverse): the ICE candidates of the two ends do not share an address family"},
	{446, "Connection Already Exists",
		"a TCP connection to that peer already exists on this allocation (RFC 6062 §6.3)",
		""},
	{447, "Connection Timeout or Failure",
		"the server could not open the TCP connection to the peer (RFC 6062 §6.3)",
		"the peer does not accept TCP on that port, or a firewall behind the relay blocks it"},
	{486, "Allocation Quota Reached",
		"the user already has as many allocations as the server allows (RFC 8656 §19)",
		"clients that leak allocations (never send Refresh with LIFETIME 0), many tabs or devices sharing one username, or a quota set too low (coturn's user-quota)"},
	{487, "Role Conflict",
		"both ICE agents claimed the same role (RFC 8445 §7.3.1.1); ICE resolves it by itself",
		""},
	{500, "Server Error",
		"the server had a temporary internal error (RFC 8489 §14.8)",
		"an overloaded or misconfigured server; its own logs say more"},
	{508, "Insufficient Capacity",
		"the server has no relay port or bandwidth left (RFC 8656 §19)",
		"the relay port range is exhausted (e.g. only a few ports between min-port and max-port) or a total-quota or bandwidth limit was reached"},
}

// ErrorCode returns what is known of an error code. An unregistered code
// gets a generic description from its class (RFC 8489 §14.8).
func ErrorCode(code int) ErrorCodeInfo {
	for _, e := range errorCodes {
		if e.Code == code {
			return e
		}
	}
	info := ErrorCodeInfo{Code: code, Name: "Error " + strconv.Itoa(code)}
	if code == 0 {
		info.Name = "(no ERROR-CODE)"
		info.Meaning = "the server sent an error response without the ERROR-CODE attribute RFC 8489 §14.8 requires in one, so it did not say why"
		return info
	}
	switch code / 100 {
	case 3:
		info.Meaning = "a redirection"
	case 4:
		info.Meaning = "the server refused the request as the client sent it"
	case 5:
		info.Meaning = "the server failed to handle the request"
	default:
		info.Meaning = "an error code outside the ranges STUN defines (300-699)"
	}
	return info
}

// ErrorCodeText gives "403 Forbidden", the form reports print.
func ErrorCodeText(code int) string {
	if code == 0 {
		return "an error without ERROR-CODE"
	}
	return strconv.Itoa(code) + " " + ErrorCode(code).Name
}
