package preprocess_test

import (
	"fmt"
	"testing"

	"github.com/healthcare-ai/platform/xray/preprocess"
	"github.com/healthcare-ai/platform/xray/turbojpeg"
)

// BenchmarkDecode measures bytes -> 64x64 tensor for grayscale JPEGs at
// quality 90, X-ray-like with grain (noise sigma 8, about 0.32 bytes per
// pixel: 333 KB at 1024x1024) and smooth (about 0.03 bytes per pixel: 35 KB),
// which bracket real radiographs: the libjpeg-turbo fast path against the
// pure Go path.
func BenchmarkDecode(b *testing.B) {
	spec := preprocess.DefaultSpec(64)
	for _, tc := range []struct {
		kind string
		w, h int
	}{{xray, 1024, 1024}, {xray, 1500, 1800}, {smooth, 1024, 1024}, {smooth, 1500, 1800}} {
		sz := [2]int{tc.w, tc.h}
		data := encodeJPEG(b, genGray(tc.kind, sz[0], sz[1], 1), 90)
		for _, p := range []preprocess.Path{preprocess.PathTurbo, preprocess.PathGo} {
			b.Run(fmt.Sprintf("%s/%dx%d/%v", tc.kind, sz[0], sz[1], p), func(b *testing.B) {
				if p == preprocess.PathTurbo && !preprocess.FastAvailable {
					b.Skip("built without libjpeg-turbo")
				}
				dst := make([]float32, spec.Len())
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := spec.DecodeUsing(p, dst, data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("%s/%dx%d/turbojpeg-full-size-only", tc.kind, sz[0], sz[1]), func(b *testing.B) {
			if !turbojpeg.Available {
				b.Skip("built without libjpeg-turbo")
			}
			b.ReportAllocs()
			g, _, _ := turbojpeg.DecodeGrayInto(nil, data, 1)
			for b.Loop() {
				if _, _, err := turbojpeg.DecodeGrayInto(g, data, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeParallel is the fast path with all cores busy, as in the
// tensor export and a busy server.
func BenchmarkDecodeParallel(b *testing.B) {
	spec := preprocess.DefaultSpec(64)
	data := encodeJPEG(b, genGray(xray, 1024, 1024, 1), 90)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]float32, spec.Len())
		for pb.Next() {
			if _, err := spec.DecodeInto(dst, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTensor is steps b-e alone on a decoded 1024x1024 image.
func BenchmarkTensor(b *testing.B) {
	spec := preprocess.DefaultSpec(64)
	g := genGray(xray, 1024, 1024, 1)
	dst := make([]float32, spec.Len())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Tensor(dst, g); err != nil {
			b.Fatal(err)
		}
	}
}
