package broker

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/lintel-access/lintel/broker/topic"
)

// acl is the topic filters one kind of client may publish and subscribe
// to, and its role (never empty; RoleClient for anonymous clients).
type acl struct {
	publish, subscribe []string
	role               Role
}

func (a acl) mayPublish(name string) bool {
	for _, f := range a.publish {
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}

// maySubscribe answers for a subscription filter, or for the topic of a
// message about to be delivered. A shared subscription is judged by its
// filter, without the "$share/group/" prefix.
func (a acl) maySubscribe(filter string) bool {
	if first, rest, ok := strings.Cut(filter, "/"); ok && strings.EqualFold(first, mqtt.SharePrefix) {
		_, filter, _ = strings.Cut(rest, "/")
	}
	// '$' topics ($SYS) are closed to clients: mochi updates its $SYS
	// retained messages without the locking a subscription's scan of them
	// would need.
	if strings.HasPrefix(filter, "$") {
		return false
	}
	for _, f := range a.subscribe {
		if topic.Covers(f, filter) {
			return true
		}
	}
	return false
}

type account struct {
	hash []byte
	acl  acl
}

// authHook is the broker's only authentication and authorisation: mochi
// refuses every client unless a hook accepts it. Its fields are set by
// newAuthHook and never change, except the counters, so its methods are
// safe for the concurrent calls mochi makes from every client goroutine.
type authHook struct {
	mqtt.HookBase

	log      *slog.Logger
	changes  string   // the one topic under lintel/v1/ portal accounts may publish on
	commands string   // the filter of the door command topics homeassistant accounts may publish on
	reserved []string // filters outside lintel/v1/ that only the gateway publishes on
	status   string   // the status topic, for counting its deliveries
	accounts map[string]account
	// dummyHash is compared against when the username is unknown, so a
	// refusal takes as long whether or not the account exists. Its cost is
	// the highest of the accounts'.
	dummyHash []byte
	anon      Anonymous
	anonACL   acl
	server    *mqtt.Server // for session take-over checks; set before Serve
	slots     *slotTable

	// bcryptSlots bounds bcrypt comparisons to one at a time, so a flood
	// of connection attempts costs one core, not all of them. stop ends
	// waits for a slot when the broker closes.
	bcryptSlots chan struct{}
	stop        chan struct{}

	offline offlineTracker

	// The counters of Stats that mochi does not keep.
	publishesRefused     atomic.Int64 // client publishes refused by mayPublish
	subscriptionsRefused atomic.Int64 // subscription filters refused in a SUBACK
	clientsRefused       atomic.Int64 // CONNECTs refused for credentials or policy
	clientsRefusedFull   atomic.Int64 // CONNECTs refused for want of a slot

	// scans is held for reading while a client's SUBSCRIBE is processed
	// (from OnSubscribe to OnPacketProcessed) and for writing while the
	// gateway retains a message on a topic for the first time. mochi
	// v2.7.9 scans its topic tree for retained messages without a lock and
	// writes a node's retained-message path under one; this keeps the two
	// apart (see Broker.retain).
	scans sync.RWMutex
}

var _ mqtt.Hook = (*authHook)(nil)

func newAuthHook(cfg Config, log *slog.Logger) *authHook {
	cfg = cfg.withDefaults()
	changes, _ := topic.SyncChanges(cfg.GatewayID) // the config is valid
	status, _ := topic.Status(cfg.GatewayID)
	commands, _ := topic.DoorCommandsFilter(cfg.GatewayID)
	h := &authHook{
		log:         log,
		changes:     changes,
		commands:    commands,
		reserved:    cfg.Reserved,
		status:      status,
		accounts:    make(map[string]account, len(cfg.Clients)),
		anon:        cfg.Anonymous,
		anonACL:     acl{publish: cfg.Anonymous.Publish, subscribe: cfg.Anonymous.Subscribe, role: RoleClient},
		bcryptSlots: make(chan struct{}, 1),
		stop:        make(chan struct{}),
		offline:     offlineTracker{pending: make(map[string]uint16), wake: make(chan struct{}, 1)},
		slots:       newSlotTable(cfg.MaxClients, cfg.ReservedForAccounts),
	}
	cost := 0
	for _, c := range cfg.Clients {
		h.accounts[c.Username] = account{hash: []byte(c.PasswordHash), acl: acl{publish: c.Publish, subscribe: c.Subscribe, role: c.Role.orDefault()}}
		if n, err := bcrypt.Cost([]byte(c.PasswordHash)); err == nil && n > cost {
			cost = n
		}
	}
	if cost > 0 {
		h.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("lintel: no such account"), cost)
	}
	return h
}

