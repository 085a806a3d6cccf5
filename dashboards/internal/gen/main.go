// Command gen writes the Grafana dashboards the exporter ships, from the
// Go code beside it: `go generate ./dashboards/` runs it. Edit the code,
// not the JSON it writes; a test fails when the two differ.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", ".", "directory the dashboards' JSON files are written to")
	flag.Parse()
	files, err := render()
	if err == nil {
		for name, data := range files {
			if err = os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// render returns each dashboard's file name and JSON.
func render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, b := range boards() {
		d, err := b.build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.file, err)
		}
		data, err := finish(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.file, err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(data); err != nil {
			return nil, fmt.Errorf("%s: %w", b.file, err)
		}
		out[b.file] = buf.Bytes()
	}
	return out, nil
}

// finish turns the SDK's dashboard into the JSON Grafana 10 and 11 import
// as it is: the SDK writes the schema of a newer Grafana, whose defaults
// would change what older ones show.
func finish(d any) (map[string]any, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	// A null id makes an import create the dashboard, whatever the
	// Grafana; __requires names the oldest one it is written for.
	m["id"] = nil
	m["schemaVersion"] = schemaVersion
	m["__requires"] = []any{
		map[string]any{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
		map[string]any{"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
	}
	// Grafana 12 would hide a link placed in the controls menu.
	for _, l := range list(m["links"]) {
		delete(l, "placement")
	}
	annotations, _ := m["annotations"].(map[string]any)
	for _, a := range list(annotations["list"]) {
		delete(a, "placement")
	}
	templating, _ := m["templating"].(map[string]any)
	for _, v := range list(templating["list"]) {
		// The SDK gives every variable an interval variable's settings.
		delete(v, "auto")
		delete(v, "auto_count")
		delete(v, "auto_min")
		if v["type"] == "datasource" {
			v["refresh"] = 1 // list the data sources when the dashboard loads
		}
	}
	for _, p := range list(m["panels"]) {
		// The SDK writes an empty orientation where the panel has none.
		if options, _ := p["options"].(map[string]any); options["orientation"] == "" {
			delete(options, "orientation")
		}
		fc, _ := p["fieldConfig"].(map[string]any)
		defaults, _ := fc["defaults"].(map[string]any)
		// A data link is a title, a URL and where it opens, not a
		// dashboard link.
		for _, l := range list(defaults["links"]) {
			for k := range l {
				if k != "title" && k != "url" && k != "targetBlank" {
					delete(l, k)
				}
			}
		}
	}
	return m, nil
}

// schemaVersion is Grafana 10.4's, which 10.4 and later import as it is.
const schemaVersion = 39

func list(v any) []map[string]any {
	items, _ := v.([]any)
	var out []map[string]any
	for _, i := range items {
		if m, ok := i.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
