// Package blobtest is the conformance suite that every blob.Store
// implementation runs (the local folder, S3): call Run from a test with a
// store. Each subtest writes under its own key prefix ("conformance/<name>/"),
// so a store that already holds objects, such as a shared bucket, can be used.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/healthcare-ai/platform/blob"
)

// Run runs the conformance suite against store.
func Run(t *testing.T, store blob.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store, prefix string)
	}{
		{"PutGet", testPutGet},
		{"NotFound", testNotFound},
		{"Overwrite", testOverwrite},
		{"EmptyObject", testEmptyObject},
		{"Stat", testStat},
		{"InvalidKeys", testInvalidKeys},
		{"List", testList},
		{"CallerOwnsBuffers", testCallerOwnsBuffers},
		{"CancelledContext", testCancelled},
		{"ConcurrentIdenticalPuts", testConcurrentIdenticalPuts},
		{"ReadersNeverSeePartialObjects", testAtomic},
		{"URI", testURI},
		{"Delete", testDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, store, "conformance/"+tc.name+"/")
		})
	}
}

func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	data, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return data
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func testPutGet(t *testing.T, s blob.Store, p string) {
	for _, size := range []int{1, 1000, 1 << 20} {
		key := fmt.Sprintf("%simages/date=2026-11-28/%d.jpeg", p, size)
		want := payload(size, byte(size))
		put(t, s, key, want)
		if got := get(t, s, key); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) returned %d bytes that differ from the %d put", key, len(got), len(want))
		}
		ok, err := s.Exists(t.Context(), key)
		if err != nil || !ok {
			t.Errorf("Exists(%q) = %v, %v; want true, nil", key, ok, err)
		}
	}
}

func testNotFound(t *testing.T, s blob.Store, p string) {
	ctx := t.Context()
	put(t, s, p+"dir/present", []byte("x"))
	for _, key := range []string{p + "missing", p + "dir", p + "dir/missing", p + "dir/present/below"} {
		if _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%q) error = %v, want ErrNotFound", key, err)
		}
		ok, err := s.Exists(ctx, key)
		if err != nil || ok {
			t.Errorf("Exists(%q) = %v, %v; want false, nil", key, ok, err)
		}
	}
}

func testOverwrite(t *testing.T, s blob.Store, p string) {
	key := p + "obj"
	a, b := payload(5000, 1), payload(3000, 2)
	put(t, s, key, a)
	put(t, s, key, a) // identical bytes: idempotent
	if got := get(t, s, key); !bytes.Equal(got, a) {
		t.Fatalf("after identical overwrite got %d bytes, want the %d put", len(got), len(a))
	}
	put(t, s, key, b) // different bytes replace, as in S3
	if got := get(t, s, key); !bytes.Equal(got, b) {
		t.Fatalf("after replacing overwrite got %d bytes, want the %d put", len(got), len(b))
	}
}

func testEmptyObject(t *testing.T, s blob.Store, p string) {
	key := p + "empty"
	put(t, s, key, nil)
	if got := get(t, s, key); len(got) != 0 {
		t.Fatalf("Get of empty object returned %d bytes", len(got))
	}
	info, err := s.Stat(t.Context(), key)
	if err != nil || info.Size != 0 {
		t.Fatalf("Stat of empty object = %+v, %v", info, err)
	}
}

func testStat(t *testing.T, s blob.Store, p string) {
	key := p + "a/b.png"
	put(t, s, key, payload(1234, 3))
	info, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != key || info.Size != 1234 || info.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, want key %q, size 1234 and a modification time", info, key)
	}
}

func testInvalidKeys(t *testing.T, s blob.Store, p string) {
	ctx := t.Context()
	bad := []string{
		"", "/abs/key", p + "trailing/", p + "a//b", p + "../escape", "../" + p, p + "a/./b",
		p + "a/../b", p + ".hidden", p + "back\\slash", p + "ctl\x01", p + "nul\x00",
		p + strings.Repeat("k", blob.MaxKeyLen),
	}
	for _, key := range bad {
		if err := blob.ValidKey(key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Exists(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Exists(%q) error = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/", "/abs", "../", p + "../", p + "a//"} {
		if _, err := s.List(ctx, prefix); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("List(%q) error = %v, want ErrInvalidKey", prefix, err)
		}
	}
	good := []string{p + "bronze/images/date=2026-11-28/abc.jpeg", p + "x_y-z.1(2)", p + "ünïcode/ok"}
	for _, key := range good {
		if err := blob.ValidKey(key); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", key, err)
		}
		put(t, s, key, []byte("ok"))
	}
}

func keys(infos []blob.Info) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Key
	}
	return out
}

