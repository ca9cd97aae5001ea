//go:build !cdcprofile

package main

// stopProfile does nothing unless built with -tags cdcprofile (cpuprofile.go).
func stopProfile() {}
