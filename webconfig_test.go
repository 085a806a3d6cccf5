package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A malformed web configuration is reported by file and key, never by
// the value yaml quotes, which can be a password hash.
func TestWebConfigErrorHidesTheHash(t *testing.T) {
	const hash = "$2y$10$X0JpbmFyeVBhc3N3b3JkSGFzaEZvclRlc3Rpbmc"
	path := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(path, []byte("basic_auth_users: \""+hash+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := hasBasicAuth(path)
	if err == nil {
		t.Fatal("a hash was taken for a map of users")
	}
	if strings.Contains(err.Error(), "$2y$") || !strings.Contains(err.Error(), "basic_auth_users") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q: want the file and the key, not the hash", err)
	}
}
