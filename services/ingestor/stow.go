package ingestor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/trace"
	"github.com/healthcare-ai/platform/xray/dicom"
)

// DICOMweb STOW-RS (PS3.18 10.5, Studies Store transaction).
const (
	// RouteSTOW and RouteSTOWStudy are the STOW-RS routes, as
	// net/http.ServeMux patterns.
	RouteSTOW      = "POST /dicom-web/studies"
	RouteSTOWStudy = "POST /dicom-web/studies/{study}"

	MediaTypeDICOM     = "application/dicom"
	MediaTypeDICOMJSON = "application/dicom+json"
)

// Failure Reason (0008,1197) values of a STOW-RS response (PS3.18 Table
// I.2-2).
const (
	FailureProcessing        = 0x0110 // processing failure
	FailureSOPClass          = 0x0122 // referenced SOP class not supported: here, a modality other than CR/DX
	FailureOutOfResources    = 0xA700 // too large, or storage/NATS unavailable (retry later)
	FailureCannotUnderstand  = 0xC000 // not DICOM, malformed, unsupported pixel encoding
	FailureTransferSyntax    = 0xC122 // referenced transfer syntax not supported
	FailureStudyUIDMismatch  = 0xC409 // implementation specific (Cxxx): StudyInstanceUID differs from the URL's
	stowDefaultFailureReason = FailureCannotUnderstand
)

// DICOM JSON attribute tags of the Store Instances Response Module (PS3.18
// Annex I).
const (
	tagRetrieveURL         = "00081190"
	tagFailedSOPSequence   = "00081198"
	tagReferencedSOPSeq    = "00081199"
	tagFailureReason       = "00081197"
	tagReferencedSOPClass  = "00081150"
	tagReferencedSOPInstUI = "00081155"
)

// errStudyMismatch is the cause of the rejection of an instance whose study
// is not the one in the request URL.
var errStudyMismatch = errors.New("study instance UID mismatch")

// dicomJSON is one attribute of the DICOM JSON model (PS3.18 F.2).
type dicomJSON struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value,omitempty"`
}

func uiAttr(v string) dicomJSON {
	if v == "" {
		return dicomJSON{VR: "UI"}
	}
	return dicomJSON{VR: "UI", Value: []any{v}}
}

// stowInstance is the outcome of one part of a STOW-RS request.
type stowInstance struct {
	sopClass, sopInstance string
	requestID             string
	failure               int  // 0 when stored
	temporary             bool // failed because the store or NATS was unavailable
}

func (i stowInstance) item() map[string]dicomJSON {
	m := map[string]dicomJSON{
		tagReferencedSOPClass:  uiAttr(i.sopClass),
		tagReferencedSOPInstUI: uiAttr(i.sopInstance),
	}
	if i.failure != 0 {
		m[tagFailureReason] = dicomJSON{VR: "US", Value: []any{i.failure}}
	} else {
		// Type 2: this service offers no WADO-RS retrieval.
		m[tagRetrieveURL] = dicomJSON{VR: "UR"}
	}
	return m
}

// STOWHandler serves DICOMweb STOW-RS for a PACS (Orthanc's DicomWeb.Servers,
// dcm4chee, ...):
//
//	POST /dicom-web/studies
//	POST /dicom-web/studies/{study}
//
// The body is multipart/related; type="application/dicom", one DICOM Part 10
// instance per part. Each part goes through the same ingestion as any image
// (IngestBytes with source "pacs"): a CR or DX image is decoded, stored as a
// de-identified PNG and announced on xray.ingested, from where it is routed
// and predicted; anything else is recorded on xray.rejected with the reason.
// The request id of an instance is DICOMRequestID(SOPInstanceUID), so a PACS
// that resends an instance does not get it predicted twice. With {study},
// an instance of another study is refused (failure reason 0xC409).
//
// The answer is a Store Instances Response Module in DICOM JSON
// (application/dicom+json): ReferencedSOPSequence (0008,1199) for the stored
// instances, FailedSOPSequence (0008,1198) with FailureReason (0008,1197) for
// the others (0xC122 transfer syntax, 0x0122 modality, 0xC000 not DICOM or
// undecodable, 0xA700 too large or temporarily unable to store, 0xC409 study
// mismatch, 0x0110 other). Status: 200 all stored; 202 some stored, some
// failed; 409 none stored; 503 none stored because the blob store or NATS is
// unavailable (retry); 400 a malformed request or no instance; 406 an Accept
// header without application/dicom+json; 413 a body over StowMaxBytes; 415 a
// Content-Type other than multipart/related; type="application/dicom".
func (s *Service) STOWHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteSTOW, s.handleSTOW)
	mux.HandleFunc(RouteSTOWStudy, s.handleSTOW)
	return mux
}

