package diagnose

import (
	"encoding/json"
	"io"
)

// WriteJSON writes the report as one indented JSON document. Field order
// follows the struct definitions, so output is stable for diffs; times are
// RFC 3339 in UTC with up to nanosecond precision.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// A hostile USERNAME should not turn into markup if a browser shows the
	// JSON, so HTML escaping stays on.
	return enc.Encode(r)
}
