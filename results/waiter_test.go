package results_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/results"
)

func TestWaiterDeliversServedResultOnly(t *testing.T) {
	env := bustest.Start(t)
	w, err := results.NewWaiter(env.Conn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wait := w.Expect("r1")
	shadow := &proto.InferenceResult{RequestID: "r1", Arm: proto.ArmChallenger, Served: false, Status: proto.StatusOK, Label: proto.LabelNormal}
	served := &proto.InferenceResult{RequestID: "r1", Arm: proto.ArmChampion, Served: true, Status: proto.StatusOK, Label: proto.LabelPneumonia, Probability: 0.9}
	other := &proto.InferenceResult{RequestID: "r2", Arm: proto.ArmChampion, Served: true, Status: proto.StatusOK, Label: proto.LabelNormal}
	for _, r := range []*proto.InferenceResult{other, shadow, served} {
		if _, err := bus.Publish(t.Context(), env.JS, proto.InferenceResultSubject(r.Arm), r); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got, err := wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arm != proto.ArmChampion || got.Label != proto.LabelPneumonia {
		t.Errorf("got %+v, want the served champion result", got)
	}
	short, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if _, err := w.Expect("never")(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a result that never comes: %v, want deadline exceeded", err)
	}
}
