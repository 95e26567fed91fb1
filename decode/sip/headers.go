package sip

// header identifies the headers Parse reads.
type header uint8

const (
	hdrOther header = iota
	hdrVia
	hdrFrom
	hdrTo
	hdrCallID
	hdrCSeq
	hdrContact
	hdrExpires
	hdrMaxForwards
	hdrRecordRoute
	hdrAuthorization
	hdrProxyAuthorization
	hdrWWWAuthenticate
	hdrProxyAuthenticate
	hdrUserAgent
	hdrServer
	hdrContentType
	hdrContentLength
	hdrReason
)

// lookupHeader matches a header name case-insensitively, compact forms
// included (RFC 3261 §7.3.3 and the IANA registry; only those of headers
// Parse reads matter). It switches on the length first so the common case
// costs one or two comparisons.
func lookupHeader(name []byte) header {
	switch len(name) {
	case 1:
		switch lower(name[0]) {
		case 'v':
			return hdrVia
		case 'f':
			return hdrFrom
		case 't':
			return hdrTo
		case 'i':
			return hdrCallID
		case 'm':
			return hdrContact
		case 'c':
			return hdrContentType
		case 'l':
			return hdrContentLength
		}
	case 2:
		if equalFold(name, "to") {
			return hdrTo
		}
	case 3:
		if equalFold(name, "via") {
			return hdrVia
		}
	case 4:
		switch {
		case equalFold(name, "from"):
			return hdrFrom
		case equalFold(name, "cseq"):
			return hdrCSeq
		}
	case 6:
		switch {
		case equalFold(name, "server"):
			return hdrServer
		case equalFold(name, "reason"):
			return hdrReason
		}
	case 7:
		switch {
		case equalFold(name, "call-id"):
			return hdrCallID
		case equalFold(name, "contact"):
			return hdrContact
		case equalFold(name, "expires"):
			return hdrExpires
		}
	case 10:
		if equalFold(name, "user-agent") {
			return hdrUserAgent
		}
	case 12:
		switch {
		case equalFold(name, "max-forwards"):
			return hdrMaxForwards
		case equalFold(name, "record-route"):
			return hdrRecordRoute
		case equalFold(name, "content-type"):
			return hdrContentType
		}
	case 13:
		if equalFold(name, "authorization") {
			return hdrAuthorization
		}
	case 14:
		if equalFold(name, "content-length") {
			return hdrContentLength
		}
	case 16:
		if equalFold(name, "www-authenticate") {
			return hdrWWWAuthenticate
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return hdrProxyAuthenticate
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return hdrProxyAuthorization
		}
	}
	return hdrOther
}
