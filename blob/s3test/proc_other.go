//go:build !linux

package s3test

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: cleanup stops MinIO.
func sysProcAttr() *syscall.SysProcAttr { return nil }
