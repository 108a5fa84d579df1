package broker

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

func testHook(t *testing.T, anon Anonymous) *authHook {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		GatewayID: "gw1",
		Anonymous: anon,
		Clients: []Client{{
			Username:     "portal",
			Role:         RolePortal,
			PasswordHash: string(h),
			Publish:      []string{"#"},
			Subscribe:    []string{"lintel/v1/gw1/#", "$SYS/#"},
		}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return newAuthHook(cfg, slog.New(slog.DiscardHandler))
}

// fakeClient is a mochi client as the hook sees it, with a made-up remote
// address and a connection of its own that is never read or written.
func fakeClient(id, remote, username string) *mqtt.Client {
	return &mqtt.Client{
		ID:         id,
		Net:        mqtt.ClientConnection{Conn: &fakeConn{}, Remote: remote},
		Properties: mqtt.ClientProperties{Username: []byte(username)},
	}
}

// fakeConn stands for a client's connection: the hook only tells
// connections apart, by identity.
type fakeConn struct{ net.Conn }

func connectPacket(username, password string) packets.Packet {
	return packets.Packet{Connect: packets.ConnectParams{
		Username:     []byte(username),
		UsernameFlag: username != "",
		Password:     []byte(password),
		PasswordFlag: password != "",
	}}
}

func TestAuthenticate(t *testing.T) {
	sim := Anonymous{Allow: true, Subscribe: []string{"#"}}
	remote := Anonymous{Allow: true, AllowRemote: true, Subscribe: []string{"#"}}
	withWill := func(pk packets.Packet, topic string) packets.Packet {
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = topic
		pk.Connect.WillPayload = []byte("gone")
		return pk
	}
	tests := []struct {
		name   string
		anon   Anonymous
		id     string
		remote string
		pk     packets.Packet
		want   bool
	}{
		{"account", Anonymous{}, "c", "192.0.2.7:5000", connectPacket("portal", "pw"), true},
		{"account, wrong password", Anonymous{}, "c", "127.0.0.1:5000", connectPacket("portal", "pW"), false},
		{"account, no password", Anonymous{}, "c", "127.0.0.1:5000", connectPacket("portal", ""), false},
		{"unknown account", Anonymous{}, "c", "127.0.0.1:5000", connectPacket("nobody", "pw"), false},
		{"anonymous, not allowed", Anonymous{}, "c", "127.0.0.1:5000", connectPacket("", ""), false},
		{"anonymous sim, loopback v4", sim, "c", "127.0.0.1:5000", connectPacket("", ""), true},
		{"anonymous sim, loopback 127/8", sim, "c", "127.1.2.3:5000", connectPacket("", ""), true},
		{"anonymous sim, loopback v6", sim, "c", "[::1]:5000", connectPacket("", ""), true},
		{"anonymous sim, v4-mapped loopback", sim, "c", "[::ffff:127.0.0.1]:5000", connectPacket("", ""), true},
		{"anonymous sim, LAN address", sim, "c", "192.168.1.20:5000", connectPacket("", ""), false},
		{"anonymous sim, public v6", sim, "c", "[2001:db8::1]:5000", connectPacket("", ""), false},
		{"anonymous sim, unparsable remote", sim, "c", "pipe", connectPacket("", ""), false},
		{"anonymous sim, empty remote", sim, "c", "", connectPacket("", ""), false},
		{"anonymous remote allowed", remote, "c", "192.168.1.20:5000", connectPacket("", ""), true},
		{"inline client id", sim, mqtt.InlineClientId, "127.0.0.1:5000", connectPacket("", ""), false},
		{"will on own status topic", Anonymous{}, "c", "127.0.0.1:5000", withWill(connectPacket("portal", "pw"), "lintel/v1/gw1/status"), false},
		{"will on changes topic", Anonymous{}, "c", "127.0.0.1:5000", withWill(connectPacket("portal", "pw"), "lintel/v1/gw1/sync/changes"), true},
		{"will outside anonymous ACL", sim, "c", "127.0.0.1:5000", withWill(connectPacket("", ""), "x/y"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := testHook(t, tc.anon)
			cl := fakeClient(tc.id, tc.remote, "")
			if err := h.OnConnect(cl, tc.pk); (err == nil) != tc.want {
				t.Fatalf("OnConnect = %v, want admitted: %v", err, tc.want)
			}
			if got := h.OnConnectAuthenticate(cl, tc.pk); got != tc.want {
				t.Fatalf("OnConnectAuthenticate = %v after OnConnect, want %v", got, tc.want)
			}
		})
	}
}

func TestACLCheck(t *testing.T) {
	h := testHook(t, Anonymous{Allow: true, Subscribe: []string{"#"}, Publish: []string{"lintel/v1/+/events/+"}})
	portal := fakeClient("p", "127.0.0.1:1", "portal")
	anon := fakeClient("a", "127.0.0.1:2", "")
	stranger := fakeClient("s", "127.0.0.1:3", "deleted-account")
	tests := []struct {
		name  string
		cl    *mqtt.Client
		topic string
		write bool
		want  bool
	}{
		{"portal publishes changes", portal, "lintel/v1/gw1/sync/changes", true, true},
		{"portal publishes elsewhere", portal, "site/lights", true, true},
		{"portal spoofs an event", portal, "lintel/v1/gw1/events/front", true, false},
		{"portal spoofs status", portal, "lintel/v1/gw1/status", true, false},
		{"portal spoofs a door", portal, "lintel/v1/gw1/doors/front", true, false},
		{"portal spoofs an ack", portal, "lintel/v1/gw1/sync/acks", true, false},
		{"portal invents a gateway topic", portal, "lintel/v1/gw1/new", true, false},
		{"portal publishes on $SYS", portal, "$SYS/broker/uptime", true, false},
		{"portal spoofs another gateway's event", portal, "lintel/v1/gw2/events/front", true, false},
		{"portal spoofs another gateway's status", portal, "lintel/v1/gw2/status", true, false},
		{"portal spoofs another gateway's door", portal, "lintel/v1/gw2/doors/front", true, false},
		{"portal spoofs another gateway's ack", portal, "lintel/v1/gw2/sync/acks", true, false},
		{"portal sends another gateway a changeset", portal, "lintel/v1/gw2/sync/changes", true, false},
		{"portal invents a topic under another gateway", portal, "lintel/v1/gw2/new", true, false},
		{"portal publishes on the prefix itself", portal, "lintel/v1", true, false},
		{"portal publishes under another version", portal, "lintel/v2/gw1/events/front", true, true},
		{"anonymous spoofs another gateway's event its ACL allows", anon, "lintel/v1/gw2/events/front", true, false},
		{"portal subscribes to its gateway", portal, "lintel/v1/gw1/events/+", false, true},
		{"portal subscribes to everything", portal, "#", false, false},
		{"portal subscribes to $SYS even if listed", portal, "$SYS/#", false, false},
		{"portal shared subscription inside ACL", portal, "$share/g/lintel/v1/gw1/#", false, true},
		{"portal shared subscription, upper case", portal, "$SHARE/g/lintel/v1/gw1/status", false, true},
		{"portal shared subscription outside ACL", portal, "$share/g/#", false, false},
		{"anonymous subscribes to everything", anon, "#", false, true},
		{"anonymous reads an event", anon, "lintel/v1/gw1/events/front", false, true},
		{"anonymous publishes changes", anon, "lintel/v1/gw1/sync/changes", true, false},
		{"anonymous publishes elsewhere", anon, "x", true, false},
		{"unknown username", stranger, "lintel/v1/gw1/events/front", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.OnACLCheck(tc.cl, tc.topic, tc.write); got != tc.want {
				t.Fatalf("OnACLCheck(%q, write=%v) = %v, want %v", tc.topic, tc.write, got, tc.want)
			}
		})
	}
}

