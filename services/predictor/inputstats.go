package predictor

import (
	"github.com/healthcare-ai/platform/driftstat"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

// InputStats summarises the tensor a model runs on (proto.InputStats: mean,
// standard deviation, range and the histogram over the values the spec can
// produce, gray 0 to 255), in one pass over the tensor: about 10 µs for
// 64x64, 40 µs for 128x128, against milliseconds of inference. It returns
// nil if the tensor cannot be summarised (empty, or a non-finite value).
func InputStats(spec preprocess.Spec, tensor []float32) *proto.InputStats {
	lo, hi := driftstat.Range(spec.Scale, spec.Mean, spec.Std)
	return driftstat.Summarize(tensor, lo, hi)
}
