package topic_test

import (
	"fmt"

	"github.com/lintel-access/lintel/broker/topic"
)

func ExampleEvents() {
	t, err := topic.Events("gw1", "front")
	fmt.Println(t, err)
	_, err = topic.Events("gw1", "front/#")
	fmt.Println(err)
	// Output:
	// lintel/v1/gw1/events/front <nil>
	// topic: reader name "front/#": '/' is not allowed; use letters, digits, '.', '_' and '-'
}

func ExampleParse() {
	t, err := topic.Parse("lintel/v1/gw1/doors/garage")
	fmt.Println(t.Kind, t.Gateway, t.Name, err)
	_, err = topic.Parse("lintel/v1/gw1/doors")
	fmt.Println(err)
	// Output:
	// doors gw1 garage <nil>
	// topic: "lintel/v1/gw1/doors": "doors" is not a topic of the contract
}
