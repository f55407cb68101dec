package synth

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

// BenchmarkGenerate measures one image at the default size range: sampling,
// rendering and JPEG encoding (no file I/O).
func BenchmarkGenerate(b *testing.B) {
	o := DefaultOptions()
	slots := plan(o)
	var rd renderer
	var img *image.Gray
	var buf bytes.Buffer
	pixels := 0
	i := 0
	for b.Loop() {
		sc := sampleScene(o, slots[i%len(slots)])
		i++
		img = rd.render(sc, true, img)
		buf.Reset()
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: o.Quality}); err != nil {
			b.Fatal(err)
		}
		pixels += sc.w * sc.h
	}
	b.ReportMetric(float64(pixels)/float64(b.N)/1e6, "MP/img")
}

// BenchmarkRender is BenchmarkGenerate without the JPEG encoder.
func BenchmarkRender(b *testing.B) {
	o := DefaultOptions()
	slots := plan(o)
	var rd renderer
	var img *image.Gray
	i := 0
	for b.Loop() {
		sc := sampleScene(o, slots[i%len(slots)])
		i++
		img = rd.render(sc, true, img)
	}
}

func BenchmarkStages(b *testing.B) {
	o := DefaultOptions()
	sc := sampleScene(o, plan(o)[1])
	var rd renderer
	img := rd.render(sc, true, nil)
	b.Logf("%dx%d grid %dx%d", sc.w, sc.h, rd.g.w, rd.g.h)
	tex := newValueNoiseSeeded(sc.texSeed)
	b.Run("base", func(b *testing.B) {
		for b.Loop() {
			rd.base(sc, tex)
		}
	})
	b.Run("bones", func(b *testing.B) {
		for b.Loop() {
			rd.bones(sc)
		}
	})
	b.Run("tone", func(b *testing.B) {
		for b.Loop() {
			rd.tone(sc)
		}
	})
	b.Run("sharpen", func(b *testing.B) {
		for b.Loop() {
			rd.sharpen(sc)
		}
	})
	b.Run("fullRes", func(b *testing.B) {
		for b.Loop() {
			rd.fullRes(sc, img)
		}
	})
}
