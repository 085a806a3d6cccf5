package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML decoder's own errors speak Go: "field requests_per_sec not
// found in type config.Budget", and a syntax error names the line where the
// enclosing block starts rather than the line at fault. The functions below
// run only once decoding has failed, and say it in the file's terms.

// unknownKeyError rewrites a strict decoding error about unknown fields:
// the first unknown key in the document, by its path
// (registries[0].budget.requests_per_sec) and line, with the nearest known
// key. It returns nil when err is about something else.
func unknownKeyError(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return nil
	}
	unknown := 0
	for _, e := range te.Errors {
		if strings.Contains(e, " not found in type ") {
			unknown++
		}
	}
	if unknown == 0 {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	w := keyWalker{seen: map[walked]bool{}}
	found := w.walk(&doc, reflect.TypeFor[Config](), "")
	if found == nil {
		return nil
	}
	switch {
	case unknown == 2:
		found = fmt.Errorf("%w (and 1 more unknown key)", found)
	case unknown > 2:
		found = fmt.Errorf("%w (and %d more unknown keys)", found, unknown-1)
	}
	return found
}

type walked struct {
	n *yaml.Node
	t reflect.Type
}

// keyWalker finds unknown keys. It visits a node once per type, so that
// aliases cost nothing more than the nodes they point to.
type keyWalker struct{ seen map[walked]bool }

// walk returns the first unknown key under n, decoded as a t, in document
// order; path is n's path.
func (w *keyWalker) walk(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || w.seen[walked{n, t}] {
		return nil
	}
	w.seen[walked{n, t}] = true
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content {
			if err := w.walk(c, t, path); err != nil {
				return err
			}
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			if err := w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				// A merge: its mappings' keys are this mapping's.
				if err := w.walk(v, t, path); err != nil {
					return err
				}
				if v.Kind == yaml.SequenceNode {
					for _, c := range v.Content {
						if err := w.walk(c, t, path); err != nil {
							return err
						}
					}
				}
				continue
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: %s: unknown key%s", k.Line, p, suggest(k.Value, fields))
			}
			if err := w.walk(v, ft, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps the keys a struct accepts to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest names the known key nearest to key, or lists them all when none
// is near.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestDist := "", len(key)/3+2 // further than this is no typo
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
		if d := editDistance(key, name); d < bestDist || (d == bestDist && best != "" && name < best) {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return "; did you mean " + best + "?"
	}
	slices.Sort(names)
	return "; known keys here: " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var syntaxErrorPattern = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// syntaxError puts the line at fault in a YAML syntax error. The parser
// reports the line where the enclosing block or flow starts; the line at
// fault is the first one whose prefix of the file fails the same way,
// found by bisection. When that search does not settle, err stays as it
// is.
func syntaxError(data []byte, err error) error {
	m := syntaxErrorPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	reported, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return err
	}
	problem := m[2]
	lines := bytes.SplitAfter(data, []byte("\n"))
	fails := func(k int) bool {
		var n yaml.Node
		e := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if e == nil {
			return false
		}
		sm := syntaxErrorPattern.FindStringSubmatch(e.Error())
		return sm != nil && sm[2] == problem
	}
	// The line at fault is not before the reported one.
	lo, hi := max(reported-1, 0), len(lines) // !fails(lo) is assumed, fails(hi) known
	if lo >= hi || fails(lo) {
		return err
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if hi == reported {
		return err
	}
	return fmt.Errorf("yaml: line %d: %s", hi, problem)
}
