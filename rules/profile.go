package rules

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
)

// Profile is what the SIP, media and DSCP rules check against: the DSCP
// mark each traffic class should carry, the ports and peers media may use,
// and the thresholds for loss, jitter and SIP timeouts. A profile is a JSON
// document (see rules/profiles/ for the built-in ones); LoadProfile reads
// one by name or from a file.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	DSCP        DSCP   `json:"dscp"`
	// MediaPorts are the ports your endpoints send and receive media on;
	// empty means any port. A stream is in policy when either end's port
	// lies in a range for its class.
	MediaPorts []PortRange `json:"media_ports"`
	// PeerSubnets are the networks media may be exchanged with (CIDR);
	// empty means any peer.
	PeerSubnets []string `json:"peer_subnets"`
	// ServicePorts document the service's well-known ports (STUN, TURN,
	// SIP over TLS, web) for the hints findings give. Media relayed through
	// a TURN server reaches it on its "stun" or "turn" port.
	ServicePorts []ServicePort `json:"service_ports"`
	Thresholds   Thresholds    `json:"thresholds"`

	// ExpectNames are the names a TLS server reached without SNI (a client
	// that connects by IP address) must hold a certificate for, such as a
	// web bridge's external FQDN: tls.name-mismatch checks them. They come
	// from the command line (analyze --expect-name), never from a profile
	// file, because they name one deployment's hosts.
	ExpectNames []string `json:"-"`

	peers []netip.Prefix // PeerSubnets parsed
}

// DSCP is the Differentiated Services code point (RFC 2474) expected per
// traffic class; -1 turns the check off for that class.
type DSCP struct {
	Audio      int `json:"audio"`
	Video      int `json:"video"`
	Signalling int `json:"signalling"`
}

// PortRange is an inclusive range of UDP/TCP ports for one media class:
// "audio", "video" or "any".
type PortRange struct {
	Class       string `json:"class"`
	From        int    `json:"from"`
	To          int    `json:"to"`
	Description string `json:"description,omitempty"`
}

// ServicePort is a well-known port (range) of the service: Service is one
// of "stun", "turn", "sip", "sip_tls", "web", "admin".
type ServicePort struct {
	Service     string `json:"service"`
	Transport   string `json:"transport"` // "udp" or "tcp"
	From        int    `json:"from"`
	To          int    `json:"to"`
	Description string `json:"description,omitempty"`
}

// Thresholds are the limits the media and SIP rules apply.
type Thresholds struct {
	LossWarningPercent float64 `json:"loss_warning_percent"`
	LossErrorPercent   float64 `json:"loss_error_percent"`
	JitterWarningMS    float64 `json:"jitter_warning_ms"`
	// SIPTimeoutS is how long a SIP client waits for a final response
	// before giving up: 64*T1 = 32 s with the default T1 of 500 ms
	// (RFC 3261 §17.1.1.2 Timer B, §17.1.2.2 Timer F).
	SIPTimeoutS float64 `json:"sip_timeout_s"`
}

//go:embed profiles/*.json
var builtinFS embed.FS

// builtinOrder is the order `callscope profiles` lists them in.
var builtinOrder = []string{"default", "webex-calling", "cms-expressway"}

// DefaultProfile is the profile used when none is named.
const DefaultProfile = "default"

