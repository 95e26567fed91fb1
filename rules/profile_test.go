package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinProfiles(t *testing.T) {
	ps := Profiles()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if p.Description == "" || p.Thresholds.SIPTimeoutS != 32 || p.Thresholds.LossWarningPercent != 1 ||
			p.Thresholds.LossErrorPercent != 5 || p.Thresholds.JitterWarningMS != 30 {
			t.Errorf("%s: description or thresholds wrong: %+v", p.Name, p)
		}
		if p.DSCP != (DSCP{Audio: 46, Video: 34, Signalling: 24}) {
			t.Errorf("%s: DSCP %+v, want EF/AF41/CS3", p.Name, p.DSCP)
		}
	}
	if want := []string{"default", "webex-calling", "cms-expressway"}; !slices.Equal(names, want) {
		t.Fatalf("Profiles() = %v, want %v", names, want)
	}
	def, webex, cms := ps[0], ps[1], ps[2]
	if len(def.MediaPorts) != 0 || len(def.PeerSubnets) != 0 {
		t.Errorf("default restricts ports or peers: %+v", def)
	}
	if len(webex.PeerSubnets) != 16 || len(webex.Peers()) != 16 {
		t.Errorf("webex-calling: %d subnets, want 16", len(webex.PeerSubnets))
	}
	for _, c := range []struct {
		p     *Profile
		class string
		port  uint16
		want  bool
	}{
		{webex, "audio", 8500, true}, {webex, "audio", 8599, true}, {webex, "audio", 8600, false}, {webex, "video", 8600, true},
		{webex, "video", 8699, true}, {webex, "video", 8599, false}, {webex, "audio", 19560, true}, {webex, "video", 65535, true},
		{webex, "audio", 19559, false}, {webex, "", 8550, true}, {cms, "audio", 24000, true}, {cms, "video", 29999, true}, {cms, "audio", 30000, false},
	} {
		if got := c.p.mediaPortAllowed(c.class, c.port); got != c.want {
			t.Errorf("%s: %s port %d allowed = %v, want %v", c.p.Name, c.class, c.port, got, c.want)
		}
	}
	for _, port := range []uint16{5004, 9000} {
		if !webex.relayPort(port) {
			t.Errorf("webex-calling: STUN port %d not known", port)
		}
	}
	if !strings.Contains(webex.sipPorts(), "tcp/5061-5062") || !strings.Contains(webex.sipPorts(), "tcp/8934") {
		t.Errorf("webex-calling SIP ports: %s", webex.sipPorts())
	}
	if !cms.relayPort(3478) || cms.relayPort(443) {
		t.Error("cms-expressway: TURN port 3478 only")
	}
	var services []string
	for _, s := range cms.ServicePorts {
		services = append(services, s.Service+"/"+s.Transport+"/"+portSpan(s.From, s.To))
	}
	if want := []string{"turn/udp/3478", "turn/tcp/3478", "web/tcp/443", "admin/tcp/445"}; !slices.Equal(services, want) {
		t.Errorf("cms-expressway services %v, want %v", services, want)
	}
	for _, addr := range []string{"170.72.0.1", "199.59.71.255", "23.89.255.255"} {
		if !webex.peerAllowed(netipAP(addr + ":1").Addr()) {
			t.Errorf("%s not in the Webex subnets", addr)
		}
	}
	if webex.peerAllowed(netipAP("199.59.72.0:1").Addr()) {
		t.Error("199.59.72.0 is outside 199.59.64.0/21")
	}
	// Profiles returns copies.
	ps[0].Name = "changed"
	if Profiles()[0].Name != "default" {
		t.Error("Profiles shares its values")
	}
}

func TestLoadProfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const th = `"thresholds": {"loss_warning_percent": 2, "loss_error_percent": 8, "jitter_warning_ms": 40, "sip_timeout_s": 16}`
	good := write("site.json", `{"name": "site", "description": "our site", "dscp": {"audio": 46, "video": -1, "signalling": 26},
		"media_ports": [{"class": "audio", "from": 16384, "to": 32767}], "peer_subnets": ["192.0.2.0/24", "2001:db8::/32"], `+th+`}`)
	p, err := LoadProfile(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "site" || p.DSCP.Video != -1 || p.DSCP.Signalling != 26 || len(p.Peers()) != 2 || p.Thresholds.SIPTimeoutS != 16 {
		t.Errorf("loaded %+v", p)
	}
	if _, ok := p.dscpFor("video"); ok {
		t.Error("video -1 is still checked")
	}
	// Absent dscp keys mean no check, not DSCP 0.
	partial := write("partial.json", `{"name": "p", "dscp": {"audio": 46}, `+th+`}`)
	if p, err := LoadProfile(partial); err != nil || p.DSCP.Video != -1 || p.DSCP.Signalling != -1 {
		t.Errorf("partial dscp: %+v, %v", p, err)
	}
	if p, err := LoadProfile("webex-calling"); err != nil || p.Name != "webex-calling" {
		t.Errorf("by name: %v, %v", p, err)
	}
	if p, err := LoadProfile(""); err != nil || p.Name != "default" {
		t.Errorf("empty name: %v, %v", p, err)
	}
	for _, c := range []struct{ name, body, want string }{
		{"port.json", `{"name": "x", "media_ports": [{"class": "audio", "from": 0, "to": 10}], ` + th + `}`, "media_ports[0].from: 0 is not a port"},
		{"port2.json", `{"name": "x", "media_ports": [{"class": "audio", "from": 1, "to": 70000}], ` + th + `}`, "media_ports[0].to: 70000 is not a port"},
		{"order.json", `{"name": "x", "media_ports": [{"class": "any", "from": 2000, "to": 1000}], ` + th + `}`, "media_ports[0]: from 2000 is above to 1000"},
		{"class.json", `{"name": "x", "media_ports": [{"class": "voice", "from": 1, "to": 2}], ` + th + `}`, `media_ports[0].class: "voice"`},
		{"cidr.json", `{"name": "x", "peer_subnets": ["10.0.0.0/8", "10.0.0/8"], ` + th + `}`, `peer_subnets[1]: "10.0.0/8" is not a CIDR prefix`},
		{"dscp.json", `{"name": "x", "dscp": {"audio": 64}, ` + th + `}`, "dscp.audio: 64 is not a DSCP value"},
		{"dscp2.json", `{"name": "x", "dscp": {"video": -2}, ` + th + `}`, "dscp.video: -2"},
		{"typo.json", `{"name": "x", "dscpp": {}, ` + th + `}`, `dscpp: unknown field`},
		{"typo2.json", `{"name": "x", "thresholds": {"loss_warning_percent": 2, "loss_error_percent": 8, "jitter_warning_ms": 40, "sip_timeout_s": 16, "loss_warn": 1}}`, `thresholds.loss_warn: unknown field`},
		{"typo3.json", `{"name": "x", "media_ports": [{"class": "audio", "from": 1, "to": 2}, {"klass": "audio"}], ` + th + `}`, `media_ports[1].klass: unknown field`},
		{"type.json", `{"name": "x", "dscp": {"audio": "EF"}, ` + th + `}`, `dscp.audio: want a whole number, not a JSON string`},
		{"type2.json", `{"name": "x", "thresholds": {"sip_timeout_s": "32"}}`, `thresholds.sip_timeout_s: want a number, not a JSON string`},
		{"short.json", `{"name": "x", "dscp": {`, `the JSON ends before the profile object is complete`},
		{"noname.json", `{"description": "x", ` + th + `}`, "name: missing"},
		{"thresh.json", `{"name": "x", "thresholds": {"loss_warning_percent": 5, "loss_error_percent": 1, "jitter_warning_ms": 30, "sip_timeout_s": 32}}`, "loss_error_percent: 1 is below loss_warning_percent 5"},
		{"zero.json", `{"name": "x"}`, "thresholds.loss_warning_percent: 0 must be above 0"},
		{"service.json", `{"name": "x", "service_ports": [{"service": "stun", "transport": "sctp", "from": 1, "to": 1}], ` + th + `}`, `service_ports[0].transport: "sctp"`},
		{"syntax.json", `{"name": "x",`, "site"},
		{"trailing.json", `{"name": "x", ` + th + `} {}`, "data after the profile"},
	} {
		path := write(c.name, c.body)
		_, err := LoadProfile(path)
		want := c.want
		if c.name == "syntax.json" {
			want = "syntax.json"
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", c.name, err, want)
		}
		// Errors speak the file's terms, not encoding/json's or Go's.
		if err != nil && (strings.Contains(err.Error(), " json: ") || strings.Contains(err.Error(), "Go struct") ||
			strings.Contains(err.Error(), "of type")) {
			t.Errorf("%s: error %q names a Go type or package", c.name, err)
		}
	}
	if _, err := LoadProfile("webex"); err == nil || !strings.Contains(err.Error(), "default, webex-calling, cms-expressway") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := LoadProfile(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestForProfile(t *testing.T) {
	all, def := All(), ForProfile(mustProfile(t, "default"))
	if len(all) != len(def) {
		t.Fatalf("All() has %d rules, ForProfile(default) %d", len(all), len(def))
	}
	for i := range all {
		if all[i].ID() != def[i].ID() || all[i].Explain() != def[i].Explain() {
			t.Errorf("rule %d: All() %s, ForProfile(default) %s", i, all[i].ID(), def[i].ID())
		}
	}
	webex := ForProfile(mustProfile(t, "webex-calling"))
	var port *MediaPortOutsideRange
	for _, r := range webex {
		if r, ok := r.(MediaPortOutsideRange); ok {
			port = &r
		}
	}
	if port == nil || port.Profile.Name != "webex-calling" || !strings.Contains(port.Explain(), "audio 8500-8599") {
		t.Errorf("ForProfile(webex-calling) does not pass the profile on: %+v", port)
	}
}
