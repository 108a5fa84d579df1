// Package homeassistant puts a Lintel gateway into Home Assistant through
// MQTT discovery on the gateway's embedded broker.
//
// # What Home Assistant sees
//
// One device per gateway ("Lintel <id>", identified as lintel_<id>), with
// these entities, each announced by a retained discovery config on
// <prefix>/<component>/<node>/<object>/config (the prefix is
// Config.DiscoveryPrefix, "homeassistant" by default; <node> is the gateway
// id as Home Assistant's topic levels allow it):
//
//	lock            door_<door>           the door's strike: locked or unlocked,
//	                                      from lintel/v1/{gw}/doors/{door};
//	                                      "UNLOCK" is a timed pulse
//	binary_sensor   door_<door>_open      the door contact (device class door),
//	                                      for doors with a contact
//	binary_sensor   door_<door>_alarm     on while the door has an alarm (forced,
//	                                      held open, output error, lockdown), the
//	                                      alarms as an attribute
//	event           door_<door>_access    every journal event of the door (grants,
//	                                      denials, openings, alarms), its type the
//	                                      event type; attributes: the event
//	binary_sensor   reader_<reader>_fault on while the reader has a fault
//	sensor          journal_undelivered   events the cloud broker has not acknowledged
//	sensor          sync_revision         the user table's sync revision
//
// Every entity takes its availability from the gateway's retained status
// topic, lintel/v1/{gw}/status: "offline" (what the gateway publishes when
// it stops, and what a broker publishes as its last will) is unavailable,
// anything else (the health summary, "online") available. Home Assistant
// also marks the entities unavailable when it loses its connection to the
// broker, which is what a crash of the gateway, and its embedded broker,
// looks like. The reader and gateway sensors read the health summary,
// which the gateway refreshes every 30 s and at once when a reader's
// fault comes or goes.
//
// The configs are published retained when the bridge starts (the embedded
// broker keeps nothing across a restart, so every start publishes them
// again), and again whenever Home Assistant announces itself with
// "online" on <prefix>/status, its birth message.
//
// # Who may open a door
//
// The lock's command topic is lintel/v1/{gw}/doors/{door}/set. The
// embedded broker lets only accounts of role "homeassistant" publish there
// (broker.RoleHomeAssistant; no other account, no anonymous client), and
// no client at all on the gateway's discovery topics, which the bridge
// gives the broker as Config.Reserved (ReservedFilter), so no client can
// redirect Home Assistant's lock to a command topic of its own. Whether a
// command is obeyed is then this package's rule: "UNLOCK" pulses the door
// (Doors.Unlock) only when Config.AllowUnlock is set; otherwise, and for
// anything else but "LOCK", the command is refused and recorded
// (Doors.Refused), so the refusal shows in the journal and on the door's
// event entity. "LOCK" does nothing: a pulse ends by itself, and a door
// held open by a schedule or an override is not Home Assistant's to close.
//
// # Concurrency
//
// Discovery is pure. A Bridge's fields do not change after New; its
// handlers run on the publishing client's goroutine, as the broker calls
// them, and may run at once for different clients, so Doors must be safe
// for concurrent use.
package homeassistant
