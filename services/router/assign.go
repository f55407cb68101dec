package router

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// Buckets is the number of assignment buckets; a split's weights are percent,
// so one bucket is one percent of traffic.
const Buckets = 100

// Bucket maps a key to a bucket in [0, Buckets): the first 8 bytes of
// SHA-256(experiment NUL key) modulo Buckets. It is deterministic and uniform,
// and salted with the experiment name so that two experiments split the same
// traffic independently.
func Bucket(experiment, key string) int {
	h := sha256.New()
	h.Write([]byte(experiment))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return int(binary.BigEndian.Uint64(h.Sum(sum[:0])[:8]) % Buckets)
}

// AssignmentKey is what a request is assigned by: the patient key when there
// is one, so that all images of a patient go to the same arm, else the
// request id.
func AssignmentKey(requestID, patientKey string) string {
	if patientKey != "" {
		return "patient:" + patientKey
	}
	return "request:" + requestID
}

// Arm returns the arm serving a request under split: champion when the key's
// bucket is below the champion weight, else challenger. Raising the champion
// weight from w to w' moves exactly the buckets w..w'-1 to the champion; every
// other key keeps its arm.
func Arm(experiment string, split proto.Split, requestID, patientKey string) string {
	if Bucket(experiment, AssignmentKey(requestID, patientKey)) < split.Champion {
		return proto.ArmChampion
	}
	return proto.ArmChallenger
}

// Route is one arm a request is sent to.
type Route struct {
	Arm string
	// Served is false for a shadow request: scored and logged, never
	// returned to the caller.
	Served bool
}

// Routes returns where a request goes under exp: in split mode to the one arm
// chosen by Arm; in shadow mode to both arms, the champion serving and the
// challenger in shadow, whatever the split.
func Routes(exp proto.Experiment, requestID, patientKey string) []Route {
	if exp.Mode == proto.ModeShadow {
		return []Route{{Arm: proto.ArmChampion, Served: true}, {Arm: proto.ArmChallenger, Served: false}}
	}
	return []Route{{Arm: Arm(exp.Name, exp.Split, requestID, patientKey), Served: true}}
}

// Requests builds the inference requests for an ingested image under exp,
// each recording its arm, the mode, the configured split and the epoch.
func Requests(exp proto.Experiment, ev *proto.ImageIngested, now time.Time) []proto.InferenceRequest {
	routes := Routes(exp, ev.RequestID, ev.PatientKey)
	out := make([]proto.InferenceRequest, len(routes))
	for i, r := range routes {
		out[i] = proto.InferenceRequest{
			SchemaVersion:   proto.SchemaVersion,
			RequestID:       ev.RequestID,
			ClientRequestID: ev.ClientRequestID,
			Experiment:      exp.Name,
			Arm:             r.Arm,
			Served:          r.Served,
			Mode:            exp.Mode,
			ConfiguredSplit: exp.Split,
			Epoch:           exp.Epoch,
			Image:           ev.Image,
			Source:          ev.Source,
			PatientKey:      ev.PatientKey,
			DatasetLabel:    ev.DatasetLabel,
			IngestedAt:      ev.IngestedAt,
			RoutedAt:        now,
		}
	}
	return out
}
