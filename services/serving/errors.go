package serving

import (
	"net/http"

	"github.com/healthcare-ai/platform/httpapi/problem"
)

// Problem kinds of the serving endpoints. Each has a stable type URI
// (problem.BaseURI + slug); clients branch on it, not on the detail text.
var (
	// Request structure.
	InvalidJSON          = problem.InvalidJSON          // 400 invalid-json: the body is not JSON or a field has the wrong JSON type
	InvalidRequest       = problem.InvalidRequest       // 400 invalid-request: a required field is missing, or the form is not one of the accepted ones
	BodyTooLarge         = problem.BodyTooLarge         // 413 body-too-large
	UnsupportedMediaType = problem.UnsupportedMediaType // 415 unsupported-media-type: Content-Type is not JSON
	MethodNotAllowed     = problem.MethodNotAllowed     // 405 method-not-allowed

	// Tensors.
	UnknownInput        = problem.Kind{Slug: "unknown-input", Title: "Unknown input name", Status: http.StatusBadRequest}
	UnknownOutput       = problem.Kind{Slug: "unknown-output", Title: "Unknown output name", Status: http.StatusBadRequest}
	InvalidDatatype     = problem.Kind{Slug: "invalid-datatype", Title: "Invalid tensor datatype", Status: http.StatusBadRequest}
	InvalidTensorShape  = problem.Kind{Slug: "invalid-tensor-shape", Title: "Invalid tensor shape", Status: http.StatusBadRequest}
	InvalidElementCount = problem.Kind{Slug: "invalid-element-count", Title: "Tensor data does not match its shape", Status: http.StatusBadRequest}
	InvalidTensorData   = problem.Kind{Slug: "invalid-tensor-data", Title: "Invalid tensor data", Status: http.StatusBadRequest}
	BatchTooLarge       = problem.Kind{Slug: "batch-too-large", Title: "Too many images in one request", Status: http.StatusBadRequest}

	// Images.
	InvalidImage        = problem.Kind{Slug: "invalid-image", Title: "Image cannot be decoded", Status: http.StatusUnprocessableEntity}
	InvalidImageRef     = problem.Kind{Slug: "invalid-image-reference", Title: "Invalid image reference", Status: http.StatusBadRequest}
	ImagePathForbidden  = problem.Kind{Slug: "image-path-forbidden", Title: "Image path not allowed", Status: http.StatusForbidden}
	ImageNotFound       = problem.Kind{Slug: "image-not-found", Title: "Image file not found", Status: http.StatusUnprocessableEntity}
	UnsupportedImageURI = problem.Kind{Slug: "unsupported-image-uri", Title: "Unsupported image URI scheme", Status: http.StatusBadRequest}

	// Models.
	ModelNotFound        = problem.Kind{Slug: "model-not-found", Title: "Model not found", Status: http.StatusNotFound}
	ModelVersionNotFound = problem.Kind{Slug: "model-version-not-found", Title: "Model version not served", Status: http.StatusNotFound}
	ModelNotReady        = problem.Kind{Slug: "model-not-ready", Title: "Model not loaded", Status: http.StatusServiceUnavailable}
	NotFoundRoute        = problem.Kind{Slug: "route-not-found", Title: "No such route", Status: http.StatusNotFound}
	InferenceFailed      = problem.Kind{Slug: "inference-failed", Title: "Inference failed", Status: http.StatusInternalServerError}
	// NotLogged: the prediction was computed but could not be recorded on
	// the results subject; it is not returned (an unrecorded clinical
	// prediction must not be served). Retry.
	NotLogged   = problem.Kind{Slug: "prediction-not-logged", Title: "Prediction could not be recorded", Status: http.StatusServiceUnavailable}
	Unavailable = problem.Unavailable // 503 unavailable
)