// Profiles returns the built-in profiles, default first. Each call returns
// fresh copies that the caller may change.
func Profiles() []*Profile {
	out := make([]*Profile, 0, len(builtinOrder))
	for _, name := range builtinOrder {
		p, err := builtinProfile(name)
		if err != nil {
			// The embedded files are tested; a broken one is a build defect.
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

func builtinProfile(name string) (*Profile, error) {
	b, err := builtinFS.ReadFile(path.Join("profiles", name+".json"))
	if err != nil {
		return nil, err
	}
	return parseProfile(b, "built-in profile "+name)
}

// LoadProfile returns the built-in profile of that name, or reads the
// profile in the JSON file at that path. A name that is neither is an
// error that lists the built-in names.
func LoadProfile(nameOrPath string) (*Profile, error) {
	if nameOrPath == "" {
		nameOrPath = DefaultProfile
	}
	if slices.Contains(builtinOrder, nameOrPath) {
		return builtinProfile(nameOrPath)
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(nameOrPath, `/\.`) {
			return nil, fmt.Errorf("profile %q: no built-in profile of that name (built in: %s) and no such file", nameOrPath, strings.Join(builtinOrder, ", "))
		}
		return nil, fmt.Errorf("profile: %w", err)
	}
	return parseProfile(b, "profile "+nameOrPath)
}

// parseProfile decodes and validates one profile; where names the source
// in errors.
func parseProfile(b []byte, where string) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	// A misspelt key would otherwise silently leave a check at its zero
	// value.
	dec.DisallowUnknownFields()
	// Checks default to off, not to DSCP 0.
	p := &Profile{DSCP: DSCP{Audio: -1, Video: -1, Signalling: -1}}
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("%s: %v", where, profileJSONError(b, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the profile object", where)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	return p, nil
}

func (p *Profile) validate() error {
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("name: missing")
	}
	for _, d := range []struct {
		field string
		v     int
	}{{"dscp.audio", p.DSCP.Audio}, {"dscp.video", p.DSCP.Video}, {"dscp.signalling", p.DSCP.Signalling}} {
		if d.v < -1 || d.v > 63 {
			return fmt.Errorf("%s: %d is not a DSCP value (0-63, or -1 for no check)", d.field, d.v)
		}
	}
	for i, r := range p.MediaPorts {
		field := fmt.Sprintf("media_ports[%d]", i)
		switch r.Class {
		case "audio", "video", "any":
		default:
			return fmt.Errorf("%s.class: %q is not audio, video or any", field, r.Class)
		}
		if err := checkRange(field, r.From, r.To); err != nil {
			return err
		}
	}
	for i, s := range p.ServicePorts {
		field := fmt.Sprintf("service_ports[%d]", i)
		switch s.Service {
		case "stun", "turn", "sip", "sip_tls", "web", "admin":
		default:
			return fmt.Errorf("%s.service: %q is not stun, turn, sip, sip_tls, web or admin", field, s.Service)
		}
		if s.Transport != "udp" && s.Transport != "tcp" {
			return fmt.Errorf("%s.transport: %q is not udp or tcp", field, s.Transport)
		}
		if err := checkRange(field, s.From, s.To); err != nil {
			return err
		}
	}
	p.peers = p.peers[:0]
	for i, s := range p.PeerSubnets {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("peer_subnets[%d]: %q is not a CIDR prefix such as 192.0.2.0/24", i, s)
		}
		p.peers = append(p.peers, pfx.Masked())
	}
	t := p.Thresholds
	for _, th := range []struct {
		field string
		v     float64
	}{{"thresholds.loss_warning_percent", t.LossWarningPercent}, {"thresholds.loss_error_percent", t.LossErrorPercent},
		{"thresholds.jitter_warning_ms", t.JitterWarningMS}, {"thresholds.sip_timeout_s", t.SIPTimeoutS}} {
		if th.v <= 0 {
			return fmt.Errorf("%s: %v must be above 0", th.field, th.v)
		}
	}
	if t.LossWarningPercent > 100 || t.LossErrorPercent > 100 {
		return errors.New("thresholds: a loss percentage above 100")
	}
	if t.LossErrorPercent < t.LossWarningPercent {
		return fmt.Errorf("thresholds.loss_error_percent: %v is below loss_warning_percent %v", t.LossErrorPercent, t.LossWarningPercent)
	}
	return nil
}

func checkRange(field string, from, to int) error {
	if from < 1 || from > 65535 {
		return fmt.Errorf("%s.from: %d is not a port (1-65535)", field, from)
	}
	if to < 1 || to > 65535 {
		return fmt.Errorf("%s.to: %d is not a port (1-65535)", field, to)
	}
	if from > to {
		return fmt.Errorf("%s: from %d is above to %d", field, from, to)
	}
	return nil
}

// Peers returns the parsed peer subnets.
func (p *Profile) Peers() []netip.Prefix { return slices.Clone(p.peers) }

// dscpFor is the mark expected for a flow or stream class, and whether the
// class is checked at all.
func (p *Profile) dscpFor(class string) (int, bool) {
	v := -1
	switch class {
	case "audio":
		v = p.DSCP.Audio
	case "video":
		v = p.DSCP.Video
	case "sip":
		v = p.DSCP.Signalling
	}
	return v, v >= 0
}

// mediaPortAllowed says whether port lies in a media range for the class;
// a stream of unknown class may use any range.
func (p *Profile) mediaPortAllowed(class string, port uint16) bool {
	for _, r := range p.MediaPorts {
		if r.Class != "any" && class != "" && r.Class != class {
			continue
		}
		if int(port) >= r.From && int(port) <= r.To {
			return true
		}
	}
	return false
}

// rangesFor describes the ranges that apply to a class: "8500-8599,
// 19560-65535".
func (p *Profile) rangesFor(class string) string {
	var s []string
	for _, r := range p.MediaPorts {
		if r.Class != "any" && class != "" && r.Class != class {
			continue
		}
		s = append(s, portSpan(r.From, r.To))
	}
	return strings.Join(s, ", ")
}

// relayPort says whether port is one of the profile's STUN or TURN ports:
// where media relayed through a TURN server meets it.
func (p *Profile) relayPort(port uint16) bool {
	for _, s := range p.ServicePorts {
		if (s.Service == "stun" || s.Service == "turn") && int(port) >= s.From && int(port) <= s.To {
			return true
		}
	}
	return false
}

// peerAllowed says whether addr lies in one of the peer subnets.
func (p *Profile) peerAllowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, pfx := range p.peers {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// sipPorts lists the profile's SIP ports for hints: "udp/5060, tcp/5061".
func (p *Profile) sipPorts() string {
	var s []string
	for _, sp := range p.ServicePorts {
		if sp.Service == "sip" || sp.Service == "sip_tls" {
			s = append(s, sp.Transport+"/"+portSpan(sp.From, sp.To))
		}
	}
	return strings.Join(s, ", ")
}

func portSpan(from, to int) string {
	if from == to {
		return fmt.Sprint(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

// defaultProfile is the built-in default, parsed once, for the rules'
// zero values. It is never handed out (ForProfile gives a copy), so that
// nothing writes to it after init and concurrent analyses may share it.
var defaultProfile = newDefaultProfile()

// newDefaultProfile parses the built-in default profile afresh.
func newDefaultProfile() *Profile {
	p, err := builtinProfile(DefaultProfile)
	if err != nil {
		// The embedded files are tested; a broken one is a build defect.
		panic(err)
	}
	return p
}

// profileOrDefault lets a rule's zero value run with the default profile.
func profileOrDefault(p *Profile) *Profile {
	if p == nil {
		return defaultProfile
	}
	return p
}

// profileJSONError restates a decoding error in the profile's own terms: the
// field path as written in the file and what was wrong, never a Go type.
func profileJSONError(b []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("JSON syntax error at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("the JSON ends before the profile object is complete")
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := typ.Field
		if field == "" {
			field = "profile"
		}
		return fmt.Errorf("%s: want %s, not a JSON %s", field, jsonKindWord(typ.Type), typ.Value)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		var doc any
		if json.Unmarshal(b, &doc) == nil {
			if field := unknownField(doc, reflect.TypeFor[Profile](), ""); field != "" {
				return fmt.Errorf("%s: unknown field", field)
			}
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKindWord names what a profile field holds in JSON's words.
func jsonKindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another kind of value"
}

// unknownField returns the path (such as "thresholds.loss_warn" or
// "media_ports[1].klass") of the first key in doc that t has no field for, or
// "" when every key is known. encoding/json reports only the key's name.
func unknownField(doc any, t reflect.Type, at string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := doc.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return ""
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[strings.ToLower(name)] = f.Type
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			path := k
			if at != "" {
				path = at + "." + k
			}
			// encoding/json matches keys case-insensitively.
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				return path
			}
			if p := unknownField(v[k], ft, path); p != "" {
				return p
			}
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return ""
		}
		for i, e := range v {
			if p := unknownField(e, t.Elem(), fmt.Sprintf("%s[%d]", at, i)); p != "" {
				return p
			}
		}
	}
	return ""
}