func (h *authHook) ID() string { return "lintel-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect,
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnPublish,
		mqtt.OnWill,
		mqtt.OnSubscribe,
		mqtt.OnSubscribed,
		mqtt.OnPacketProcessed,
		mqtt.OnPacketSent,
		mqtt.OnPublishDropped,
		mqtt.OnQosPublish,
		mqtt.OnQosComplete,
		mqtt.OnDisconnect,
	}, []byte{b})
}

// OnConnect decides whether a client may connect, and answers a refusal
// with a CONNACK that says why. It accepts a client with a known username
// and the right password, or without a username when anonymous access
// allows it from the client's address. It refuses a will message on a
// topic the client may not publish to (a will is published on the client's
// behalf when it drops), a client id already registered under another
// username, and a client for which no slot is free (see slotTable). The
// decision is made here, not in OnConnectAuthenticate, because mochi
// answers every refusal there as a bad username or password, which would
// send a client of a full broker to check its password.
func (h *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	code := h.admit(cl, pk)
	if code == packets.CodeSuccess {
		return nil
	}
	if h.server != nil {
		// mochi sends nothing when OnConnect fails; the connection
		// closes after this CONNACK.
		h.server.SendConnack(cl, code, false, nil) //nolint:errcheck // the client is being refused either way.
	}
	return code
}

// OnConnectAuthenticate accepts exactly the clients OnConnect admitted:
// those holding a slot.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	return h.slots.holds(cl.Net.Conn)
}

// admit is OnConnect's decision: CodeSuccess with a slot taken for the
// client's connection, or the CONNACK code of the refusal.
func (h *authHook) admit(cl *mqtt.Client, pk packets.Packet) packets.Code {
	username := string(pk.Connect.Username)
	v5 := cl.Properties.ProtocolVersion >= 5
	refuseCounted := func(count *atomic.Int64, v5code, v3code packets.Code, reason string) packets.Code {
		count.Add(1)
		// Never the password: the client id, the username and where from.
		h.log.Info("broker: refused client", "client", cl.ID, "username", username, "remote", cl.Net.Remote, "reason", reason)
		if v5 {
			return v5code
		}
		return v3code // MQTT 3.1.1 has fewer codes (mochi maps these to them)
	}
	refuse := func(v5code, v3code packets.Code, reason string) packets.Code {
		return refuseCounted(&h.clientsRefused, v5code, v3code, reason)
	}
	notAuthorized := func(reason string) packets.Code {
		return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword, reason)
	}
	if cl.ID == mqtt.InlineClientId {
		return refuse(packets.ErrClientIdentifierNotValid, packets.ErrClientIdentifierNotValid, "the client id is reserved for the gateway")
	}

	var a acl
	if username == "" {
		switch {
		case !h.anon.Allow:
			return notAuthorized("anonymous clients are not allowed")
		case !h.anon.AllowRemote && !isLoopback(cl.Net.Remote):
			return notAuthorized("anonymous clients are allowed from loopback addresses only")
		}
		a = h.anonACL
	} else {
		acc, known := h.accounts[username]
		hash := acc.hash
		if !known {
			hash = h.dummyHash
		}
		select {
		case h.bcryptSlots <- struct{}{}:
		case <-h.stop:
			return refuse(packets.ErrServerUnavailable, packets.ErrServerUnavailable, "the broker is stopping")
		}
		err := bcrypt.CompareHashAndPassword(hash, pk.Connect.Password)
		<-h.bcryptSlots
		if !known || err != nil {
			return refuse(packets.ErrBadUsernameOrPassword, packets.ErrBadUsernameOrPassword, "bad username or password")
		}
		a = acc.acl
	}

	if pk.Connect.WillFlag && !h.mayPublish(a, pk.Connect.WillTopic) {
		return notAuthorized("will topic " + pk.Connect.WillTopic + " is not allowed for this client")
	}
	replacing := false
	if h.server != nil {
		if other, ok := h.server.Clients.Get(cl.ID); ok {
			if string(other.Properties.Username) != username {
				return notAuthorized("the client id is in use by another username")
			}
			// The same account taking its session over, as MQTT allows:
			// mochi disconnects the old connection, which gives its slot
			// back, so the new one may have it now.
			replacing = !other.Closed()
		}
	}
	if !h.slots.take(cl.Net.Conn, username == "", replacing) {
		if username == "" {
			return refuseCounted(&h.clientsRefusedFull, packets.ErrServerBusy, packets.ErrServerUnavailable, "every slot for anonymous clients is taken (max_clients less reserved_for_accounts)")
		}
		return refuseCounted(&h.clientsRefusedFull, packets.ErrServerBusy, packets.ErrServerUnavailable, "max_clients clients are connected")
	}
	// A will is published as the client goes, while it is still registered
	// under its id, so a Subscribe handler can name who sent it (see
	// publisher). An MQTT 5 will delay would publish it later, when the id
	// may name no one or another client, so it is not kept.
	cl.Properties.Will.WillDelayInterval = 0
	return packets.CodeSuccess
}

