package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Dir is a Store in a local folder: key "a/b/c.jpeg" is the file
// <root>/a/b/c.jpeg. Put writes a temporary file next to the target (named
// ".tmp-*", ignored by List), fsyncs it, renames it over the target and fsyncs
// the folder, so an object is either absent or complete, also after a crash.
// Temporary files left by a crash are harmless; RemoveTemp deletes old ones.
//
// Unlike S3, a folder cannot hold both "a/b" and "a/b/c": Put of one fails
// while the other exists. Content-addressed keys never collide that way.
type Dir struct {
	root string
}

var _ Store = (*Dir)(nil)

const (
	dirPerm  = 0o750
	filePerm = 0o640
	tmpGlob  = ".tmp-*"
)

// NewDir returns a Dir rooted at root, creating the folder if needed.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("open blob dir: root folder is required")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open blob dir %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("open blob dir %s: %w", abs, err)
	}
	return &Dir{root: abs}, nil
}

// Root returns the absolute root folder.
func (d *Dir) Root() string { return d.root }

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Put implements Store.
func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	target := d.path(key)
	folder := filepath.Dir(target)
	if err := d.mkdirAll(folder); err != nil {
		return fmt.Errorf("put blob %s: create folder: %w", key, err)
	}
	tmp, err := os.CreateTemp(folder, tmpGlob)
	if err != nil {
		return fmt.Errorf("put blob %s: create temporary file: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("put blob %s: write: %w", key, err)
	}
	if err := tmp.Chmod(filePerm); err != nil {
		return fmt.Errorf("put blob %s: chmod: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("put blob %s: fsync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put blob %s: close: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("put blob %s: rename into place: %w", key, err)
	}
	done = true
	if err := syncDir(folder); err != nil {
		return fmt.Errorf("put blob %s: fsync folder: %w", key, err)
	}
	return nil
}

// mkdirAll creates folder and its missing parents below the root, fsyncing
// each parent that gained an entry so that the new path survives a crash.
func (d *Dir) mkdirAll(folder string) error {
	if fi, err := os.Stat(folder); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is a file, not a folder", folder)
		}
		return nil
	}
	rel, err := filepath.Rel(d.root, folder)
	if err != nil {
		return err
	}
	cur := d.root
	for part := range strings.SplitSeq(rel, string(filepath.Separator)) {
		next := filepath.Join(cur, part)
		err := os.Mkdir(next, dirPerm)
		switch {
		case err == nil:
			if err := syncDir(cur); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			fi, serr := os.Stat(next)
			if serr != nil {
				return serr
			}
			if !fi.IsDir() {
				return fmt.Errorf("%s is a file, not a folder", next)
			}
		default:
			return err
		}
		cur = next
	}
	return nil
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// notFound reports whether err means that no object exists at the path: the
// file is missing, or a parent of it is a file (ENOTDIR).
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Get implements Store.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ValidKey(key); err != nil {
		return nil, fmt.Errorf("get blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	data, err := os.ReadFile(d.path(key))
	switch {
	case err == nil:
		return data, nil
	case notFound(err) || errors.Is(err, syscall.EISDIR):
		return nil, fmt.Errorf("get blob %s: %w", key, ErrNotFound)
	default:
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
}

// Stat implements Store.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidKey(key); err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	fi, err := os.Stat(d.path(key))
	switch {
	case err == nil && fi.Mode().IsRegular():
		return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
	case err == nil || notFound(err):
		return Info{}, fmt.Errorf("stat blob %s: %w", key, ErrNotFound)
	default:
		return Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
}

// Exists implements Store.
func (d *Dir) Exists(ctx context.Context, key string) (bool, error) {
	_, err := d.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// Delete implements Store. The removal is made durable by syncing the folder.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	p := d.path(key)
	if err := os.Remove(p); err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete blob %s: sync folder: %w", key, err)
	}
	return nil
}

// List implements Store.
func (d *Dir) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	// Walk only the deepest folder named by the prefix.
	base := prefix[:strings.LastIndex(prefix, "/")+1]
	start := d.root
	if base != "" {
		start = d.path(strings.TrimSuffix(base, "/"))
	}
	var out []Info
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && notFound(err) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == start {
			if !e.IsDir() {
				return fs.SkipAll
			}
			return nil
		}
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if notFound(err) { // replaced or removed while listing
				return nil
			}
			return err
		}
		out = append(out, Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs %q in %s: %w", prefix, d.root, err)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// URI implements Store: a file:// URI of the object's path.
func (d *Dir) URI(key string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(d.path(key))}
	return u.String()
}

// RemoveTemp deletes temporary files older than olderThan, left under the
// root by interrupted Puts, and returns how many it removed. A file younger
// than that may belong to a Put in flight in another process and is kept.
func (d *Dir) RemoveTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	n := 0
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if notFound(err) {
				return nil
			}
			return err
		}
		if fi.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(p); err != nil && !notFound(err) {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("remove temporary files in %s: %w", d.root, err)
	}
	return n, nil
}
