package gateway

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/gateway/access"
)

// TestDoorAndReaderGauges checks lintel_door_locked, lintel_door_open,
// lintel_door_alarm and lintel_reader_fault against what the door does: a
// test pulse unlocks it, an opening without a grant raises forced_open.
func TestDoorAndReaderGauges(t *testing.T) {
	g := startSim(t, nil)
	if got := gauge(t, g, "lintel_door_locked", "door", "side"); got != 1 {
		t.Errorf("lintel_door_locked{door=side} at start: got %v, want 1", got)
	}
	if got := gauge(t, g, "lintel_reader_fault", "reader", "side"); got != 0 {
		t.Errorf("lintel_reader_fault{reader=side} at start: got %v, want 0", got)
	}
	for _, a := range doorAlarms {
		if got := gauge(t, g, "lintel_door_alarm", "door", "side", "alarm", a); got != 0 {
			t.Errorf("lintel_door_alarm{door=side,alarm=%s} at start: got %v, want 0", a, got)
		}
	}
	start := g.store.JournalStats().Last
	if err := (*backend)(g).PulseDoor("test", "side"); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, g, "lintel_door_locked", "door", "side"); got != 0 {
		t.Errorf("lintel_door_locked{door=side} during a test pulse: got %v, want 0", got)
	}
	if got := gauge(t, g, "lintel_door_locked", "door", "front"); got != 1 {
		t.Errorf("lintel_door_locked{door=front} while side is pulsed: got %v, want 1", got)
	}
	if err := g.hw.sim.DoorContact("front", true); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, g, start, func(ev access.Event) bool { return ev.Type == "door.forced" && ev.Door == "front" })
	if got := gauge(t, g, "lintel_door_open", "door", "front"); got != 1 {
		t.Errorf("lintel_door_open{door=front} after it was forced: got %v, want 1", got)
	}
	if got := gauge(t, g, "lintel_door_alarm", "door", "front", "alarm", "forced_open"); got != 1 {
		t.Errorf("lintel_door_alarm{door=front,alarm=forced_open} after it was forced: got %v, want 1", got)
	}
	if got := gauge(t, g, "lintel_build_info", "version", Version, "goversion", runtime.Version()); got != 1 {
		t.Errorf("lintel_build_info: got %v, want 1 with the version and Go version", got)
	}
	if got := gauge(t, g, "lintel_broker_clients_connected"); got != 0 {
		t.Errorf("lintel_broker_clients_connected with no client: got %v, want 0", got)
	}
}

// TestBrokerCountersOnMetricsWhereTheDocsSay holds docs/mqtt.md's counter
// table to /metrics: each broker.Stats counter has a row naming its metric,
// and that metric reports that counter (each counter is given a value of
// its own, so a metric reading the wrong field is caught).
func TestBrokerCountersOnMetricsWhereTheDocsSay(t *testing.T) {
	doc, err := os.ReadFile("../docs/mqtt.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z]\\w*)` \\| `(lintel_broker_\\w+)` \\|")
	documented := map[string]string{} // metric -> Stats field
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[2]] = m[1]
	}
	var st broker.Stats
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		v.Field(i).SetInt(int64(100 + i))
	}
	if len(brokerMetrics) != v.NumField() {
		t.Errorf("/metrics reports %d broker counters; broker.Stats has %d", len(brokerMetrics), v.NumField())
	}
	for _, m := range brokerMetrics {
		field, ok := documented[m.name]
		if !ok {
			t.Errorf("docs/mqtt.md's counter table does not name %s beside its counter", m.name)
			continue
		}
		if got, want := m.value(st), v.FieldByName(field).Int(); got != want {
			t.Errorf("%s reports %d, want Stats.%s (%d)", m.name, got, field, want)
		}
		delete(documented, m.name)
	}
	for name := range documented {
		t.Errorf("docs/mqtt.md names %s, which /metrics does not report", name)
	}
}

// TestREADMEListsEveryMetric checks that the README's list of metrics
// names every lintel_ metric the gateway registers, and nothing else.
func TestREADMEListsEveryMetric(t *testing.T) {
	g := startSim(t, nil)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "Metrics for monitoring are at `/metrics`")
	if !ok {
		t.Fatal("README.md has no list of metrics")
	}
	section, _, _ = strings.Cut(section, "\n\n")
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`(lintel_\\w+)").FindAllStringSubmatch(section, -1) {
		listed[m[1]] = true
	}
	mfs, err := g.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "lintel_") {
			continue
		}
		if !listed[name] {
			t.Errorf("README.md does not list %s", name)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("README.md lists %s, which /metrics does not have", name)
	}
}

// TestLogFormatJSON checks gateway.log_format: "json" writes one JSON
// object a line, the default writes text, and anything else is refused.
func TestLogFormatJSON(t *testing.T) {
	for _, tc := range []struct {
		format string
		json   bool
	}{{"json", true}, {"text", false}} {
		t.Run(tc.format, func(t *testing.T) {
			var b strings.Builder
			newLogger(&b, "info", tc.format).Info("lintel is up", "gateway", "gw1")
			var v map[string]any
			err := json.Unmarshal([]byte(b.String()), &v)
			if (err == nil) != tc.json {
				t.Fatalf("format %s wrote %q: JSON %v, want JSON %v", tc.format, b.String(), err == nil, tc.json)
			}
			if tc.json && (v["msg"] != "lintel is up" || v["gateway"] != "gw1") {
				t.Errorf("format json wrote %q, want msg and gateway fields", b.String())
			}
		})
	}
	in := strings.Replace(string(ExampleConfig()), `log_format = "text"`, `log_format = "logfmt"`, 1)
	_, err := ParseConfig("lintel.toml", []byte(in))
	if err == nil || !strings.Contains(err.Error(), `gateway.log_format: "logfmt" is not one of text, json`) {
		t.Errorf("log_format = \"logfmt\": got %v, want it refused naming the key", err)
	}
}
