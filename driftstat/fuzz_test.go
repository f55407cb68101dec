package driftstat

import (
	"encoding/json"
	"testing"

	"github.com/healthcare-ai/platform/proto"
)

func jsonMarshal(r *Reference) ([]byte, error) { return json.Marshal(r) }

// FuzzDecodeReference: DecodeReference never panics, and a reference it
// accepts can be evaluated.
func FuzzDecodeReference(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"images":1,"lo":-2,"hi":2,"means":[0],"probabilities":[0.5],` +
		`"histogram":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"schema_version":1,"images":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, err := DecodeReference(data)
		if err != nil {
			return
		}
		w := NewWindow(4)
		for range 4 {
			w.Add(true, 0.5, image2())
		}
		c := DefaultConfig()
		c.Window, c.MinWindow = 4, 1
		Evaluate(c, ref, w)
	})
}

func image2() *proto.InputStats {
	return Summarize([]float32{-1, 0, 1, 1.5}, -2, 2)
}
