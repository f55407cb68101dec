package onnxrt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// EnvLibraryPath is the environment variable that LibraryPath reads first.
const EnvLibraryPath = "ONNXRUNTIME_LIB"

// fetchHint is appended to errors about a missing or unusable library.
const fetchHint = "run scripts/fetch-onnxruntime.sh"

// libraryGlob is where scripts/fetch-onnxruntime.sh puts the library,
// relative to the repository root.
var libraryGlob = filepath.Join(".cache", "onnxruntime", "*", "libonnxruntime.so.1")

// ErrNotInitialized is returned by Load when Init has not succeeded.
var ErrNotInitialized = errors.New("onnxrt: ONNX Runtime not initialised: call onnxrt.Init(path) first (onnxrt.LibraryPath finds the path)")

// The ONNX Runtime environment (OrtEnv) and the loaded shared library are
// process-global in ONNX Runtime and in github.com/yalue/onnxruntime_go: there
// can be only one per process, and it cannot be re-created while sessions
// exist. This package therefore keeps the outcome of the first Init here, and
// never destroys the environment: it lives as long as the process.
var state struct {
	mu   sync.Mutex
	done bool
	path string
	err  error
}

// Init loads the ONNX Runtime shared library at libPath and creates the
// process-wide ONNX Runtime environment. It must succeed before Load.
//
// Init is idempotent and safe for concurrent callers: only the first call does
// the work and later calls return its result. After a failure that is the same
// error value every time: a failed load is not retried, because a process
// cannot reliably load a second ONNX Runtime. After a success, a call with a
// different path is an error, since a process holds one ONNX Runtime only.
//
// This package owns the ONNX Runtime environment of the process: nothing else
// may call onnxruntime_go.InitializeEnvironment or DestroyEnvironment.
func Init(libPath string) error {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.done {
		if state.err == nil && libPath != state.path {
			return fmt.Errorf("onnxrt: ONNX Runtime already initialised from %s; cannot also load %s in the same process", state.path, libPath)
		}
		return state.err
	}
	state.done, state.path = true, libPath
	state.err = initialize(libPath)
	return state.err
}

func initialize(libPath string) error {
	if libPath == "" {
		return fmt.Errorf("onnxrt: ONNX Runtime library path is empty (set %s or %s)", EnvLibraryPath, fetchHint)
	}
	if _, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("onnxrt: ONNX Runtime library %s: %w (%s)", libPath, err, fetchHint)
	}
	if ort.IsInitialized() {
		return fmt.Errorf("onnxrt: ONNX Runtime was initialised outside package onnxrt; cannot load %s", libPath)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelWarning()); err != nil {
		return fmt.Errorf("onnxrt: initialise ONNX Runtime from %s: %w (onnxruntime_go %s needs ONNX Runtime >= %s; %s)",
			libPath, err, bindingVersion, minRuntimeVersion, fetchHint)
	}
	return nil
}

// Versions of the binding in go.mod and the oldest ONNX Runtime it accepts
// (it requests ORT API version 24). Only used in error messages.
const (
	bindingVersion    = "v1.27.0"
	minRuntimeVersion = "1.24"
)

// LibraryPath returns the path of the ONNX Runtime shared library to pass to
// Init: the environment variable ONNXRUNTIME_LIB when it is set, otherwise the
// library fetched by scripts/fetch-onnxruntime.sh, found by searching the
// working directory and its parents for .cache/onnxruntime/<version>/
// libonnxruntime.so.1 (the highest version wins when there are several).
func LibraryPath() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("onnxrt: find ONNX Runtime library: %w", err)
	}
	return findLibrary(wd, os.Getenv(EnvLibraryPath))
}

func findLibrary(start, env string) (string, error) {
	if env != "" {
		if _, err := os.Stat(env); err != nil {
			return "", fmt.Errorf("onnxrt: %s=%s: %w (unset it to use the library fetched by scripts/fetch-onnxruntime.sh)", EnvLibraryPath, env, err)
		}
		return env, nil
	}
	for dir := start; ; {
		matches, err := filepath.Glob(filepath.Join(dir, libraryGlob))
		if err != nil {
			return "", fmt.Errorf("onnxrt: find ONNX Runtime library: %w", err)
		}
		if len(matches) > 0 {
			slices.SortFunc(matches, func(a, b string) int {
				return compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
			})
			return matches[len(matches)-1], nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("onnxrt: ONNX Runtime library not found: no %s in %s or its parents and %s is not set (%s)",
		libraryGlob, start, EnvLibraryPath, fetchHint)
}

// compareVersions compares dotted versions ("1.24.3" < "1.30.0") part by part,
// numerically where both parts are numbers, as strings otherwise.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, errA := strconv.Atoi(pa[i])
		nb, errB := strconv.Atoi(pb[i])
		var c int
		switch {
		case errA == nil && errB == nil:
			c = na - nb
		case errA == nil: // numbers sort after non-numbers
			c = 1
		case errB == nil:
			c = -1
		default:
			c = strings.Compare(pa[i], pb[i])
		}
		if c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

func initialized() bool {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.done && state.err == nil
}
