package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/gateway/access"
)

// mqttSub is a real mosquitto_sub on a gateway's embedded broker.
type mqttSub struct {
	lines chan string
}

// subscribe starts mosquitto_sub -v on topics and returns once its
// subscription is live: the first topic must be a retained one (the
// gateway's status, a door), whose message proves it.
func subscribe(t *testing.T, g *gatewayProc, topics ...string) *mqttSub {
	t.Helper()
	return subscribeAs(t, g, nil, topics...)
}

// subscribeAs is subscribe with more of mosquitto_sub's options (an
// account's -u and -P).
func subscribeAs(t *testing.T, g *gatewayProc, opts []string, topics ...string) *mqttSub {
	t.Helper()
	if _, err := exec.LookPath("mosquitto_sub"); err != nil {
		t.Fatal("mosquitto_sub is not installed; build/test installs Debian's mosquitto-clients")
	}
	host, port, _ := net.SplitHostPort(g.mqtt)
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"-h", host, "-p", port, "-v"}, opts...)
	for _, tp := range topics {
		args = append(args, "-t", tp)
	}
	cmd := exec.CommandContext(ctx, "mosquitto_sub", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	s := &mqttSub{lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	s.next(t, "the retained message on "+topics[0], func(topic, _ string) bool { return matchTopic(topics[0], topic) })
	return s
}

// next waits, up to 20 s, for a message match accepts, and returns its
// payload.
func (s *mqttSub) next(t *testing.T, what string, match func(topic, payload string) bool) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-s.lines:
			topic, payload, _ := strings.Cut(l, " ")
			if match(topic, payload) {
				return payload
			}
		case <-timeout:
			t.Fatalf("no %s on the embedded broker within 20s", what)
		}
	}
}

// matchTopic matches an MQTT topic against a filter with + and #.
func matchTopic(filter, topic string) bool {
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, part := range f {
		switch {
		case part == "#":
			return true
		case i >= len(tp):
			return false
		case part != "+" && part != tp[i]:
			return false
		}
	}
	return len(f) == len(tp)
}

// doorMsg is the part of the retained door state the test reads.
type doorMsg struct {
	Locked bool            `json:"locked"`
	Open   bool            `json:"open"`
	Alarms []string        `json:"alarms"`
	Mode   access.DoorMode `json:"mode"`
}

// TestDoorStateOverMQTT subscribes with the real mosquitto_sub to the
// retained state of a door of the real binary and checks that every change
// is published: a test pulse and a grant unlock it and relock it, the
// contact opens and closes it, and a lockdown changes its mode and raises
// an alarm.
func TestDoorStateOverMQTT(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, dir)
	token, err := os.ReadFile(filepath.Join(dir, "lintel-data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := client.New("http://"+g.api, strings.TrimSpace(string(token)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "lintel/v1/lintel-sim/doors/garage"
	sub := subscribe(t, g, topic)
	want := func(what string, ok func(doorMsg) bool) {
		t.Helper()
		sub.next(t, what, func(tp, payload string) bool {
			var m doorMsg
			if tp != topic || json.Unmarshal([]byte(payload), &m) != nil {
				return false
			}
			return ok(m)
		})
	}
	locked := func(m doorMsg) bool { return m.Locked }
	unlocked := func(m doorMsg) bool { return !m.Locked }

	if err := c.PulseDoor(ctx, "garage"); err != nil {
		t.Fatal(err)
	}
	want("unlocked after a test pulse", unlocked)
	want("relocked after the test pulse", locked)

	g.lintel(t, "user", "add", "ann", "--name", "Ann")
	g.lintel(t, "card", "add", "ann", "--facility", "1", "--number", "100")
	g.lintel(t, "sim", "card", "garage", "--facility", "1", "--number", "100")
	want("unlocked by a grant", unlocked)
	want("relocked after the grant", locked)

	g.lintel(t, "sim", "door", "garage", "open")
	want("open", func(m doorMsg) bool { return m.Open })
	g.lintel(t, "sim", "door", "garage", "closed")
	want("closed", func(m doorMsg) bool { return !m.Open })

	pc := &policyClient{t: t, g: g, c: c}
	pc.put("/api/v1/overrides/drill", api.OverrideBody{Doors: []string{access.AllDoors}, Mode: access.ModeLockdown}, http.StatusCreated)
	want("in lockdown", func(m doorMsg) bool {
		return m.Mode == access.ModeLockdown && strings.Contains(strings.Join(m.Alarms, ","), "lockdown")
	})
	pc.delete("/api/v1/overrides/drill")
	want("back to its reader's mode", func(m doorMsg) bool { return m.Mode == access.DoorMode(access.ModeCardOnly) && len(m.Alarms) == 0 })
	g.stop(t)
}
