// Package gateway is the Lintel appliance: it loads the configuration, builds
// the store, the readers and doors, the access engine, the embedded broker,
// the cloud uplink and the API, runs them under one lifetime and fans the
// event journal out to them.
//
// # Configuration
//
// [ParseConfig] decodes lintel.toml key by key (configdecode.go says why
// not in one Decode call) and [Config.Validate] checks it table by table,
// without changing it; together they report every problem in the file at
// once, in file order, each with its key and line. A rule about a value
// another package uses is that package's exported check, called here: pin
// names are pins.CheckName's, reader, door and gateway names topic.CheckID's
// (and access's), the broker's, the uplink's and the API server's settings
// their own Validate's.
//
// [Config.Warnings] lists, the same way, what loads but is unsafe to leave
// (each table's owner says what: the API server, the broker, the uplink),
// which `lintel config check` prints and `lintel run` logs.
//
// # Home Assistant
//
// With [homeassistant] enabled, the gateway hands package
// broker/homeassistant its site (doors, readers, event types), reserves
// the discovery topics on the embedded broker, and carries out the lock
// commands the bridge accepts (haDoors): a pulse journaled with the broker
// account that asked, or a refusal journaled with its reason.
//
// # Lifecycle
//
// [Run] drives every strike relay to its locked state before anything else,
// opens the store, starts the readers and the decision loop, and only then
// reports readiness. Components run under an errgroup and stop in reverse
// order; shutdown has its own timeout context so a cancelled run still drains
// the journal. On every exit path — signal, fatal error, panic in a component
// — the doors are driven locked again.
//
// # Data flow
//
// A reader's frame goes to the access engine on the decision goroutine; the
// decision drives the door at once and appends its event to the journal. The
// journal is the single source of events: the embedded broker, the uplink and
// the API each read it from their own cursor, so nothing on the network is on
// the path of a decision. While an operator enrols a card from a reader
// (`lintel card enrol`), the reader's goroutine hands that reader's next
// decoded card to the enrolment instead (operators.go): it is enrolled, not
// decided. The store refuses cards no reader can present by the readers'
// own formats (gpio/wiegand's CardFormats, passed as store.Options.CheckCard).
package gateway
