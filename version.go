package main

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// `make build` and the container image set the version with -ldflags.
// A binary built by `go build` or `go install` has none, so --version and
// covoiturage_exporter_build_info would say nothing: it is taken from what
// Go records in the binary instead.
func init() {
	if version.Version == "" {
		info, ok := debug.ReadBuildInfo()
		version.Version = versionOf(info, ok)
	}
}

// versionOf is the module version Go recorded: the tag `go install
// ...@v1.2.3` fetched, or, for `go build` in a git checkout, the tag of
// the commit or a pseudo-version naming it (+dirty when modified). Without
// one, it is devel- and the commit, or unknown.
func versionOf(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return strings.TrimPrefix(v, "v")
	}
	var revision string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return "unknown"
	}
	v := "devel-" + revision[:min(12, len(revision))]
	if modified {
		v += "-modified"
	}
	return v
}
