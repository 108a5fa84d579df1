package gateway

import (
	"testing"

	"github.com/lintel-access/lintel/api/apitest"
)

// TestAPIContract runs the API's route table (apitest.RunContract) against
// the store-backed backend of a simulated gateway, the one the in-memory
// fake of the API tests must behave like (issue 12, finding 11).
func TestAPIContract(t *testing.T) {
	apitest.RunContract(t, func(t *testing.T) apitest.Target {
		g := startSim(t, nil)
		return apitest.Target{Backend: (*backend)(g), Sim: g.hw.sim}
	})
}
