// Package preprocess turns a chest X-ray image (JPEG or PNG bytes, or a
// decoded image) into the model's input tensor. It is the one implementation
// used by both training-data export (hap tensors) and serving, so that the
// two cannot drift apart. A Spec describing the steps travels, as JSON, in
// every model's metadata.
//
// # Contract: gray-bt601 + block-mean-area
//
// Given a Spec with output size Width x Height, the tensor of an image is
// defined as follows. Every implementation (this package, a Python
// re-implementation, the libjpeg-turbo fast path) approximates this
// definition; the pure Go path computes it exactly.
//
// a. Gray source ("gray-bt601"). The image becomes an 8-bit gray image g of
// W x H pixels:
//   - 8-bit gray: as is.
//   - 16-bit gray (PNG): the high byte, v>>8.
//   - JPEG stored as YCbCr (colour JPEGs): the decoded Y (luma) channel as
//     coded, without a round trip through RGB. The encoder computed Y with
//     BT.601 weights, Y = 0.299R + 0.587G + 0.114B.
//   - Any other colour image (RGB(A) PNG, palette, CMYK): the image/color
//     GrayModel rule, Y = (19595*R + 38470*G + 7471*B + 1<<15) >> 24 with R,
//     G, B the 16-bit, alpha-premultiplied channel values (BT.601 weights
//     rounded to nearest; transparency composites over black).
//
// b. Reduction factor. r is the largest of 8, 4, 2, 1 such that
// ceil(W/r) >= Width and ceil(H/r) >= Height (r = 1 when the source is
// smaller than the output, which is then enlarged).
//
// c. Block means. The reduced image has w = ceil(W/r) by h = ceil(H/r)
// pixels. Pixel (i, j) is the mean of the r x r block of g with columns
// i*r .. i*r+r-1 and rows j*r .. j*r+r-1, where a column index >= W reads
// column W-1 and a row index >= H reads row H-1 (the right and bottom edges
// are padded by replicating the last column and row, exactly as JPEG
// encoders pad partial 8x8 blocks).
//
// d. Area resampling. The reduced w x h image is resampled to Width x Height
// by area averaging with exact fractional coverage: output pixel (X, Y)
// covers the source rectangle [X*w/Width, (X+1)*w/Width) x
// [Y*h/Height, (Y+1)*h/Height) and its value v is the mean of the reduced
// image over that rectangle, each reduced pixel weighted by the area of its
// overlap. The aspect ratio is not preserved (the image is squashed). This
// package computes the weighted sum in exact integer arithmetic (block sums
// times integer overlaps) and divides once, so v is the exact rational mean
// rounded to float64 and then to float32.
//
// e. Normalisation. Each value becomes the float32 result of
// (v*Scale - Mean) / Std, evaluated in float32 in that order. The tensor is
// laid out NCHW with N = 1 and C = 1: index Y*Width + X.
//
// # Fast path
//
// For JPEG input, when the package is built with libjpeg-turbo
// (xray/turbojpeg, the default with cgo), Decode uses libjpeg-turbo. When
// r = 8 it decodes straight at scale 1/8 in the DCT domain: each output
// pixel is the 8x8 block's DC term, i.e. the block's mean, so steps a-c
// happen inside the decoder without ever producing the full-size image
// (JPEG encoders pad partial edge blocks by replicating the last column and
// row, which is why step c pads the same way). Steps d-e then run unchanged
// on that 8-bit image. When r < 8 (small images) it decodes at full size and
// steps c-e run in Go, because libjpeg-turbo's 1/2 and 1/4 scaled IDCTs keep
// only the low frequencies and are not block means.
//
// The fast path differs from the exact definition by the rounding of the
// 1/8 output to 8 bits, the clamping of full-size pixels to 0..255 that the
// DC term does not see, and IDCT rounding differences between libjpeg-turbo
// and image/jpeg: at most 1 gray level (1/255) per value, and on average
// about 0.15 on X-ray-like images, 0.30 at worst on hard-edged content, in
// the tests (TestFastMatchesPlain gives the measurements and the bound). If
// libjpeg-turbo rejects an image, even with a mere warning such as premature
// end of data, Decode falls back to the pure Go path (image/jpeg) and
// returns that path's verdict. Builds without libjpeg-turbo (tag
// noturbojpeg, or CGO_ENABLED=0) use the exact Go path for everything.
package preprocess
