package changeset

import (
	"crypto/ed25519"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
)

// TestDocsExamples holds docs/sync.md to the code: every JSON example in
// it must be a changeset Decode accepts or an ack of exactly the Ack shape.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/sync.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d JSON examples in docs/sync.md, want the changesets and acks", len(blocks))
	}
	var changesets, acks int
	for _, b := range blocks {
		example := b[1]
		if strings.Contains(example, `"seq"`) {
			var ev access.Event
			if err := json.Unmarshal([]byte(example), &ev, json.RejectUnknownMembers(true)); err != nil || ev.Type == "" {
				t.Errorf("event example does not fit access.Event: %v\n%s", err, example)
			}
			continue
		}
		if strings.Contains(example, `"status"`) {
			acks++
			var a Ack
			if err := json.Unmarshal([]byte(example), &a, json.RejectUnknownMembers(true)); err != nil {
				t.Errorf("ack example does not fit Ack: %v\n%s", err, example)
			}
			continue
		}
		changesets++
		if _, err := Decode([]byte(example)); err != nil {
			t.Errorf("changeset example refused: %v\n%s", err, example)
		}
	}
	if changesets < 2 || acks < 3 {
		t.Errorf("%d changeset and %d ack examples, want at least 2 and 3", changesets, acks)
	}
}

// TestDocsSignedExample holds the signed changeset of docs/sync.md to the
// code: the example payload verifies with the example key of its [sync]
// table for the gateway it names, and the signed text shown is the one
// SignedMessage makes.
func TestDocsSignedExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/sync.md")
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`public_keys = \["([^:"]+):([^"]+)"\]`).FindStringSubmatch(string(doc))
	payload := regexp.MustCompile("(?s)```text\n(\\{\"signed\".*?)```").FindStringSubmatch(string(doc))
	gw := regexp.MustCompile("signed for gateway\\s+`([^`]+)`").FindStringSubmatch(string(doc))
	text := regexp.MustCompile("signed text is\\s+`([^`]+)`").FindStringSubmatch(string(doc))
	if key == nil || payload == nil || gw == nil || text == nil {
		t.Fatalf("docs/sync.md lacks the example key (%v), signed payload (%v), gateway (%v) or signed text (%v)", key != nil, payload != nil, gw != nil, text != nil)
	}
	pub, err := ParsePublicKey(key[2])
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewKeyring(map[string]ed25519.PublicKey{key[1]: pub})
	if err != nil {
		t.Fatal(err)
	}
	p := strings.TrimSuffix(payload[1], "\n")
	body, e := keys.open(gw[1], []byte(p))
	if e != nil {
		t.Fatalf("the example does not verify: %v", e)
	}
	if _, err := Decode(body); err != nil {
		t.Errorf("the signed example's changeset is refused: %v", err)
	}
	if got, want := strings.ReplaceAll(string(SignedMessage(gw[1], body)), "\n", `\n`), text[1]; got != want {
		t.Errorf("signed text: the doc says %s, SignedMessage makes %s", want, got)
	}
	if _, e := keys.open("another-gateway", []byte(p)); e == nil || e.Code != CodeBadSignature {
		t.Errorf("the example for another gateway: got %v, want bad_signature", e)
	}
}

// TestDocsErrorCodes: every code the applier answers with has its row in
// docs/sync.md's table, and the table has no other.
func TestDocsErrorCodes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/sync.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)[strings.Index(string(doc), "## Error codes"):]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	var codes []string
	for _, c := range Codes {
		codes = append(codes, string(c))
	}
	if diff := cmp.Diff(codes, documented); diff != "" {
		t.Errorf("Codes (-) and docs/sync.md's table (+) differ:\n%s", diff)
	}
}
