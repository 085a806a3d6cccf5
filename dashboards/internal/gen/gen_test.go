package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The dashboards' JSON is what the generator writes: an edit by hand would
// be lost at the next `go generate`, and a generator change not run would
// not reach users.
func TestCommittedDashboardsAreGenerated(t *testing.T) {
	files, err := render()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("render() wrote %d dashboards, want 2", len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("dashboards/%s is not what the generator writes: edit dashboards/internal/gen and run `go generate ./dashboards/`", name)
		}
	}
}

// The generator's output is deterministic: the check above cannot depend
// on map order.
func TestRenderIsStable(t *testing.T) {
	a, err := render()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := render()
		if err != nil {
			t.Fatal(err)
		}
		for name := range a {
			if !bytes.Equal(a[name], b[name]) {
				t.Fatalf("%s differs between two renders", name)
			}
		}
	}
}
