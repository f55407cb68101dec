package s3test

import "syscall"

// sysProcAttr makes the kernel kill MinIO if the test process dies without
// running its cleanups (a panic, a timeout, SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
