// Package dashboards holds the Grafana dashboards shipped with the exporter
// (the JSON files beside this one, importable as they are) and lists their
// queries, so that tests elsewhere can run every panel against a real
// Prometheus without knowing the dashboards' layout.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
)

//go:generate go run ./internal/gen -out .

//go:embed *.json
var files embed.FS

// Query is one PromQL expression of a dashboard panel, with the Grafana
// variables ($datasource, $registry, $__rate_interval…) left in.
type Query struct {
	// Dashboard is the dashboard's uid, stable across edits of its title.
	Dashboard string
	Panel     string
	Expr      string
}

// panel is the part of a Grafana panel the queries need; rows carry their
// panels in Panels when collapsed.
type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Targets []query `json:"targets"`
	Panels  []panel `json:"panels"`
}

type query struct {
	Expr string `json:"expr"`
}

type dashboard struct {
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

// Queries returns every panel query of every dashboard, hidden ones
// included (a hidden query still runs when the panel refreshes), in file
// and panel order. A dashboard that does not decode, has no uid, or has a
// target without an expression is an error: it would not show what it
// claims to.
func Queries() ([]Query, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		qs, err := parse(name, data)
		if err != nil {
			return nil, err
		}
		out = append(out, qs...)
	}
	return out, nil
}

// parse lists the queries of one dashboard file.
func parse(name string, data []byte) ([]Query, error) {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if d.UID == "" {
		return nil, fmt.Errorf("%s: no uid", name)
	}
	return appendQueries(nil, name, d.UID, d.Panels)
}

func appendQueries(out []Query, file, uid string, panels []panel) ([]Query, error) {
	for _, p := range panels {
		for i, t := range p.Targets {
			if t.Expr == "" {
				return nil, fmt.Errorf("%s: panel %q: target %d has no expr", file, p.Title, i)
			}
			out = append(out, Query{Dashboard: uid, Panel: p.Title, Expr: t.Expr})
		}
		var err error
		if out, err = appendQueries(out, file, uid, p.Panels); err != nil {
			return nil, err
		}
	}
	return out, nil
}
