// Package registry is the model registry: numbered versions of named ONNX
// models and movable aliases (champion, challenger, ...), kept in NATS
// JetStream. Records live in the KV bucket proto.BucketRegistry, the model
// bytes in the object store proto.BucketModels.
//
//	version.<model>.<n>  ModelVersion (proto.RegistryVersionKey)
//	alias.<alias>        Alias        (proto.RegistryAliasKey)
//	<model>/<n>.onnx     ONNX bytes   (proto.ModelObjectName)
//
// Versions are numbered 1, 2, ... per model name. Register reserves the next
// number with a compare-and-set create of the version key (a "pending"
// record), uploads the bytes, then marks the record "active" with a
// compare-and-set update, so concurrent registrations never share a number and
// no reader ever sees an active version whose bytes are missing. Registration
// is idempotent by SHA-256: identical bytes registered again under the same
// name return the existing version. Bytes are never deleted: Archive only
// changes the status.
//
// The registry treats model bytes and metadata as opaque; validating an ONNX
// file and its metadata is the model runtime's job.
package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// Version statuses.
const (
	// StatusPending marks a reserved version number whose bytes are being
	// uploaded. Pending versions cannot be aliased or fetched; a registration
	// of the same bytes completes one left behind by a crash.
	StatusPending = "pending"
	// StatusActive marks a version that can be aliased and served.
	StatusActive = "active"
	// StatusArchived marks a retired version; its bytes are kept.
	StatusArchived = "archived"
)

// Errors, wrapped by the registry's errors.
var (
	// ErrNotFound: no such model version or alias.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: an argument is invalid (the message names it).
	ErrInvalid = errors.New("invalid argument")
	// ErrChecksum: fetched bytes do not match the registered SHA-256.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrInUse: the version is the target of an alias.
	ErrInUse = errors.New("in use")
	// ErrConflict: too many concurrent changes; try again.
	ErrConflict = errors.New("conflict")
)

// Log attribute keys.
const (
	attrModel   = "model"
	attrVersion = "model_version"
	attrAlias   = "alias"
)

// ModelVersion is one registered version of a model.
type ModelVersion struct {
	SchemaVersion int    `json:"schema_version"`
	Name          string `json:"name"`
	Version       int    `json:"version"`
	// Object is the name of the ONNX file in proto.BucketModels.
	Object string `json:"object"`
	SHA256 string `json:"sha256"` // hex
	Size   int64  `json:"size_bytes"`
	// Metadata is the model's metadata JSON (the model card), opaque here.
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	RegisteredAt time.Time       `json:"registered_at"`
	Status       string          `json:"status"`
	ArchivedAt   *time.Time      `json:"archived_at,omitempty"`
}

// String renders "name@version".
func (v ModelVersion) String() string { return fmt.Sprintf("%s@%d", v.Name, v.Version) }

// Alias points an alias at a model version.
type Alias struct {
	Alias     string    `json:"-"` // from the key
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// Config configures the registry's buckets and behaviour.
type Config struct {
	// Replicas of the buckets when the registry creates them: 1 for a single
	// server, 3 in a production cluster.
	Replicas int
	// History is how many revisions of each key the KV bucket keeps (the audit
	// trail of alias moves), 1..64.
	History int
	// MaxModelBytes bounds the size of a registered model.
	MaxModelBytes int64
	// MaxMetadataBytes bounds the size of a model's metadata JSON.
	MaxMetadataBytes int
	// Now stamps records; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for a single embedded server.
func DefaultConfig() Config {
	return Config{Replicas: 1, History: 16, MaxModelBytes: 1 << 30, MaxMetadataBytes: 1 << 20}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be between 1 and 5", c.Replicas))
	}
	if c.History < 1 || c.History > jetstream.KeyValueMaxHistory {
		errs = append(errs, fmt.Errorf("history %d: must be between 1 and %d", c.History, jetstream.KeyValueMaxHistory))
	}
	if c.MaxModelBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_model_bytes %d: must be positive", c.MaxModelBytes))
	}
	if c.MaxMetadataBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_metadata_bytes %d: must be positive", c.MaxMetadataBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("registry config: %w", err)
	}
	return nil
}

// Registry is a handle on the registry buckets. It is safe for concurrent use
// and holds no resources of its own: the NATS connection belongs to the caller.
type Registry struct {
	cfg Config
	kv  jetstream.KeyValue
	obs jetstream.ObjectStore
	now func() time.Time
	log *slog.Logger
}

