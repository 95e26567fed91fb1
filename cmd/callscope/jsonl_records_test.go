package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONLinesRecordsMatchJSON holds the jsonl records, built one at a
// time, to the arrays of the JSON report: the same records, in the same
// order, with the same fields.
func TestJSONLinesRecordsMatchJSON(t *testing.T) {
	paths, _ := filepath.Glob("../../pcaps/*.pcap")
	ng, _ := filepath.Glob("../../pcaps/*.pcapng")
	paths = append(paths, ng...)
	if len(paths) < 2 {
		t.Fatal("no captures in pcaps/")
	}
	arrays := map[string]string{
		"allocation": "allocations", "binding": "bindings", "call": "calls", "registration": "registrations",
		"stream": "streams", "ice_session": "ice_sessions", "tls_connection": "tls_connections",
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			doc := runCLI(t, "analyze", "--format", "json", p)
			lines := runCLI(t, "analyze", "--format", "jsonl", p)
			if doc.code != lines.code {
				t.Fatalf("exit %d with json, %d with jsonl", doc.code, lines.code)
			}
			var report map[string]json.RawMessage
			if err := json.Unmarshal([]byte(doc.stdout), &report); err != nil {
				t.Fatal(err)
			}
			want := map[string][]json.RawMessage{}
			for _, name := range arrays {
				if raw, ok := report[name]; ok {
					var list []json.RawMessage
					if err := json.Unmarshal(raw, &list); err != nil {
						t.Fatal(err)
					}
					want[name] = list
				}
			}
			got := map[string][]json.RawMessage{}
			for _, line := range strings.Split(strings.TrimSuffix(lines.stdout, "\n"), "\n") {
				var rec map[string]json.RawMessage
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("jsonl line %q: %v", line, err)
				}
				var typ string
				json.Unmarshal(rec["type"], &typ)
				name, ok := arrays[typ]
				if !ok {
					continue
				}
				delete(rec, "type")
				b, _ := json.Marshal(rec)
				got[name] = append(got[name], b)
			}
			for _, name := range arrays {
				if len(got[name]) != len(want[name]) {
					t.Errorf("%s: %d jsonl records, %d in the JSON report", name, len(got[name]), len(want[name]))
					continue
				}
				for i := range want[name] {
					// Both through a map: the same keys and values, whatever
					// the order and spacing.
					var w map[string]json.RawMessage
					json.Unmarshal(want[name][i], &w)
					wb, _ := json.Marshal(w)
					if !bytes.Equal(compact(t, got[name][i]), compact(t, wb)) {
						t.Errorf("%s[%d] differs:\njsonl %s\njson  %s", name, i, got[name][i], wb)
					}
				}
			}
		})
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
