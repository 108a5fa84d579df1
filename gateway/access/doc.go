// Package access is Lintel's decision core: who may open which door, and what
// the activity log says about it.
//
// The package is pure. It performs no I/O, owns no goroutine and reads no
// clock: every call that depends on time takes the current time as an
// argument, so a test can drive hours of keypad traffic in microseconds and a
// decision can never wait on anything but memory.
//
// # Concepts
//
// A [User] holds credentials (cards, identified by a normalised [CardKey]) and
// at most one PIN (R1). PINs are 4 to 8 digits (R2), unique across users (R3),
// and either chosen by an administrator or generated at random with a chosen
// length (R4); [ValidatePIN] and [GeneratePIN] implement that policy. The
// store that holds the table enforces uniqueness; this package only says what
// a valid PIN is.
//
// A reader has a [Model] and a [Mode]. Only the keypad model RPK40 takes PINs
// (R6), so a PIN mode on a card-only model is a configuration error
// ([ReaderConfig.Validate]).
//
// The [Engine] turns what a reader saw — a card, a key press, a whole PIN from
// a buffered keypad — into a [Result]: an [Event] for the activity log (R11)
// and an [Action] for the door and the reader's LED and beeper. It keeps, per
// reader, the keys pressed so far, the card+PIN window and the wrong-PIN
// counters, and looks users up through a [Directory], which the store
// implements with an in-memory index so that no decision waits on disk.
//
// # Keypad rules
//
// Keys accumulate per reader. '#' submits the digits entered; the eighth digit
// submits on its own, without '#' (R7); '*' clears the entry; a pause longer
// than [ReaderConfig.KeyTimeout] drops a partial entry. In card_and_pin mode a
// known card opens a window of [ReaderConfig.PINWindow] (15 s by default, R8)
// during which the card holder's PIN grants; a wrong PIN is denied with
// "Deny Access - Wrong PIN" (R9) and the window closes. In card_or_pin and
// pin_only modes a PIN that matches no user is denied with
// "Deny Access - Card/PIN Not Found" (R10). Too many wrong PINs in a short time
// lock a reader's keypad, and a user's PIN, for a while.
//
// # Secrets
//
// A PIN or a key press never appears in an [Event], in an error, or in any
// string this package produces. Events name users and credentials by id.
package access
