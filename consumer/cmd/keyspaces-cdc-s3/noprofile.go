//go:build !cdcprofile

package main

// stopProfile does nothing in a shipped build: only a build with -tags cdcprofile profiles
// (cpuprofile.go).
func stopProfile() {}
