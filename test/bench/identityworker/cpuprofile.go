//go:build cdcprofile

package main

// Built only with -tags cdcprofile: profiles of the whole process when
// CDC_TEST_CPU_PROFILE_DIR is set (see package cdcprofile).

import "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/cdcprofile"

func init() { cdcprofile.Start("identityworker") }

// stopProfile writes the CPU profile's end before the process exits.
func stopProfile() { cdcprofile.Stop() }
