//go:build !linux

package store

import "errors"

var errNoStatfs = errors.New("free disk space is measured on Linux only")

// statfs cannot measure outside Linux; the guard then writes regardless.
func statfs(string) (free, size uint64, err error) { return 0, 0, errNoStatfs }

func allocate(string, int64) error { return errNoStatfs }
