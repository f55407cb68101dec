package drift

import (
	"context"
	"fmt"
	"strconv"

	"github.com/healthcare-ai/platform/driftstat"
	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/registry"
)

// References gives the training reference of a model version.
type References interface {
	// Reference returns the reference of version of model (the registry's
	// name and version, as in proto.InferenceResult), nil and no error when
	// that version has none, or an error when it cannot tell now (retried
	// later).
	Reference(ctx context.Context, model, version string) (*driftstat.Reference, error)
}

// RegistryReferences reads references from the model registry: the version's
// ONNX file, metadata_props key driftstat.PropertyKey.
type RegistryReferences struct {
	Registry *registry.Registry
}

// Reference implements References.
func (r RegistryReferences) Reference(ctx context.Context, name, version string) (*driftstat.Reference, error) {
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 {
		return nil, nil // not a registry version (e.g. a model served outside the registry)
	}
	mv, err := r.Registry.Get(ctx, name, v)
	if err != nil {
		return nil, fmt.Errorf("drift reference of %s@%s: %w", name, version, err)
	}
	data, err := r.Registry.Fetch(ctx, mv)
	if err != nil {
		return nil, fmt.Errorf("drift reference of %s: %w", mv, err)
	}
	return ReferenceOf(data)
}

// ReferenceOf reads the reference stored in an ONNX file: nil without one,
// an error if the one stored is invalid.
func ReferenceOf(onnx []byte) (*driftstat.Reference, error) {
	props, err := model.Properties(onnx)
	if err != nil {
		return nil, err
	}
	raw, ok := props[driftstat.PropertyKey]
	if !ok {
		return nil, nil
	}
	return driftstat.DecodeReference([]byte(raw))
}