func testList(t *testing.T, s blob.Store, p string) {
	ctx := t.Context()
	all := []string{
		p + "date=2026-11-28/b.jpeg",
		p + "date=2026-11-28/a.jpeg",
		p + "date=2026-11-29/c.png",
		p + "date=2026-12-01/d.png",
		p + "date-x",    // sorts before "date=" and the folder "date=..."
		p + "date/deep", // a folder whose name is a prefix of others
		p + "other/e.jpeg",
	}
	for i, k := range all {
		put(t, s, k, payload(10+i, byte(i)))
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{p, []string{p + "date-x", p + "date/deep", p + "date=2026-11-28/a.jpeg", p + "date=2026-11-28/b.jpeg", p + "date=2026-11-29/c.png", p + "date=2026-12-01/d.png", p + "other/e.jpeg"}},
		{p + "date=2026-11-28/", []string{p + "date=2026-11-28/a.jpeg", p + "date=2026-11-28/b.jpeg"}},
		{p + "date=2026-11", []string{p + "date=2026-11-28/a.jpeg", p + "date=2026-11-28/b.jpeg", p + "date=2026-11-29/c.png"}},
		{p + "date", []string{p + "date-x", p + "date/deep", p + "date=2026-11-28/a.jpeg", p + "date=2026-11-28/b.jpeg", p + "date=2026-11-29/c.png", p + "date=2026-12-01/d.png"}},
		{p + "date=2026-11-28/a", []string{p + "date=2026-11-28/a.jpeg"}},
		{p + "other/e.jpeg", []string{p + "other/e.jpeg"}},
		{p + "nothing/", nil},
		{p + "nothing", nil},
	}
	for _, tc := range cases {
		got, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", tc.prefix, err)
			continue
		}
		if !slices.Equal(keys(got), tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, keys(got), tc.want)
		}
		for _, in := range got {
			if want := int64(10 + slices.Index(all, in.Key)); in.Size != want {
				t.Errorf("List(%q): %s size %d, want %d", tc.prefix, in.Key, in.Size, want)
			}
		}
	}
	everything, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List(\"\"): %v", err)
	}
	ks := keys(everything)
	if !slices.IsSorted(ks) {
		t.Errorf("List(\"\") is not sorted")
	}
	for _, k := range all {
		if _, ok := slices.BinarySearch(ks, k); !ok {
			t.Errorf("List(\"\") misses %s", k)
		}
	}
}

func testCallerOwnsBuffers(t *testing.T, s blob.Store, p string) {
	key := p + "obj"
	data := payload(100, 9)
	want := bytes.Clone(data)
	put(t, s, key, data)
	data[0] ^= 0xff // the caller may reuse its buffer after Put returns
	got := get(t, s, key)
	if !bytes.Equal(got, want) {
		t.Fatal("changing the buffer passed to Put changed the stored object")
	}
	got[1] ^= 0xff // and may change what Get returned
	if again := get(t, s, key); !bytes.Equal(again, want) {
		t.Fatal("changing the bytes returned by Get changed the stored object")
	}
}

func testCancelled(t *testing.T, s blob.Store, p string) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	key := p + "never"
	if err := s.Put(ctx, key, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled context: error = %v, want context.Canceled", err)
	}
	if ok, err := s.Exists(t.Context(), key); err != nil || ok {
		t.Errorf("object exists (%v, %v) after a cancelled Put", ok, err)
	}
}

func testConcurrentIdenticalPuts(t *testing.T, s blob.Store, p string) {
	key := p + "same"
	data := payload(64<<10, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- s.Put(t.Context(), key, data) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent identical Put: %v", err)
		}
	}
	if got := get(t, s, key); !bytes.Equal(got, data) {
		t.Fatal("object differs after concurrent identical Puts")
	}
	infos, err := s.List(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(infos), []string{key}) {
		t.Fatalf("List after concurrent Puts = %q, want only %q (no temporary objects)", keys(infos), key)
	}
}

// testAtomic replaces an object repeatedly while readers check that every Get
// returns one of the complete versions.
func testAtomic(t *testing.T, s blob.Store, p string) {
	key := p + "obj"
	versions := [][]byte{payload(256<<10, 1), payload(512<<10, 2), payload(128<<10, 3)}
	put(t, s, key, versions[0])
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				got, err := s.Get(ctx, key)
				if err != nil {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("Get during overwrite: %w", err)
					}
					return
				}
				if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
					errc <- fmt.Errorf("Get returned %d bytes matching no complete version", len(got))
					return
				}
			}
		})
	}
	for i := range 30 {
		if err := s.Put(t.Context(), key, versions[i%len(versions)]); err != nil {
			t.Errorf("Put #%d: %v", i, err)
			break
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func testURI(t *testing.T, s blob.Store, p string) {
	key := p + "bronze/images/date=2026-11-28/abc.jpeg"
	u1, u2 := s.URI(key), s.URI(p+"other")
	if !strings.HasSuffix(u1, key) || !strings.Contains(u1, "://") {
		t.Errorf("URI(%q) = %q, want a scheme:// URI ending in the key", key, u1)
	}
	if u1 == u2 {
		t.Errorf("URI gives %q for two different keys", u1)
	}
}

func testDelete(t *testing.T, s blob.Store, p string) {
	ctx := t.Context()
	key := p + "a/obj"
	put(t, s, key, []byte("to be deleted"))
	put(t, s, p+"a/keep", []byte("kept"))
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if ok, err := s.Exists(ctx, key); err != nil || ok {
		t.Fatalf("Exists after Delete = %v, %v; want false, nil", ok, err)
	}
	infos, err := s.List(ctx, p)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(infos) != 1 || infos[0].Key != p+"a/keep" {
		t.Fatalf("List after Delete = %v, want only %s", infos, p+"a/keep")
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil (idempotent)", err)
	}
	if err := s.Delete(ctx, "../escape"); !errors.Is(err, blob.ErrInvalidKey) {
		t.Fatalf("Delete(invalid key): err = %v, want ErrInvalidKey", err)
	}
}
