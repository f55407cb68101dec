package serving

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestDecodeTensor(t *testing.T) {
	for _, tc := range []struct {
		in      string
		shape   []int
		floats  []float32
		strings []string
	}{
		{`[1, 2.5, -3e2, 0]`, []int{4}, []float32{1, 2.5, -300, 0}, nil},
		{` [[1,2],[3,4],[5,6]] `, []int{3, 2}, []float32{1, 2, 3, 4, 5, 6}, nil},
		{`[[[0.25]]]`, []int{1, 1, 1}, []float32{0.25}, nil},
		{`[]`, []int{0}, nil, nil},
		{`[[],[]]`, []int{2, 0}, nil, nil},
		{`["aGk=", "\u0041"]`, []int{2}, nil, []string{"aGk=", "A"}},
		{`[["a"],["b"]]`, []int{2, 1}, nil, []string{"a", "b"}},
		{`[1e-50]`, []int{1}, []float32{0}, nil}, // underflows to 0: fine
	} {
		got, err := DecodeTensor([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !slices.Equal(got.Shape, tc.shape) || !slices.Equal(got.Floats, tc.floats) || !slices.Equal(got.Strings, tc.strings) {
			t.Errorf("%s: got %+v, want shape %v floats %v strings %q", tc.in, got, tc.shape, tc.floats, tc.strings)
		}
	}
	for _, in := range []string{
		``, `1`, `{"a":1}`, `[1,2`, `[1,,2]`, `[1 2]`, `[[1,2],[3]]`, `[[1,2],3]`, `[1,[2,3]]`, `[[1],[[2]]]`,
		`[[[2]],[1]]`, `[[],[1]]`, `[1,"a"]`, `["a",1]`, `[true]`, `[null]`, `[NaN]`, `[Infinity]`, `[1e39]`,
		`[-1e39]`, `[01]`, `[1.]`, `[.5]`, `[+1]`, `[0x10]`, `[1e]`, `[-]`, `["abc]`, `["\x"]`, `[1] x`,
		`[[[[[[[[[1]]]]]]]]]`,
	} {
		if got, err := DecodeTensor([]byte(in)); err == nil {
			t.Errorf("%s: decoded %+v, want an error", in, got)
		} else if !errors.Is(err, errTensor) {
			t.Errorf("%s: error %v does not wrap errTensor", in, err)
		}
	}
}

// FuzzDecodeTensor: DecodeTensor never panics; what it accepts is
// rectangular and agrees with encoding/json.
func FuzzDecodeTensor(f *testing.F) {
	for _, s := range []string{`[1,2,3]`, `[[1,2],[3,4]]`, `[[[0.5e-3]]]`, `["a","b"]`, `[]`, `[[],[]]`,
		`[[1],[2,3]]`, `[1,"a"]`, `[-0.0, 1E+2, 3.4028235e38]`, `[[["\u00e9"]]]`, ` [ 1 , 2 ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeTensor(data)
		if err != nil {
			return
		}
		n := 1
		for _, d := range got.Shape {
			n *= d
		}
		if n != got.Len() || got.Floats != nil && got.Strings != nil || len(got.Shape) == 0 || len(got.Shape) > MaxTensorDepth {
			t.Fatalf("%q: inconsistent tensor %+v", data, got)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%q: accepted, but encoding/json says %v", data, err)
		}
	})
}

// FuzzRequestBodies: the Open Inference Protocol and MLflow body decoders
// never panic and either fail with a problem or give parts that agree with
// their shapes.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,2,2],"data":[1,2,3,4]}]}`,
		`{"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,2,2],"data":[[[[1,2],[3,4]]]]}]}`,
		`{"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[1],"data":["aGVsbG8="]}]}`,
		`{"inputs":[[1,2],[3,4]]}`,
		`{"inputs":{"image":[[1,2],[3,4]],"image_base64":["aGk="]}}`,
		`{"instances":[[[1,2],[3,4]],{"image_base64":"aGk="}]}`,
		`{"dataframe_split":{"columns":["image","image_path"],"data":[[[[1]],null],[null,"a.png"]]}}`,
		`{"dataframe_records":[{"image_uri":"data:image/png;base64,aGk="},{"image":[[1]]}]}`,
	} {
		f.Add([]byte(s))
	}
	srv := &Server{cfg: DefaultConfig()}
	names := []string{"image"}
	check := func(t *testing.T, data []byte, parts []part, err error) {
		if err != nil {
			var p interface{ Slug() string }
			if !errors.As(err, &p) {
				t.Fatalf("%q: error %v is not a problem", data, err)
			}
			return
		}
		for _, p := range parts {
			if p.isImage {
				continue
			}
			n := 1
			for _, d := range p.shape {
				n *= d
			}
			if n != len(p.values) {
				t.Fatalf("%q: part %s shape %v with %d values", data, p.field, p.shape, len(p.values))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req InferRequest
		if err := decodeJSON(data, &req); err == nil {
			parts, err := oipParts(&req, names, 1<<20)
			check(t, data, parts, err)
		}
		parts, err := srv.mlflowParts(data, names)
		check(t, data, parts, err)
	})
}
