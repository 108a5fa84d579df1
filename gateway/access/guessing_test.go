package access_test

import (
	"math"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
)

// TestKeypadGuessingRate measures what a guesser gets through the engine
// in a day, at one keypad and at three, against the old rule (a reader
// lockout of a minute after five wrong PINs, nothing across readers and no
// doubling: 300 an hour at one keypad).
func TestKeypadGuessingRate(t *testing.T) {
	one := []access.ReaderConfig{{Name: "a", Door: "a", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN}}
	three := append(one,
		access.ReaderConfig{Name: "b", Door: "b", Model: access.ModelRPK40, Mode: access.ModePINOnly},
		access.ReaderConfig{Name: "c", Door: "c", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN})
	var ten []access.ReaderConfig
	for i := range 10 {
		name := string(rune('a' + i))
		ten = append(ten, access.ReaderConfig{Name: name, Door: name, Model: access.ModelRPK40, Mode: access.ModeCardOrPIN})
	}
	oneDay := access.GuessesPerDay(one, access.GuessBudget{})
	threeDay := access.GuessesPerDay(three, access.GuessBudget{})
	tenDay := access.GuessesPerDay(ten, access.GuessBudget{})
	t.Logf("guesses in a day: %d at one keypad, %d across three, %d across ten (was 7200 a keypad)", oneDay, threeDay, tenDay)
	// At one keypad, 5 per lockout with the lockouts doubling to an hour:
	// about 5 an hour once the doubling has run its course. Across many,
	// the gateway-wide budget caps them all: 20 per lockout, doubling to
	// an hour.
	if oneDay > 200 || threeDay > 3*oneDay || tenDay > 600 || tenDay < threeDay {
		t.Errorf("a day of guessing gets %d, %d and %d PINs, want at most 200 at one keypad and 600 however many", oneDay, threeDay, tenDay)
	}
	if oneDay == 0 {
		t.Errorf("no guess at all at a card-or-PIN keypad: the simulation is broken")
	}
	// A card-only reader takes no guesses.
	if n := access.GuessesPerDay([]access.ReaderConfig{{Name: "g", Door: "g", Model: access.ModelRP40, Mode: access.ModeCardOnly}}, access.GuessBudget{}); n != 0 {
		t.Errorf("guesses at a card-only reader: %d", n)
	}
}

func TestGuessRisk(t *testing.T) {
	var byLen [access.MaxPINLength + 1]int
	byLen[4] = 1000
	byLen[8] = 100_000
	r := access.GuessRiskOf(byLen, 150)
	if r.Length != 4 || math.Abs(r.Density-0.1) > 1e-12 || !r.Warn() || r.Day < 0.99 {
		t.Errorf("1,000 four-digit PINs: %+v, want length 4, density 0.1, a near-certain hit", r)
	}
	byLen = [access.MaxPINLength + 1]int{}
	byLen[8] = 1000
	if r := access.GuessRiskOf(byLen, 150); r.Warn() || r.Length != 8 {
		t.Errorf("1,000 eight-digit PINs: %+v, want no warning", r)
	}
	byLen = [access.MaxPINLength + 1]int{}
	byLen[0] = 20 // unknown length counts as four digits
	if r := access.GuessRiskOf(byLen, 150); r.Length != 4 || !r.Warn() {
		t.Errorf("20 PINs of unknown length: %+v", r)
	}
	if r := access.GuessRiskOf([access.MaxPINLength + 1]int{}, 150); r.Day != 0 || r.Warn() {
		t.Errorf("no PINs: %+v", r)
	}
}
