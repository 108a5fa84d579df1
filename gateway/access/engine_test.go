package access_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/access/accesstest"
)

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

var (
	cardAnn  = access.CardKey{Format: "H10301", Facility: 1, Number: 100}
	cardAnn2 = access.CardKey{Format: "C1k35", Facility: 7, Number: 4242}
	cardBob  = access.CardKey{Format: "H10301", Facility: 1, Number: 200}
	cardEve  = access.CardKey{Format: "H10301", Facility: 1, Number: 300} // disabled
	cardOld  = access.CardKey{Format: "H10301", Facility: 1, Number: 400} // expired
	cardNew  = access.CardKey{Format: "H10301", Facility: 1, Number: 500} // not yet valid
	cardNone = access.CardKey{Format: "H10301", Facility: 1, Number: 600} // no PIN
	cardLost = access.CardKey{Format: "H10301", Facility: 9, Number: 999} // not enrolled
)

// site builds the directory every engine test shares: Ann (two cards, PIN
// 1234), Bob (PIN 56781234, eight digits), and users who must be refused.
func site(t testing.TB) *accesstest.Directory {
	t.Helper()
	d := accesstest.New()
	d.PutUser(access.User{ID: "ann", Name: "Ann", Enabled: true})
	d.PutUser(access.User{ID: "bob", Name: "Bob", Enabled: true})
	d.PutUser(access.User{ID: "eve", Name: "Eve", Enabled: false})
	d.PutUser(access.User{ID: "old", Name: "Old", Enabled: true, ValidTo: t0.Add(-time.Hour)})
	d.PutUser(access.User{ID: "new", Name: "New", Enabled: true, ValidFrom: t0.Add(time.Hour)})
	d.PutUser(access.User{ID: "none", Name: "No PIN", Enabled: true})
	must(t, d.AddCard("ann", "c-ann", cardAnn))
	must(t, d.AddCard("ann", "c-ann2", cardAnn2))
	must(t, d.AddCard("bob", "c-bob", cardBob))
	must(t, d.AddCard("eve", "c-eve", cardEve))
	must(t, d.AddCard("old", "c-old", cardOld))
	must(t, d.AddCard("new", "c-new", cardNew))
	must(t, d.AddCard("none", "c-none", cardNone))
	must(t, d.SetPIN("ann", "1234"))
	must(t, d.SetPIN("bob", "56781234"))
	must(t, d.SetPIN("eve", "9999"))
	must(t, d.SetPIN("old", "4444"))
	must(t, d.SetPIN("new", "5555"))
	return d
}

