package serving

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// MaxTensorDepth bounds the nesting of a JSON tensor (a batch of images is 4
// deep; nothing the models take is deeper).
const MaxTensorDepth = 8

// Tensor is a JSON array decoded by DecodeTensor: numbers or strings nested
// to a rectangular shape, flattened in row-major order.
type Tensor struct {
	// Shape is the nesting: [2, 64, 64] for two arrays of 64 arrays of 64
	// values; [0] for [].
	Shape []int
	// Floats holds the values when the leaves are numbers (each a finite
	// float32), Strings when they are strings; at most one is non-nil.
	Floats  []float32
	Strings []string
}

// Len returns the number of leaves.
func (t Tensor) Len() int { return len(t.Floats) + len(t.Strings) }

// errTensor is wrapped by every DecodeTensor error.
var errTensor = errors.New("invalid tensor")

// DecodeTensor decodes a JSON array of numbers or of strings, nested to any
// depth up to MaxTensorDepth, into its values and shape. Arrays at the same
// depth must have the same length and every leaf must be at the deepest level
// (a rectangular tensor); numbers must be finite as float32 and leaves may not
// mix numbers and strings. The input may be surrounded by white space and
// nothing else. It never panics, whatever data holds.
func DecodeTensor(data []byte) (Tensor, error) {
	d := tensorDecoder{data: data, leafDepth: -1, deep: -1}
	for i := range d.shape {
		d.shape[i] = -1
	}
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != '[' {
		return Tensor{}, d.errorf("must be a JSON array")
	}
	if err := d.array(0); err != nil {
		return Tensor{}, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return Tensor{}, d.errorf("unexpected data after the array")
	}
	if d.leafDepth >= 0 && d.leafDepth != d.deep {
		return Tensor{}, d.errorf("not rectangular: values at depth %d, arrays at depth %d", d.leafDepth+1, d.deep+1)
	}
	t := Tensor{Shape: append([]int(nil), d.shape[:d.deep+1]...), Floats: d.floats, Strings: d.strs}
	// With equal lengths per depth and every leaf at the deepest depth, the
	// product is the number of leaves (so it cannot overflow); checked anyway.
	n := 1
	for _, s := range t.Shape {
		if s <= 0 {
			n = 0
			break
		}
		n *= s
	}
	if n != t.Len() {
		return Tensor{}, d.errorf("not rectangular: shape %v holds %d values, found %d", t.Shape, n, t.Len())
	}
	return t, nil
}

type tensorDecoder struct {
	data      []byte
	pos       int
	shape     [MaxTensorDepth]int // length of the arrays at each depth, from the first closed; -1 before
	deep      int                 // deepest array depth opened so far
	leafDepth int                 // depth of the arrays holding leaves, -1 before the first leaf
	kind      byte                // 'n' numbers, 's' strings, 0 before the first leaf
	floats    []float32
	strs      []string
}

func (d *tensorDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", errTensor, d.pos, fmt.Sprintf(format, args...))
}

func (d *tensorDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// array decodes the array starting at d.pos (which holds '[') at depth.
func (d *tensorDecoder) array(depth int) error {
	if depth >= MaxTensorDepth {
		return d.errorf("nested deeper than %d", MaxTensorDepth)
	}
	if d.leafDepth >= 0 && d.leafDepth < depth {
		return d.errorf("not rectangular: an array where a value was expected (depth %d)", depth+1)
	}
	d.deep = max(d.deep, depth)
	d.pos++ // '['
	count := 0
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return d.closeArray(depth, 0)
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) {
			return d.errorf("unexpected end of data")
		}
		if d.data[d.pos] == '[' {
			if err := d.array(depth + 1); err != nil {
				return err
			}
		} else if err := d.leaf(depth); err != nil {
			return err
		}
		count++
		d.skipSpace()
		if d.pos >= len(d.data) {
			return d.errorf("unexpected end of data")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return d.closeArray(depth, count)
		default:
			return d.errorf("want ',' or ']', found %q", d.data[d.pos])
		}
	}
}

// closeArray checks that an array of count elements at depth has the length
// of the first array seen at that depth.
func (d *tensorDecoder) closeArray(depth, count int) error {
	switch {
	case d.shape[depth] < 0:
		d.shape[depth] = count
	case d.shape[depth] != count:
		return d.errorf("not rectangular: an array at depth %d has %d elements, an earlier one %d", depth+1, count, d.shape[depth])
	}
	return nil
}

// leaf decodes one number or string inside an array at depth.
func (d *tensorDecoder) leaf(depth int) error {
	switch {
	case d.leafDepth < 0:
		if d.deep > depth {
			return d.errorf("not rectangular: a value where an array was expected (depth %d)", depth+1)
		}
		d.leafDepth = depth
	case d.leafDepth != depth:
		return d.errorf("not rectangular: a value at depth %d, earlier values at depth %d", depth+1, d.leafDepth+1)
	}
	if d.data[d.pos] == '"' {
		if d.kind == 'n' {
			return d.errorf("mixes numbers and strings")
		}
		d.kind = 's'
		return d.str()
	}
	if d.kind == 's' {
		return d.errorf("mixes numbers and strings")
	}
	d.kind = 'n'
	return d.number()
}

// number decodes a JSON number as a finite float32.
func (d *tensorDecoder) number() error {
	start := d.pos
	i := d.pos
	b := d.data
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return d.valueError(start)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return d.valueError(start)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return d.valueError(start)
		}
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 32)
	if err != nil || math.IsInf(f, 0) {
		d.pos = start
		return d.errorf("%s is not a finite FP32 number", b[start:i])
	}
	d.floats = append(d.floats, float32(f))
	d.pos = i
	return nil
}

func (d *tensorDecoder) valueError(start int) error {
	d.pos = start
	end := min(start+16, len(d.data))
	return d.errorf("want a number or a string, found %q", d.data[start:end])
}

// str decodes a JSON string. Strings without escapes or control characters
// (base64 images: the common case, and large) are copied as they are;
// others are decoded by encoding/json.
func (d *tensorDecoder) str() error {
	start := d.pos
	plain := true
	for i := d.pos + 1; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '\\':
			plain = false
			i++ // skip the escaped byte; json.Unmarshal checks the escape
		case c < 0x20:
			plain = false
		case c == '"':
			tok := d.data[start : i+1]
			var s string
			if plain && utf8.Valid(tok) {
				s = string(tok[1 : len(tok)-1])
			} else if err := json.Unmarshal(tok, &s); err != nil {
				return d.errorf("invalid string: %v", err)
			}
			d.strs = append(d.strs, s)
			d.pos = i + 1
			return nil
		}
	}
	return d.errorf("unterminated string")
}
