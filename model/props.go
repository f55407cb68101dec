package model

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Properties returns the metadata_props of an ONNX model (key -> value), read
// straight from the protobuf without a runtime. A later entry with the same
// key wins, as in ONNX Runtime.
func Properties(onnx []byte) (map[string]string, error) {
	props := map[string]string{}
	for b := onnx; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("read model properties: not an ONNX model: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("read model properties: not an ONNX model: %w", protowire.ParseError(m))
		}
		if num == modelMetadataProps && typ == protowire.BytesType {
			entry, _ := protowire.ConsumeBytes(b[n : n+m])
			k, v, ok := entryOf(entry)
			if !ok {
				return nil, fmt.Errorf("read model properties: malformed metadata_props entry")
			}
			props[k] = v
		}
		b = b[n+m:]
	}
	return props, nil
}

// WithProperty returns a copy of the ONNX model onnx whose metadata_props
// entry key holds value (replacing every entry of that key, or appended),
// leaving the graph and every other field byte for byte as they were. It is
// how `hap models reference` stores a model's drift reference. The keys of
// the model metadata (hap.metadata, hap.name, hap.version) are refused: use
// WithMetadata, which validates them.
func WithProperty(onnx []byte, key, value string) ([]byte, error) {
	switch key {
	case "":
		return nil, fmt.Errorf("set model property: empty key")
	case MetadataKey, NameKey, VersionKey:
		return nil, fmt.Errorf("set model property %s: use WithMetadata", key)
	}
	out := make([]byte, 0, len(onnx)+len(key)+len(value)+16)
	for b := onnx; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("set model property %s: not an ONNX model: %w", key, protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("set model property %s: not an ONNX model: %w", key, protowire.ParseError(m))
		}
		field := b[:n+m]
		b = b[n+m:]
		if num == modelMetadataProps && typ == protowire.BytesType {
			entry, _ := protowire.ConsumeBytes(field[n:])
			if k, ok := entryKeyOf(entry); ok && k == key {
				continue
			}
		}
		out = append(out, field...)
	}
	return appendEntry(out, key, value), nil
}

// entryOf returns the key and value of a StringStringEntryProto.
func entryOf(entry []byte) (key, value string, ok bool) {
	for b := entry; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return "", "", false
		}
		if typ == protowire.BytesType && (num == entryKey || num == entryValue) {
			v, _ := protowire.ConsumeBytes(b[n : n+m])
			if num == entryKey {
				key = string(v)
			} else {
				value = string(v)
			}
		}
		b = b[n+m:]
	}
	return key, value, true
}
