package access

import (
	"math"
	"time"
)

// How likely a PIN guesser is to succeed.
//
// With n users holding PINs of L digits, one guess of L digits finds some
// user's PIN with probability p = n / 10^L (the density of that length).
// With G guesses in a day, the chance of at least one hit that day is
// 1 - (1 - p)^G. The guesser picks the densest length, so the risk is taken
// at the length of greatest density. G is what the lockouts allow, which
// GuessesPerDay measures by running the engine itself.

// guessEntry is how long a guesser takes to key one PIN and '#'.
const guessEntry = 4 * time.Second

// GuessesPerDay returns how many PINs a guesser can submit in 24 hours at
// the keypads of readers, moving from one to the next whenever one locks,
// under the readers' lockouts and the gateway-wide budget, keying one PIN
// every four seconds. It runs a real engine over a directory that holds no
// PIN, so the count is the engine's own rules, not a restatement of them.
func GuessesPerDay(readers []ReaderConfig, budget GuessBudget) int {
	var keypads []ReaderConfig
	for _, r := range readers {
		if r.Mode == ModeCardOrPIN || r.Mode == ModePINOnly {
			keypads = append(keypads, r)
		}
	}
	if len(keypads) == 0 {
		return 0
	}
	e, err := NewEngine(EngineConfig{Directory: noPINs{}, Readers: keypads, Guesses: budget})
	if err != nil {
		return 0
	}
	e.SetClock(ClockState{Trusted: true})
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	end := start.Add(24 * time.Hour)
	wrong := []byte("00000000")
	guesses := 0
	for now := start; now.Before(end); {
		e.Tick(now)
		submitted := false
		for _, r := range keypads {
			res, err := e.PIN(now, r.Name, wrong)
			if err != nil {
				return guesses
			}
			if len(res.Events) > 0 && res.Events[0].Name == NameDenyCardPINNotFound {
				guesses++
				submitted = true
				break
			}
		}
		if submitted {
			now = now.Add(guessEntry)
			continue
		}
		next, ok := e.NextDeadline()
		if !ok || !next.After(now) {
			next = now.Add(guessEntry)
		}
		now = next
	}
	return guesses
}

// noPINs is a directory that knows nobody.
type noPINs struct{}

func (noPINs) Card(CardKey) (Holder, bool) { return Holder{}, false }
func (noPINs) PIN([]byte) (Holder, bool)   { return Holder{}, false }

// GuessRisk is how likely a day of guessing is to find a PIN.
type GuessRisk struct {
	// Length is the PIN length of greatest density, Density its n / 10^L.
	Length  int     `json:"length"`
	Density float64 `json:"density"`
	// GuessesPerDay is what the lockouts allow (GuessesPerDay).
	GuessesPerDay int `json:"guesses_per_day"`
	// Day is the chance of at least one hit in a day of guessing.
	Day float64 `json:"day"`
}

// RiskWarn is the chance of a hit in a day at which the gateway warns.
const RiskWarn = 0.01

// Warn reports whether the risk is worth a warning.
func (r GuessRisk) Warn() bool { return r.Day >= RiskWarn }

// GuessRiskOf works out the risk for byLength (element L counts the PINs
// of L digits; element 0 those of unknown length, taken as the shortest, 4)
// and guesses a day.
func GuessRiskOf(byLength [MaxPINLength + 1]int, guessesPerDay int) GuessRisk {
	r := GuessRisk{GuessesPerDay: guessesPerDay}
	for l := MinPINLength; l <= MaxPINLength; l++ {
		n := byLength[l]
		if l == MinPINLength {
			n += byLength[0]
		}
		if d := float64(n) / math.Pow10(l); d > r.Density {
			r.Length, r.Density = l, d
		}
	}
	if r.Density > 0 {
		r.Day = 1 - math.Pow(1-min(r.Density, 1), float64(guessesPerDay))
	}
	return r
}
