package client_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/gateway/access"
)

// TestOperatorMethods runs the client's user list, card removal,
// enrolment, export and import against the fake.
func TestOperatorMethods(t *testing.T) {
	c, b, _ := newServer(t)
	ctx := context.Background()
	for _, id := range []string{"ann", "bob", "cat"} {
		if _, _, err := c.PutUser(ctx, id, api.UserBody{Name: "User " + id}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.Users(ctx, "", 2, "")
	if err != nil || len(page.Users) != 2 || page.Next != "bob" {
		t.Fatalf("Users: got %+v %v, want ann, bob and next bob", page, err)
	}
	if page, err = c.Users(ctx, page.Next, 2, ""); err != nil || len(page.Users) != 1 || page.Users[0].ID != "cat" || page.Next != "" {
		t.Fatalf("Users after bob: got %+v %v, want cat alone", page, err)
	}
	if page, err = c.Users(ctx, "", 0, "USER B"); err != nil || len(page.Users) != 1 || page.Users[0].ID != "bob" {
		t.Fatalf("Users q: got %+v %v, want bob", page, err)
	}

	cred, err := c.AddCard(ctx, "ann", access.CardKey{Format: "H10301", Facility: 1, Number: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveCredential(ctx, cred.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveCredential(ctx, cred.ID); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("RemoveCredential twice: got %v, want not_found", err)
	}
	if _, err := c.AddCard(ctx, "ann", access.CardKey{Format: "H10301", Facility: 300, Number: 1}); !client.IsCode(err, api.CodeInvalid) {
		t.Errorf("AddCard facility 300: got %v, want invalid", err)
	}

	done := make(chan error, 1)
	var doc api.EnrolDoc
	go func() {
		var err error
		doc, err = c.EnrolCard(ctx, "bob", "garage", 10)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting; {
		if time.Now().After(deadline) {
			t.Fatal("the enrolment never waited at garage")
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range st.Readers {
			waiting = waiting || (r.Name == "garage" && r.Enrolling == "bob")
		}
	}
	if err := (apitest.Sim{B: b}).Card("garage", "H10301", 3, 33); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || doc.UserID != "bob" || doc.Card.Number != 33 || doc.Reader != "garage" {
		t.Fatalf("EnrolCard: got %+v %v, want bob's card 33 at garage", doc, err)
	}
	if _, err := c.EnrolCard(ctx, "bob", "garage", 1); !client.IsCode(err, api.CodeNoCard) {
		t.Errorf("EnrolCard with no card: got %v, want no_card", err)
	}

	export, err := c.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var e api.ExportDoc
	if err := json.Unmarshal(export, &e); err != nil || e.Format != api.ExportFormat {
		t.Fatalf("Export: %v, format %q", err, e.Format)
	}
	if err := c.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Import(ctx, export)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(api.ImportDoc{ImportResult: api.ImportResult{Users: 3, Credentials: 1}, NeedPIN: []string{}}, res); diff != "" {
		t.Errorf("Import (-want +got):\n%s", diff)
	}
	if _, err := c.Import(ctx, []byte(`{"format":"x"}`)); !client.IsCode(err, api.CodeInvalid) {
		t.Errorf("Import of a bad document: got %v, want invalid", err)
	}
}

// TestPolicyMethods runs the client's policy methods against the fake.
func TestPolicyMethods(t *testing.T) {
	c, _, _ := newServer(t)
	ctx := context.Background()
	ivs := []access.Interval{{Days: []string{"mon"}, Start: "08:00", End: "18:00", Holidays: []int{}}}
	if created, err := c.PutSchedule(ctx, "office", api.ScheduleBody{Name: "Office", Intervals: &ivs}); err != nil || !created {
		t.Fatalf("PutSchedule: %v %v", created, err)
	}
	if s, err := c.Schedule(ctx, "office"); err != nil || s.Name != "Office" {
		t.Fatalf("Schedule: %+v %v", s, err)
	}
	typ := 1
	if _, err := c.PutHoliday(ctx, "ny", api.HolidayBody{Date: "2027-01-01", Type: &typ}); err != nil {
		t.Fatal(err)
	}
	doors := []access.LevelDoor{{Door: "front", Schedule: "office"}}
	if _, err := c.PutLevel(ctx, "staff", api.LevelBody{Doors: &doors}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDoorPolicy(ctx, "front", []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked}}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.DoorPolicy(ctx, "front"); err != nil || len(p.Modes) != 1 {
		t.Fatalf("DoorPolicy: %+v %v", p, err)
	}
	if _, err := c.SetOverride(ctx, "lockdown", api.OverrideBody{Doors: []string{"*"}, Mode: access.ModeLockdown}); err != nil {
		t.Fatal(err)
	}
	l, err := c.Overrides(ctx)
	if err != nil || len(l) != 1 {
		t.Fatalf("Overrides: %+v %v", l, err)
	}
	for _, err := range []error{c.ClearOverride(ctx, "lockdown"), c.DeleteDoorPolicy(ctx, "front"), c.DeleteLevel(ctx, "staff"),
		c.DeleteHoliday(ctx, "ny"), c.DeleteSchedule(ctx, "office")} {
		if err != nil {
			t.Error(err)
		}
	}
	for name, n := range map[string]func() (int, error){
		"schedules": func() (int, error) { v, err := c.Schedules(ctx); return len(v), err },
		"holidays":  func() (int, error) { v, err := c.Holidays(ctx); return len(v), err },
		"levels":    func() (int, error) { v, err := c.Levels(ctx); return len(v), err },
	} {
		if got, err := n(); err != nil || got != 0 {
			t.Errorf("%s after deleting: %d, %v", name, got, err)
		}
	}
	if _, err := c.Level(ctx, "staff"); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("Level after its deletion: %v", err)
	}
	if _, err := c.Holiday(ctx, "ny"); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("Holiday after its deletion: %v", err)
	}
}
