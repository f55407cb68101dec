package client

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"strings"
)

// Routes of the image API.
const (
	PathPredict = "/v1/predict"
	PathImages  = "/v1/images"
)

// Media types of the images the platform accepts.
const (
	MediaTypeJPEG  = "image/jpeg"
	MediaTypePNG   = "image/png"
	MediaTypeDICOM = "application/dicom"
)

// Prediction is the answer of POST /v1/predict: the served model's
// prediction of one image (the JSON of ingestor.PredictResponse).
type Prediction struct {
	RequestID       string  `json:"request_id"`
	ClientRequestID string  `json:"client_request_id,omitempty"`
	ImageID         string  `json:"image_id"` // sha256 of the stored image
	ModelName       string  `json:"served_model_name"`
	ModelVersion    string  `json:"model_version"`
	Arm             string  `json:"arm"`   // champion or challenger
	Label           string  `json:"label"` // NORMAL or PNEUMONIA
	Probability     float64 `json:"probability"`
	Threshold       float64 `json:"threshold"`
	LatencyMS       float64 `json:"latency_ms"` // the predictor's: fetch, preprocess, inference
}

// Model names the served model as name@version ("pneumonia-resnet@1").
func (p *Prediction) Model() string { return p.ModelName + "@" + p.ModelVersion }

// UploadReceipt is the answer of POST /v1/images (202 Accepted): the image
// is stored and announced; its result is published on inference.result.<arm>
// and readable with Request once predicted.
type UploadReceipt struct {
	RequestID       string `json:"request_id"`
	ImageID         string `json:"image_id"`
	ClientRequestID string `json:"client_request_id,omitempty"`
	Status          string `json:"status"` // "accepted"
}

// ImageOption sets an optional part of an image request.
type ImageOption func(*imageRequest)

type imageRequest struct {
	fileName        string
	contentType     string
	clientRequestID string
	patientID       string
	studyID         string
	raw             bool
}

// FileName names the image (sent as the multipart file name; recorded in the
// bronze table). Its extension also helps detect the media type.
func FileName(name string) ImageOption { return func(r *imageRequest) { r.fileName = name } }

// ContentType overrides the detected media type (see DetectMediaType).
func ContentType(mediaType string) ImageOption {
	return func(r *imageRequest) { r.contentType = mediaType }
}

// ClientRequestID sets the caller's own reference, echoed in the answer and
// in every event of the request.
func ClientRequestID(id string) ImageOption {
	return func(r *imageRequest) { r.clientRequestID = id }
}

// PatientID sets the patient identifier (the platform keeps only a salted
// hash, for arm stickiness). A DICOM file's own PatientID takes precedence.
func PatientID(id string) ImageOption { return func(r *imageRequest) { r.patientID = id } }

// StudyID sets the study identifier.
func StudyID(id string) ImageOption { return func(r *imageRequest) { r.studyID = id } }

// RawBody sends the image bytes as the request body with their media type
// (image/jpeg, image/png or application/dicom) and the optional fields as
// X-Client-Request-Id, X-Patient-Id and X-Study-Id headers, instead of a
// multipart form. The file name is then not sent.
func RawBody() ImageOption { return func(r *imageRequest) { r.raw = true } }

// DetectMediaType returns the media type of an image from its first bytes
// (DICOM Part 10 "DICM" marker, JPEG and PNG signatures), falling back on the
// extension of name (.dcm, .jpg, .jpeg, .png) and then on
// application/octet-stream, which the server rejects as unsupported.
func DetectMediaType(data []byte, name string) string {
	switch {
	case len(data) >= 132 && string(data[128:132]) == "DICM":
		return MediaTypeDICOM
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return MediaTypeJPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return MediaTypePNG
	}
	switch strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/"))) {
	case ".dcm", ".dicom":
		return MediaTypeDICOM
	case ".jpg", ".jpeg":
		return MediaTypeJPEG
	case ".png":
		return MediaTypePNG
	}
	return "application/octet-stream"
}

// Predict sends one image (JPEG, PNG or DICOM bytes) to POST /v1/predict and
// returns the served model's prediction once it is made. The request is
// stored, routed, logged and evaluated like any other; its RequestID is the
// key for Feedback and Request. A rejected image returns a *problem.Problem
// (ProblemUndecodable, ProblemUnsupportedFormat, ProblemTooSmall, ...); no
// answer within the server's timeout returns ProblemTimeout with the
// request_id, whose result is still published. Predict is not retried except
// after a 503 with Retry-After.
func (c *Client) Predict(ctx context.Context, image []byte, opts ...ImageOption) (*Prediction, error) {
	cl, err := imageCall(PathPredict, image, opts)
	if err != nil {
		return nil, err
	}
	var p Prediction
	if err := c.do(ctx, cl, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Upload sends one image to POST /v1/images for asynchronous prediction and
// returns once the image is stored and announced (202). Errors as Predict.
func (c *Client) Upload(ctx context.Context, image []byte, opts ...ImageOption) (*UploadReceipt, error) {
	cl, err := imageCall(PathImages, image, opts)
	if err != nil {
		return nil, err
	}
	var r UploadReceipt
	if err := c.do(ctx, cl, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// imageCall builds the request body of an image once, so that a retry sends
// the same bytes.
func imageCall(route string, image []byte, opts []ImageOption) (call, error) {
	var r imageRequest
	for _, o := range opts {
		o(&r)
	}
	mt := r.contentType
	if mt == "" {
		mt = DetectMediaType(image, r.fileName)
	}
	cl := call{method: http.MethodPost, path: route, header: http.Header{}}
	if r.raw {
		cl.body, cl.contentType = image, mt
		for h, v := range map[string]string{"X-Client-Request-Id": r.clientRequestID, "X-Patient-Id": r.patientID, "X-Study-Id": r.studyID} {
			if v != "" {
				cl.header.Set(h, v)
			}
		}
		return cl, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(image) + 1024)
	mw := multipart.NewWriter(&buf)
	name := r.fileName
	if name == "" {
		name = "image" + extensionOf(mt)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="image"; filename="`+quoteEscaper.Replace(name)+`"`)
	h.Set("Content-Type", mt)
	part, err := mw.CreatePart(h)
	if err == nil {
		_, err = part.Write(image)
	}
	for _, f := range [][2]string{{"client_request_id", r.clientRequestID}, {"patient_id", r.patientID}, {"study_id", r.studyID}} {
		if err == nil && f[1] != "" {
			err = mw.WriteField(f[0], f[1])
		}
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return call{}, fmt.Errorf("POST %s: build multipart body: %w", route, err)
	}
	cl.body, cl.contentType = buf.Bytes(), mw.FormDataContentType()
	return cl, nil
}

// quoteEscaper escapes a multipart file name as mime/multipart does.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

func extensionOf(mediaType string) string {
	switch mediaType {
	case MediaTypeJPEG:
		return ".jpeg"
	case MediaTypePNG:
		return ".png"
	case MediaTypeDICOM:
		return ".dcm"
	}
	return ""
}
