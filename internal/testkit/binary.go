package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildDir holds the programs a test binary builds, from Main to its end.
var buildDir string

// Main runs a package's tests, for its TestMain: the programs they build
// (Binary) are built once into a directory removed when the tests end.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "covoiturage-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	buildDir = dir
	return m.Run()
}

// Binary is a main package of the module that tests run as a program, as
// a user would. It is built on first use, once for the whole test binary
// however many tests run it, with the race detector when the tests have
// it, so end-to-end tests catch races in the whole program too.
type Binary struct {
	// Package is the main package's import path or directory relative to
	// the test's package, as `go build` takes it (".", "./cmd/x").
	Package string
	// Name is the program's file name.
	Name string

	once sync.Once
	path string
	err  error
}

// Path builds the program if no test has yet and returns where it is; a
// build failure fails every test that needs the program.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() { b.path, b.err = b.build() })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func (b *Binary) build() (string, error) {
	if buildDir == "" {
		return "", fmt.Errorf("building %s: the package's TestMain must call testkit.Main", b.Name)
	}
	path := filepath.Join(buildDir, b.Name)
	args := []string{"build", "-o", path}
	if Race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, b.Package)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", b.Package, err, out)
	}
	return path, nil
}

// Process is a program a test runs; it is killed at the end of the test
// if it is still running.
type Process struct {
	Cmd *exec.Cmd
	// Logs is what it wrote to stdout and stderr.
	Logs *LockedBuffer
	// Exited receives its exit error (nil for a clean exit) once.
	Exited <-chan error
	done   chan struct{}
}

// Start runs bin with args until the end of the test.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	exited := make(chan error, 1)
	p := &Process{Cmd: exec.Command(bin, args...), Logs: &LockedBuffer{}, Exited: exited, done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Logs, p.Logs
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		err := p.Cmd.Wait()
		close(p.done)
		exited <- err
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Running is whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and expects a clean exit within 15 s, with logs free
// of panics and data races.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.Exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.Logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM\n%s", p.Logs.String())
	}
	for _, bad := range []string{"panic", "DATA RACE"} {
		if strings.Contains(p.Logs.String(), bad) {
			t.Errorf("logs mention %q:\n%s", bad, p.Logs.String())
		}
	}
}

// Tail is the last lines of s, to show the end of a long log.
func Tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