func TestOnPublishRechecksAliasedTopicAndDropsRetain(t *testing.T) {
	h := testHook(t, Anonymous{})
	portal := fakeClient("p", "127.0.0.1:1", "portal")
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: "lintel/v1/gw1/status"}
	if _, err := h.OnPublish(portal, pk); err != packets.ErrRejectPacket {
		t.Fatalf("OnPublish on the status topic = %v, want ErrRejectPacket", err)
	}
	pk.TopicName = "site/x"
	got, err := h.OnPublish(portal, pk)
	if err != nil || got.FixedHeader.Retain {
		t.Fatalf("OnPublish = (retain %v, %v), want the message without its retain flag", got.FixedHeader.Retain, err)
	}
	will, err := h.OnWill(portal, mqtt.Will{TopicName: "site/x", Retain: true})
	if err != nil || will.Retain {
		t.Fatalf("OnWill = (retain %v, %v), want the will without its retain flag", will.Retain, err)
	}
}

// TestOnlyPortalAccountsMayPublishChanges is the hook's half of "who may
// change the table": whatever filters reach it (Validate refuses these
// ones; the hook must not rely on that), only a portal account publishes
// on sync/changes, as a publish or as a will, and only its own gateway's.
func TestOnlyPortalAccountsMayPublishChanges(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	everything := []string{"#"}
	cfg := Config{
		GatewayID: "gw1",
		Anonymous: Anonymous{Allow: true, Publish: everything},
		Clients: []Client{
			{Username: "portal", Role: RolePortal, PasswordHash: string(h), Publish: everything},
			{Username: "ann", PasswordHash: string(h), Publish: everything},
			{Username: "bob", Role: RoleClient, PasswordHash: string(h), Publish: everything},
		},
	}
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate accepted publish filters that give ann, bob and anonymous clients sync/changes")
	}
	hook := newAuthHook(cfg, slog.New(slog.DiscardHandler))
	const changes = "lintel/v1/gw1/sync/changes"
	tests := []struct {
		username string
		want     bool
	}{
		{"portal", true},
		{"ann", false},
		{"bob", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(cmp.Or(tc.username, "anonymous"), func(t *testing.T) {
			cl := fakeClient("c", "127.0.0.1:1", tc.username)
			if got := hook.OnACLCheck(cl, changes, true); got != tc.want {
				t.Errorf("OnACLCheck(%q, write) = %v, want %v", changes, got, tc.want)
			}
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: changes}
			if _, err := hook.OnPublish(cl, pk); (err == nil) != tc.want {
				t.Errorf("OnPublish(%q) = %v, want allowed: %v", changes, err, tc.want)
			}
			connect := connectPacket(tc.username, "pw")
			connect.Connect.WillFlag = true
			connect.Connect.WillTopic = changes
			if err := hook.OnConnect(fakeClient("c", "127.0.0.1:1", ""), connect); (err == nil) != tc.want {
				t.Errorf("OnConnect with a will on %q = %v, want admitted: %v", changes, err, tc.want)
			}
			if hook.OnACLCheck(cl, "lintel/v1/gw2/sync/changes", true) {
				t.Error("OnACLCheck allowed another gateway's sync/changes")
			}
			if !hook.OnACLCheck(cl, "site/lights", true) {
				t.Error("OnACLCheck refused a topic outside lintel/v1/ that the filters allow")
			}
		})
	}
}