// Open opens the registry, creating its buckets if they do not exist.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Registry, error) {
	if js == nil {
		return nil, errors.New("open registry: jetstream is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := bus.OpenKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      proto.BucketRegistry,
		Description: "model registry: versions and aliases",
		History:     uint8(cfg.History),
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	obs, err := bus.OpenObjectStore(ctx, js, jetstream.ObjectStoreConfig{
		Bucket:      proto.BucketModels,
		Description: "model registry: ONNX files",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	return &Registry{cfg: cfg, kv: kv, obs: obs, now: cfg.Now, log: cfg.Logger}, nil
}

func checkName(field, v string) error {
	if err := proto.ValidToken(v); err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrInvalid, field, v, err)
	}
	return nil
}

func checkVersion(v int) error {
	if v < 1 {
		return fmt.Errorf("%w: version %d: must be 1 or more", ErrInvalid, v)
	}
	return nil
}

// maxRegisterAttempts bounds the compare-and-set retries of Register; each
// retry means another registration took a version number meanwhile.
const maxRegisterAttempts = 64

// Register stores onnx as the next version of the model called name, with
// its metadata JSON (may be empty). Registering bytes that already are a
// version of name returns that version unchanged (whatever its status).
func (r *Registry) Register(ctx context.Context, name string, onnx []byte, metadata json.RawMessage) (ModelVersion, error) {
	if err := checkName("model name", name); err != nil {
		return ModelVersion{}, fmt.Errorf("register model: %w", err)
	}
	if len(onnx) == 0 {
		return ModelVersion{}, fmt.Errorf("register model %s: %w: model bytes: empty", name, ErrInvalid)
	}
	if int64(len(onnx)) > r.cfg.MaxModelBytes {
		return ModelVersion{}, fmt.Errorf("register model %s: %w: model bytes: %d exceeds the limit of %d", name, ErrInvalid, len(onnx), r.cfg.MaxModelBytes)
	}
	if len(metadata) > 0 {
		if len(metadata) > r.cfg.MaxMetadataBytes {
			return ModelVersion{}, fmt.Errorf("register model %s: %w: metadata: %d bytes exceeds the limit of %d", name, ErrInvalid, len(metadata), r.cfg.MaxMetadataBytes)
		}
		if !json.Valid(metadata) {
			return ModelVersion{}, fmt.Errorf("register model %s: %w: metadata: not valid JSON", name, ErrInvalid)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, metadata); err != nil {
			return ModelVersion{}, fmt.Errorf("register model %s: %w: metadata: %v", name, ErrInvalid, err)
		}
		metadata = buf.Bytes()
	}
	sum := sha256.Sum256(onnx)
	digest := hex.EncodeToString(sum[:])

	for range maxRegisterAttempts {
		existing, err := r.versions(ctx, name)
		if err != nil {
			return ModelVersion{}, fmt.Errorf("register model %s: %w", name, err)
		}
		next := 1
		for _, e := range existing {
			next = max(next, e.mv.Version+1)
		}
		if i := slices.IndexFunc(existing, func(e entry) bool { return e.mv.SHA256 == digest }); i >= 0 {
			e := existing[i]
			if e.mv.Status != StatusPending {
				r.log.Info("model already registered", attrModel, name, attrVersion, e.mv.Version, "sha256", digest)
				return e.mv, nil
			}
			// Reserved by a registration that crashed or is still running:
			// finish it; identical bytes make the upload harmless.
			mv, retry, err := r.complete(ctx, e, onnx)
			if err != nil || !retry {
				return mv, err
			}
			continue
		}
		mv := ModelVersion{
			SchemaVersion: 1,
			Name:          name,
			Version:       next,
			Object:        proto.ModelObjectName(name, next),
			SHA256:        digest,
			Size:          int64(len(onnx)),
			Metadata:      metadata,
			RegisteredAt:  r.now().UTC(),
			Status:        StatusPending,
		}
		data, err := json.Marshal(mv)
		if err != nil {
			return ModelVersion{}, fmt.Errorf("register model %s: %w", name, err)
		}
		rev, err := r.kv.Create(ctx, proto.RegistryVersionKey(name, next), data)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // another registration took this number
		}
		if err != nil {
			return ModelVersion{}, fmt.Errorf("register model %s: reserve version %d: %w", name, next, err)
		}
		mv, retry, err := r.complete(ctx, entry{mv: mv, rev: rev}, onnx)
		if err != nil || !retry {
			return mv, err
		}
	}
	return ModelVersion{}, fmt.Errorf("register model %s: %w: gave up after %d attempts", name, ErrConflict, maxRegisterAttempts)
}

