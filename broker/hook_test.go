package broker

import (
	"cmp"
	"log/slog"
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
// address; no connection is needed to decide on it.
func fakeClient(id, remote, username string) *mqtt.Client {
	return &mqtt.Client{
		ID:         id,
		Net:        mqtt.ClientConnection{Remote: remote},
		Properties: mqtt.ClientProperties{Username: []byte(username)},
	}
}

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
			if got := h.OnConnectAuthenticate(fakeClient(tc.id, tc.remote, ""), tc.pk); got != tc.want {
				t.Fatalf("OnConnectAuthenticate = %v, want %v", got, tc.want)
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
			if got := hook.OnConnectAuthenticate(fakeClient("c", "127.0.0.1:1", ""), connect); got != tc.want {
				t.Errorf("OnConnectAuthenticate with a will on %q = %v, want %v", changes, got, tc.want)
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
