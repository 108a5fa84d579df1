package access_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/lintel-access/lintel/gateway/access"
)

// recorder is a directory that holds no PINs and records every entry the
// engine submits.
type recorder struct {
	mu      sync.Mutex
	entries []string
}

func (r *recorder) Card(access.CardKey) (access.Holder, bool) { return access.Holder{}, false }
func (r *recorder) PIN(d []byte) (access.Holder, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, string(d))
	return access.Holder{}, false
}

// unlimited turns the gateway-wide guess budget off for tests that only
// look at keypad assembly.
var unlimited = access.GuessBudget{Attempts: 1 << 30}

// press is one key press at a time offset.
type press struct {
	Key byte
	Gap time.Duration // since the previous press
}

// referenceEntries is the keypad assembly rule written as plainly as
// possible: '#' submits, the eighth digit submits, '*' clears, a pause of
// the key timeout or more drops a partial entry. Only entries that can be
// PINs (4 to 8 digits) reach the directory.
func referenceEntries(presses []press, timeout time.Duration) []string {
	var out []string
	buf := ""
	submit := func() {
		if len(buf) >= access.MinPINLength && len(buf) <= access.MaxPINLength {
			out = append(out, buf)
		}
		buf = ""
	}
	for i, p := range presses {
		if i > 0 && buf != "" && p.Gap >= timeout {
			buf = ""
		}
		switch {
		case p.Key == '*':
			buf = ""
		case p.Key == '#':
			if buf != "" {
				submit()
			}
		default:
			buf += string(p.Key)
			if len(buf) == access.MaxPINLength {
				submit()
			}
		}
	}
	return out
}

func TestKeypadAssemblyProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		presses := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) press {
			return press{
				Key: rapid.SampledFrom([]byte("0123456789012345678901234567890123456789*#")).Draw(t, "key"),
				Gap: time.Duration(rapid.SampledFrom([]int{0, 100, 900, 4999, 5000, 7000}).Draw(t, "gap")) * time.Millisecond,
			}
		}), 0, 60).Draw(t, "presses")
		rec := &recorder{}
		rc := access.ReaderConfig{Name: "side", Door: "side", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN,
			Lockout: access.Lockout{Attempts: 1 << 30}}
		e, err := access.NewEngine(access.EngineConfig{Directory: rec, Readers: []access.ReaderConfig{rc}, Guesses: unlimited})
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		for _, p := range presses {
			now = now.Add(p.Gap)
			res, err := e.Key(now, "side", p.Key)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range res.Events {
				if ev.Name != access.NameDenyCardPINNotFound {
					t.Fatalf("event %q, want only R10 denials", ev.Name)
				}
			}
		}
		if diff := cmp.Diff(referenceEntries(presses, access.DefaultKeyTimeout), rec.entries); diff != "" {
			t.Fatalf("submitted entries differ from the reference (-want +got):\n%s", diff)
		}
	})
}

// TestKeypadNeverSubmitsAcrossReaders checks that keys at one reader never
// complete an entry begun at another.
func TestKeypadNeverSubmitsAcrossReaders(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rec := &recorder{}
		rcs := []access.ReaderConfig{
			{Name: "a", Door: "a", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN, Lockout: access.Lockout{Attempts: 1 << 30}},
			{Name: "b", Door: "b", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN, Lockout: access.Lockout{Attempts: 1 << 30}},
		}
		e, err := access.NewEngine(access.EngineConfig{Directory: rec, Readers: rcs, Guesses: unlimited})
		if err != nil {
			t.Fatal(err)
		}
		n := rapid.IntRange(0, 40).Draw(t, "n")
		var perReader = map[string][]press{}
		for i := range n {
			r := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "reader")
			k := rapid.SampledFrom([]byte("0123456789#*")).Draw(t, "key")
			perReader[r] = append(perReader[r], press{Key: k})
			if _, err := e.Key(t0.Add(time.Duration(i)*time.Millisecond), r, k); err != nil {
				t.Fatal(err)
			}
		}
		want := len(referenceEntries(perReader["a"], time.Hour)) + len(referenceEntries(perReader["b"], time.Hour))
		if len(rec.entries) != want {
			t.Fatalf("%d entries submitted, want %d", len(rec.entries), want)
		}
	})
}