// slotTable counts connected clients against Config.MaxClients, keeping
// Config.ReservedForAccounts of the slots for accounts: anonymous clients
// may hold at most max minus reserved, so a portal account can connect
// however many anonymous clients a LAN or a buggy display opens. A slot is
// taken when a client is admitted, after its password has been checked, so
// attempts that fail or wait for bcrypt hold none; it is given back when
// the connection's goroutine is done with mochi (connSet.leave). A client
// taking over its own account's live session is admitted past the limit
// for the moment the old connection takes to go.
type slotTable struct {
	max, anonMax int

	mu   sync.Mutex        // guards held and anon
	held map[net.Conn]bool // connection -> whether its client is anonymous
	anon int               // anonymous entries in held
}

func newSlotTable(max, reserved int) *slotTable {
	return &slotTable{max: max, anonMax: max - reserved, held: make(map[net.Conn]bool)}
}

// take gives c a slot if one is free for its kind of client, or whatever
// the count when replacing.
func (s *slotTable) take(c net.Conn, anonymous, replacing bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.held[c]; ok {
		return true
	}
	if !replacing && (len(s.held) >= s.max || anonymous && s.anon >= s.anonMax) {
		return false
	}
	s.held[c] = anonymous
	if anonymous {
		s.anon++
	}
	return true
}

func (s *slotTable) holds(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.held[c]
	return ok
}

// release gives back c's slot, if it has one.
func (s *slotTable) release(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	anonymous, ok := s.held[c]
	if !ok {
		return
	}
	delete(s.held, c)
	if anonymous {
		s.anon--
	}
}

// OnACLCheck decides a publish (write) or a subscription and each delivery
// (read) against the client's ACL. mochi never asks about the gateway's own
// inline client.
//
// A refused publish is counted in Stats.PublishesRefused; mochi asks about
// each client publish once, here. Read checks are not counted here: they
// are subscriptions (counted in OnSubscribed) and deliveries.
func (h *authHook) OnACLCheck(cl *mqtt.Client, name string, write bool) bool {
	a, ok := h.aclOf(cl)
	if write {
		ok = ok && h.mayPublish(a, name)
		if !ok {
			h.publishesRefused.Add(1)
		}
		return ok
	}
	return ok && a.maySubscribe(name)
}

// OnPublish checks a client's publish again once mochi has resolved an MQTT
// 5 topic alias, which happens after OnACLCheck: a message whose real topic
// the client may not publish to is dropped. It also clears the retain flag:
// only the gateway's own messages are retained (see Broker.retain), which
// also keeps clients from filling the broker's memory with retained
// messages.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	a, ok := h.aclOf(cl)
	if !ok || !h.mayPublish(a, pk.TopicName) {
		h.publishesRefused.Add(1)
		h.log.Warn("broker: dropped a publish the client may not make", "client", cl.ID, "topic", pk.TopicName)
		return pk, packets.ErrRejectPacket
	}
	pk.FixedHeader.Retain = false
	return pk, nil
}

// OnWill clears the retain flag of a client's will, for the same reason.
func (h *authHook) OnWill(_ *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	will.Retain = false
	return will, nil
}

// OnSubscribe and OnPacketProcessed hold scans for reading around a
// client's SUBSCRIBE, during which mochi scans for retained messages. mochi
// calls OnPacketProcessed for every SUBSCRIBE it called OnSubscribe for; its
// inline client's subscriptions go through Broker.Subscribe, which takes
// the lock itself.
func (h *authHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if !cl.Net.Inline {
		h.scans.RLock()
	}
	return pk
}

// OnSubscribed counts the filters of a client's SUBSCRIBE that its SUBACK
// refuses (outside its ACL, or invalid) in Stats.SubscriptionsRefused.
// mochi calls it before it writes the SUBACK.
func (h *authHook) OnSubscribed(cl *mqtt.Client, _ packets.Packet, codes []byte) {
	if cl.Net.Inline {
		return
	}
	for _, c := range codes {
		if c >= packets.ErrUnspecifiedError.Code {
			h.subscriptionsRefused.Add(1)
		}
	}
}

