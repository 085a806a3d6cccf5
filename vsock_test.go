package main

import "testing"

// A vsock listen address whose port is not a whole 32-bit number is
// refused, not read in part ("12abc" as 12) or wrapped around.
func TestVsockPort(t *testing.T) {
	for _, c := range []struct {
		address string
		want    uint32
		ok      bool
	}{
		{"vsock://:9100", 9100, true},
		{"vsock://3:9100", 9100, true},
		{"vsock://:4294967295", 4294967295, true},
		{"vsock://:12abc", 0, false},
		{"vsock://:4294967296", 0, false},
		{"vsock://:-1", 0, false},
		{"vsock://:", 0, false},
		{"vsock://9100", 0, false},
	} {
		got, err := vsockPort(c.address)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("vsockPort(%q) = %d, %v; want %d, ok %v", c.address, got, err, c.want, c.ok)
		}
	}
}