// newEngine is access.NewEngine with a trusted clock, as the gateway runs
// once its clock is synchronised. Tests of the untrusted clock set their own.
func newEngine(t testing.TB, cfg access.EngineConfig) (*access.Engine, error) {
	t.Helper()
	e, err := access.NewEngine(cfg)
	if err == nil {
		e.SetClock(access.ClockState{Trusted: true})
	}
	return e, err
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readers() []access.ReaderConfig {
	return []access.ReaderConfig{
		{Name: "front", Door: "front", Model: access.ModelRPK40, Mode: access.ModeCardAndPIN},
		{Name: "side", Door: "side", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
		{Name: "garage", Door: "garage", Model: access.ModelRP40, Mode: access.ModeCardOnly},
		{Name: "lobby", Door: "lobby", Model: access.ModelRPK40, Mode: access.ModePINOnly},
	}
}

// step is one input at one reader, at an offset from t0.
type step struct {
	at     time.Duration
	reader string
	card   *access.CardKey
	keys   string // each byte is one key press
	tick   bool
}

// outcome is what a step must produce: the last action and the names of all
// events the step yielded, in order.
type outcome struct {
	Action access.Action
	Names  []string
	User   string
}

func card(at time.Duration, reader string, k access.CardKey) step {
	return step{at: at, reader: reader, card: &k}
}
func keys(at time.Duration, reader, k string) step { return step{at: at, reader: reader, keys: k} }
func tick(at time.Duration) step                   { return step{at: at, tick: true} }

func run(t *testing.T, e *access.Engine, s step) outcome {
	t.Helper()
	now := t0.Add(s.at)
	var results []access.Result
	switch {
	case s.tick:
		results = e.Tick(now)
	case s.card != nil:
		r, err := e.Card(now, s.reader, *s.card)
		must(t, err)
		results = append(results, r)
	default:
		for i := 0; i < len(s.keys); i++ {
			r, err := e.Key(now, s.reader, s.keys[i])
			must(t, err)
			results = append(results, r)
		}
	}
	var o outcome
	for _, r := range results {
		if r.Action != access.ActionNone {
			o.Action = r.Action
		}
		for _, ev := range r.Events {
			o.Names = append(o.Names, ev.Name)
			o.User = ev.User
		}
	}
	return o
}

func TestRules(t *testing.T) {
	const (
		grant    = access.ActionGrant
		deny     = access.ActionDeny
		await    = access.ActionAwaitPIN
		lockout  = access.ActionLockout
		none     = access.ActionNone
		wrongPIN = "Deny Access - Wrong PIN"
		notFound = "Deny Access - Card/PIN Not Found"
	)
	type check struct {
		step step
		want outcome
	}
	tests := []struct {
		name   string
		checks []check
	}{
		{"R5 card and PIN grants the owner", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(2*time.Second, "front", "1234#"), outcome{grant, []string{access.NameGrantCardAndPIN}, "ann"}},
		}},
		{"R5 the PIN works with every one of the user's credentials", []check{
			{card(0, "front", cardAnn2), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(time.Second, "front", "1234#"), outcome{grant, []string{access.NameGrantCardAndPIN}, "ann"}},
		}},
		{"R5 another user's PIN does not work with this card", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(time.Second, "front", "56781234"), outcome{deny, []string{wrongPIN}, "ann"}},
		}},
		{"R6 a card-only reader ignores keys", []check{
			{keys(0, "garage", "1234#"), outcome{none, nil, ""}},
			{card(time.Second, "garage", cardAnn), outcome{grant, []string{access.NameGrantCard}, "ann"}},
		}},
		{"R7 # submits a PIN", []check{
			{keys(0, "side", "1234"), outcome{none, nil, ""}},
			{keys(time.Second, "side", "#"), outcome{grant, []string{access.NameGrantPIN}, "ann"}},
		}},
		{"R7 the eighth digit submits without #", []check{
			{keys(0, "side", "5678123"), outcome{none, nil, ""}},
			{keys(time.Second, "side", "4"), outcome{grant, []string{access.NameGrantPIN}, "bob"}},
		}},
		{"R7 a # after an eight-digit PIN starts nothing", []check{
			{keys(0, "side", "56781234#"), outcome{grant, []string{access.NameGrantPIN}, "bob"}},
		}},
		{"R7 a short PIN without # is not submitted", []check{
			{keys(0, "side", "1234"), outcome{none, nil, ""}},
			{keys(10*time.Second, "side", "#"), outcome{none, nil, ""}},
		}},
		{"R7 * clears the entry", []check{
			{keys(0, "side", "99*1234#"), outcome{grant, []string{access.NameGrantPIN}, "ann"}},
		}},
		{"R7 an inter-key pause drops a partial entry", []check{
			{keys(0, "side", "12"), outcome{none, nil, ""}},
			{keys(6*time.Second, "side", "1234#"), outcome{grant, []string{access.NameGrantPIN}, "ann"}},
		}},
		{"R8 the PIN within 15 s grants", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(14*time.Second, "front", "1234#"), outcome{grant, []string{access.NameGrantCardAndPIN}, "ann"}},
		}},
		{"R8 after 15 s the card must be presented again", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{tick(15 * time.Second), outcome{deny, []string{access.NameDenyPINTimeout}, "ann"}},
			{keys(16*time.Second, "front", "1234#"), outcome{deny, []string{access.NameDenyPINWithoutCard}, ""}},
			{card(20*time.Second, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(21*time.Second, "front", "1234#"), outcome{grant, []string{access.NameGrantCardAndPIN}, "ann"}},
		}},
		{"R8 a late PIN without a tick is refused the same way", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(30*time.Second, "front", "1234#"), outcome{deny, []string{access.NameDenyPINTimeout, access.NameDenyPINWithoutCard}, ""}},
		}},
		{"R9 card and PIN with a wrong PIN", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(time.Second, "front", "4321#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{keys(2*time.Second, "front", "1234#"), outcome{deny, []string{access.NameDenyPINWithoutCard}, ""}},
		}},
		{"R9 card and PIN with a too short entry", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(time.Second, "front", "12#"), outcome{deny, []string{wrongPIN}, "ann"}},
		}},
		{"R10 card or PIN with a wrong PIN", []check{
			{keys(0, "side", "4321#"), outcome{deny, []string{notFound}, ""}},
		}},
		{"R10 PIN only with a wrong PIN", []check{
			{keys(0, "lobby", "87654321"), outcome{deny, []string{notFound}, ""}},
		}},
		{"R10 card or PIN grants a known card", []check{
			{card(0, "side", cardBob), outcome{grant, []string{access.NameGrantCard}, "bob"}},
		}},
		{"R11 an unknown card is denied and logged", []check{
			{card(0, "garage", cardLost), outcome{deny, []string{access.NameDenyCardNotFound}, ""}},
			{card(0, "front", cardLost), outcome{deny, []string{access.NameDenyCardNotFound}, ""}},
		}},
		{"R11 a disabled user is denied", []check{
			{card(0, "garage", cardEve), outcome{deny, []string{access.NameDenyDisabled}, "eve"}},
			{keys(0, "side", "9999#"), outcome{deny, []string{access.NameDenyDisabled}, "eve"}},
		}},
		{"R11 users outside their validity are denied", []check{
			{card(0, "garage", cardOld), outcome{deny, []string{access.NameDenyExpired}, "old"}},
			{card(0, "garage", cardNew), outcome{deny, []string{access.NameDenyNotYetValid}, "new"}},
			{keys(0, "side", "5555#"), outcome{deny, []string{access.NameDenyNotYetValid}, "new"}},
		}},
		{"R11 card and PIN refuses a user without a PIN", []check{
			{card(0, "front", cardNone), outcome{deny, []string{access.NameDenyNoPIN}, "none"}},
			{keys(time.Second, "front", "1234#"), outcome{deny, []string{access.NameDenyPINWithoutCard}, ""}},
		}},
		{"R11 a PIN-only reader refuses cards", []check{
			{card(0, "lobby", cardAnn), outcome{deny, []string{access.NameDenyCardNotAllowed}, ""}},
			{keys(time.Second, "lobby", "1234#"), outcome{grant, []string{access.NameGrantPIN}, "ann"}},
		}},
		{"lockout after five wrong PINs at one reader", []check{
			{keys(0, "side", "1111#2222#3333#4444#"), outcome{deny, []string{notFound, notFound, notFound, access.NameDenyExpired}, "old"}},
			{keys(time.Second, "side", "6666#7777#"), outcome{lockout, []string{notFound, notFound, access.NameKeypadLocked}, ""}},
			{keys(2*time.Second, "side", "1234#"), outcome{deny, []string{access.NameDenyKeypadLocked}, ""}},
			{tick(62 * time.Second), outcome{access.ActionIdle, []string{access.NameKeypadUnlocked}, ""}},
			{keys(63*time.Second, "side", "1234#"), outcome{grant, []string{access.NameGrantPIN}, "ann"}},
		}},
		{"wrong PINs spread beyond the window do not lock", []check{
			{keys(0, "side", "1111#2222#3333#6666#"), outcome{deny, []string{notFound, notFound, notFound, notFound}, ""}},
			{keys(61*time.Second, "side", "7777#"), outcome{deny, []string{notFound}, ""}},
			{keys(62*time.Second, "side", "1234#"), outcome{grant, []string{access.NameGrantPIN}, "ann"}},
		}},
		{"a user's wrong PINs lock that user", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(1*time.Second, "front", "0001#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(2*time.Second, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(3*time.Second, "front", "0002#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(4*time.Second, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(5*time.Second, "front", "0003#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(6*time.Second, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(7*time.Second, "front", "0004#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(8*time.Second, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(9*time.Second, "front", "0005#"), outcome{lockout, []string{wrongPIN, access.NameUserLocked, access.NameKeypadLocked}, ""}},
			{keys(70*time.Second, "side", "1234#"), outcome{grant, []string{access.NameGrantPIN}, "ann"}},
		}},
		{"a locked user is refused at another reader", []check{
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(0, "front", "0001#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(0, "front", "0002#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(0, "front", "0003#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(0, "front", "0004#"), outcome{deny, []string{wrongPIN}, "ann"}},
			{card(0, "front", cardAnn), outcome{await, []string{access.NameAwaitingPIN}, "ann"}},
			{keys(0, "front", "0005#"), outcome{lockout, []string{wrongPIN, access.NameUserLocked, access.NameKeypadLocked}, ""}},
			{keys(time.Second, "side", "1234#"), outcome{deny, []string{access.NameDenyUserLocked}, "ann"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := newEngine(t, access.EngineConfig{Directory: site(t), Readers: readers()})
			must(t, err)
			for i, c := range tt.checks {
				got := run(t, e, c.step)
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("step %d (%+v): outcome mismatch (-want +got):\n%s", i, c.step, diff)
				}
			}
		})
	}
}