func (s *Service) handleSTOW(w http.ResponseWriter, r *http.Request) {
	study := r.PathValue("study")
	if study != "" && !validUID(study) {
		writeProblem(w, http.StatusBadRequest, proto.RejectInvalid, fmt.Sprintf("study %q in the URL: not a valid UID", truncate(study, 80)), "")
		return
	}
	if !acceptsDICOMJSON(r.Header.Values("Accept")) {
		writeProblem(w, http.StatusNotAcceptable, proto.RejectFormat, fmt.Sprintf("Accept %q: this STOW-RS service answers in %s only", strings.Join(r.Header.Values("Accept"), ", "), MediaTypeDICOMJSON), "")
		return
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/related" {
		writeProblem(w, http.StatusUnsupportedMediaType, proto.RejectFormat, fmt.Sprintf("Content-Type %q: must be multipart/related; type=\"application/dicom\"", ct), "")
		return
	}
	if t := strings.ToLower(params["type"]); t != "" && t != MediaTypeDICOM {
		writeProblem(w, http.StatusUnsupportedMediaType, proto.RejectFormat, fmt.Sprintf("Content-Type type=%q: only %q parts (DICOM Part 10 files) are supported, not metadata with bulk data", params["type"], MediaTypeDICOM), "")
		return
	}
	if params["boundary"] == "" {
		writeProblem(w, http.StatusBadRequest, proto.RejectInvalid, "Content-Type multipart/related: boundary parameter missing", "")
		return
	}
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	case <-r.Context().Done():
		return
	}
	// Once a part is read, finish ingesting it even if the client goes away:
	// the stored image and its event must agree.
	ctx := trace.NewContext(context.WithoutCancel(r.Context()), traceOf(r))
	body := http.MaxBytesReader(w, r.Body, s.cfg.StowMaxBytes)
	mr := multipart.NewReader(body, params["boundary"])

	var (
		results []stowInstance
		bodyErr error
	)
	for n := 1; ; n++ {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bodyErr = err
			break
		}
		if n > s.cfg.StowMaxInstances {
			_ = part.Close()
			bodyErr = fmt.Errorf("more than %d instances in one request", s.cfg.StowMaxInstances)
			break
		}
		res := s.stowPart(ctx, part, n, study)
		_ = part.Close()
		results = append(results, res)
	}

	var stored, failed []map[string]dicomJSON
	temporary := 0
	for _, res := range results {
		if res.failure == 0 {
			stored = append(stored, res.item())
			continue
		}
		failed = append(failed, res.item())
		if res.temporary {
			temporary++
		}
	}
	log := s.log.With("stored", len(stored), "failed", len(failed), "study_in_url", study != "")
	if bodyErr != nil && len(results) == 0 {
		var tooBig *http.MaxBytesError
		if errors.As(bodyErr, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, proto.RejectTooLarge, fmt.Sprintf("request body larger than %d bytes", s.cfg.StowMaxBytes), "")
			return
		}
		log.Warn("stow request rejected", "err", bodyErr)
		writeProblem(w, http.StatusBadRequest, proto.RejectInvalid, "multipart body: "+bodyErr.Error(), "")
		return
	}
	if len(results) == 0 {
		writeProblem(w, http.StatusBadRequest, proto.RejectMissing, "multipart body has no part: send one application/dicom part per instance", "")
		return
	}
	status := http.StatusOK
	switch {
	case len(failed) == 0 && bodyErr == nil:
	case len(stored) > 0:
		status = http.StatusAccepted
	case temporary == len(failed):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	default:
		status = http.StatusConflict
	}
	if bodyErr != nil {
		// Parts before the error were processed and are reported; the rest
		// of the body could not be read.
		log.Warn("stow body ended early", "err", bodyErr)
	}
	resp := map[string]dicomJSON{tagRetrieveURL: {VR: "UR"}}
	if len(stored) > 0 {
		resp[tagReferencedSOPSeq] = dicomJSON{VR: "SQ", Value: toAny(stored)}
	}
	if len(failed) > 0 {
		resp[tagFailedSOPSequence] = dicomJSON{VR: "SQ", Value: toAny(failed)}
	}
	log.Info("stow request", "status", status)
	w.Header().Set("Content-Type", MediaTypeDICOMJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

func toAny(items []map[string]dicomJSON) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

// stowPart reads and ingests part n of a STOW-RS request.
func (s *Service) stowPart(ctx context.Context, part *multipart.Part, n int, study string) stowInstance {
	what := fmt.Sprintf("STOW-RS part %d", n)
	data, code, reason := s.readLimited(part, what)
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	if code == "" && len(data) == 0 {
		code, reason = proto.RejectMissing, what+": empty"
	}
	if ct := part.Header.Get("Content-Type"); code == "" && ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != MediaTypeDICOM {
			code, reason = proto.RejectFormat, fmt.Sprintf("%s: Content-Type %q: must be %s", what, ct, MediaTypeDICOM)
		}
	}
	if code == "" && !dicom.IsDICOM(data) {
		code, reason = proto.RejectFormat, fmt.Sprintf("%s: not a DICOM Part 10 file (no \"DICM\" after the 128-byte preamble)", what)
	}
	// The instance's UIDs name it in the response and key its request id.
	var attrs dicom.Attributes
	if code == "" {
		var err error
		attrs, err = dicom.ReadAttributes(data, s.dicomOptions())
		var de *dicom.Error
		if errors.As(err, &de) {
			attrs = de.Attributes
		}
	}
	res := stowInstance{sopClass: attrs.SOPClassUID, sopInstance: attrs.SOPInstanceUID}
	meta := Meta{Source: proto.SourcePACS, RequestID: stowPartRequestID(sum)}
	if data == nil {
		meta.RequestID = NewRequestID() // not read (too large): nothing to derive an id from
	}
	if attrs.SOPInstanceUID != "" {
		meta.RequestID = DICOMRequestID(attrs.SOPInstanceUID)
		meta.FileName = attrs.SOPInstanceUID + ".dcm"
	}
	res.requestID = meta.RequestID
	var cause error
	if code == "" && study != "" && attrs.StudyInstanceUID != "" && attrs.StudyInstanceUID != study {
		code, reason = proto.RejectInvalid, fmt.Sprintf("StudyInstanceUID %s differs from the study %s of the request URL", attrs.StudyInstanceUID, study)
		cause = errStudyMismatch
	}

	var err error
	if code != "" {
		err = s.rejectCause(ctx, meta, int64(len(data)), sum, code, reason, cause)
	} else {
		_, _, err = s.ingest(ctx, data, sum, meta)
	}
	var rej *Rejection
	switch {
	case err == nil:
		return res
	case errors.As(err, &rej):
		res.failure = failureReason(rej)
	default:
		// The blob store or NATS failed (or the metadata is unusable, which
		// cannot happen here): nothing was announced; the PACS may retry.
		s.log.Error("stow instance not stored", attrRequestID, meta.RequestID, "err", err)
		res.failure, res.temporary = FailureOutOfResources, true
	}
	return res
}

// failureReason maps a rejection to a STOW-RS Failure Reason.
func failureReason(rej *Rejection) int {
	var de *dicom.Error
	if errors.As(rej, &de) {
		switch {
		case de.Field == dicom.FieldTransferSyntax:
			return FailureTransferSyntax
		case de.Field == dicom.FieldModality:
			return FailureSOPClass
		case errors.Is(de, dicom.ErrTooLarge):
			return FailureOutOfResources
		}
		return FailureCannotUnderstand
	}
	if errors.Is(rej, errStudyMismatch) {
		return FailureStudyUIDMismatch
	}
	switch rej.Code() {
	case proto.RejectTooLarge:
		return FailureOutOfResources
	case proto.RejectInvalid, proto.RejectTooSmall:
		return FailureProcessing
	}
	return stowDefaultFailureReason
}

// acceptsDICOMJSON reports whether an Accept header allows a DICOM JSON
// answer (no header does).
func acceptsDICOMJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err != nil {
				continue
			}
			switch mt {
			case MediaTypeDICOMJSON, "application/json", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

// validUID reports whether s is a DICOM UID: 1-64 digits and dots.
func validUID(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}
