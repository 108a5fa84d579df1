package access

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
)

// PIN length limits (R2).
const (
	MinPINLength = 4
	MaxPINLength = 8
)

// Errors of the PIN policy. Callers act on them: the API maps ErrPINInUse to
// 409 and the others to 422, and changesets name the failing operation.
var (
	// ErrPINInUse: another user holds that PIN (R3).
	ErrPINInUse = errors.New("pin is held by another user")
	// ErrPINLength: a PIN must be 4 to 8 digits long (R2).
	ErrPINLength = errors.New("pin must be 4 to 8 digits long")
	// ErrPINNotDigits: a PIN may hold only the digits 0-9.
	ErrPINNotDigits = errors.New("pin may hold only the digits 0-9")
	// ErrPINSpaceExhausted: every non-trivial PIN of the requested length
	// is taken.
	ErrPINSpaceExhausted = errors.New("no free pin of that length is left")
	// ErrPINTrivial: a custom PIN is one a passer-by would try first.
	ErrPINTrivial = errors.New("pin is too easy to guess")
)

// ValidatePIN checks a custom PIN against R2. The error never contains the
// PIN itself.
func ValidatePIN(pin string) error {
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return fmt.Errorf("%w (character %d is not a digit)", ErrPINNotDigits, i+1)
		}
	}
	if len(pin) < MinPINLength || len(pin) > MaxPINLength {
		return fmt.Errorf("%w (got %d digits)", ErrPINLength, len(pin))
	}
	return nil
}

// CheckCustomPIN checks a PIN chosen by a person rather than drawn by
// [GeneratePIN]: R2, and not one of the PINs a guesser tries first
// ([IsTrivial]). Every path that sets a chosen PIN (API, CLI, changesets)
// calls it; the error never contains the PIN.
func CheckCustomPIN(pin string) error {
	if err := ValidatePIN(pin); err != nil {
		return err
	}
	if IsTrivial(pin) {
		return fmt.Errorf("%w: repeated digits or blocks, straight runs up or down and the most common PINs are refused; choose another or generate one", ErrPINTrivial)
	}
	return nil
}

// ValidatePINLength checks a requested length for a generated PIN (R4).
func ValidatePINLength(n int) error {
	if n < MinPINLength || n > MaxPINLength {
		return fmt.Errorf("%w (asked for %d)", ErrPINLength, n)
	}
	return nil
}

// commonPINs are the four-digit PINs people choose most often, beyond
// repeated digits and straight runs (from published analyses of leaked
// PIN sets): a guesser tries them first.
var commonPINs = []string{
	"1212", "1004", "2000", "6969", "1122", "1313", "4321", "2001", "1010",
	"2580", "0852", "1357", "2468", "1001", "1100", "0101", "2020", "2525",
}

// IsTrivial reports whether a PIN is one a passer-by would try first: a
// single repeated digit (0000), a straight run up or down, wrapping past
// zero (1234, 8765, 7890, 3210), a pair repeated (1212, 123123) or one of
// the most common PINs. The generator never emits one, and
// [CheckCustomPIN] refuses them.
func IsTrivial(pin string) bool {
	if len(pin) < 2 {
		return true
	}
	if slices.Contains(commonPINs, pin) || repeatsBlock(pin) {
		return true
	}
	step := (int(pin[1]) - int(pin[0]) + 10) % 10
	if step != 0 && step != 1 && step != 9 {
		return false
	}
	for i := 2; i < len(pin); i++ {
		if (int(pin[i])-int(pin[i-1])+10)%10 != step {
			return false
		}
	}
	return true
}

// randomTries is how many random draws GeneratePIN makes before it falls
// back to a scan of the whole space, which finds the last free PIN or proves
// there is none.
const randomTries = 32

// GeneratePIN draws a random non-trivial PIN of length n from rnd (nil means
// crypto/rand) for which taken reports false. taken is how the caller's store
// says a PIN is already held; it must be cheap. GeneratePIN returns
// ErrPINSpaceExhausted when every non-trivial PIN of that length is taken.
//
// The result is only a candidate: the caller must still assign it
// atomically, and draw again if it loses a race for it (ErrPINInUse).
func GeneratePIN(rnd io.Reader, n int, taken func(pin string) bool) (string, error) {
	if err := ValidatePINLength(n); err != nil {
		return "", err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	space := pow10(n)
	buf := make([]byte, n)
	for range randomTries {
		v, err := rand.Int(rnd, big.NewInt(space))
		if err != nil {
			return "", fmt.Errorf("generate pin: %w", err)
		}
		formatPIN(buf, v.Int64())
		if pin := string(buf); !IsTrivial(pin) && !taken(pin) {
			return pin, nil
		}
	}
	// The space is crowded: walk all of it once from a random start.
	start, err := rand.Int(rnd, big.NewInt(space))
	if err != nil {
		return "", fmt.Errorf("generate pin: %w", err)
	}
	for i := int64(0); i < space; i++ {
		formatPIN(buf, (start.Int64()+i)%space)
		if pin := string(buf); !IsTrivial(pin) && !taken(pin) {
			return pin, nil
		}
	}
	return "", fmt.Errorf("generate %d-digit pin: %w", n, ErrPINSpaceExhausted)
}

// repeatsBlock reports whether pin is a shorter block repeated: 1212,
// 123123, 12341234.
func repeatsBlock(pin string) bool {
	for size := 1; size <= len(pin)/2; size++ {
		if len(pin)%size != 0 {
			continue
		}
		if strings.Repeat(pin[:size], len(pin)/size) == pin {
			return true
		}
	}
	return false
}

// DuressPIN returns a PIN's duress neighbour under
// access.duress = "last_digit_plus_one": its last digit plus one, 9
// becoming 0. The store keeps neighbours unique, so that a code is never
// both one user's PIN and another's duress code.
func DuressPIN(pin string) string {
	b := []byte(pin)
	if n := len(b); n > 0 {
		b[n-1] = '0' + (b[n-1]-'0'+1)%10
	}
	return string(b)
}

// PINForDuressCode is the inverse of [DuressPIN]: the PIN whose duress code
// is code.
func PINForDuressCode(code string) string {
	return string(duressOriginal(nil, []byte(code)))
}

// duressOriginal appends to buf the PIN whose duress neighbour digits are:
// the last digit minus one, 0 becoming 9.
func duressOriginal(buf, digits []byte) []byte {
	buf = append(buf, digits...)
	if n := len(buf); n > 0 {
		buf[n-1] = '0' + (buf[n-1]-'0'+9)%10
	}
	return buf
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}

// formatPIN writes v into buf as zero-padded decimal digits.
func formatPIN(buf []byte, v int64) {
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
}