// TestR11EveryDecisionIsLogged feeds every kind of input to every reader and
// checks each decision yields exactly one grant or deny event, with the
// reader and door filled in and no digit of a PIN anywhere.
func TestR11EveryDecisionIsLogged(t *testing.T) {
	e, err := newEngine(t, access.EngineConfig{Directory: site(t), Readers: readers()})
	must(t, err)
	inputs := []step{
		card(0, "", cardAnn), card(0, "", cardLost), card(0, "", cardEve),
		keys(0, "", "1234#"), keys(0, "", "9876#"), keys(0, "", "56781234"),
	}
	for _, rc := range readers() {
		for _, in := range inputs {
			in.reader = rc.Name
			now := t0
			var results []access.Result
			if in.card != nil {
				r, err := e.Card(now, rc.Name, *in.card)
				must(t, err)
				results = append(results, r)
			} else {
				for i := 0; i < len(in.keys); i++ {
					r, err := e.Key(now, rc.Name, in.keys[i])
					must(t, err)
					results = append(results, r)
				}
			}
			decisions := 0
			for _, r := range results {
				for _, ev := range r.Events {
					if ev.Reader != rc.Name || ev.Door != rc.Door {
						t.Errorf("%s: event %q has reader %q door %q", rc.Name, ev.Name, ev.Reader, ev.Door)
					}
					if !ev.Time.Equal(now) {
						t.Errorf("%s: event %q at %v, want %v", rc.Name, ev.Name, ev.Time, now)
					}
					for _, secret := range []string{"1234", "9876", "5678"} {
						if strings.Contains(fmt.Sprintf("%+v", ev), secret) {
							t.Errorf("%s: event %+v contains PIN digits %q", rc.Name, ev, secret)
						}
					}
					switch ev.Type {
					case access.TypeGranted:
						decisions++
						if !strings.HasPrefix(ev.Name, "Grant Access") {
							t.Errorf("grant named %q", ev.Name)
						}
					case access.TypeDenied:
						decisions++
						if !strings.HasPrefix(ev.Name, "Deny Access") {
							t.Errorf("denial named %q", ev.Name)
						}
					}
				}
			}
			ignored := rc.Mode == access.ModeCardOnly && in.card == nil
			awaiting := rc.Mode == access.ModeCardAndPIN && in.card != nil && *in.card == cardAnn
			switch {
			case ignored || awaiting:
				if decisions != 0 {
					t.Errorf("%s %+v: %d decisions, want none", rc.Name, in, decisions)
				}
			case decisions != 1:
				t.Errorf("%s %+v: %d decisions, want exactly 1", rc.Name, in, decisions)
			}
			e.Tick(now.Add(time.Hour)) // close any window before the next input
		}
	}
}