// complete uploads the bytes of a pending version and marks it active. retry
// is true when the record changed meanwhile in a way that needs a fresh look.
func (r *Registry) complete(ctx context.Context, e entry, onnx []byte) (mv ModelVersion, retry bool, err error) {
	mv = e.mv
	h := sha256.Sum256(onnx)
	want := "SHA-256=" + base64.URLEncoding.EncodeToString(h[:])
	info, err := r.obs.GetInfo(ctx, mv.Object)
	if err != nil || info.Digest != want || int64(info.Size) != mv.Size {
		if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return ModelVersion{}, false, fmt.Errorf("register model %s: look up object %s: %w", mv, mv.Object, err)
		}
		meta := jetstream.ObjectMeta{
			Name:        mv.Object,
			Description: fmt.Sprintf("model %s version %d", mv.Name, mv.Version),
			Metadata:    map[string]string{"sha256": mv.SHA256},
		}
		if _, err := r.obs.Put(ctx, meta, bytes.NewReader(onnx)); err != nil {
			return ModelVersion{}, false, fmt.Errorf("register model %s: upload %s: %w", mv, mv.Object, err)
		}
	}
	mv.Status = StatusActive
	data, err := json.Marshal(mv)
	if err != nil {
		return ModelVersion{}, false, fmt.Errorf("register model %s: %w", mv, err)
	}
	_, err = r.kv.Update(ctx, proto.RegistryVersionKey(mv.Name, mv.Version), data, e.rev)
	if err != nil {
		if isRevisionMismatch(err) {
			return ModelVersion{}, true, nil
		}
		return ModelVersion{}, false, fmt.Errorf("register model %s: activate: %w", mv, err)
	}
	r.log.Info("model registered", attrModel, mv.Name, attrVersion, mv.Version, "sha256", mv.SHA256, "size_bytes", mv.Size)
	return mv, false, nil
}

