// Package apitest is an in-memory Lintel appliance for tests of the API, the
// client, the CLI and the status page.
//
// [Backend] is a real implementation of api.Backend over maps: it keeps the
// PIN rules (R1-R4) through access.ValidatePIN and access.GeneratePIN, keeps
// cards unique, journals events with sequence numbers and wakes waiting
// event streams. [Sim] is a real api.Sim over it: cards are encoded and
// frames decoded by gpio/wiegand with its default formats, as a simulated
// reader of the gateway does, and cards and key presses go through the real
// access.Engine with the three readers of `lintel run --sim` (front: RPK40
// card_and_pin, side: RPK40 card_or_pin, garage: RP40 card_only), so a test
// sees the same grants and denials, with the same activity-log names, as on
// a gateway.
//
// [RunContract] is the API's route table as a contract test over any
// backend: package api runs it over this fake and package gateway over its
// store-backed backend, so the fake stays what the gateway is.
//
// Time comes from an injected clock (a func, such as the Now of
// gpio/clock/clocktest.Fake, the project's one fake clock). Nothing here
// owns a goroutine.
package apitest
