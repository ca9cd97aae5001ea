package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version names the build: `make build` sets it (-ldflags -X main.version=...) to git's
// description of the checkout, or in the image's build to a hash of consumer/'s sources.
var version = "dev"

// buildInfo says which build runs: the version, then the commit Go stamped into the binary
// when it was built in a git checkout, the Go version and the platform.
func buildInfo() string {
	s := "keyspaces-cdc-s3 " + version
	if rev, dirty := vcsRevision(); rev != "" {
		s += " (commit " + rev + dirty + ")"
	}
	return s + fmt.Sprintf(" %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// vcsRevision is the commit Go stamped into the binary ("" when built outside a checkout),
// and "+dirty" when the checkout had changes.
func vcsRevision() (rev, dirty string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", ""
	}
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	return rev, dirty
}