func isRevisionMismatch(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

type entry struct {
	mv  ModelVersion
	rev uint64
}

// versions reads every version record of a model (or of all models when
// name is empty), sorted by name and version.
func (r *Registry) versions(ctx context.Context, name string) ([]entry, error) {
	filter := proto.RegistryVersionsAll
	if name != "" {
		filter = proto.RegistryVersionsOf(name)
	}
	var out []entry
	err := r.scan(ctx, filter, func(e jetstream.KeyValueEntry) error {
		var mv ModelVersion
		if err := json.Unmarshal(e.Value(), &mv); err != nil {
			return fmt.Errorf("decode registry record %s: %w", e.Key(), err)
		}
		out = append(out, entry{mv: mv, rev: e.Revision()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b entry) int {
		if c := strings.Compare(a.mv.Name, b.mv.Name); c != 0 {
			return c
		}
		return a.mv.Version - b.mv.Version
	})
	return out, nil
}

// scan calls fn with the current value of every key matching filter.
func (r *Registry) scan(ctx context.Context, filter string, fn func(jetstream.KeyValueEntry) error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := r.kv.Watch(wctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("read registry %s: %w", filter, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read registry %s: %w", filter, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("read registry %s: watcher closed", filter)
			}
			if e == nil {
				return nil // all current values delivered
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

// Get returns one model version.
func (r *Registry) Get(ctx context.Context, name string, version int) (ModelVersion, error) {
	e, err := r.get(ctx, name, version)
	return e.mv, err
}

func (r *Registry) get(ctx context.Context, name string, version int) (entry, error) {
	if err := checkName("model name", name); err != nil {
		return entry{}, fmt.Errorf("get model version: %w", err)
	}
	if err := checkVersion(version); err != nil {
		return entry{}, fmt.Errorf("get model %s: %w", name, err)
	}
	key := proto.RegistryVersionKey(name, version)
	kve, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry{}, fmt.Errorf("get model %s version %d: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return entry{}, fmt.Errorf("get model %s version %d: %w", name, version, err)
	}
	var mv ModelVersion
	if err := json.Unmarshal(kve.Value(), &mv); err != nil {
		return entry{}, fmt.Errorf("get model %s version %d: decode %s: %w", name, version, key, err)
	}
	return entry{mv: mv, rev: kve.Revision()}, nil
}

// List returns the versions of the model called name, or of every model when
// name is empty, sorted by name and version. Pending versions (being
// registered, or left behind by a crashed registration) are included with
// their status.
func (r *Registry) List(ctx context.Context, name string) ([]ModelVersion, error) {
	if name != "" {
		if err := checkName("model name", name); err != nil {
			return nil, fmt.Errorf("list model versions: %w", err)
		}
	}
	es, err := r.versions(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list model versions: %w", err)
	}
	out := make([]ModelVersion, len(es))
	for i, e := range es {
		out[i] = e.mv
	}
	return out, nil
}

// Fetch downloads the bytes of a model version and verifies their size and
// SHA-256 against the record; a mismatch wraps ErrChecksum.
func (r *Registry) Fetch(ctx context.Context, mv ModelVersion) ([]byte, error) {
	if mv.Object == "" || mv.SHA256 == "" {
		return nil, fmt.Errorf("fetch model %s: %w: object and sha256 are required (use a ModelVersion from the registry)", mv, ErrInvalid)
	}
	if mv.Status == StatusPending {
		return nil, fmt.Errorf("fetch model %s: %w: version is still being registered", mv, ErrNotFound)
	}
	data, err := r.obs.GetBytes(ctx, mv.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("fetch model %s: object %s: %w", mv, mv.Object, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch model %s: object %s: %w", mv, mv.Object, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != mv.SHA256 || int64(len(data)) != mv.Size {
		return nil, fmt.Errorf("fetch model %s: %w: object %s has %d bytes with sha256 %s, registered %d bytes with sha256 %s",
			mv, ErrChecksum, mv.Object, len(data), got, mv.Size, mv.SHA256)
	}
	return data, nil
}

// SetAlias points alias at an active version of a model; by names who did it
// (a person or a service), for the audit trail kept in the bucket's history.
func (r *Registry) SetAlias(ctx context.Context, alias, name string, version int, by string) error {
	rec, err := r.aliasRecord(ctx, alias, name, version, by)
	if err != nil {
		return fmt.Errorf("set alias: %w", err)
	}
	if _, err := r.kv.Put(ctx, proto.RegistryAliasKey(alias), rec); err != nil {
		return fmt.Errorf("set alias %s to %s@%d: %w", alias, name, version, err)
	}
	r.log.Info("alias set", attrAlias, alias, attrModel, name, attrVersion, version, "by", by)
	return nil
}

// aliasRecord validates the arguments of an alias change and encodes it.
func (r *Registry) aliasRecord(ctx context.Context, alias, name string, version int, by string) ([]byte, error) {
	if err := checkName("alias", alias); err != nil {
		return nil, err
	}
	if strings.TrimSpace(by) == "" {
		return nil, fmt.Errorf("%w: updated_by: required (who moves alias %s)", ErrInvalid, alias)
	}
	mv, err := r.Get(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if mv.Status != StatusActive {
		return nil, fmt.Errorf("%w: alias %s: model %s is %s, only active versions can be aliased", ErrInvalid, alias, mv, mv.Status)
	}
	return json.Marshal(Alias{Name: name, Version: version, UpdatedAt: r.now().UTC(), UpdatedBy: by})
}

// Alias returns where alias points.
func (r *Registry) Alias(ctx context.Context, alias string) (Alias, error) {
	if err := checkName("alias", alias); err != nil {
		return Alias{}, fmt.Errorf("get alias: %w", err)
	}
	kve, err := r.kv.Get(ctx, proto.RegistryAliasKey(alias))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Alias{}, fmt.Errorf("alias %s: %w", alias, ErrNotFound)
	}
	if err != nil {
		return Alias{}, fmt.Errorf("get alias %s: %w", alias, err)
	}
	return decodeAlias(alias, kve.Value())
}

func decodeAlias(alias string, data []byte) (Alias, error) {
	var a Alias
	if err := json.Unmarshal(data, &a); err != nil {
		return Alias{}, fmt.Errorf("decode alias %s: %w", alias, err)
	}
	a.Alias = alias
	return a, nil
}

// Aliases returns every alias, sorted by alias.
func (r *Registry) Aliases(ctx context.Context) ([]Alias, error) {
	var out []Alias
	err := r.scan(ctx, proto.RegistryAliasesAll, func(e jetstream.KeyValueEntry) error {
		a, err := decodeAlias(strings.TrimPrefix(e.Key(), "alias."), e.Value())
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	slices.SortFunc(out, func(a, b Alias) int { return strings.Compare(a.Alias, b.Alias) })
	return out, nil
}

// Resolve returns the model version that alias points at.
func (r *Registry) Resolve(ctx context.Context, alias string) (ModelVersion, error) {
	a, err := r.Alias(ctx, alias)
	if err != nil {
		return ModelVersion{}, fmt.Errorf("resolve: %w", err)
	}
	mv, err := r.Get(ctx, a.Name, a.Version)
	if err != nil {
		return ModelVersion{}, fmt.Errorf("resolve alias %s: %w", alias, err)
	}
	return mv, nil
}

// Archive marks a version archived. Its bytes stay in the object store and
// Fetch keeps working, but it can no longer be aliased. A version that an
// alias points at is refused with ErrInUse: move the alias first. Archiving
// an archived version is a no-op.
func (r *Registry) Archive(ctx context.Context, name string, version int) error {
	for range maxRegisterAttempts {
		e, err := r.get(ctx, name, version)
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		switch e.mv.Status {
		case StatusArchived:
			return nil
		case StatusPending:
			return fmt.Errorf("archive model %s: %w: version is still being registered", e.mv, ErrInvalid)
		}
		aliases, err := r.Aliases(ctx)
		if err != nil {
			return fmt.Errorf("archive model %s: %w", e.mv, err)
		}
		for _, a := range aliases {
			if a.Name == name && a.Version == version {
				return fmt.Errorf("archive model %s: %w: alias %s points at it; move the alias first", e.mv, ErrInUse, a.Alias)
			}
		}
		mv := e.mv
		now := r.now().UTC()
		mv.Status, mv.ArchivedAt = StatusArchived, &now
		data, err := json.Marshal(mv)
		if err != nil {
			return fmt.Errorf("archive model %s: %w", mv, err)
		}
		if _, err := r.kv.Update(ctx, proto.RegistryVersionKey(name, version), data, e.rev); err != nil {
			if isRevisionMismatch(err) {
				continue
			}
			return fmt.Errorf("archive model %s: %w", mv, err)
		}
		r.log.Info("model archived", attrModel, name, attrVersion, version)
		return nil
	}
	return fmt.Errorf("archive model %s@%d: %w: gave up after %d attempts", name, version, ErrConflict, maxRegisterAttempts)
}

// WatchAlias sends the model version that alias points at now (if it is set)
// and then every version it is moved to, until ctx is cancelled; then the
// channel is closed. It is how predictors swap models live. The channel is
// also closed if the watch ends for another reason (the NATS connection was
// closed); callers that must keep watching call WatchAlias again.
// Deleting the alias sends nothing: the last version stays in use.
func (r *Registry) WatchAlias(ctx context.Context, alias string) (<-chan ModelVersion, error) {
	if err := checkName("alias", alias); err != nil {
		return nil, fmt.Errorf("watch alias: %w", err)
	}
	w, err := r.kv.Watch(ctx, proto.RegistryAliasKey(alias), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch alias %s: %w", alias, err)
	}
	out := make(chan ModelVersion, 1)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		for {
			var e jetstream.KeyValueEntry
			select {
			case <-ctx.Done():
				return
			case kve, ok := <-w.Updates():
				if !ok {
					return
				}
				e = kve
			}
			if e == nil {
				continue // end of the initial value
			}
			mv, err := r.resolveEntry(ctx, alias, e.Value())
			if err != nil {
				if ctx.Err() == nil {
					r.log.Error("alias moved to an unreadable version; keeping the previous one", attrAlias, alias, "err", err)
				}
				continue
			}
			select {
			case out <- mv:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// resolveEntry reads the version an alias record points at, retrying a few
// times so that a momentary NATS hiccup does not skip a model swap.
func (r *Registry) resolveEntry(ctx context.Context, alias string, data []byte) (ModelVersion, error) {
	a, err := decodeAlias(alias, data)
	if err != nil {
		return ModelVersion{}, err
	}
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		mv, err := r.Get(ctx, a.Name, a.Version)
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) || attempt == 5 {
			return mv, err
		}
		select {
		case <-ctx.Done():
			return ModelVersion{}, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}
