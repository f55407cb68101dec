package model

import (
	"encoding/json"

	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX ModelProto and StringStringEntryProto field numbers (onnx.proto).
const (
	modelMetadataProps = 14
	entryKey           = 1
	entryValue         = 2
)

// WithMetadata returns a copy of the ONNX model onnx whose hap.metadata,
// hap.name and hap.version entries say md, leaving the graph and every other
// field byte for byte as they were. It is how an operator re-thresholds a
// model without retraining (a new version with another threshold) and how the
// demo makes a deliberately degraded challenger. md must pass Validate.
func WithMetadata(onnx []byte, md Metadata) ([]byte, error) {
	if err := md.Validate(); err != nil {
		return nil, fmt.Errorf("rewrite model metadata: %w", err)
	}
	js, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("rewrite model metadata: %w", err)
	}
	replace := map[string]string{MetadataKey: string(js), NameKey: md.Name, VersionKey: md.Version}
	out := make([]byte, 0, len(onnx)+len(js))
	found := false
	for b := onnx; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("rewrite model metadata: not an ONNX model: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("rewrite model metadata: not an ONNX model: %w", protowire.ParseError(m))
		}
		field := b[:n+m]
		b = b[n+m:]
		if num == modelMetadataProps && typ == protowire.BytesType {
			entry, _ := protowire.ConsumeBytes(field[n:])
			key, ok := entryKeyOf(entry)
			if ok {
				if v, ok := replace[key]; ok {
					found = found || key == MetadataKey
					delete(replace, key)
					out = appendEntry(out, key, v)
					continue
				}
			}
		}
		out = append(out, field...)
	}
	if !found {
		return nil, fmt.Errorf("rewrite model metadata: %w", ErrNoMetadata)
	}
	for _, k := range []string{NameKey, VersionKey} { // entries the model lacked
		if v, ok := replace[k]; ok {
			out = appendEntry(out, k, v)
		}
	}
	return out, nil
}

func entryKeyOf(entry []byte) (string, bool) {
	for b := entry; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		if num == entryKey && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[n:])
			if m < 0 {
				return "", false
			}
			return string(v), true
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return "", false
		}
		b = b[n+m:]
	}
	return "", false
}

func appendEntry(out []byte, key, value string) []byte {
	var e []byte
	e = protowire.AppendTag(e, entryKey, protowire.BytesType)
	e = protowire.AppendString(e, key)
	e = protowire.AppendTag(e, entryValue, protowire.BytesType)
	e = protowire.AppendString(e, value)
	out = protowire.AppendTag(out, modelMetadataProps, protowire.BytesType)
	return protowire.AppendBytes(out, e)
}
