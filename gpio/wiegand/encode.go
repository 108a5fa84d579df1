package wiegand

import "fmt"

// EncodeCard builds the frame a reader sends for a card (or, with "PIN26",
// a buffered PIN). The format name is matched in any case. It fails when
// the facility or number does not fit the format's fields, when a format
// without a facility field is given a non-zero facility, or for keypad
// burst formats (use EncodeKeys).
func EncodeCard(formatName string, facility uint32, number uint64) (string, error) {
	canon, err := CanonicalFormat(formatName)
	if err != nil {
		return "", fmt.Errorf("wiegand: encode card: %w", err)
	}
	f := formats[canon]
	if f.Kind == KindKey {
		return "", fmt.Errorf("wiegand: encode card: %s is a keypad burst format, not a card format", canon)
	}
	if err := checkRange(f, facility, number); err != nil {
		return "", fmt.Errorf("wiegand: encode card: %w", err)
	}
	return f.encode(facility, number), nil
}

// ValidateCard reports whether (format, facility, number) is a card the
// format can carry; the store and API use it to check credentials. It
// returns the canonical format name.
func ValidateCard(formatName string, facility uint32, number uint64) (string, error) {
	canon, err := CanonicalFormat(formatName)
	if err != nil {
		return "", err
	}
	f := formats[canon]
	if f.Kind != KindCard && f.Kind != KindRaw {
		return "", fmt.Errorf("wiegand: %s is not a card format", canon)
	}
	if err := checkRange(f, facility, number); err != nil {
		return "", err
	}
	return canon, nil
}

func checkRange(f *format, facility uint32, number uint64) error {
	if f.FacilityBits == 0 && facility != 0 {
		return fmt.Errorf("%s has no facility code, got facility %d", f.Name, facility)
	}
	if f.FacilityBits > 0 && f.FacilityBits < 32 && facility >= 1<<f.FacilityBits {
		return fmt.Errorf("%s facility must be 0 to %d, got %d", f.Name, uint64(1)<<f.FacilityBits-1, facility)
	}
	if f.NumberBits < 64 && number >= 1<<f.NumberBits {
		return fmt.Errorf("%s number must be 0 to %d, got %d", f.Name, uint64(1)<<f.NumberBits-1, number)
	}
	return nil
}

// EncodeKeys builds one keypad burst per key in keys ('0'–'9', '*', '#')
// in the given burst format, "KEY4" or "KEY8" (any case).
func EncodeKeys(formatName string, keys string) ([]string, error) {
	canon, err := CanonicalFormat(formatName)
	if err != nil {
		return nil, fmt.Errorf("wiegand: encode keys: %w", err)
	}
	f := formats[canon]
	if f.Kind != KindKey {
		return nil, fmt.Errorf("wiegand: encode keys: %s is not a keypad burst format (KEY4 or KEY8)", canon)
	}
	out := make([]string, 0, len(keys))
	for i := 0; i < len(keys); i++ {
		code, ok := keyCode(keys[i])
		if !ok {
			return nil, fmt.Errorf("wiegand: encode keys: key %d is not 0-9, * or #", i+1)
		}
		out = append(out, f.encode(0, code))
	}
	return out, nil
}
