package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
)

// SeedBy is the updated_by of aliases set by SeedFromDir.
const SeedBy = "registry-seed"

// CardSuffix is the suffix of the model card next to an ONNX file: the
// metadata of models/<name>.onnx is read from models/<name>.card.json when
// that file exists.
const CardSuffix = ".card.json"

// SeedResult reports what SeedFromDir did.
type SeedResult struct {
	// Versions holds one entry per ONNX file, in file name order: a new
	// version or the existing one with the same bytes.
	Versions []ModelVersion
	// AliasesSet lists the aliases that were absent and now point at a seeded
	// model; AliasesKept those that already existed and were left alone.
	AliasesSet  []string
	AliasesKept []string
}

// SeedFromDir registers every dir/*.onnx file as a version of the model named
// after the file (models/pneumonia-cnn.onnx -> model "pneumonia-cnn"), with
// the metadata in the model card dir/<name>.card.json if present, and then
// sets each alias in aliases (alias -> ONNX file name, "x.onnx" or "x") to the
// version registered from that file, but only if the alias does not exist yet:
// a restart never moves a live alias. Registration is idempotent, so seeding
// the same folder again changes nothing.
func (r *Registry) SeedFromDir(ctx context.Context, dir string, aliases map[string]string) (SeedResult, error) {
	var res SeedResult
	files, err := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if err != nil {
		return res, fmt.Errorf("seed registry from %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return res, fmt.Errorf("seed registry from %s: %w", dir, err)
	}
	slices.Sort(files)
	byFile := map[string]ModelVersion{}
	for _, path := range files {
		base := filepath.Base(path)
		name := strings.TrimSuffix(base, ".onnx")
		if err := proto.ValidToken(name); err != nil {
			return res, fmt.Errorf("seed registry: model file %s: name %q: %v (rename the file)", path, name, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return res, fmt.Errorf("seed registry: read model %s: %w", path, err)
		}
		meta, err := readCard(filepath.Join(dir, name+CardSuffix))
		if err != nil {
			return res, fmt.Errorf("seed registry: model %s: %w", path, err)
		}
		mv, err := r.Register(ctx, name, data, meta)
		if err != nil {
			return res, fmt.Errorf("seed registry: %w", err)
		}
		res.Versions = append(res.Versions, mv)
		byFile[name] = mv
	}
	for _, alias := range slices.Sorted(maps.Keys(aliases)) {
		file := aliases[alias]
		mv, ok := byFile[strings.TrimSuffix(filepath.Base(file), ".onnx")]
		if !ok {
			return res, fmt.Errorf("seed registry: alias %s: model file %q is not among the %d ONNX files in %s", alias, file, len(files), dir)
		}
		rec, err := r.aliasRecord(ctx, alias, mv.Name, mv.Version, SeedBy)
		if err != nil {
			return res, fmt.Errorf("seed registry: alias %s: %w", alias, err)
		}
		_, err = r.kv.Create(ctx, proto.RegistryAliasKey(alias), rec)
		switch {
		case err == nil:
			res.AliasesSet = append(res.AliasesSet, alias)
			r.log.Info("alias seeded", attrAlias, alias, attrModel, mv.Name, attrVersion, mv.Version)
		case errors.Is(err, jetstream.ErrKeyExists):
			res.AliasesKept = append(res.AliasesKept, alias)
			r.log.Info("alias exists; kept", attrAlias, alias)
		default:
			return res, fmt.Errorf("seed registry: create alias %s: %w", alias, err)
		}
	}
	return res, nil
}

func readCard(path string) (json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read model card: %w", err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("model card %s: not valid JSON", path)
	}
	return data, nil
}
