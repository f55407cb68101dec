package onnxrt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestFindLibrary(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"1.9.0", "1.24.3", "1.30.0", "1.30.0-rc1", "nightly"} {
		dir := filepath.Join(root, ".cache", "onnxruntime", v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "libonnxruntime.so.1"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A version folder without the library is ignored.
	if err := os.MkdirAll(filepath.Join(root, ".cache", "onnxruntime", "9.9.9"), 0o755); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "services", "inference", "internal")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, ".cache", "onnxruntime", "1.30.0", "libonnxruntime.so.1")
	for _, start := range []string{root, deep} {
		got, err := findLibrary(start, "")
		if err != nil || got != want {
			t.Errorf("findLibrary(%s) = %q, %v; want %q", start, got, err, want)
		}
	}

	// The environment variable wins, and must name an existing file.
	env := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.WriteFile(env, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := findLibrary(deep, env); err != nil || got != env {
		t.Errorf("findLibrary with %s = %q, %v; want %q", EnvLibraryPath, got, err, env)
	}
	if _, err := findLibrary(deep, env+".missing"); err == nil || !strings.Contains(err.Error(), EnvLibraryPath+"=") {
		t.Errorf("findLibrary with a missing %s = %v", EnvLibraryPath, err)
	}

	_, err := findLibrary(t.TempDir(), "")
	if err == nil || !strings.Contains(err.Error(), "run scripts/fetch-onnxruntime.sh") ||
		!strings.Contains(err.Error(), EnvLibraryPath) {
		t.Errorf("findLibrary(empty tree) = %v, want the hint", err)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"1.24.3", "1.24.3", 0},
		{"1.9.0", "1.24.3", -1},
		{"1.30.0", "1.24.3", 1},
		{"1.24", "1.24.1", -1},
		{"nightly", "1.0.0", -1},
		{"1.30.0-rc1", "1.30.0", -1},
	}
	for _, tt := range tests {
		got := compareVersions(tt.a, tt.b)
		if (got > 0) != (tt.want > 0) || (got < 0) != (tt.want < 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestInit(t *testing.T) {
	path, err := LibraryPath()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := Init(path); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	err = Init(path + ".other")
	if err == nil || !strings.Contains(err.Error(), "already initialised from "+path) {
		t.Errorf("Init(other path) = %v", err)
	}
}

// TestInitFailure runs in a child process, where the runtime is not yet
// initialised: a failed Init returns the same error each time, naming the path
// and the fetch script, and Load reports that the runtime is not initialised.
func TestInitFailure(t *testing.T) {
	if os.Getenv("ONNXRT_TEST_INIT_FAILURE") == "1" {
		missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
		err1 := Init(missing)
		err2 := Init(missing)
		if err1 == nil || err1 != err2 {
			t.Fatalf("Init twice = %v, %v; want the same error", err1, err2)
		}
		for _, w := range []string{missing, "run scripts/fetch-onnxruntime.sh"} {
			if !strings.Contains(err1.Error(), w) {
				t.Errorf("Init() = %q, want it to contain %q", err1, w)
			}
		}
		if _, err := Load([]byte("x"), Options{}); !errors.Is(err, ErrNotInitialized) {
			t.Errorf("Load before Init = %v, want ErrNotInitialized", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitFailure$", "-test.v")
	cmd.Env = append(os.Environ(), "ONNXRT_TEST_INIT_FAILURE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestInitFailure") {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}
