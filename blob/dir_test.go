package blob_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/blob/blobtest"
)

func TestDirConformance(t *testing.T) {
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, d)
}

func TestDirLeavesNoTemporaryFilesAndCleansCrashLeftovers(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	d, err := blob.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	key := "bronze/images/date=2026-11-28/abc.jpeg"
	if err := d.Put(ctx, key, []byte("image")); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(root, "bronze", "images", "date=2026-11-28")
	entries, err := os.ReadDir(folder)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "abc.jpeg" {
		t.Fatalf("folder holds %v, want only abc.jpeg", entries)
	}
	// A crash between create and rename leaves a temporary file: List must not
	// show it and RemoveTemp must delete it.
	if err := os.WriteFile(filepath.Join(folder, ".tmp-123"), []byte("part"), 0o600); err != nil {
		t.Fatal(err)
	}
	infos, err := d.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Key != key {
		t.Fatalf("List = %+v, want only %s", infos, key)
	}
	if n, err := d.RemoveTemp(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("RemoveTemp(1h) of a fresh temporary file = %d, %v; want 0, nil (may be a Put in flight)", n, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(folder, ".tmp-123"), old, old); err != nil {
		t.Fatal(err)
	}
	if n, err := d.RemoveTemp(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("RemoveTemp(1h) = %d, %v; want 1, nil", n, err)
	}
	if got := d.URI(key); got != "file://"+filepath.ToSlash(filepath.Join(root, key)) {
		t.Errorf("URI = %s", got)
	}
}

func TestNewDirRequiresRoot(t *testing.T) {
	if _, err := blob.NewDir(""); err == nil {
		t.Fatal("NewDir(\"\") succeeded")
	}
}

func TestPrefixedConformance(t *testing.T) {
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dev, err := blob.WithPrefix(d, "hap/dev")
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, dev)
	// The environments do not see each other's objects.
	prod, err := blob.WithPrefix(d, "hap/prod")
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Put(t.Context(), "bronze/a", []byte("dev")); err != nil {
		t.Fatal(err)
	}
	if ok, err := prod.Exists(t.Context(), "bronze/a"); err != nil || ok {
		t.Fatalf("prod sees dev's object: %v, %v", ok, err)
	}
	if ok, err := d.Exists(t.Context(), "hap/dev/bronze/a"); err != nil || !ok {
		t.Fatalf("object not under the prefix in the base store: %v, %v", ok, err)
	}
	if got := dev.URI("bronze/a"); !strings.HasSuffix(got, "/hap/dev/bronze/a") {
		t.Fatalf("URI = %s", got)
	}
	if _, err := blob.WithPrefix(d, "../up"); err == nil {
		t.Fatal("WithPrefix accepted a prefix that escapes the store")
	}
}
