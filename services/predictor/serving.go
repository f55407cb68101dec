package predictor

import (
	"errors"
	"fmt"
	"slices"

	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

// ErrNotLoaded is wrapped by WithModel when the arm has no model loaded yet
// (temporary: the predictor retries loading until it works).
var ErrNotLoaded = errNotLoaded

// ErrUnknownArm is wrapped by WithModel for an arm this predictor does not
// serve.
var ErrUnknownArm = errors.New("arm not served by this predictor")

// Loaded is the model an arm serves at one moment, as WithModel lends it.
type Loaded struct {
	Arm   string
	Ref   ModelRef
	Model *onnxrt.Model
	// Spec is the preprocessing of the model (SpecOf its metadata).
	Spec preprocess.Spec
}

// Arms returns the arms this predictor serves, in configuration order.
func (s *Service) Arms() []string { return slices.Clone(s.cfg.Arms) }

// WithModel calls fn with the model arm serves now and keeps that model in
// service until fn returns: an alias move waits for fn (as it waits for
// Predict) and closes the old model only afterwards, so fn must not keep
// l.Model. It returns fn's error, or an error wrapping ErrUnknownArm or
// ErrNotLoaded without calling fn. Other front ends (services/serving) use it
// to run the loaded models on inputs that are not pipeline requests.
func (s *Service) WithModel(arm string, fn func(l Loaded) error) error {
	am, ok := s.arms[arm]
	if !ok {
		return fmt.Errorf("arm %q: %w", arm, ErrUnknownArm)
	}
	am.mu.RLock()
	defer am.mu.RUnlock()
	if am.m == nil {
		return fmt.Errorf("arm %s: %w", arm, errNotLoaded)
	}
	return fn(Loaded{Arm: arm, Ref: am.ref, Model: am.m, Spec: am.spec})
}
