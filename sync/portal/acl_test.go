package portal_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/gateway/store/storetest"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// patience bounds every wait on a real broker; reaching it is a failure.
const patience = 30 * time.Second

// quiet is how long a check that something does not arrive looks, after
// a positive control has shown the broker delivering.
const quiet = 300 * time.Millisecond

// docsACL returns the mosquitto ACL file of docs/fleet.md.
func docsACL(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```acl\n(.*?)```").FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatal("docs/fleet.md has no ```acl block")
	}
	return m[1]
}

// recorder is a paho client that keeps every message it receives.
type recorder struct {
	c   mqtt.Client
	mu  sync.Mutex
	got []uplinktest.Message
}

func (r *recorder) messages() []uplinktest.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uplinktest.Message(nil), r.got...)
}

// waitFor waits until some message satisfies ok.
func (r *recorder) waitFor(t *testing.T, what string, ok func(uplinktest.Message) bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		for _, m := range r.messages() {
			if ok(m) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dial connects a recorder as username (with password, or with a client
// certificate in tc) and subscribes it to filters.
func dial(t *testing.T, url, id, username, password string, tc *tls.Config, filters ...string) (*recorder, error) {
	t.Helper()
	r := &recorder{}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(username).SetPassword(password).
		SetTLSConfig(tc).SetAutoReconnect(false).SetConnectTimeout(patience).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.got = append(r.got, uplinktest.Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained()})
		})
	r.c = mqtt.NewClient(opts)
	if tok := r.c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		return nil, fmt.Errorf("connect as %s: %v", username, tok.Error())
	}
	t.Cleanup(func() { r.c.Disconnect(0) })
	if len(filters) > 0 {
		m := make(map[string]byte)
		for _, f := range filters {
			m[f] = 1
		}
		if tok := r.c.SubscribeMultiple(m, nil); !tok.WaitTimeout(patience) || tok.Error() != nil {
			return nil, fmt.Errorf("subscribe as %s: %v", username, tok.Error())
		}
	}
	return r, nil
}

func mustDial(t *testing.T, url, id, username, password string, tc *tls.Config, filters ...string) *recorder {
	t.Helper()
	r, err := dial(t, url, id, username, password, tc, filters...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runFor runs fn until the test ends.
func runFor(t *testing.T, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// eventually polls cond until it holds, failing after patience.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFleetACL runs docs/fleet.md's ACL on a real mosquitto, with a real
// gateway (the uplink and the changeset applier on a real store) as gw-a,
// and checks that a client holding gw-b's credentials can neither read
// gw-a's traffic nor publish anything as gw-a or to it, while the portal
// sees and reaches both.
func TestFleetACL(t *testing.T) {
	acl := docsACL(t)
	tests := []struct {
		name  string
		certs bool // the gateways authenticate by client certificate
	}{
		{"passwords", false},
		{"client certificates", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mosquittotest.StartWith(t, mosquittotest.Config{
				Accounts:           map[string]string{"gw-a": "secret-a", "gw-b": "secret-b", "portal": "secret-p"},
				ACL:                acl,
				IdentityAsUsername: tc.certs,
			})
			// How gw-a's uplink and the rogue gw-b connect.
			gwURL := srv.URL()
			upCfg := uplink.Config{URL: gwURL, Username: "gw-a", BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
			var rogueTLS *tls.Config
			rogueUser, roguePass := "gw-b", "secret-b"
			if tc.certs {
				gwURL = srv.TLSURL()
				upCfg.URL, upCfg.Username, upCfg.CAFile = gwURL, "", srv.CAFile()
				upCfg.CertFile, upCfg.KeyFile = srv.ClientCert("gw-a")
				certFile, keyFile := srv.ClientCert("gw-b")
				cert, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					t.Fatal(err)
				}
				rogueTLS = &tls.Config{RootCAs: srv.CertPool(), Certificates: []tls.Certificate{cert}}
				rogueUser, roguePass = "", ""
			} else {
				upCfg.PasswordFile = filepath.Join(t.TempDir(), "uplink.secret")
				if err := os.WriteFile(upCfg.PasswordFile, []byte("secret-a\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := dial(t, gwURL, "imposter", "gw-a", "secret-b", nil); err == nil {
					t.Fatal("connected as gw-a with gw-b's password")
				}
			}

			observer := mustDial(t, srv.URL(), "observer", "portal", "secret-p", nil, "lintel/v1/#")
			rogue := mustDial(t, gwURL, "rogue", rogueUser, roguePass, rogueTLS,
				"lintel/v1/gw-a/#", "lintel/v1/+/events/+", "#", "$share/rogue/lintel/v1/+/events/+")

			// gw-a: three events in its journal, a real store behind its sync.
			st := storetest.Open(t, storetest.Options(t))
			applier := changeset.New(st, nil, nil)
			journal := uplinktest.NewMemJournal()
			for range 3 {
				journal.AppendEvent("gw-a", "front")
			}
			// The portal reaches gw-a and gets its acks.
			var syncer *portal.Syncer
			client, err := portal.NewClient(portal.MQTTConfig{URL: srv.URL(), ClientID: "portal-sync", Username: "portal", Password: "secret-p"},
				func(ctx context.Context, gw string, p []byte) error { return syncer.HandleAck(ctx, gw, p) }, nil)
			if err != nil {
				t.Fatal(err)
			}
			syncer, err = portal.NewSyncer(portal.SyncConfig{Publisher: client})
			if err != nil {
				t.Fatal(err)
			}
			runFor(t, client.Run)
			eventually(t, "the portal's connection", client.Connected)
			// The uplink starts once the portal is subscribed: the current
			// ack it publishes on connect is not retained.
			up, err := uplink.New(upCfg, "gw-a", journal, uplinktest.NewMemCursor(0), transport(t, applier), nil)
			if err != nil {
				t.Fatal(err)
			}
			runFor(t, up.Run)
			eventually(t, "gw-a's current ack", func() bool { st, ok := syncer.State("gw-a"); return ok && st.Heard })
			users := []portal.User{user("ann", "Ann", "482913", 100)}
			if err := syncer.Send(context.Background(), "gw-a", portal.Snapshot(1, portal.Table{Users: users})); err != nil {
				t.Fatal(err)
			}
			eventually(t, "gw-a at revision 1", func() bool { st, _ := syncer.State("gw-a"); return st.InSync() })
			observer.waitFor(t, "gw-a's third event", func(m uplinktest.Message) bool { return strings.Contains(string(m.Payload), `"id":"gw-a-3"`) })

			// The rogue tries everything as gw-b, then publishes one event
			// of its own: if a forgery got through, the observer would see
			// it before that (or, over TLS, where mosquitto hangs up on the
			// first forgery, before the event sent on a new connection).
			forgeries := []struct{ topic, payload string }{
				{"lintel/v1/gw-a/sync/changes", `{"revision":99,"snapshot":true,"users":[]}`},
				{"lintel/v1/gw-a/events/front", `{"seq":999,"id":"gw-a-999","type":"access.granted","name":"forged"}`},
				{"lintel/v1/gw-a/sync/acks", `{"status":"applied","revision":99,"digest":"forged"}`},
				{"lintel/v1/gw-a/status", `forged`},
			}
			for _, f := range forgeries {
				rogue.c.Publish(f.topic, 1, false, f.payload).WaitTimeout(patience)
			}
			own := rogue
			if !rogue.c.IsConnectionOpen() {
				own = mustDial(t, gwURL, "rogue-again", rogueUser, roguePass, rogueTLS)
			}
			if tok := own.c.Publish("lintel/v1/gw-b/events/front", 1, false, `{"seq":1,"id":"gw-b-1"}`); !tok.WaitTimeout(patience) || tok.Error() != nil {
				t.Fatalf("gw-b publishing its own event: %v", tok.Error())
			}
			observer.waitFor(t, "gw-b's own event", func(m uplinktest.Message) bool { return m.Topic == "lintel/v1/gw-b/events/front" })
			// And the portal's changeset to gw-b shows the rogue's
			// subscriptions deliver what is its own.
			if err := client.PublishChanges(context.Background(), "gw-b", []byte(`{"revision":1,"snapshot":true,"users":[]}`)); err != nil {
				t.Fatal(err)
			}
			if rogue.c.IsConnectionOpen() {
				rogue.waitFor(t, "gw-b's own changeset at the rogue", func(m uplinktest.Message) bool { return m.Topic == "lintel/v1/gw-b/sync/changes" })
			}
			time.Sleep(quiet)

			for _, m := range observer.messages() {
				if p := string(m.Payload); strings.Contains(p, "forged") || strings.Contains(p, `"revision":99`) || strings.Contains(p, "gw-a-999") {
					t.Errorf("the portal saw a forgery: %s %s", m.Topic, m.Payload)
				}
			}
			for _, m := range rogue.messages() {
				if !strings.HasPrefix(m.Topic, "lintel/v1/gw-b/") {
					t.Errorf("gw-b read another gateway's message: %s %s", m.Topic, m.Payload)
				}
			}
			if rev, users := st.Revision(), st.Counts().Users; rev != 1 || users != 1 {
				t.Errorf("gw-a holds revision %d with %d users, want the portal's revision 1 with 1 user", rev, users)
			}
			if st, _ := syncer.State("gw-a"); st.Applied != 1 || st.Digest != portal.Digest(portal.Table{Users: users}) {
				t.Errorf("the portal's view of gw-a: %+v, want applied 1 with the table's digest", st)
			}
		})
	}
}

// TestFleetDocUplinkConfig holds docs/fleet.md's gateway configuration to
// the uplink's keys: every key in its TOML block is one the uplink reads.
func TestFleetDocUplinkConfig(t *testing.T) {
	doc, err := os.ReadFile("../../docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/fleet.md has no ```toml block")
	}
	for _, b := range blocks {
		var cfg struct {
			Uplink uplink.Config `toml:"uplink"`
		}
		md, err := toml.Decode(b[1], &cfg)
		if err != nil {
			t.Fatalf("TOML block does not decode: %v\n%s", err, b[1])
		}
		if und := md.Undecoded(); len(und) > 0 {
			t.Errorf("TOML block has keys the uplink does not know: %v\n%s", und, b[1])
		}
		if cfg.Uplink.URL == "" || cfg.Uplink.Username == "" || cfg.Uplink.PasswordFile == "" {
			t.Errorf("TOML block: %+v, want url, username and password_file", cfg.Uplink)
		}
	}
}
