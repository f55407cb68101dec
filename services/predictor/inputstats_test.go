package predictor_test

import (
	"math"
	"testing"

	"github.com/healthcare-ai/platform/proto"
)

// TestPredictorFillsInputStats checks that every ok result carries the
// statistics of the tensor the model ran on: the challenger fixture
// (tiny-sigmoid) computes p = sigmoid(4*mean(x) - 2), so its probability
// gives back the mean of its input, which must equal InputStats.Mean.
func TestPredictorFillsInputStats(t *testing.T) {
	h, cancel, errc := start(t)
	h.request(t, "s-1", proto.ArmChallenger, "img/s1.jpeg", jpegBytes(t, 3))
	h.request(t, "s-2", proto.ArmChampion, "img/s2.jpeg", jpegBytes(t, 5))
	h.request(t, "s-bad", proto.ArmChallenger, "img/bad.jpeg", []byte("not an image"))
	got := h.collect(t, 3)
	for _, k := range []string{"s-1/challenger", "s-2/champion"} {
		r := got[k]
		st := r.InputStats
		if r.Status != proto.StatusOK || st == nil {
			t.Fatalf("%s: status %s, input stats %v", k, r.Status, st)
		}
		if err := st.Check(); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if st.Min < st.Lo || st.Max > st.Hi || st.Mean < st.Min || st.Mean > st.Max || st.Std <= 0 {
			t.Errorf("%s: inconsistent stats %+v", k, st)
		}
	}
	r := got["s-1/challenger"]
	mean := (math.Log(r.Probability/(1-r.Probability)) + 2) / 4
	if math.Abs(mean-r.InputStats.Mean) > 1e-4 {
		t.Errorf("challenger: the model saw mean %v (from p=%v), input stats say %v", mean, r.Probability, r.InputStats.Mean)
	}
	if got["s-bad/challenger"].InputStats != nil {
		t.Errorf("failed result carries input stats")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
