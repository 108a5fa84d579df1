package api_test

import (
	"testing"

	"github.com/lintel-access/lintel/api/apitest"
)

// TestAPIContract runs the route table of apitest.RunContract against the
// in-memory backend the other API tests use; package gateway runs it
// against the store-backed one, so the fake cannot drift from the gateway
// unnoticed (issue 12, finding 11).
func TestAPIContract(t *testing.T) {
	apitest.RunContract(t, func(t *testing.T) apitest.Target {
		b := apitest.New(nil)
		return apitest.Target{Backend: b, Sim: apitest.Sim{B: b}}
	})
}
