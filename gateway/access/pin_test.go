package access_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/access/accesstest"
)

func TestR2ValidatePIN(t *testing.T) {
	tests := []struct {
		name string
		pin  string
		want error
	}{
		{"R2 four digits", "0123", nil},
		{"R2 eight digits", "12345678", nil},
		{"R2 three digits is too short", "123", access.ErrPINLength},
		{"R2 nine digits is too long", "123456789", access.ErrPINLength},
		{"R2 empty", "", access.ErrPINLength},
		{"R2 letters", "12a4", access.ErrPINNotDigits},
		{"R2 hash is not part of a PIN", "1234#", access.ErrPINNotDigits},
		{"R2 unicode digits", "١٢٣٤", access.ErrPINNotDigits},
		{"R2 spaces", " 1234", access.ErrPINNotDigits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := access.ValidatePIN(tt.pin)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ValidatePIN(%q) = %v, want %v", tt.pin, err, tt.want)
			}
			if err != nil && tt.pin != "" && bytes.Contains([]byte(err.Error()), []byte(tt.pin)) {
				t.Errorf("error %q repeats the PIN", err)
			}
		})
	}
}

func TestR4GeneratePIN(t *testing.T) {
	for n := access.MinPINLength; n <= access.MaxPINLength; n++ {
		t.Run("R4 length "+string(rune('0'+n)), func(t *testing.T) {
			seen := map[string]bool{}
			for range 200 {
				pin, err := access.GeneratePIN(nil, n, func(p string) bool { return seen[p] })
				if err != nil {
					t.Fatal(err)
				}
				if err := access.ValidatePIN(pin); err != nil || len(pin) != n {
					t.Fatalf("generated %d-digit PIN invalid (len %d): %v", n, len(pin), err)
				}
				if access.IsTrivial(pin) {
					t.Fatalf("generated a trivial PIN")
				}
				if seen[pin] {
					t.Fatalf("generated a PIN already taken")
				}
				seen[pin] = true
			}
		})
	}
	for _, n := range []int{0, 3, 9, -1} {
		if _, err := access.GeneratePIN(nil, n, func(string) bool { return false }); !errors.Is(err, access.ErrPINLength) {
			t.Errorf("R4 GeneratePIN(length %d) = %v, want ErrPINLength", n, err)
		}
	}
}

// TestR4Exhaustion takes every four-digit PIN but one, then all of them.
func TestR4Exhaustion(t *testing.T) {
	const last = "4071"
	pin, err := access.GeneratePIN(nil, 4, func(p string) bool { return p != last })
	if err != nil || pin != last {
		t.Fatalf("R4 with one free PIN: got %v, want the free one", err)
	}
	_, err = access.GeneratePIN(nil, 4, func(string) bool { return true })
	if !errors.Is(err, access.ErrPINSpaceExhausted) {
		t.Fatalf("R4 with no free PIN: err = %v, want ErrPINSpaceExhausted", err)
	}
}

func TestIsTrivial(t *testing.T) {
	trivial := []string{"0000", "1111", "1234", "8765", "7890", "3210", "0987", "23456789", "99999999", "56789012",
		"1212", "123123", "12341234", "2580", "1122", "6969"}
	fine := []string{"1235", "4071", "13579", "6093", "48213597", "120121"}
	for _, p := range trivial {
		if !access.IsTrivial(p) {
			t.Errorf("IsTrivial(%q) = false, want true", p)
		}
	}
	for _, p := range fine {
		if access.IsTrivial(p) {
			t.Errorf("IsTrivial(%q) = true, want false", p)
		}
	}
}

// TestKeypadGuessingTrivialCustomPINRefused: a chosen PIN that a guesser
// tries first is refused with a message that says why and never holds the
// PIN; a PIN of the wrong shape is refused for its shape first.
func TestKeypadGuessingTrivialCustomPINRefused(t *testing.T) {
	for _, p := range []string{"0000", "1234", "9876", "1212", "2580", "11111111"} {
		err := access.CheckCustomPIN(p)
		if !errors.Is(err, access.ErrPINTrivial) {
			t.Errorf("CheckCustomPIN(%q) = %v, want ErrPINTrivial", p, err)
			continue
		}
		if strings.Contains(err.Error(), p) {
			t.Errorf("CheckCustomPIN(%q): the error %q holds the PIN", p, err)
		}
	}
	if err := access.CheckCustomPIN("123"); !errors.Is(err, access.ErrPINLength) {
		t.Errorf("CheckCustomPIN(123) = %v, want ErrPINLength", err)
	}
	if err := access.CheckCustomPIN("482913"); err != nil {
		t.Errorf("CheckCustomPIN(482913) = %v, want nil", err)
	}
}

// TestDuressNeighbour: the duress code is the PIN with its last digit plus
// one, 9 wrapping to 0.
func TestDuressNeighbour(t *testing.T) {
	for pin, want := range map[string]string{"4829": "4820", "1357": "1358", "00000000": "00000001", "55559": "55550"} {
		if got := access.DuressPIN(pin); got != want {
			t.Errorf("DuressPIN(%q) = %q, want %q", pin, got, want)
		}
	}
}

func TestR1OnePINPerUser(t *testing.T) {
	d := accesstest.New()
	d.PutUser(access.User{ID: "ann", Enabled: true})
	must(t, d.SetPIN("ann", "1357"))
	must(t, d.SetPIN("ann", "2468"))
	if d.Taken("1357") {
		t.Errorf("R1: the old PIN still works after a new one was set")
	}
	if h, ok := d.PIN([]byte("2468")); !ok || h.User.ID != "ann" {
		t.Errorf("R1: the new PIN does not find its user")
	}
}

func TestR3UniqueAcrossUsers(t *testing.T) {
	d := accesstest.New()
	const users = 16
	for i := range users {
		d.PutUser(access.User{ID: string(rune('a' + i)), Enabled: true})
	}
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.SetPIN(string(rune('a'+i)), "8642")
		}()
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, access.ErrPINInUse):
			t.Errorf("R3: unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("R3: %d users got the same PIN, want exactly 1", wins)
	}
}

func TestCardKeyRoundTrip(t *testing.T) {
	for _, k := range []access.CardKey{cardAnn, cardAnn2, {Format: "H10302", Number: 12345678901}} {
		got, err := access.ParseCardKey(k.String())
		if err != nil || got != k {
			t.Errorf("ParseCardKey(%q) = %+v, %v; want %+v", k.String(), got, err, k)
		}
	}
	for _, s := range []string{"", "H10301", "H10301:1", ":1:2", "H10301:x:1", "H10301:1:-2", "H10301:99999999999:1"} {
		if _, err := access.ParseCardKey(s); err == nil {
			t.Errorf("ParseCardKey(%q): no error", s)
		}
	}
}

func FuzzValidatePIN(f *testing.F) {
	for _, s := range []string{"1234", "12345678", "123", "123456789", "12a4", "", "١٢٣٤"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pin string) {
		err := access.ValidatePIN(pin)
		ok := len(pin) >= 4 && len(pin) <= 8
		for _, c := range []byte(pin) {
			ok = ok && c >= '0' && c <= '9'
		}
		if ok != (err == nil) {
			t.Fatalf("ValidatePIN(%q) = %v, but the PIN is valid=%v", pin, err, ok)
		}
	})
}
