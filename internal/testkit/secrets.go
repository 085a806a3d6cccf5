package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ConfigSecrets returns the contents of the secret files of config's good
// and bad test files under testdata (config's testdata directory), which
// no output may ever show.
func ConfigSecrets(t testing.TB, testdata string) []string {
	t.Helper()
	var secrets []string
	for _, dir := range []string{"good", "bad"} {
		files, err := filepath.Glob(filepath.Join(testdata, dir, "secrets", "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.TrimSpace(string(b)); s != "" {
				secrets = append(secrets, s)
			}
		}
	}
	if len(secrets) < 3 {
		t.Fatalf("found only %d secrets under %s", len(secrets), testdata)
	}
	return secrets
}
