package rules

import "testing"

// TestDefaultProfileNotShared checks that the default profile All hands
// out is each caller's own: an embedding program that tunes the thresholds
// of its rules must not change those of another analysis in the process,
// nor those of rules' zero values.
func TestDefaultProfileNotShared(t *testing.T) {
	lossProfile := func() *Profile {
		for _, r := range All() {
			if ml, ok := r.(MediaLoss); ok {
				return ml.Profile
			}
		}
		t.Fatal("All has no MediaLoss rule")
		return nil
	}
	first, second := lossProfile(), lossProfile()
	if first == nil || second == nil {
		t.Fatal("All gave MediaLoss a nil profile")
	}
	if first == second {
		t.Fatal("two calls of All share one *Profile")
	}
	if first == defaultProfile || second == defaultProfile {
		t.Fatal("All hands out the package's default profile")
	}
	want := defaultProfile.Thresholds.LossErrorPercent
	first.Thresholds.LossErrorPercent = want + 10
	if got := second.Thresholds.LossErrorPercent; got != want {
		t.Errorf("changing one caller's profile changed another's: loss_error_percent %v, want %v", got, want)
	}
	if got := profileOrDefault(nil).Thresholds.LossErrorPercent; got != want {
		t.Errorf("changing one caller's profile changed the zero-value rules': loss_error_percent %v, want %v", got, want)
	}
	if first.Name != DefaultProfile {
		t.Errorf("All's profile is %q, want %q", first.Name, DefaultProfile)
	}
}
