package diagnose

import "testing"

// TestFormatTenths: one decimal as the report's three-decimal value reads,
// half away from zero, so that a finding and the stream line agree.
func TestFormatTenths(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{46.6504, "46.7"}, // 46.65 in the JSON report: strconv alone gives 46.6
		{46.65, "46.7"},
		{4.25, "4.3"}, // exact in binary: strconv rounds half to even, 4.2
		{38.249, "38.2"},
		{38.2496, "38.3"}, // 38.250 in the report
		{0.05, "0.1"},
		{0.04, "0.0"},
		{0, "0.0"},
		{314.583, "314.6"},
	} {
		if got := FormatTenths(tt.v); got != tt.want {
			t.Errorf("FormatTenths(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