func TestNextDeadline(t *testing.T) {
	e, err := newEngine(t, access.EngineConfig{Directory: site(t), Readers: readers()})
	must(t, err)
	if d, ok := e.NextDeadline(); ok {
		t.Fatalf("NextDeadline = %v on an idle engine, want none", d)
	}
	if _, err := e.Card(t0, "front", cardAnn); err != nil {
		t.Fatal(err)
	}
	d, ok := e.NextDeadline()
	if !ok || !d.Equal(t0.Add(access.DefaultPINWindow)) {
		t.Fatalf("NextDeadline = %v, %v; want %v", d, ok, t0.Add(access.DefaultPINWindow))
	}
	e.Tick(d)
	if d, ok := e.NextDeadline(); ok {
		t.Fatalf("NextDeadline = %v after the window expired, want none", d)
	}
}

func TestConfiguredPINWindow(t *testing.T) {
	rcs := readers()
	rcs[0].PINWindow = 30 * time.Second
	e, err := newEngine(t, access.EngineConfig{Directory: site(t), Readers: rcs})
	must(t, err)
	run(t, e, card(0, "front", cardAnn))
	got := run(t, e, keys(25*time.Second, "front", "1234#"))
	if got.Action != access.ActionGrant {
		t.Fatalf("PIN at 25 s with a 30 s window: %+v, want a grant", got)
	}
}

