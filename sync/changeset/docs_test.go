package changeset

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
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
