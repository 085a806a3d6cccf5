package main

import (
	"os/exec"
	"regexp"
	"runtime/debug"
	"testing"
)

// A binary built without -ldflags shows the version Go recorded in it.
func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	vcs := func(revision, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: revision}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "ad2872cc659c771d5fa4dbaca832e6fdbd4e7ad2"
	for name, c := range map[string]struct {
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		"go install of a tag":             {"v1.2.3", nil, "1.2.3"},
		"go build of a tagged commit":     {"v1.2.3", vcs(rev, "false"), "1.2.3"},
		"go build between tags":           {"v0.0.0-20261201164942-ad2872cc659c", vcs(rev, "false"), "0.0.0-20261201164942-ad2872cc659c"},
		"go build of a modified tree":     {"v0.0.0-20261201164942-ad2872cc659c+dirty", vcs(rev, "true"), "0.0.0-20261201164942-ad2872cc659c+dirty"},
		"a revision but no version":       {"(devel)", vcs(rev, "false"), "devel-ad2872cc659c"},
		"a modified revision, no version": {"(devel)", vcs(rev, "true"), "devel-ad2872cc659c-modified"},
		"nothing recorded":                {"(devel)", nil, "unknown"},
	} {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/covoiturage-exporter/covoiturage_exporter", Version: c.version}, Settings: c.settings}
		if got := versionOf(info, true); got != c.want {
			t.Errorf("%s: version %q, want %q", name, got, c.want)
		}
	}
	if got := versionOf(nil, false); got != "unknown" {
		t.Errorf("without build information: version %q, want unknown", got)
	}
}

// The built binary's --version names a version, whatever built it.
func TestBinaryShowsItsVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(buildExporter(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`(?m)^covoiturage_exporter, version (\S+) `).FindSubmatch(out); m == nil {
		t.Errorf("--version names no version:\n%s", out)
	}
}