func TestEngineErrors(t *testing.T) {
	e, err := newEngine(t, access.EngineConfig{Directory: site(t), Readers: readers()})
	must(t, err)
	var unknown access.ErrUnknownReader
	if _, err := e.Card(t0, "nope", cardAnn); !errors.As(err, &unknown) {
		t.Errorf("Card at unknown reader: err = %v, want ErrUnknownReader", err)
	}
	if _, err := e.Key(t0, "side", 'x'); err == nil {
		t.Errorf("Key('x'): no error")
	}
	if _, err := newEngine(t, access.EngineConfig{Directory: site(t), Readers: append(readers(), readers()[0])}); err == nil {
		t.Errorf("NewEngine with a duplicate reader: no error")
	}
	bad := readers()
	bad[2].Mode = access.ModeCardOrPIN // garage is an RP40
	_, err = newEngine(t, access.EngineConfig{Directory: site(t), Readers: bad})
	if err == nil || !strings.Contains(err.Error(), "needs a keypad reader (RPK40), got RP40") {
		t.Errorf("NewEngine with a PIN mode on an RP40: err = %v", err)
	}
}

func TestBufferedPINAndKeypadError(t *testing.T) {
	e, err := newEngine(t, access.EngineConfig{Directory: site(t), Readers: readers()})
	must(t, err)
	r, err := e.PIN(t0, "side", []byte("1234"))
	must(t, err)
	if r.Action != access.ActionGrant || r.Events[0].User != "ann" {
		t.Errorf("buffered PIN 1234: %+v, want a grant for ann", r)
	}
	r, err = e.KeypadError(t0, "side")
	must(t, err)
	if r.Action != access.ActionDeny || r.Events[0].Name != access.NameDenyKeypadError {
		t.Errorf("keypad error: %+v", r)
	}
	r, err = e.PIN(t0, "garage", []byte("1234"))
	must(t, err)
	if r.Action != access.ActionNone || len(r.Events) != 0 {
		t.Errorf("buffered PIN at a card-only reader: %+v, want nothing", r)
	}
}
