package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the test reads schedules in the gateway's zone

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
)

// TestAccessPolicyEndToEnd reproduces every rule of DESIGN.md's "Access
// policy" on the real binary through the REST API alone, then sends the
// same policy and users as a snapshot over a real mosquitto to a second
// gateway and checks that it holds the same digest and decides the same
// presentations the same way.
//
// The gateways run on the wall clock (the binary takes no fake one), so
// the schedules are built around the moment the test runs: "allweek" is
// every day 00:00–24:00, "notnow" an hour of every day at least an hour
// away from now, and holidays are dated from yesterday to tomorrow. No
// step depends on a boundary being crossed while the test runs, except
// an override's until, which the test sets a few seconds ahead and waits
// for (with a deadline).
func TestAccessPolicyEndToEnd(t *testing.T) {
	const zone = "America/New_York"
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	srv := mosquittotest.Start(t)
	token, tokenHash := api.NewToken()

	// Gateway A is set up through its API; gateway B gets everything as
	// one snapshot through the cloud broker.
	a := startPolicyGateway(t, "gw-a", zone, tokenHash, "")
	b := startPolicyGateway(t, "gw-b", zone, tokenHash, srv.URL())
	ca, cb := &policyClient{t: t, g: a, c: client.New("http://"+a.api, token)}, &policyClient{t: t, g: b, c: client.New("http://"+b.api, token)}

	// The policy, as one set of values both gateways get.
	week := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	notNow, notNowEnd := "01:00", "02:00"
	if now.Hour() <= 3 {
		notNow, notNowEnd = "13:00", "14:00"
	}
	policy := changeset.Policy{
		Schedules: []access.Schedule{
			{ID: "allweek", Name: "Every day", Intervals: []access.Interval{{Days: week, Start: "00:00", End: "24:00", Holidays: []int{}}}},
			{ID: "notnow", Name: "An hour away", Intervals: []access.Interval{{Days: week, Start: notNow, End: notNowEnd, Holidays: []int{}}}},
			{ID: "holidays2", Name: "Type-2 holidays", Intervals: []access.Interval{{Days: week, Start: "00:00", End: "24:00", Holidays: []int{2}}}},
		},
		Holidays: []access.Holiday{{ID: "future", Name: "Far away", Date: "2030-01-01", Type: 1}},
		Levels: []access.Level{
			{ID: "staff", Name: "Staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "allweek"}, {Door: "side", Schedule: "notnow"}}},
			{ID: "crew", Name: "Garage crew", Doors: []access.LevelDoor{{Door: "garage", Schedule: "allweek"}}},
			{ID: "festive", Name: "Holiday staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "holidays2"}}},
		},
		// The garage stands unlocked every day once someone of the crew
		// has come in.
		DoorPolicies: []access.DoorPolicy{{Door: "garage", Modes: []access.PolicyMode{{Schedule: "allweek", Mode: access.ModeUnlocked, FirstIn: "crew"}}}},
	}
	type person struct {
		user access.User
		pin  string
		card uint64
	}
	people := []person{
		{access.User{ID: "ann", Name: "Ann", Enabled: true, Levels: []string{"staff"}}, "482913", 101},
		{access.User{ID: "bob", Name: "Bob", Enabled: true, Levels: []string{}}, "", 102},
		{access.User{ID: "cy", Name: "Cy", Enabled: true}, "507316", 103}, // no levels given: ["all"]
		{access.User{ID: "dee", Name: "Dee", Enabled: true, Levels: []string{"staff", "crew"}, Override: true}, "639274", 104},
	}

	// A, through the API: the policy, then the users.
	for _, s := range policy.Schedules {
		ca.put("/api/v1/schedules/"+s.ID, api.ScheduleBody{Name: s.Name, Intervals: &s.Intervals}, http.StatusCreated)
	}
	for _, h := range policy.Holidays {
		ca.put("/api/v1/holidays/"+h.ID, api.HolidayBody{Name: h.Name, Date: h.Date, Until: h.Until, Type: &h.Type}, http.StatusCreated)
	}
	for _, l := range policy.Levels {
		ca.put("/api/v1/levels/"+l.ID, api.LevelBody{Name: l.Name, Doors: &l.Doors}, http.StatusCreated)
	}
	for _, p := range policy.DoorPolicies {
		ca.put("/api/v1/doors/"+p.Door+"/policy", api.DoorPolicyBody{Modes: &p.Modes}, http.StatusOK)
	}
	var users []portal.User
	for _, p := range people {
		body := api.UserBody{Name: p.user.Name, Enabled: &p.user.Enabled}
		if p.user.Levels != nil {
			body.Levels = &p.user.Levels
		}
		if p.user.Override {
			body.Override = &p.user.Override
		}
		if _, created, err := ca.c.PutUser(ca.ctx(), p.user.ID, body); err != nil || !created {
			t.Fatalf("PUT user %s: created %v, %v", p.user.ID, created, err)
		}
		if p.pin != "" {
			if err := ca.c.SetPIN(ca.ctx(), p.user.ID, p.pin); err != nil {
				t.Fatalf("PUT pin of %s: %v", p.user.ID, err)
			}
		}
		cred, err := ca.c.AddCard(ca.ctx(), p.user.ID, access.CardKey{Format: "H10301", Facility: 1, Number: p.card})
		if err != nil {
			t.Fatalf("add card of %s: %v", p.user.ID, err)
		}
		users = append(users, portal.User{User: p.user, PIN: p.pin, Credentials: []access.Credential{cred}})
	}

	// The rules each presentation shows, decided by A.
	type step struct {
		reader string
		card   uint64 // 0: none
		keys   string // "": none
		want   []string
	}
	script := []step{
		// Levels: ann's staff level has front on allweek...
		{"front", 101, "482913#", []string{access.NameGrantCardAndPIN}},
		// ...and side on notnow: a level covers side, not now.
		{"side", 101, "", []string{access.NameDenyOutsideSchedule}},
		// No level of ann's covers the garage.
		{"garage", 101, "", []string{access.NameDenyNotAuthorized}},
		// levels [] opens no door at all.
		{"garage", 102, "", []string{access.NameDenyNotAuthorized}},
		// A user created without levels holds "all": every door, always.
		{"side", 0, "507316#", []string{access.NameGrantPIN}},
		// cy at the garage is granted, but does not hold "crew": the
		// garage keeps waiting for its first person in.
		{"garage", 103, "", []string{access.NameGrantCard}},
		// dee holds crew: granted, and the garage's scheduled unlock
		// starts.
		{"garage", 104, "", []string{access.NameGrantCard, access.NameFirstPersonIn, access.NameUnlockedBySchedule}},
		// dee's PIN with its last digit plus one: a normal grant, then the
		// duress alarm.
		{"front", 104, "639275#", []string{access.NameGrantCardAndPIN, access.NameDuressAlarm}},
	}
	run := func(pc *policyClient) []string {
		var got []string
		for _, s := range script {
			names := pc.present(s.reader, s.card, s.keys, len(s.want))
			got = append(got, s.reader+": "+strings.Join(names, ", "))
		}
		return got
	}
	var want []string
	for _, s := range script {
		want = append(want, s.reader+": "+strings.Join(s.want, ", "))
	}
	decidedA := run(ca)
	if diff := cmp.Diff(want, decidedA); diff != "" {
		t.Errorf("gateway A's decisions (-want +got):\n%s", diff)
	}
	if d := ca.door("garage"); d.Mode != access.ModeUnlocked || d.ModeSource != access.SourceSchedule || !d.RelayEnergised {
		t.Errorf("garage after its first person in: mode %s from %s, relay energised %v; want unlocked by schedule, energised", d.Mode, d.ModeSource, d.RelayEnergised)
	}

	// B: the same policy and users as one snapshot, through the cloud
	// broker, by the portal kit.
	var syncer *portal.Syncer
	pc, err := portal.NewClient(portal.MQTTConfig{URL: srv.URL(), ClientID: "e2e-portal"},
		func(ctx context.Context, gw string, ack []byte) error { return syncer.HandleAck(ctx, gw, ack) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if syncer, err = portal.NewSyncer(portal.SyncConfig{Publisher: pc}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pc.Run(ctx)
	waitFor(t, "the portal's connection", pc.Connected)
	table := portal.Table{Policy: policy, Users: users}
	if err := syncer.Send(ctx, "gw-b", portal.Snapshot(1, table)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "gw-b's applied ack of the snapshot", func() bool { st, _ := syncer.State("gw-b"); return st.InSync() })
	digestA, digestB := ca.digest(), cb.digest()
	if digestA != digestB || digestB != portal.Digest(table) {
		t.Errorf("digests: A (through the API) %s, B (the snapshot) %s, the portal's %s; want all equal", digestA, digestB, portal.Digest(table))
	}
	if diff := cmp.Diff(decidedA, run(cb)); diff != "" {
		t.Errorf("gateway B decides the snapshot's policy otherwise than A (-A +B):\n%s", diff)
	}

	// The rest of the rules on A, through the API.
	t.Run("lockdown", func(t *testing.T) {
		ca.t = t
		ca.put("/api/v1/overrides/drill", api.OverrideBody{Doors: []string{"*"}, Mode: access.ModeLockdown}, http.StatusCreated)
		ca.waitEvent(access.NameLockdownStarted, "garage")
		if got := ca.present("garage", 103, "", 1); got[0] != access.NameDenyLockdown {
			t.Errorf("cy in a lockdown: %v, want %s", got, access.NameDenyLockdown)
		}
		if got := ca.present("garage", 104, "", 1); got[0] != access.NameGrantCard {
			t.Errorf("dee (override) in a lockdown: %v, want %s", got, access.NameGrantCard)
		}
		ca.delete("/api/v1/overrides/drill")
		ca.waitEvent(access.NameLockdownEnded, "garage")
		if got := ca.present("garage", 103, "", 1); got[0] != access.NameGrantCard {
			t.Errorf("cy after the lockdown: %v, want %s", got, access.NameGrantCard)
		}
	})
	t.Run("locked door and rank", func(t *testing.T) {
		ca.t = t
		ca.put("/api/v1/overrides/shut", api.OverrideBody{Doors: []string{"front"}, Mode: access.ModeLocked}, http.StatusCreated)
		ca.waitEvent(access.NameLockedByOverride, "front")
		if got := ca.present("front", 101, "482913#", 1); got[0] != access.NameDenyDoorLocked {
			t.Errorf("ann at a locked door: %v, want %s", got, access.NameDenyDoorLocked)
		}
		// The lowest rank wins: an unlocked override of rank 50 beats
		// the locked one of the default rank 100.
		ca.put("/api/v1/overrides/open", api.OverrideBody{Doors: []string{"front"}, Mode: access.ModeUnlocked, Rank: 50}, http.StatusCreated)
		ca.waitEvent(access.NameUnlockedByOverride, "front")
		if d := ca.door("front"); d.Mode != access.ModeUnlocked || d.Override != "open" || !d.RelayEnergised {
			t.Errorf("front under two overrides: mode %s by %q, energised %v; want unlocked by \"open\"", d.Mode, d.Override, d.RelayEnergised)
		}
		ca.delete("/api/v1/overrides/open")
		ca.waitEvent(access.NameLockedByOverride, "front")
		ca.delete("/api/v1/overrides/shut")
		ca.waitEvent(access.NameOverrideEnded, "front")
		if d := ca.door("front"); d.Mode != access.DoorMode(access.ModeCardAndPIN) || d.ModeSource != access.SourceReader {
			t.Errorf("front with no override: mode %s from %s, want its reader's card_and_pin", d.Mode, d.ModeSource)
		}
	})
	t.Run("override until", func(t *testing.T) {
		ca.t = t
		until := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
		ca.put("/api/v1/overrides/hold", api.OverrideBody{Doors: []string{"side"}, Mode: access.ModeUnlocked, Until: &until}, http.StatusCreated)
		ca.waitEvent(access.NameUnlockedByOverride, "side")
		ca.waitEvent(access.NameOverrideEnded, "side")
		if d := ca.door("side"); d.Mode != access.DoorMode(access.ModeCardOrPIN) || d.RelayEnergised {
			t.Errorf("side after its override's until: mode %s, energised %v; want card_or_pin, relay off", d.Mode, d.RelayEnergised)
		}
	})
	t.Run("scheduled reader mode", func(t *testing.T) {
		ca.t = t
		// Any reader mode may be scheduled: front takes a PIN alone
		// while allweek is active.
		ca.put("/api/v1/doors/front/policy", api.DoorPolicyBody{Modes: &[]access.PolicyMode{{Schedule: "allweek", Mode: access.DoorMode(access.ModeCardOrPIN)}}}, http.StatusOK)
		ca.waitEvent(access.NameDoorModeChanged, "front")
		if got := ca.present("front", 0, "507316#", 1); got[0] != access.NameGrantPIN {
			t.Errorf("a PIN alone at front on a card_or_pin schedule: %v, want %s", got, access.NameGrantPIN)
		}
		ca.delete("/api/v1/doors/front/policy")
		ca.waitEvent(access.NameDoorModeChanged, "front")
	})
	t.Run("holidays", func(t *testing.T) {
		ca.t = t
		// Today is a type-2 holiday: allweek (no holiday types) does not
		// apply, holidays2 does.
		ca.put("/api/v1/holidays/today", api.HolidayBody{Name: "Snow day", Date: now.AddDate(0, 0, -1).Format(time.DateOnly),
			Until: now.AddDate(0, 0, 1).Format(time.DateOnly), Type: ptr(2)}, http.StatusCreated)
		ca.waitEvent(access.NameLockedBySchedule, "garage")
		if got := ca.present("front", 101, "482913#", 1); got[0] != access.NameDenyOutsideSchedule {
			t.Errorf("ann on a holiday: %v, want %s", got, access.NameDenyOutsideSchedule)
		}
		ca.put("/api/v1/users/ann", api.UserBody{Name: "Ann", Levels: &[]string{"staff", "festive"}}, http.StatusOK)
		if got := ca.present("front", 101, "482913#", 1); got[0] != access.NameGrantCardAndPIN {
			t.Errorf("ann with the holiday level on a holiday: %v, want %s", got, access.NameGrantCardAndPIN)
		}
		ca.delete("/api/v1/holidays/today")
		ca.waitEvent(access.NameUnlockedBySchedule, "garage")
		ca.put("/api/v1/users/ann", api.UserBody{Name: "Ann", Levels: &[]string{"staff"}}, http.StatusOK)
	})
	t.Run("bad input", func(t *testing.T) {
		ca.t = t
		before := ca.digest()
		for _, tc := range []struct {
			path   string
			body   any
			status int
			want   string
		}{
			{"/api/v1/schedules/late", api.ScheduleBody{Intervals: &[]access.Interval{{Days: []string{"mon"}, Start: "18:00", End: "25:00"}}}, http.StatusUnprocessableEntity, "intervals[0].end"},
			{"/api/v1/schedules/late", api.ScheduleBody{Intervals: &[]access.Interval{{Days: []string{"mon"}, Start: "18:00", End: "08:00"}}}, http.StatusUnprocessableEntity, "intervals[0]"},
			{"/api/v1/schedules/late", api.ScheduleBody{Intervals: &[]access.Interval{{Days: []string{"someday"}, Start: "08:00", End: "18:00"}}}, http.StatusUnprocessableEntity, "intervals[0].days[0]"},
			{"/api/v1/levels/x", api.LevelBody{Doors: &[]access.LevelDoor{{Door: "vault", Schedule: "allweek"}}}, http.StatusUnprocessableEntity, "doors[0].door"},
			{"/api/v1/levels/x", api.LevelBody{Doors: &[]access.LevelDoor{{Door: "front", Schedule: "nope"}}}, http.StatusUnprocessableEntity, "doors[0].schedule"},
			{"/api/v1/doors/garage/policy", api.DoorPolicyBody{Modes: &[]access.PolicyMode{{Schedule: "allweek", Mode: access.DoorMode(access.ModeCardAndPIN)}}}, http.StatusUnprocessableEntity, "modes[0].mode"},
			{"/api/v1/schedules/always", api.ScheduleBody{Intervals: &[]access.Interval{}}, http.StatusUnprocessableEntity, "always"},
		} {
			status, body := ca.do(http.MethodPut, tc.path, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("PUT %s: %d %s, want %d naming %q", tc.path, status, body, tc.status, tc.want)
			}
		}
		if status, body := ca.do(http.MethodDelete, "/api/v1/schedules/allweek", nil); status != http.StatusConflict || !strings.Contains(body, "in_use") {
			t.Errorf("DELETE a schedule levels use: %d %s, want 409 in_use", status, body)
		}
		if status, body := ca.do(http.MethodDelete, "/api/v1/levels/crew", nil); status != http.StatusConflict || !strings.Contains(body, "in_use") {
			t.Errorf("DELETE a level users hold: %d %s, want 409 in_use", status, body)
		}
		// With duress codes on, a PIN one more in its last digit than
		// another user's (ann's 482913) would be ambiguous.
		if status, body := ca.do(http.MethodPut, "/api/v1/users/bob/pin", api.PINBody{PIN: ptr("482914")}); status != http.StatusConflict || !strings.Contains(body, "pin_in_use") {
			t.Errorf("PUT bob's PIN as ann's duress code: %d %s, want 409 pin_in_use", status, body)
		}
		if after := ca.digest(); after != before {
			t.Errorf("refused changes moved the digest from %s to %s", before, after)
		}
	})
	t.Run("audit", func(t *testing.T) {
		ca.t = t
		var audits int
		for _, ev := range ca.events(0) {
			if ev.Type == access.TypeAudit {
				audits++
				if ev.Actor != "e2e" {
					t.Errorf("audit event %q names %q, want the token's name e2e", ev.Name, ev.Actor)
				}
				for _, p := range people {
					if p.pin != "" && strings.Contains(ev.Detail, p.pin) {
						t.Errorf("audit event %q holds a PIN", ev.Name)
					}
				}
			}
		}
		if audits < len(policy.Schedules)+len(policy.Levels)+len(people) {
			t.Errorf("%d audit events, want one per change at least", audits)
		}
	})
	t.Run("restart mid-interval", func(t *testing.T) {
		ca.t = t
		// The garage is unlocked by its schedule after its first person
		// in; a restart brings it back unlocked, without a new first in.
		if d := ca.door("garage"); d.Mode != access.ModeUnlocked {
			t.Fatalf("garage before the restart: %s, want unlocked", d.Mode)
		}
		a.stop(t)
		a2 := startLintel(t, a.dir, a.api, "", a.cmd.Args[1:]...)
		ca.g = a2
		if d := ca.door("garage"); d.Mode != access.ModeUnlocked || !d.RelayEnergised {
			t.Errorf("garage after a restart mid-interval: mode %s, energised %v; want unlocked, energised", d.Mode, d.RelayEnergised)
		}
		if got := ca.present("side", 0, "507316#", 1); got[0] != access.NameGrantPIN {
			t.Errorf("cy after the restart: %v, want %s", got, access.NameGrantPIN)
		}
		a2.stop(t)
	})
}

func ptr[T any](v T) *T { return &v }

// startPolicyGateway starts `lintel run --sim --config` for gateway id in
// zone, with the clock trusted (this machine's may not be synchronised),
// duress codes on, an admin token named e2e, the embedded broker off, and
// an uplink to broker when given.
func startPolicyGateway(t *testing.T, id, zone, tokenHash, broker string) *gatewayProc {
	t.Helper()
	tables := fmt.Sprintf("[gateway]\ntimezone = %q\n\n[access]\nduress = \"last_digit_plus_one\"\nuntrusted_clock = \"trust\"\n\n[broker]\ndisabled = true\n", zone)
	if broker != "" {
		tables += fmt.Sprintf("\n[uplink]\nurl = %q\n", broker)
	}
	return startSimConfig(t, id, tokenHash, "", tables)
}

// startSimConfig starts `lintel run --sim --config` with the simulator's
// three readers and doors, an admin token named e2e, the API on a free
// port, and tables, TOML that may extend [gateway] (its first table) and
// add others. mqtt is the embedded broker's address, if tables gives it
// one.
func startSimConfig(t *testing.T, id, tokenHash, mqtt, tables string) *gatewayProc {
	t.Helper()
	dir := t.TempDir()
	addr := freePort(t)
	var readers strings.Builder
	for i, r := range []struct{ name, model, mode string }{{"front", "RPK40", "card_and_pin"}, {"side", "RPK40", "card_or_pin"}, {"garage", "RP40", "card_only"}} {
		p := i * 10
		fmt.Fprintf(&readers, `
[readers.%[1]s]
model = %[2]q
mode = %[3]q
door = %[1]q
d0 = "SIM%[4]d"
d1 = "SIM%[5]d"
green_led = "SIM%[6]d"
red_led = "SIM%[7]d"
beeper = "SIM%[8]d"

[doors.%[1]s]
strike = "SIM%[9]d"
contact = "SIM%[10]d"
rex = "SIM%[11]d"
`, r.name, r.model, r.mode, p, p+1, p+2, p+3, p+4, p+5, p+6, p+7)
	}
	cfg := fmt.Sprintf(`[api]
listen = %q
[[api.tokens]]
name = "e2e"
role = "admin"
sha256 = %q
%s`, addr, tokenHash, readers.String())
	// [gateway] first, so tables may add to it.
	gw := fmt.Sprintf("[gateway]\nid = %q\ndata_dir = %q\nkey_file = %q\n", id, filepath.Join(dir, "data"), filepath.Join(dir, "device.key"))
	body, found := strings.CutPrefix(tables, "[gateway]\n")
	if !found {
		body = "\n" + tables
	}
	file := filepath.Join(dir, "lintel.toml")
	if err := os.WriteFile(file, []byte(gw+body+"\n"+cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startLintel(t, dir, addr, mqtt, "run", "--sim", "--config", file)
}

// policyClient drives one gateway's API for the policy test.
type policyClient struct {
	t    *testing.T
	g    *gatewayProc
	c    *client.Client
	seen uint64 // the last event seq looked at
}

func (p *policyClient) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	p.t.Cleanup(cancel)
	return ctx
}

// do sends a JSON request and returns the status and body.
func (p *policyClient) do(method, path string, body any) (int, string) {
	p.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			p.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(p.ctx(), method, "http://"+p.g.api+path, r)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *policyClient) put(path string, body any, want int) {
	p.t.Helper()
	if status, b := p.do(http.MethodPut, path, body); status != want && !(want == http.StatusCreated && status == http.StatusOK) {
		p.t.Fatalf("PUT %s: %d %s, want %d", path, status, b, want)
	}
}

func (p *policyClient) delete(path string) {
	p.t.Helper()
	if status, b := p.do(http.MethodDelete, path, nil); status != http.StatusNoContent {
		p.t.Fatalf("DELETE %s: %d %s, want 204", path, status, b)
	}
}

// events returns the journal after seq.
func (p *policyClient) events(after uint64) []access.Event {
	p.t.Helper()
	var out []access.Event
	for {
		page, err := p.c.Events(p.ctx(), after, 500)
		if err != nil {
			p.t.Fatal(err)
		}
		out = append(out, page.Events...)
		if len(page.Events) == 0 {
			return out
		}
		after = page.Next
	}
}

// present shows a card and/or keys at reader and returns the names of the
// first n decision events that follow there (grants, denials, duress,
// first in, the door's scheduled changes), waiting for them with a
// deadline.
func (p *policyClient) present(reader string, card uint64, keys string, n int) []string {
	p.t.Helper()
	p.seen = p.last()
	decision := []string{access.TypeGranted, access.TypeDenied, access.TypeDuress, access.TypeFirstIn, access.TypeDoorMode}
	var names []string
	at := func(ev access.Event) bool { return ev.Reader == reader || ev.Door == reader }
	if card != 0 {
		if err := p.c.SimCard(p.ctx(), reader, access.CardKey{Format: "H10301", Facility: 1, Number: card}); err != nil {
			p.t.Fatal(err)
		}
		if keys != "" {
			// A card_and_pin reader asks for the PIN once it has the
			// card, unless it refuses the card at once.
			p.wait("the card's answer at "+reader, func(ev access.Event) bool {
				switch {
				case !at(ev):
					return false
				case ev.Type == access.TypeAwaitPIN:
					return true
				case slices.Contains(decision, ev.Type):
					names = append(names, ev.Name)
					keys = ""
					return true
				}
				return false
			})
		}
	}
	if keys != "" {
		if err := p.c.SimKeys(p.ctx(), reader, keys); err != nil {
			p.t.Fatal(err)
		}
	}
	if len(names) < n {
		p.wait(fmt.Sprintf("%d decision events at %s", n, reader), func(ev access.Event) bool {
			if at(ev) && slices.Contains(decision, ev.Type) {
				names = append(names, ev.Name)
			}
			return len(names) >= n
		})
	}
	return names
}

// waitEvent waits for an event named name at door or reader where, after
// the last one looked at.
func (p *policyClient) waitEvent(name, where string) {
	p.t.Helper()
	p.wait(fmt.Sprintf("%q at %s", name, where), func(ev access.Event) bool {
		return ev.Name == name && (ev.Door == where || ev.Reader == where)
	})
}

// wait reads events after the last one looked at until done says so.
func (p *policyClient) wait(what string, done func(access.Event) bool) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, ev := range p.events(p.seen) {
			p.seen = ev.Seq
			if done(ev) {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s within 20s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling the journal, not waiting for a timer
	}
}

// last is the seq of the newest event.
func (p *policyClient) last() uint64 {
	evs := p.events(p.seen)
	if len(evs) == 0 {
		return p.seen
	}
	return evs[len(evs)-1].Seq
}

func (p *policyClient) door(name string) api.DoorStatus {
	p.t.Helper()
	st, err := p.c.Status(p.ctx())
	if err != nil {
		p.t.Fatal(err)
	}
	for _, d := range st.Doors {
		if d.Name == name {
			return d
		}
	}
	p.t.Fatalf("no door %q in the status", name)
	return api.DoorStatus{}
}

func (p *policyClient) digest() string {
	p.t.Helper()
	b, err := p.c.SyncCurrent(p.ctx())
	if err != nil {
		p.t.Fatal(err)
	}
	var ack changeset.Ack
	if err := json.Unmarshal(b, &ack); err != nil {
		p.t.Fatal(err)
	}
	return ack.Digest
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
