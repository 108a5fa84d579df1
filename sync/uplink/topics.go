package uplink

import (
	"fmt"
	"strings"
)

// The MQTT topic contract of DESIGN.md, as far as the uplink uses it. These
// are the only places in the package that spell a topic.
const topicRoot = "lintel/v1/"

func eventsTopic(gw, reader string) string { return topicRoot + gw + "/events/" + reader }
func statusTopic(gw string) string         { return topicRoot + gw + "/status" }
func changesTopic(gw string) string        { return topicRoot + gw + "/sync/changes" }
func acksTopic(gw string) string           { return topicRoot + gw + "/sync/acks" }

// readerNone is the topic segment of events that have no reader.
const readerNone = "gateway"

// offlinePayload is the retained status the broker publishes as the
// uplink's last will, and the uplink itself on an orderly shutdown.
const offlinePayload = "offline"

// onlinePayload is the retained status published on connect until the
// gateway has set a health summary with SetRetained.
const onlinePayload = "online"

// checkSegment reports whether s can stand as one level of a topic name:
// not empty, no level separator, no wildcard, no NUL, valid UTF-8.
func checkSegment(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case strings.ContainsAny(s, "/+#\x00"):
		return fmt.Errorf("%s %q contains one of / + # or NUL", what, s)
	case strings.ToValidUTF8(s, "\uFFFD") != s:
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	return nil
}

// checkTopicName reports whether s is a topic a message may be published
// on: not empty, no wildcard, no NUL, valid UTF-8, at most 65535 bytes.
func checkTopicName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("topic is empty")
	case len(s) > 65535:
		return fmt.Errorf("topic is longer than 65535 bytes")
	case strings.ContainsAny(s, "+#\x00"):
		return fmt.Errorf("topic %q contains a wildcard or NUL", s)
	case strings.ToValidUTF8(s, "\uFFFD") != s:
		return fmt.Errorf("topic %q is not valid UTF-8", s)
	}
	return nil
}