// TestRefusalsSayWhy: a refused CONNECT is answered with the code of its
// reason, in the client's protocol version, so a client of a full broker
// is not sent to check its password.
func TestRefusalsSayWhy(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		GatewayID:           "gw1",
		MaxClients:          2,
		ReservedForAccounts: 1,
		Anonymous:           Anonymous{Allow: true},
		Clients:             []Client{{Username: "portal", Role: RolePortal, PasswordHash: string(h)}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		fill    []string // usernames connected first ("" anonymous)
		remote  string
		pk      packets.Packet
		v3, v5  packets.Code
		fillsOK bool
	}{
		{"bad password", nil, "127.0.0.1:1", connectPacket("portal", "nope"), packets.ErrBadUsernameOrPassword, packets.ErrBadUsernameOrPassword, true},
		{"anonymous from the LAN", nil, "192.0.2.1:1", connectPacket("", ""), packets.ErrBadUsernameOrPassword, packets.ErrNotAuthorized, true},
		{"anonymous slots full", []string{""}, "127.0.0.1:1", connectPacket("", ""), packets.ErrServerUnavailable, packets.ErrServerBusy, true},
		{"every slot full", []string{"", "portal"}, "127.0.0.1:1", connectPacket("portal", "pw"), packets.ErrServerUnavailable, packets.ErrServerBusy, true},
		{"reserved slot free", []string{""}, "127.0.0.1:1", connectPacket("portal", "pw"), packets.CodeSuccess, packets.CodeSuccess, true},
	}
	for _, tc := range tests {
		for _, version := range []byte{4, 5} {
			t.Run(fmt.Sprintf("%s, MQTT %d", tc.name, version), func(t *testing.T) {
				hook := newAuthHook(cfg, slog.New(slog.DiscardHandler))
				for i, u := range tc.fill {
					if err := hook.OnConnect(fakeClient(fmt.Sprint("f", i), "127.0.0.1:1", u), connectPacket(u, "pw")); err != nil {
						t.Fatalf("connecting %q first: %v", u, err)
					}
				}
				cl := fakeClient("c", tc.remote, "")
				cl.Properties.ProtocolVersion = version
				want := tc.v3
				if version == 5 {
					want = tc.v5
				}
				err := hook.OnConnect(cl, tc.pk)
				if want == packets.CodeSuccess {
					if err != nil {
						t.Fatalf("OnConnect = %v, want the client admitted", err)
					}
					return
				}
				var got packets.Code
				if !errors.As(err, &got) || got != want {
					t.Fatalf("OnConnect = %v, want %v (%#x)", err, want, want.Code)
				}
				if hook.OnConnectAuthenticate(cl, tc.pk) {
					t.Fatal("OnConnectAuthenticate accepted a client OnConnect refused")
				}
			})
		}
	}
}

