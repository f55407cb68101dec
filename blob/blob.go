// Package blob defines the store that holds image bytes (the bronze volume)
// and a local-folder implementation, Dir.
//
// Keys are slash-separated paths such as
// "bronze/images/date=2026-11-28/<sha256>.jpeg", valid for every
// implementation (see ValidKey): the same key names a file under a Dir root
// and an object in an S3 bucket. Implementations must pass the shared
// conformance suite in package blobtest.
//
// Contract of every Store:
//   - Put is atomic: a reader sees either the previous object or the complete
//     new one, never a partial object. Put of the same bytes to an existing key
//     succeeds (idempotent); Put of different bytes replaces the object, as in
//     S3. Callers that must never replace use content-addressed keys.
//   - Get, Stat return an error wrapping ErrNotFound for a missing key, and
//     every method returns an error wrapping ErrInvalidKey for an invalid key.
//   - List returns the objects whose key starts with prefix (a plain string
//     prefix, as in S3, not a folder), sorted by key.
//   - A Store is safe for concurrent use and holds no resources to close.
package blob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is wrapped by errors for a key that has no object.
var ErrNotFound = errors.New("blob not found")

// ErrInvalidKey is wrapped by errors for a key that ValidKey rejects.
var ErrInvalidKey = errors.New("invalid blob key")

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store holds immutable-by-convention objects under slash-separated keys.
type Store interface {
	// Put stores data under key atomically. It returns once the object is
	// durable (a local store fsyncs; S3 has acknowledged the upload).
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the object's bytes; a missing key wraps ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Stat describes the object; a missing key wraps ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Exists reports whether key has an object.
	Exists(ctx context.Context, key string) (bool, error)
	// List returns the objects whose key has the given prefix, sorted by key.
	// An empty prefix lists everything. No match is an empty list, not an error.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes the object under key. Deleting a missing key is not an
	// error (as in S3), so a retried delete succeeds. Only maintenance jobs
	// delete (table compaction, recovery of an interrupted table flush); image
	// bytes are never deleted by the platform.
	Delete(ctx context.Context, key string) error
	// URI names the object for humans and other tools, e.g.
	// "file:///var/hap/blob/bronze/..." or "s3://bucket/bronze/...".
	// It does not check that the object exists.
	URI(key string) string
}

// MaxKeyLen is the longest valid key in bytes (S3's limit).
const MaxKeyLen = 1024

// ValidKey reports why key cannot be used, or nil. A valid key is non-empty
// UTF-8 of at most MaxKeyLen bytes, made of '/'-separated segments that are
// non-empty, not "." or "..", and do not start with '.' (names starting with a
// dot are reserved for temporary files), with no backslash and no control
// characters. So a key never begins or ends with '/' and never escapes the
// store's root.
func ValidKey(key string) error {
	if err := validKey(key); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, err)
	}
	return nil
}

func validKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return errors.New("not valid UTF-8")
	case strings.HasPrefix(key, "/"):
		return errors.New("absolute path (starts with '/')")
	case strings.HasSuffix(key, "/"):
		return errors.New("ends with '/'")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character %U", r)
		}
		if r == '\\' {
			return errors.New("backslash (use '/' to separate segments)")
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return errors.New("empty segment ('//')")
		case seg == "." || seg == "..":
			return fmt.Errorf("segment %q not allowed", seg)
		case strings.HasPrefix(seg, "."):
			return fmt.Errorf("segment %q starts with '.'", seg)
		}
	}
	return nil
}

// ValidPrefix reports why prefix cannot be used with List, or nil. A prefix is
// empty or follows the key rules, except that it may end with '/'; it may stop
// in the middle of a segment ("bronze/images/date=2026-11").
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		return fmt.Errorf("%w: list prefix %q: absolute path", ErrInvalidKey, prefix)
	}
	if err := validKey(p); err != nil {
		return fmt.Errorf("%w: list prefix %q: %s", ErrInvalidKey, prefix, err)
	}
	return nil
}
