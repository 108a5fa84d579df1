package mosquittotest

import "syscall"

// dieWithParent has the kernel kill mosquitto when the test process dies,
// so that a test killed from outside (a ^C, a timeout) leaves no broker
// behind holding its port.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
