package ingestor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// NewRequestID returns a random request id shaped like a UUIDv4
// ("6ba7b810-9dad-41d1-80b4-00c04fd430c8"), from crypto/rand.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// FolderRequestID returns the request id of an image read from a folder: a
// UUID-shaped (version 8, RFC 9562 "custom") digest of the file's dataset path
// and the SHA-256 of its bytes. Ingesting the same folder again yields the
// same ids, so JetStream drops the repeated events by their Nats-Msg-Id within
// the stream's duplicate window, and sinks, which are idempotent on request
// id, ignore them after it. A changed file gets a new id.
func FolderRequestID(relPath, sha256Hex string) string {
	h := sha256.New()
	h.Write([]byte("hap/folder\x00"))
	h.Write([]byte(relPath))
	h.Write([]byte{0})
	h.Write([]byte(sha256Hex))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// DICOMRequestID returns the request id of a DICOM instance received over
// STOW-RS: a UUID-shaped (version 8) digest of its SOP Instance UID. A PACS
// that sends the same instance again (a retry) gets the same request id, so
// JetStream drops the repeated events by their Nats-Msg-Id and sinks, which
// are idempotent on request id, ignore them: the instance is predicted once.
func DICOMRequestID(sopInstanceUID string) string {
	return digestID("hap/dicom-sop\x00", sopInstanceUID)
}

// stowPartRequestID is the request id of a STOW-RS part without a usable SOP
// Instance UID (not DICOM, unreadable): a digest of its bytes, so that a
// retry records the same rejection once.
func stowPartRequestID(sha256Hex string) string {
	return digestID("hap/stow-part\x00", sha256Hex)
}

func digestID(domain, s string) string {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte(s))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// PatientKey returns the pseudonymous key of a patient id: hex
// HMAC-SHA256(salt, patientID). The raw id is never stored or published; the
// key is stable for a given salt, so the router can keep a patient on one arm.
// It returns "" for an empty patient id.
func PatientKey(salt, patientID string) string {
	if patientID == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(patientID))
	return hex.EncodeToString(m.Sum(nil))
}

// KeyPrefix is the folder of image objects in the blob store.
const KeyPrefix = "bronze/images"

// ImageKey returns the blob key of an image: a folder per UTC day and the
// content address, "bronze/images/date=2026-11-28/<sha256>.jpeg".
func ImageKey(day time.Time, sha256Hex, format string) string {
	return KeyPrefix + "/date=" + day.UTC().Format(time.DateOnly) + "/" + sha256Hex + "." + format
}
