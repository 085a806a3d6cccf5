package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/collector"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
)

// between returns the text of a document between <!-- name --> and
// <!-- /name -->.
func between(t *testing.T, file, name string) string {
	t.Helper()
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	open, end := "<!-- "+name+" -->", "<!-- /"+name+" -->"
	i, j := strings.Index(s, open), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s section", file, name)
	}
	return s[i+len(open) : j]
}

// describer collects the descriptors of what is registered with it.
type describer struct{ descs []*prometheus.Desc }

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		d.descs = append(d.descs, desc)
	}
	return nil
}
func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}
func (d *describer) Unregister(prometheus.Collector) bool { return false }

var descPattern = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// metricsDoc holds the table of every metric; the README shows the main
// ones and points there.
const metricsDoc = "docs/metrics.md"

// The metrics table of docs/metrics.md lists exactly the metrics the
// exporter registers, with their labels, so the documentation, the
// dashboards and the alerts built from it cannot drift from the code.
func TestMetricsTableMatchesTheExporter(t *testing.T) {
	d := &describer{}
	d.MustRegister(versioncollector.NewCollector(exporterName), collector.NewJourneys(func() []collector.Snapshot { return nil }))
	newReloadMetrics(d)
	newWebInfo(d)
	newSecretMetrics(d)
	newWebMetrics(d)
	newMetrics(d)
	d.MustRegister(collector.NewStorage(func() storage.Stats { return storage.Stats{} }),
		collector.NewDiscovery(func() []collector.DiscoverySnapshot { return nil }))
	code := map[string]string{}
	for _, desc := range d.descs {
		m := descPattern.FindStringSubmatch(desc.String())
		if m == nil {
			t.Fatalf("cannot read descriptor %s", desc)
		}
		labels := strings.Split(m[2], ",")
		slices.Sort(labels)
		code[m[1]] = strings.Join(labels, ",")
	}

	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| (gauge|counter|histogram) \\|([^|]*)\\|")
	documented := map[string]string{}
	for line := range strings.SplitSeq(between(t, metricsDoc, "metrics-table"), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		documented[m[1]] = strings.Join(labels, ",")
	}
	for name, labels := range code {
		doc, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s is exported but not in the metrics table of %s", name, metricsDoc)
		case name == exporterName+"_build_info":
			// its labels are the version's, documented as such
		case doc != labels:
			t.Errorf("%s: %s says labels %q, the code has %q", name, metricsDoc, doc, labels)
		}
	}
	for name := range documented {
		if _, ok := code[name]; !ok {
			t.Errorf("%s is in the metrics table of %s but not exported", name, metricsDoc)
		}
	}
}

// The configuration examples load: the README's short one, and the
// annotated one of docs/configuration.md that shows every key.
func TestDocumentedConfigExamplesLoad(t *testing.T) {
	for _, c := range []struct {
		file                 string
		registries, journeys int // journeys: of the first registry
	}{
		{"README.md", 1, 2},
		{"docs/configuration.md", 2, 5},
	} {
		t.Run(c.file, func(t *testing.T) {
			block := between(t, c.file, "example-config")
			block = strings.TrimSpace(block)
			block = strings.TrimPrefix(block, "```yaml")
			block = strings.TrimSuffix(block, "```")
			dir := t.TempDir()
			for name, content := range map[string]string{
				"secrets/production_secret_key": "not-a-real-secret\n",
				"secrets/production_token":      "not-a-real-token\n",
				"secrets/demo_token":            "not-a-real-token\n",
				"journeys/production.txt":       "# comment\nopjourney1 2026-11-20T07:45:00Z\nopjourney2\n",
				"journeys/demo.txt":             "demojourney1\n",
			} {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Parse([]byte(block), dir)
			if err != nil {
				t.Fatalf("the example of %s does not load: %v", c.file, err)
			}
			if len(cfg.Registries) != c.registries || len(cfg.Registries[0].Journeys.Resolved) != c.journeys {
				t.Fatalf("example of %s: %d registries, %d journeys in the first; want %d and %d", c.file,
					len(cfg.Registries), len(cfg.Registries[0].Journeys.Resolved), c.registries, c.journeys)
			}
		})
	}
}
