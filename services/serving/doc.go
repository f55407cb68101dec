// Package serving exposes the predictor's models through the standard
// inference protocols, so that ML tooling (KServe, Triton and Seldon clients,
// MLflow's scoring clients) can call the platform without knowing its own
// API:
//
//   - the Open Inference Protocol v2 over HTTP (KServe "v2"): health, model
//     metadata and readiness, and POST /v2/models/{name}[/versions/{v}]/infer
//     with tensors in the protocol's JSON form;
//   - the MLflow scoring protocol: POST /invocations and
//     POST /endpoints/{name}/invocations with MLflow's four input forms
//     (inputs, instances, dataframe_split, dataframe_records).
//
// Errors are RFC 9457 problem details (package problem) with a stable type
// URI per kind (see the Kind variables in errors.go), the status, a detail
// and the offending field: 4xx for the client's mistakes, 404 for an unknown
// model or version, 503 while a model is not loaded (or a result could not
// be recorded), 500 when the model itself fails.
//
// # Endpoint names
//
// {name} is, in this order: an alias, i.e. an arm ("champion",
// "challenger"), served by the model the alias points at now; the experiment
// (Config.Experiment, "pneumonia"), which applies the live champion/challenger
// split exactly as the router does (router.Routes on the experiment the router
// applies, keyed by the request id; in shadow mode both arms run and the
// champion answers); or the registry name of a model an arm serves now
// ("pneumonia-simplecnn"). A version in the path must be the registry version
// the arm serves now (404 otherwise); the experiment has no versions.
// Responses name the model that answered (model_name, model_version: the
// registry's), whatever name was addressed, and the arm.
//
// # Inputs
//
// A tensor is the model input after preprocessing (FP32, NCHW, the
// preprocess spec of the model's hap.metadata, as GET /v2/models/{name}
// shows): [N C H W] in the Open Inference Protocol (data flat or nested,
// row-major); HxW, 1xHxW, NxHxW or Nx1xHxW in MLflow bodies (the seed's
// {"inputs": [64x64 array]} is one image). A tensor's shape is checked
// against the model the request is routed to, so a tensor sent to the
// experiment endpoint fits only when both arms take the same size (the
// committed champion takes 64x64, the challenger 128x128): clients of the
// experiment endpoint should send images. Images (JPEG or PNG) go through the
// same xray/preprocess spec as the pipeline: the BYTES input "image_bytes"
// (base64 strings or data: URIs), or the MLflow columns image_base64,
// image_uri (data: or file:) and image_path. Server-side paths are read only
// under Config.ImageRoot (none by default: refused with 403), through
// os.Root so that neither ".." nor a symbolic link leads out of it; the
// server never fetches URLs.
//
// # Request ids and logging
//
// Every request gets a server request id (UUIDv4 shape), returned in the
// X-Request-Id header and the body (OIP parameters.request_id, MLflow
// request_id, problem request_id). Each image of a request gets its own id
// under which its prediction is logged and radiologist feedback references
// it: the request id itself for one image, "<request_id>-<i>" for each of
// several. The client's own reference (the OIP body's "id", else the
// X-Client-Request-Id header) is recorded as client_request_id.
//
// Every inference is recorded like a pipeline prediction before it is
// answered: one proto.InferenceResult per image and arm, published with
// JetStream acknowledgement on proto.InferenceResultSubject(arm), so the
// evaluator, the inference_log table and feedback see it. If the result
// cannot be published the answer is 503 prediction-not-logged: an
// unrecorded prediction is not served.
//
//   - Experiment endpoint: experiment, configured split and epoch of the
//     live experiment; served=true for the answering arm, served=false for
//     the shadow arm in shadow mode. The unit of assignment is the HTTP
//     request (a batch goes to one arm), keyed by the request id as the router
//     keys pipeline requests; there is no patient key.
//   - Direct calls (an alias or a model name): experiment "" (the evaluator
//     counts them under its "default" experiment), served=true, the arm that
//     serves the model, configured split 0/0, epoch 0. They are deliberately
//     kept out of the experiment: a client that picks the arm would bias the
//     traffic shares and the champion/challenger test, which assumes random
//     assignment.
//   - Image inputs record sha256, size, format and dimensions in Image, and
//     the URI for image_path/file: inputs; the bytes are not stored, so Image.Key
//     is empty. Tensor inputs have no image: Image is empty.
//   - Requests refused for their input (4xx) are not recorded: no inference
//     ran. A failure of the model itself is recorded with status "error" and
//     status code 500, as the predictor does.
//
// Decoding and inference of at most Config.MaxConcurrent requests run at
// once; the others wait for a slot.
package serving
