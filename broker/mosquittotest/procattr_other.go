//go:build !linux

package mosquittotest

import "syscall"

// dieWithParent is Linux-only; elsewhere the test's cleanup is the only
// thing that stops mosquitto.
func dieWithParent() *syscall.SysProcAttr { return nil }