func (h *authHook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if pk.FixedHeader.Type == packets.Subscribe && !cl.Net.Inline {
		h.scans.RUnlock()
	}
}

// offlineTracker counts the clients that have received the "offline"
// status Close publishes: a QoS 0 subscriber once it is written the
// message, a QoS 1 subscriber once it acknowledges it, and a subscriber that
// drops the message or goes away counts as done too.
type offlineTracker struct {
	mu      sync.Mutex        // guards pending and done
	pending map[string]uint16 // client id -> packet id of its unacknowledged offline message
	done    int
	wake    chan struct{} // signalled after done grows
}

func (o *offlineTracker) finish() {
	o.done++
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *offlineTracker) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.done
}

func (h *authHook) isOffline(pk packets.Packet) bool {
	return pk.FixedHeader.Type == packets.Publish && pk.TopicName == h.status && string(pk.Payload) == topic.StatusOffline
}

func (h *authHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if h.isOffline(pk) {
		h.offline.mu.Lock()
		h.offline.pending[cl.ID] = pk.PacketID
		h.offline.mu.Unlock()
	}
}

func (h *authHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	h.offline.mu.Lock()
	defer h.offline.mu.Unlock()
	if id, ok := h.offline.pending[cl.ID]; ok && id == pk.PacketID {
		delete(h.offline.pending, cl.ID)
		h.offline.finish()
	}
}

func (h *authHook) OnPacketSent(_ *mqtt.Client, pk packets.Packet, _ []byte) {
	if h.isOffline(pk) && pk.FixedHeader.Qos == 0 {
		h.offline.mu.Lock()
		h.offline.finish()
		h.offline.mu.Unlock()
	}
}

func (h *authHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	if h.isOffline(pk) {
		h.offline.mu.Lock()
		delete(h.offline.pending, cl.ID)
		h.offline.finish()
		h.offline.mu.Unlock()
	}
}

func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.offline.mu.Lock()
	defer h.offline.mu.Unlock()
	if _, ok := h.offline.pending[cl.ID]; ok {
		delete(h.offline.pending, cl.ID)
		h.offline.finish()
	}
}

func (h *authHook) aclOf(cl *mqtt.Client) (acl, bool) {
	if len(cl.Properties.Username) == 0 {
		return h.anonACL, h.anon.Allow
	}
	acc, ok := h.accounts[string(cl.Properties.Username)]
	return acc.acl, ok
}

// mayPublish applies the rules every client publish obeys, whatever its
// ACL says: nothing on '$' topics; nothing in Lintel's namespace lintel/v1/
// but this gateway's sync/changes, and that only for a portal account, and
// its doors' command topics (doors/{door}/set), and those only for a
// homeassistant account; nothing on the gateway's reserved topics (its
// Home Assistant discovery configs); then only what the ACL allows. Config.Validate refuses filters that would
// grant sync/changes to anyone else; this holds whatever it let through.
//
// The embedded broker serves one gateway. Every other topic under
// lintel/v1/ is either that gateway's own (its events, status, doors and
// acks) or another gateway's, and a consumer subscribed to
// lintel/v1/+/events/+ would take a client's message there for that
// gateway's word.
func (h *authHook) mayPublish(a acl, name string) bool {
	if strings.HasPrefix(name, "$") {
		return false
	}
	if topic.InNamespace(name) && !(name == h.changes && a.role == RolePortal) &&
		!(a.role == RoleHomeAssistant && topic.Match(h.commands, name)) {
		return false
	}
	for _, f := range h.reserved {
		if topic.Match(f, name) {
			return false
		}
	}
	return a.mayPublish(name)
}

// publisher names the client with id, as a Subscribe handler's Message
// does, while mochi knows it: a client's publish and its will reach the
// handlers while the client is still registered under its id (wills are
// never delayed; see admit). Another account cannot reuse the id of a
// registered client (admit refuses it), so the id names one account.
func (h *authHook) publisher(id string) (username string, role Role, ok bool) {
	if h.server == nil {
		return "", "", false
	}
	cl, ok := h.server.Clients.Get(id)
	if !ok || cl.Net.Inline {
		return "", "", false
	}
	a, ok := h.aclOf(cl)
	return string(cl.Properties.Username), a.role, ok
}

// isLoopback reports whether a "host:port" remote address is a loopback
// address (127.0.0.0/8, ::1, or either as an IPv4-mapped IPv6 address).
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}
