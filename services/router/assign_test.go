package router_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/router"
)

func TestAssignmentIsDeterministic(t *testing.T) {
	split := proto.Split{Champion: 50, Challenger: 50}
	for i := range 1000 {
		id := fmt.Sprintf("req-%d", i)
		b := router.Bucket("pneumonia", router.AssignmentKey(id, ""))
		if b < 0 || b >= router.Buckets {
			t.Fatalf("bucket %d out of range", b)
		}
		first := router.Arm("pneumonia", split, id, "")
		for range 3 {
			if got := router.Arm("pneumonia", split, id, ""); got != first {
				t.Fatalf("%s assigned %s then %s", id, first, got)
			}
		}
	}
}

func TestPatientStaysOnOneArm(t *testing.T) {
	split := proto.Split{Champion: 50, Challenger: 50}
	arms := map[string]int{}
	for p := range 200 {
		patient := fmt.Sprintf("patient-key-%d", p)
		want := router.Arm("pneumonia", split, "first-request", patient)
		for r := range 20 {
			if got := router.Arm("pneumonia", split, fmt.Sprintf("req-%d-%d", p, r), patient); got != want {
				t.Fatalf("patient %s: request %d went to %s, earlier ones to %s", patient, r, got, want)
			}
		}
		arms[want]++
	}
	// Stickiness must not collapse everyone onto one arm.
	if arms[proto.ArmChampion] < 60 || arms[proto.ArmChallenger] < 60 {
		t.Fatalf("200 patients split %v", arms)
	}
}

func TestSplitAccuracy(t *testing.T) {
	const n = 10000
	for _, tc := range []struct {
		split proto.Split
		tol   float64
	}{
		{proto.Split{Champion: 70, Challenger: 30}, 0.02},
		{proto.Split{Champion: 90, Challenger: 10}, 0.02},
		{proto.Split{Champion: 50, Challenger: 50}, 0.02},
		{proto.Split{Champion: 100, Challenger: 0}, 0},
		{proto.Split{Champion: 0, Challenger: 100}, 0},
	} {
		t.Run(tc.split.String(), func(t *testing.T) {
			champ := 0
			for i := range n {
				// Request ids as the ingestor makes them (UUID-shaped).
				id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i*2654435761, i, i%4096, (i*7)%4096, i*97)
				if router.Arm("pneumonia", tc.split, id, "") == proto.ArmChampion {
					champ++
				}
			}
			got := float64(champ) / n
			want := float64(tc.split.Champion) / 100
			if math.Abs(got-want) > tc.tol {
				t.Fatalf("champion share %.4f, want %.2f ± %.2f", got, want, tc.tol)
			}
		})
	}
}

func TestRaisingWeightOnlyMovesNewBuckets(t *testing.T) {
	before := proto.Split{Champion: 50, Challenger: 50}
	after := proto.Split{Champion: 60, Challenger: 40}
	for i := range 5000 {
		id := fmt.Sprintf("r%d", i)
		a, b := router.Arm("x", before, id, ""), router.Arm("x", after, id, "")
		if a == proto.ArmChampion && b != proto.ArmChampion {
			t.Fatalf("%s moved from champion to challenger when the champion weight rose", id)
		}
	}
}

func TestRoutesShadowAndSplit(t *testing.T) {
	exp := proto.Experiment{Name: "pneumonia", Mode: proto.ModeShadow, Split: proto.Split{Champion: 0, Challenger: 100}}
	routes := router.Routes(exp, "r1", "")
	if len(routes) != 2 || routes[0] != (router.Route{Arm: proto.ArmChampion, Served: true}) ||
		routes[1] != (router.Route{Arm: proto.ArmChallenger, Served: false}) {
		t.Fatalf("shadow routes = %+v", routes)
	}
	exp.Mode = proto.ModeSplit
	routes = router.Routes(exp, "r1", "")
	if len(routes) != 1 || routes[0] != (router.Route{Arm: proto.ArmChallenger, Served: true}) {
		t.Fatalf("split 0/100 routes = %+v", routes)
	}
}

func TestRequestsCarryTheEpoch(t *testing.T) {
	ev := &proto.ImageIngested{RequestID: "r1", Image: proto.ImageRef{Key: "k", SHA256: "s"}}
	for _, mode := range []string{proto.ModeSplit, proto.ModeShadow} {
		exp := proto.Experiment{Name: "pneumonia", Mode: mode, Split: proto.Split{Champion: 30, Challenger: 70}, Epoch: 7}
		reqs := router.Requests(exp, ev, time.Now())
		if len(reqs) == 0 {
			t.Fatalf("%s: no requests", mode)
		}
		for _, r := range reqs {
			if r.Epoch != 7 || r.ConfiguredSplit != exp.Split || r.Mode != mode {
				t.Errorf("%s: request to %s has epoch %d split %s mode %s, want epoch 7 30/70", mode, r.Arm, r.Epoch, r.ConfiguredSplit, r.Mode)
			}
		}
	}
}
