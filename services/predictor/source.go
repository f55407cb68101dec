package predictor

import (
	"context"
	"fmt"
	"strconv"

	"github.com/healthcare-ai/platform/registry"
)

// RegistrySource serves models from the NATS model registry: an arm's alias
// resolves to a registered version whose ONNX bytes are fetched (and checked
// against their sha256) from the object store.
type RegistrySource struct {
	Registry *registry.Registry
}

// Resolve implements ModelSource.
func (s RegistrySource) Resolve(ctx context.Context, alias string) (ModelRef, []byte, error) {
	mv, err := s.Registry.Resolve(ctx, alias)
	if err != nil {
		return ModelRef{}, nil, err
	}
	data, err := s.Registry.Fetch(ctx, mv)
	if err != nil {
		return ModelRef{}, nil, fmt.Errorf("fetch %s version %d: %w", mv.Name, mv.Version, err)
	}
	return ModelRef{Name: mv.Name, Version: strconv.Itoa(mv.Version), SHA256: mv.SHA256}, data, nil
}

// Watch implements ModelSource.
func (s RegistrySource) Watch(ctx context.Context, alias string, fn func()) error {
	ch, err := s.Registry.WatchAlias(ctx, alias)
	if err != nil {
		return fmt.Errorf("watch alias %s: %w", alias, err)
	}
	for range ch {
		fn()
	}
	return nil
}
