package tables

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
)

// SyncStats reports what Sync did.
type SyncStats struct {
	Copied  int   // objects downloaded (new or changed size)
	Kept    int   // objects already present with the same size
	Removed int   // local files whose object is gone (merged by a compaction)
	Bytes   int64 // bytes downloaded
}

// Sync mirrors the Parquet parts of every table from store into the local
// folder dir (same key layout), so that a local engine such as DuckDB can
// query tables kept in S3. Parts are immutable, so a file of the same name
// and size is not downloaded again; local parts that no longer exist in the
// store are removed, so the mirror never holds both a compacted part and its
// inputs.
func Sync(ctx context.Context, store blob.Store, dir string) (SyncStats, error) {
	var st SyncStats
	want := map[string]bool{}
	for _, t := range proto.AllTables {
		parts, err := ListParts(ctx, store, t)
		if err != nil {
			return st, err
		}
		infos, err := store.List(ctx, t.Prefix())
		if err != nil {
			return st, fmt.Errorf("sync %s: %w", t.Name, err)
		}
		size := map[string]int64{}
		for _, info := range infos {
			size[info.Key] = info.Size
		}
		for _, p := range parts {
			key := p.Key()
			local := filepath.Join(dir, filepath.FromSlash(key))
			want[local] = true
			if fi, err := os.Stat(local); err == nil && fi.Size() == size[key] {
				st.Kept++
				continue
			}
			data, err := store.Get(ctx, key)
			if err != nil {
				return st, fmt.Errorf("sync %s: %w", t.Name, err)
			}
			if err := writeFileAtomic(local, data); err != nil {
				return st, fmt.Errorf("sync %s: %w", t.Name, err)
			}
			st.Copied++
			st.Bytes += int64(len(data))
		}
	}
	root := filepath.Join(dir, proto.TablesRoot)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".parquet") || want[path] {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		st.Removed++
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("sync: prune %s: %w", root, err)
	}
	return st, nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sync-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
