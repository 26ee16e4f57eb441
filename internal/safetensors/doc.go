// Package safetensors reads and writes the safetensors file format, the project's checkpoint format.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of a JSON object that maps each tensor
// name to its dtype, shape and byte range, an optional "__metadata__" object of strings, and then one byte buffer
// holding every tensor little-endian and row-major (https://github.com/huggingface/safetensors).
//
// The one call that matters for a checkpoint:
//
//	w, _ := safetensors.FromFloat64([]int{2, 3}, weights)
//	err := safetensors.WriteFile("model.safetensors", map[string]safetensors.Tensor{"fc.w": w}, nil)
//	tensors, metadata, err := safetensors.ReadFile("model.safetensors")
//
// Writers emit tensors sorted by name, contiguous, with the header padded by spaces to a multiple of 8 bytes so the
// buffer is 8-byte aligned. Readers accept any file the specification allows, but validate everything a corrupt or
// hostile file could get wrong (header size, JSON, dtypes, shapes, offsets, overlaps, holes, trailing bytes) and
// return an error; no exported function panics.
package safetensors
