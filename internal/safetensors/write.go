package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/pkg/errors"
)

// Write writes tensors and metadata (nil or empty for none) to w as one safetensors stream: tensors sorted by
// name, contiguous from offset 0, the header padded with spaces so the buffer starts 8-byte aligned. Every tensor is
// validated first (see Tensor.Validate); names must be non-empty valid UTF-8 and not "__metadata__", metadata
// keys and values valid UTF-8. Nothing is written if validation fails.
func Write(w io.Writer, tensors map[string]Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name, t := range tensors {
		switch {
		case name == "":
			return errors.New("safetensors: empty tensor name")
		case name == metadataKey:
			return errors.Errorf("safetensors: %q is reserved, not a tensor name", metadataKey)
		case !utf8.ValidString(name):
			return errors.Errorf("safetensors: tensor name %q is not valid UTF-8", name)
		}
		if err := t.Validate(); err != nil {
			return errors.Wrapf(err, "safetensors: tensor %q", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return errors.Errorf("safetensors: metadata %q: %q is not valid UTF-8", k, v)
		}
	}

	hdr := []byte{'{'}
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hdr = appendString(hdr, metadataKey)
		hdr = append(hdr, ":{"...)
		for i, k := range keys {
			if i > 0 {
				hdr = append(hdr, ',')
			}
			hdr = appendString(hdr, k)
			hdr = append(hdr, ':')
			hdr = appendString(hdr, metadata[k])
		}
		hdr = append(hdr, '}')
	}
	var offset uint64
	for i, name := range names {
		t := tensors[name]
		if i > 0 || len(metadata) > 0 {
			hdr = append(hdr, ',')
		}
		hdr = appendString(hdr, name)
		hdr = append(hdr, `:{"dtype":`...)
		hdr = appendString(hdr, string(t.DType))
		hdr = append(hdr, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				hdr = append(hdr, ',')
			}
			hdr = strconv.AppendInt(hdr, int64(d), 10)
		}
		hdr = append(hdr, `],"data_offsets":[`...)
		hdr = strconv.AppendUint(hdr, offset, 10)
		hdr = append(hdr, ',')
		offset += uint64(len(t.Data))
		hdr = strconv.AppendUint(hdr, offset, 10)
		hdr = append(hdr, "]}"...)
	}
	hdr = append(hdr, '}')
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	if len(hdr) > MaxHeaderSize {
		return errors.Errorf("safetensors: header of %d bytes exceeds the readers' cap of %d", len(hdr), MaxHeaderSize)
	}

	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return errors.Wrap(err, "safetensors: writing header length")
	}
	if _, err := w.Write(hdr); err != nil {
		return errors.Wrap(err, "safetensors: writing header")
	}
	for _, name := range names {
		if _, err := w.Write(tensors[name].Data); err != nil {
			return errors.Wrapf(err, "safetensors: writing tensor %q", name)
		}
	}
	return nil
}

// appendString appends s as a JSON string, leaving <, > and & unescaped (encoding/json would write \u003c).
func appendString(dst []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a valid UTF-8 string always encodes
	return append(dst, bytes.TrimRight(b.Bytes(), "\n")...)
}

// WriteFile writes tensors and metadata to path (see Write) atomically: it writes and syncs a temporary file in
// the same directory, then renames it over path, so a crash leaves either the old file or the new one, never a
// half-written checkpoint. The file gets mode 0644.
func WriteFile(path string, tensors map[string]Tensor, metadata map[string]string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return errors.Wrap(err, "safetensors")
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := Write(bw, tensors, metadata); err != nil {
		return errors.Wrapf(err, "writing %s", path)
	}
	if err := bw.Flush(); err != nil {
		return errors.Wrapf(err, "safetensors: writing %s", path)
	}
	if err := f.Chmod(0o644); err != nil {
		return errors.Wrapf(err, "safetensors: %s", path)
	}
	if err := f.Sync(); err != nil {
		return errors.Wrapf(err, "safetensors: syncing %s", path)
	}
	if err := f.Close(); err != nil {
		return errors.Wrapf(err, "safetensors: closing %s", path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Wrapf(err, "safetensors: renaming into %s", path)
	}
	// Make the rename itself durable; a directory that cannot be synced (some filesystems) is not an error.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