// TestSlotTable checks the counting behind max_clients and
// reserved_for_accounts: anonymous clients stop at max - reserved, accounts
// at max, a take-over passes either limit, and a slot given back is free
// again (twice is once).
func TestSlotTable(t *testing.T) {
	s := newSlotTable(3, 1)
	a1, a2, a3, p1, p2, p3 := &fakeConn{}, &fakeConn{}, &fakeConn{}, &fakeConn{}, &fakeConn{}, &fakeConn{}
	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"anonymous 1", func() bool { return s.take(a1, true, false) }, true},
		{"anonymous 2", func() bool { return s.take(a2, true, false) }, true},
		{"anonymous 3, past max - reserved", func() bool { return s.take(a3, true, false) }, false},
		{"anonymous 3 taking over its session", func() bool { return s.take(a3, true, true) }, true},
		{"anonymous 3 gone", func() bool { s.release(a3); s.release(a3); return s.holds(a3) }, false},
		{"account 1, the reserved slot", func() bool { return s.take(p1, false, false) }, true},
		{"account 2, past max", func() bool { return s.take(p2, false, false) }, false},
		{"anonymous 1 gone", func() bool { s.release(a1); return s.holds(a1) }, false},
		{"account 2, into the freed slot", func() bool { return s.take(p2, false, false) }, true},
		{"account 3, past max", func() bool { return s.take(p3, false, false) }, false},
		{"account 1 gone", func() bool { s.release(p1); return s.holds(p1) }, false},
		{"anonymous 1 back, into the slot account 1 left", func() bool { return s.take(a1, true, false) }, true},
		{"account 3, past max", func() bool { return s.take(p3, false, false) }, false},
		{"a connection never admitted gives nothing back", func() bool { s.release(a3); return s.take(p3, false, false) }, false},
		{"anonymous 2 gone", func() bool { s.release(a2); return s.holds(a2) }, false},
		{"account 3, into the freed slot", func() bool { return s.take(p3, false, false) }, true},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Fatalf("%s: got %v, want %v", st.name, got, st.want)
		}
	}
}
