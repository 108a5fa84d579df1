package gateway

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/lintel-access/lintel/broker/topic"
)

// asyncAPI is docs/asyncapi.yaml, read as JSON values.
func asyncAPI(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../docs/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/asyncapi.yaml: %v", err)
	}
	// Through JSON, so that numbers are what the schema library expects.
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

// payloadSchemas compiles the payload schema of each message of
// docs/asyncapi.yaml's components, by message name.
func payloadSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	doc := asyncAPI(t)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // AsyncAPI's schema format is a superset of draft 7
	c.AssertFormat()
	if err := c.AddResource("asyncapi.json", doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for name := range doc["components"].(map[string]any)["messages"].(map[string]any) {
		s, err := c.Compile("asyncapi.json#/components/messages/" + name + "/payload")
		if err != nil {
			t.Fatalf("docs/asyncapi.yaml: message %s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

// TestGoldenPayloadsFollowAsyncAPI validates every golden payload (the
// real structs the gateway publishes, see TestMQTTPayloadsMatchGolden)
// against its message's schema in docs/asyncapi.yaml, so that neither can
// change without the other; and checks that the schemas refuse a payload
// with a field they do not list.
func TestGoldenPayloadsFollowAsyncAPI(t *testing.T) {
	schemas := payloadSchemas(t)
	for _, p := range goldenPayloads(t) {
		t.Run(p.file, func(t *testing.T) {
			s, ok := schemas[p.message]
			if !ok {
				t.Fatalf("docs/asyncapi.yaml has no message %s", p.message)
			}
			b, err := os.ReadFile(filepath.Join("testdata", "mqtt", p.file))
			if err != nil {
				t.Fatal(err)
			}
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			values := []any{v}
			if p.message == "HomeAssistantDiscovery" { // topic -> config
				values = values[:0]
				for _, c := range v.(map[string]any) {
					values = append(values, c)
				}
			}
			for _, v := range values {
				if err := s.Validate(v); err != nil {
					t.Errorf("%s does not follow docs/asyncapi.yaml's %s: %v", p.file, p.message, err)
				}
				if m, ok := v.(map[string]any); ok {
					m["pin"] = "1234"
					if s.Validate(m) == nil {
						t.Errorf("%s's schema %s takes a field it does not list (pin)", p.file, p.message)
					}
					delete(m, "pin")
				}
			}
		})
	}
	for msg, payload := range map[string]string{
		"StatusOnline": `"online"`, "StatusOffline": `"offline"`, "DoorCommand": `"UNLOCK"`, "HomeAssistantStatus": `"online"`,
	} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(payload))
		if err := schemas[msg].Validate(v); err != nil {
			t.Errorf("%s %s: %v", msg, payload, err)
		}
	}
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`"OPEN"`))
	if schemas["DoorCommand"].Validate(bad) == nil {
		t.Error("DoorCommand takes OPEN, which the gateway refuses")
	}
}

// TestAsyncAPIHasEveryTopic holds docs/asyncapi.yaml's channels to the
// topic builders and to docs/mqtt.md's topic table, and its event types to
// the gateway's list.
func TestAsyncAPIHasEveryTopic(t *testing.T) {
	doc := asyncAPI(t)
	var addresses []string
	for _, ch := range doc["channels"].(map[string]any) {
		addresses = append(addresses, ch.(map[string]any)["address"].(string))
	}
	slices.Sort(addresses)
	gw := "{gw}"
	build := func(f func() (string, error)) string {
		s, err := f()
		if err != nil {
			t.Fatal(err)
		}
		return strings.NewReplacer("GW", gw, "READER", "{reader}", "DOOR", "{door}").Replace(s)
	}
	want := []string{
		build(func() (string, error) { return topic.Events("GW", "READER") }),
		build(func() (string, error) { return topic.Status("GW") }),
		build(func() (string, error) { return topic.Door("GW", "DOOR") }),
		build(func() (string, error) { return topic.DoorCommand("GW", "DOOR") }),
		build(func() (string, error) { return topic.SyncChanges("GW") }),
		build(func() (string, error) { return topic.SyncAcks("GW") }),
		"{prefix}/{component}/{node}/{object}/config",
		"{prefix}/status",
	}
	slices.Sort(want)
	if diff := cmp.Diff(addresses, want); diff != "" {
		t.Errorf("docs/asyncapi.yaml's channels (-) and the topics (+) differ:\n%s", diff)
	}
	mqtt, err := os.ReadFile("../docs/mqtt.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `(lintel/v1/[^`]+)` \\|").FindAllStringSubmatch(string(mqtt), -1) {
		if !slices.Contains(addresses, m[1]) {
			t.Errorf("docs/mqtt.md lists %s, which docs/asyncapi.yaml has no channel for", m[1])
		}
	}
	enum := doc["components"].(map[string]any)["schemas"].(map[string]any)["Event"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
	var types []string
	for _, e := range enum {
		types = append(types, e.(string))
	}
	if diff := cmp.Diff(sortedSet(types), sortedSet(eventTypes)); diff != "" {
		t.Errorf("docs/asyncapi.yaml's event types (-) and the gateway's (+) differ:\n%s", diff)
	}
}
