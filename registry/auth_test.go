package registry_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// A credential file is one line of bounded size: an empty file, several
// lines, a huge file or /dev/zero is a clear error that never quotes it.
func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := strings.Repeat("s3cr3t", 20000)
	for _, c := range []struct {
		path, want string
	}{
		{write("ok", "  tok3n-value\n"), ""},
		{write("empty", "\n \n"), "is empty"},
		{write("lines", "tok3n-one\ntok3n-two\n"), "more than one line"},
		{write("huge", huge), "larger than"},
		{"/dev/zero", "larger than"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		s, err := registry.ReadSecretFile(c.path)
		if c.want == "" {
			if err != nil || s != "tok3n-value" {
				t.Errorf("%s: %v", c.path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.path, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "tok3n") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error quotes the file: %v", c.path, err)
		}
	}
}
