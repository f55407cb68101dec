package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/registry"
)

func open(t *testing.T, env *bustest.Env) *registry.Registry {
	t.Helper()
	r, err := registry.Open(t.Context(), env.JS, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fakeModel(s string) []byte { return []byte("fake-onnx:" + s) }

func TestRegisterFetchAndIdempotency(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx := t.Context()
	meta := json.RawMessage(`{"name": "cnn", "threshold": 0.5}`)

	v1, err := r.Register(ctx, "cnn", fakeModel("a"), meta)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Status != registry.StatusActive || v1.Object != proto.ModelObjectName("cnn", 1) || v1.Size != int64(len(fakeModel("a"))) {
		t.Fatalf("first registration = %+v", v1)
	}
	if string(v1.Metadata) != `{"name":"cnn","threshold":0.5}` {
		t.Errorf("metadata = %s", v1.Metadata)
	}
	again, err := r.Register(ctx, "cnn", fakeModel("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != 1 || again.SHA256 != v1.SHA256 {
		t.Fatalf("registering identical bytes gave version %d, want the existing 1", again.Version)
	}
	v2, err := r.Register(ctx, "cnn", fakeModel("b"), nil)
	if err != nil || v2.Version != 2 {
		t.Fatalf("second model: %+v, %v; want version 2", v2, err)
	}
	other, err := r.Register(ctx, "vit", fakeModel("a"), nil)
	if err != nil || other.Version != 1 {
		t.Fatalf("same bytes under another name: %+v, %v; want version 1 of vit", other, err)
	}
	data, err := r.Fetch(ctx, v2)
	if err != nil || !bytes.Equal(data, fakeModel("b")) {
		t.Fatalf("Fetch(v2) = %q, %v", data, err)
	}
	list, err := r.List(ctx, "cnn")
	if err != nil || len(list) != 2 || list[0].Version != 1 || list[1].Version != 2 {
		t.Fatalf("List(cnn) = %+v, %v", list, err)
	}
	all, err := r.List(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("List() = %d versions, %v; want 3", len(all), err)
	}
	got, err := r.Get(ctx, "cnn", 1)
	if err != nil || got.SHA256 != v1.SHA256 {
		t.Fatalf("Get(cnn, 1) = %+v, %v", got, err)
	}
	if _, err := r.Get(ctx, "cnn", 3); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Get(cnn, 3) error = %v, want ErrNotFound", err)
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	cases := []struct {
		name, model string
		data        []byte
		meta        json.RawMessage
		wantInMsg   string
	}{
		{"bad name", "a.b", fakeModel("x"), nil, `model name "a.b"`},
		{"empty name", "", fakeModel("x"), nil, `model name ""`},
		{"empty bytes", "m", nil, nil, "model bytes: empty"},
		{"bad metadata", "m", fakeModel("x"), json.RawMessage(`{"a":`), "metadata: not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Register(t.Context(), tc.model, tc.data, tc.meta)
			if !errors.Is(err, registry.ErrInvalid) || !bytes.Contains([]byte(err.Error()), []byte(tc.wantInMsg)) {
				t.Fatalf("error = %v, want ErrInvalid mentioning %q", err, tc.wantInMsg)
			}
		})
	}
}

func TestConcurrentRegistrationsGetDistinctVersions(t *testing.T) {
	env := bustest.Start(t)
	ctx := t.Context()
	const n = 8
	// Separate registry handles and connections, as separate processes would.
	regs := make([]*registry.Registry, n)
	for i := range regs {
		regs[i] = open(t, env)
	}
	var wg sync.WaitGroup
	results := make([]registry.ModelVersion, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = regs[i].Register(ctx, "cnn", fakeModel(fmt.Sprint(i)), nil) })
	}
	wg.Wait()
	seen := map[int]int{}
	for i, mv := range results {
		if errs[i] != nil {
			t.Fatalf("registration %d: %v", i, errs[i])
		}
		if prev, dup := seen[mv.Version]; dup {
			t.Fatalf("registrations %d and %d both got version %d", prev, i, mv.Version)
		}
		seen[mv.Version] = i
		data, err := regs[0].Fetch(ctx, mv)
		if err != nil || !bytes.Equal(data, fakeModel(fmt.Sprint(i))) {
			t.Fatalf("version %d holds %q, %v; want the bytes of registration %d", mv.Version, data, err, i)
		}
	}
	for v := 1; v <= n; v++ {
		if _, ok := seen[v]; !ok {
			t.Errorf("version %d missing: versions are %v", v, seen)
		}
	}

	// Identical bytes registered concurrently: one version, shared by all.
	for i := range n {
		wg.Go(func() { results[i], errs[i] = regs[i].Register(ctx, "same", fakeModel("same"), nil) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].Version != 1 || results[i].Status != registry.StatusActive {
			t.Fatalf("identical registration %d = %+v, %v; want active version 1", i, results[i], errs[i])
		}
	}
	list, err := regs[0].List(ctx, "same")
	if err != nil || len(list) != 1 {
		t.Fatalf("List(same) = %+v, %v; want one version", list, err)
	}
}

func TestAliasesResolveAndArchive(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx := t.Context()
	v1, _ := r.Register(ctx, "cnn", fakeModel("1"), nil)
	v2, _ := r.Register(ctx, "cnn", fakeModel("2"), nil)

	if _, err := r.Resolve(ctx, proto.ArmChampion); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Resolve of an unset alias: %v, want ErrNotFound", err)
	}
	if err := r.SetAlias(ctx, proto.ArmChampion, "cnn", 1, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetAlias(ctx, "staging-2", "cnn", 2, "bob"); err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(ctx, proto.ArmChampion)
	if err != nil || got.SHA256 != v1.SHA256 {
		t.Fatalf("Resolve(champion) = %v, %v; want %v", got, err, v1)
	}
	a, err := r.Alias(ctx, proto.ArmChampion)
	if err != nil || a.UpdatedBy != "alice" || a.Name != "cnn" || a.Version != 1 || a.UpdatedAt.IsZero() {
		t.Fatalf("Alias(champion) = %+v, %v", a, err)
	}
	aliases, err := r.Aliases(ctx)
	if err != nil || len(aliases) != 2 || aliases[0].Alias != "champion" || aliases[1].Alias != "staging-2" {
		t.Fatalf("Aliases = %+v, %v", aliases, err)
	}

	for _, tc := range []struct {
		alias, model string
		version      int
		by           string
		want         error
	}{
		{"champion", "cnn", 9, "alice", registry.ErrNotFound},
		{"bad alias", "cnn", 1, "alice", registry.ErrInvalid},
		{"champion", "cnn", 1, "", registry.ErrInvalid},
		{"champion", "cnn", 0, "alice", registry.ErrInvalid},
	} {
		if err := r.SetAlias(ctx, tc.alias, tc.model, tc.version, tc.by); !errors.Is(err, tc.want) {
			t.Errorf("SetAlias(%q, %q, %d, %q) = %v, want %v", tc.alias, tc.model, tc.version, tc.by, err, tc.want)
		}
	}

	// An aliased version cannot be archived; once the alias moves it can, and
	// its bytes stay fetchable, but it can no longer be aliased.
	if err := r.Archive(ctx, "cnn", 1); !errors.Is(err, registry.ErrInUse) {
		t.Fatalf("Archive of the champion: %v, want ErrInUse", err)
	}
	if err := r.SetAlias(ctx, proto.ArmChampion, "cnn", 2, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := r.Archive(ctx, "cnn", 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Archive(ctx, "cnn", 1); err != nil {
		t.Fatalf("archiving twice: %v", err)
	}
	archived, _ := r.Get(ctx, "cnn", 1)
	if archived.Status != registry.StatusArchived || archived.ArchivedAt == nil {
		t.Fatalf("after Archive: %+v", archived)
	}
	if data, err := r.Fetch(ctx, archived); err != nil || !bytes.Equal(data, fakeModel("1")) {
		t.Fatalf("Fetch of archived version: %q, %v; bytes must be kept", data, err)
	}
	if err := r.SetAlias(ctx, proto.ArmChallenger, "cnn", 1, "alice"); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("aliasing an archived version: %v, want ErrInvalid", err)
	}
	if got, _ := r.Resolve(ctx, proto.ArmChampion); got.Version != v2.Version {
		t.Fatalf("champion resolves to %v, want %v", got, v2)
	}
}

func TestFetchVerifiesHash(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx := t.Context()
	mv, err := r.Register(ctx, "cnn", fakeModel("good"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Someone replaces the stored bytes behind the registry's back.
	obs, err := env.JS.ObjectStore(ctx, proto.BucketModels)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, mv.Object, fakeModel("evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(ctx, mv); !errors.Is(err, registry.ErrChecksum) {
		t.Fatalf("Fetch of tampered bytes: %v, want ErrChecksum", err)
	}
	if err := obs.Delete(ctx, mv.Object); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(ctx, mv); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Fetch of deleted bytes: %v, want ErrNotFound", err)
	}
}

func TestWatchAliasFollowsMoves(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	v1, _ := r.Register(ctx, "cnn", fakeModel("1"), nil)
	v2, _ := r.Register(ctx, "cnn", fakeModel("2"), nil)
	if err := r.SetAlias(ctx, proto.ArmChampion, "cnn", 1, "test"); err != nil {
		t.Fatal(err)
	}
	ch, err := r.WatchAlias(ctx, proto.ArmChampion)
	if err != nil {
		t.Fatal(err)
	}
	next := func() registry.ModelVersion {
		t.Helper()
		select {
		case mv, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed early")
			}
			return mv
		case <-time.After(5 * time.Second):
			t.Fatal("no alias update within 5s")
		}
		return registry.ModelVersion{}
	}
	if got := next(); got.Version != v1.Version {
		t.Fatalf("initial value %v, want %v", got, v1)
	}
	if err := r.SetAlias(ctx, proto.ArmChampion, "cnn", 2, "test"); err != nil {
		t.Fatal(err)
	}
	if got := next(); got.Version != v2.Version || got.SHA256 != v2.SHA256 {
		t.Fatalf("after move %v, want %v", got, v2)
	}
	// Another alias does not wake this watcher.
	if err := r.SetAlias(ctx, proto.ArmChallenger, "cnn", 1, "test"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetAlias(ctx, proto.ArmChampion, "cnn", 1, "test"); err != nil {
		t.Fatal(err)
	}
	if got := next(); got.Version != v1.Version {
		t.Fatalf("after moving back %v, want %v", got, v1)
	}
	cancel()
	bustest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		select {
		case _, ok := <-ch:
			if !ok {
				return nil
			}
			return errors.New("unexpected update after cancel")
		default:
			return errors.New("channel not closed after cancel")
		}
	})
}

func TestWatchAliasStartsBeforeAliasExists(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx := t.Context()
	ch, err := r.WatchAlias(ctx, "canary")
	if err != nil {
		t.Fatal(err)
	}
	mv, _ := r.Register(ctx, "cnn", fakeModel("1"), nil)
	if err := r.SetAlias(ctx, "canary", "cnn", mv.Version, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch:
		if got.Version != 1 {
			t.Fatalf("got %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
}

func writeModels(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSeedFromDirNeverOverwritesLiveAliases(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx := t.Context()
	dir := writeModels(t, map[string]string{
		"cnn-v1.onnx":      "bytes of v1",
		"cnn-v1.card.json": `{"name":"cnn","version":"1.0.0"}`,
		"cnn-v2.onnx":      "bytes of v2",
		"README.md":        "not a model",
	})
	aliases := map[string]string{proto.ArmChampion: "cnn-v1.onnx", proto.ArmChallenger: "cnn-v2"}

	res, err := r.SeedFromDir(ctx, dir, aliases)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Versions) != 2 || res.Versions[0].Name != "cnn-v1" || res.Versions[1].Name != "cnn-v2" {
		t.Fatalf("seeded versions %+v", res.Versions)
	}
	if string(res.Versions[0].Metadata) != `{"name":"cnn","version":"1.0.0"}` || res.Versions[1].Metadata != nil {
		t.Errorf("metadata from cards: %s / %s", res.Versions[0].Metadata, res.Versions[1].Metadata)
	}
	if !slices.Equal(res.AliasesSet, []string{"challenger", "champion"}) || len(res.AliasesKept) != 0 {
		t.Fatalf("first seed: set %v kept %v", res.AliasesSet, res.AliasesKept)
	}
	champ, err := r.Resolve(ctx, proto.ArmChampion)
	if err != nil || champ.Name != "cnn-v1" {
		t.Fatalf("champion = %v, %v", champ, err)
	}
	if a, _ := r.Alias(ctx, proto.ArmChampion); a.UpdatedBy != registry.SeedBy {
		t.Errorf("seeded alias updated_by = %q", a.UpdatedBy)
	}

	// An operator promotes the challenger; a restart seeds again.
	if err := r.SetAlias(ctx, proto.ArmChampion, "cnn-v2", 1, "operator"); err != nil {
		t.Fatal(err)
	}
	res, err = r.SeedFromDir(ctx, dir, aliases)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.AliasesSet) != 0 || !slices.Equal(res.AliasesKept, []string{"challenger", "champion"}) {
		t.Fatalf("second seed: set %v kept %v, want all kept", res.AliasesSet, res.AliasesKept)
	}
	if champ, _ := r.Resolve(ctx, proto.ArmChampion); champ.Name != "cnn-v2" {
		t.Fatalf("restart moved the live champion to %v", champ)
	}
	all, _ := r.List(ctx, "")
	if len(all) != 2 {
		t.Fatalf("re-seeding created versions: %+v", all)
	}
}

func TestSeedFromDirErrors(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx := t.Context()
	dir := writeModels(t, map[string]string{"cnn.onnx": "x"})
	if _, err := r.SeedFromDir(ctx, dir, map[string]string{"champion": "missing.onnx"}); err == nil ||
		!bytes.Contains([]byte(err.Error()), []byte(`"missing.onnx"`)) {
		t.Errorf("alias to a missing file: %v", err)
	}
	if _, err := r.SeedFromDir(ctx, filepath.Join(dir, "nope"), nil); err == nil {
		t.Error("missing folder: no error")
	}
	bad := writeModels(t, map[string]string{"cnn.onnx": "x", "cnn.card.json": "{"})
	if _, err := r.SeedFromDir(ctx, bad, nil); err == nil {
		t.Error("invalid model card: no error")
	}
}

func TestConfigValidate(t *testing.T) {
	c := registry.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Replicas, c.History = 0, 100
	err := c.Validate()
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("replicas 0")) || !bytes.Contains([]byte(err.Error()), []byte("history 100")) {
		t.Fatalf("Validate = %v, want both fields named", err)
	}
}

func TestRegisterRecoversFromCrashedRegistration(t *testing.T) {
	env := bustest.Start(t)
	r := open(t, env)
	ctx := t.Context()
	kv, err := env.JS.KeyValue(ctx, proto.BucketRegistry)
	if err != nil {
		t.Fatal(err)
	}
	// A registration of "a" crashed after reserving version 1, before its
	// upload; one of "x" crashed after reserving version 2.
	first, _ := r.Register(ctx, "probe", fakeModel("a"), nil) // learn the sha of "a"
	pending := func(v int, sha string) {
		rec := registry.ModelVersion{SchemaVersion: 1, Name: "cnn", Version: v, Object: proto.ModelObjectName("cnn", v),
			SHA256: sha, Size: int64(len(fakeModel("a"))), Status: registry.StatusPending, RegisteredAt: time.Now()}
		data, _ := json.Marshal(rec)
		if _, err := kv.Create(ctx, proto.RegistryVersionKey("cnn", v), data); err != nil {
			t.Fatal(err)
		}
	}
	pending(1, first.SHA256)
	pending(2, "0000")

	if err := r.SetAlias(ctx, "champion", "cnn", 1, "x"); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("aliasing a pending version: %v, want ErrInvalid", err)
	}
	mv, err := r.Register(ctx, "cnn", fakeModel("a"), nil)
	if err != nil || mv.Version != 1 || mv.Status != registry.StatusActive {
		t.Fatalf("re-registering crashed bytes = %+v, %v; want version 1 completed", mv, err)
	}
	if data, err := r.Fetch(ctx, mv); err != nil || !bytes.Equal(data, fakeModel("a")) {
		t.Fatalf("Fetch after recovery = %q, %v", data, err)
	}
	mv3, err := r.Register(ctx, "cnn", fakeModel("new"), nil)
	if err != nil || mv3.Version != 3 {
		t.Fatalf("new bytes after a stale reservation: %+v, %v; want version 3", mv3, err)
	}
}
