package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/config"
)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, and a
// configuration it accepts has at least one registry. The directory holds
// a token, a secret key and an id file, so that seeds naming them get past
// the credentials to the later checks.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("registries:\n- name: a\n  base_url: https://h\n  token_file: token\n  journeys: {files: [ids.txt]}\n"))
	f.Add([]byte("registries:\n- name: a\n  base_url: https://h\n  access_key: k\n  secret_key_file: secret_key\n  schedule: {retention: 1y}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for name, content := range map[string]string{
			"token":      "FAKE-TOKEN-fuzz\n",
			"secret_key": "FAKE-SECRET-KEY-fuzz\n",
			"ids.txt":    "# ids\nabc123\n42 2026-11-20T08:15:00Z\n",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg, err := config.Parse(data, dir)
		if err == nil && (cfg == nil || len(cfg.Registries) == 0) {
			t.Fatalf("Parse accepted a configuration without registries: %q", data)
		}
	})
}
