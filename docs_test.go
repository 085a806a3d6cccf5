package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/testkit"
)

// markdownFiles lists the documents a reader of the repository meets: every
// .md file outside .git.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules"):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(p, ".md"):
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("only %d Markdown files found: %v", len(files), files)
	}
	return files
}

// headingAnchors returns the anchors GitHub gives a Markdown file's
// headings, fenced code left out.
func headingAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	anchors := map[string]bool{}
	heading := regexp.MustCompile(`^#{1,6} +(.+?) *#*$`)
	inFence := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil && !inFence {
			anchors[testkit.HeadingAnchor(m[1])] = true
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

var (
	inlineLink    = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	referenceLink = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*(\S+)`)
	fencedCode    = regexp.MustCompile("(?ms)^ *```.*?^ *```")
)

// Every relative link of every document leads to a file of the repository
// (never outside it, as ../shared/… once did: a clone has no such
// neighbour), and its #anchor to a heading of that file.
func TestDocumentLinksStayInTheRepository(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]map[string]bool{}
	checked := 0
	for _, file := range markdownFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := fencedCode.ReplaceAllString(string(b), "")
		var targets []string
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range referenceLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if regexp.MustCompile(`^[a-z]+:`).MatchString(target) {
				continue // http(s), mailto: outside by design
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				abs, err := filepath.Abs(dest)
				if err != nil {
					t.Fatal(err)
				}
				if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
					t.Errorf("%s links to %s, outside the repository", file, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s links to %s, which does not exist", file, target)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if anchors[dest] == nil {
				anchors[dest] = headingAnchors(t, dest)
			}
			if !anchors[dest][anchor] {
				t.Errorf("%s links to %s: %s has no heading with that anchor", file, target, dest)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d relative links checked: has the link syntax changed?", checked)
	}
}

// metricMention finds metric names in prose; names with a colon are
// recording rules (their own tests tie them to the rules file), names
// followed by * are families.
var metricMention = regexp.MustCompile(`[a-z0-9_:]*covoiturage_[a-z0-9_]*\*?`)

// Every metric the README and docs/ name is one the exporter exports (the
// table of docs/metrics.md, itself checked against the code), so a renamed
// metric cannot leave a page describing what no longer exists.
func TestDocumentsNameOnlyExportedMetrics(t *testing.T) {
	known := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `(covoiturage_[a-z_]+)` \\| (gauge|counter|histogram) \\|")
	for _, m := range row.FindAllStringSubmatch(between(t, metricsDoc, "metrics-table"), -1) {
		known[m[1]] = true
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				known[m[1]+s] = true
			}
		}
	}
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	names := 0
	for _, file := range append([]string{"README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricMention.FindAllString(string(b), -1) {
			switch {
			case strings.Contains(name, ":"), strings.HasSuffix(name, "*"), strings.HasSuffix(name, "_"):
				continue
			case name == exporterName: // the program, not a metric
				continue
			}
			names++
			if !known[name] {
				t.Errorf("%s names %s, which is not in the metrics table of %s", file, name, metricsDoc)
			}
		}
	}
	if names < 30 {
		t.Fatalf("only %d metric names found in the documents", names)
	}
}

// The registry notes the project once cited from outside the repository
// (../shared/rpc-api/, beside a checkout nobody else has) live in
// docs/registry.md; no file may point back there.
func TestNothingCitesNotesOutsideTheRepository(t *testing.T) {
	outside := regexp.MustCompile(`\.\./shared/|rpc-api/|\b` + "REGISTRY" + `\.md\b`)
	files := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir() || p == "docs_test.go":
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.ContainsRune(string(b[:min(len(b), 8000)]), 0) {
			return nil // binary
		}
		files++
		for i, line := range strings.Split(string(b), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d cites %s, outside the repository: cite docs/registry.md", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("only %d files read", files)
	}
}
