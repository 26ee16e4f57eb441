package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/pkg/errors"
)

// MaxHeaderSize is the largest JSON header Read accepts (100 MB, the official implementation's cap). A larger
// claimed length is taken as corruption before anything is allocated for it.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key of the string metadata.
const metadataKey = "__metadata__"

// Read parses a whole safetensors stream: it returns the tensors by name and the metadata (nil if the header has
// none). The stream must end exactly where the byte buffer does. Every tensor's Data aliases one buffer that Read
// allocates. Read grows that buffer as bytes arrive, so a header that claims more data than the stream holds fails
// with an error rather than a giant allocation. Any violation of the format is an error; Read never panics.
func Read(r io.Reader) (map[string]Tensor, map[string]string, error) {
	return read(r, -1)
}

// ReadFile reads the safetensors file at path (see Read); errors name the file. The file's size is checked against
// the header before the buffer is read.
func ReadFile(path string) (map[string]Tensor, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, errors.Wrap(err, "safetensors")
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	tensors, meta, err := read(f, size)
	if err != nil {
		return nil, nil, errors.Wrapf(err, "safetensors: %s", path)
	}
	return tensors, meta, nil
}

// entry is one tensor's header record while the header is validated.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
}

// read implements Read; size is the total stream length when known, else -1.
func read(r io.Reader, size int64) (map[string]Tensor, map[string]string, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, nil, errors.Wrap(noEOF(err), "reading header length")
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, nil, errors.Errorf("header length %d exceeds the cap of %d bytes", n, MaxHeaderSize)
	}
	if size >= 0 && n > uint64(size-8) {
		return nil, nil, errors.Errorf("header length %d exceeds the %d bytes after the length prefix", n, size-8)
	}
	hdr, err := readN(r, int(n))
	if err != nil {
		return nil, nil, errors.Wrapf(err, "reading %d-byte header", n)
	}
	entries, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, nil, errors.Wrap(err, "header")
	}
	total, err := checkLayout(entries)
	if err != nil {
		return nil, nil, errors.Wrap(err, "header")
	}
	if size >= 0 && uint64(size-8)-n != total {
		return nil, nil, errors.Errorf("header describes a %d-byte buffer, the file holds %d bytes after the header",
			total, uint64(size-8)-n)
	}
	if total > uint64(maxInt) {
		return nil, nil, errors.Errorf("header describes a %d-byte buffer, more than this platform addresses", total)
	}
	buf, err := readN(r, int(total))
	if err != nil {
		return nil, nil, errors.Wrapf(err, "reading %d-byte buffer", total)
	}
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k != 0 {
		return nil, nil, errors.Errorf("trailing bytes after the %d-byte buffer", total)
	}
	tensors := make(map[string]Tensor, len(entries))
	for _, e := range entries {
		tensors[e.name] = Tensor{DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
	}
	return tensors, meta, nil
}

const maxInt = int(^uint(0) >> 1)

// noEOF turns an early end of stream into io.ErrUnexpectedEOF: inside a file any end is premature.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readN reads exactly n bytes. It allocates at most 1 MiB up front and doubles as data arrives, so a corrupt
// length in a short stream costs at most twice the stream's real size.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, 1<<20))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, errors.Wrapf(noEOF(err), "got %d of %d bytes", len(buf), n)
		}
	}
	return buf, nil
}

// parseHeader decodes the JSON header strictly: duplicate keys (at any level), unknown fields, wrong JSON types,
// unknown dtypes, negative or fractional numbers and anything after the object but whitespace are errors.
func parseHeader(hdr []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("not valid UTF-8")
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, errors.New("does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	var (
		entries []entry
		meta    map[string]string
	)
	err := readObject(dec, func(key string) error {
		if key == metadataKey {
			m, err := parseMetadata(dec)
			if err != nil {
				return errors.Wrap(err, metadataKey)
			}
			meta = m
			return nil
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return errors.Wrapf(err, "tensor %q", key)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, nil, errors.New("bytes other than padding after the JSON object")
	}
	return entries, meta, nil
}

// readObject consumes one JSON object from dec, calling field for each key with dec positioned at its value.
// Duplicate keys are an error (encoding/json would silently keep the last one).
func readObject(dec *json.Decoder, field func(key string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.Wrap(err, "invalid JSON")
	}
	if tok != json.Delim('{') {
		return errors.Errorf("expected a JSON object, found %v", tok)
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.Wrap(err, "invalid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return errors.Errorf("expected an object key, found %v", tok)
		}
		if seen[key] {
			return errors.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		if err := field(key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}': More returned false, so it is that or an error
		return errors.Wrap(err, "invalid JSON")
	}
	return nil
}

// parseMetadata decodes the metadata object: string values only (null means no metadata).
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, errors.Wrap(err, "invalid JSON")
	}
	if string(raw) == "null" {
		return nil, nil
	}
	sub := json.NewDecoder(bytes.NewReader(raw))
	meta := make(map[string]string)
	err := readObject(sub, func(key string) error {
		tok, err := sub.Token()
		if err != nil {
			return errors.Wrap(err, "invalid JSON")
		}
		s, ok := tok.(string)
		if !ok {
			return errors.Errorf("value of %q is %v, not a string", key, tok)
		}
		meta[key] = s
		return nil
	})
	return meta, err
}

// parseEntry decodes one tensor record {"dtype", "shape", "data_offsets"}, all three required, nothing else.
func parseEntry(dec *json.Decoder, name string) (entry, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return entry{}, errors.Wrap(err, "invalid JSON")
	}
	sub := json.NewDecoder(bytes.NewReader(raw))
	sub.UseNumber()
	e := entry{name: name}
	var offsets []uint64
	var haveDType, haveShape bool
	err := readObject(sub, func(key string) error {
		var v any
		if err := sub.Decode(&v); err != nil {
			return errors.Wrap(err, "invalid JSON")
		}
		switch key {
		case "dtype":
			s, ok := v.(string)
			if !ok {
				return errors.Errorf("dtype %v is not a string", v)
			}
			e.dtype, haveDType = DType(s), true
		case "shape":
			dims, err := naturals(v, "shape")
			if err != nil {
				return err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > uint64(maxInt) {
					return errors.Errorf("dimension %d too large", d)
				}
				e.shape[i] = int(d)
			}
			haveShape = true
		case "data_offsets":
			o, err := naturals(v, "data_offsets")
			if err != nil {
				return err
			}
			if len(o) != 2 {
				return errors.Errorf("data_offsets has %d numbers, want 2", len(o))
			}
			offsets = o
		default:
			return errors.Errorf("unknown field %q", key)
		}
		return nil
	})
	if err != nil {
		return entry{}, err
	}
	switch {
	case !haveDType:
		return entry{}, errors.New("missing dtype")
	case !haveShape:
		return entry{}, errors.New("missing shape")
	case offsets == nil:
		return entry{}, errors.New("missing data_offsets")
	}
	e.begin, e.end = offsets[0], offsets[1]
	if e.begin > e.end {
		return entry{}, errors.Errorf("data_offsets [%d, %d] end before they begin", e.begin, e.end)
	}
	n, err := numBytes(e.dtype, e.shape)
	if err != nil {
		return entry{}, err
	}
	if uint64(n) != e.end-e.begin {
		return entry{}, errors.Errorf("%s shape %v needs %d bytes, data_offsets [%d, %d] span %d",
			e.dtype, e.shape, n, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

// naturals converts a decoded JSON array of non-negative integers.
func naturals(v any, what string) ([]uint64, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.Errorf("%s is %v, not an array", what, v)
	}
	out := make([]uint64, len(arr))
	for i, x := range arr {
		num, ok := x.(json.Number)
		if !ok {
			return nil, errors.Errorf("%s[%d] is %v, not a number", what, i, x)
		}
		u, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, errors.Errorf("%s[%d] = %s is not a non-negative integer", what, i, num)
		}
		out[i] = u
	}
	return out, nil
}

// checkLayout sorts the entries by offset and verifies they tile the buffer from 0 without overlap or hole, as
// the official implementation requires. It returns the buffer's length.
func checkLayout(entries []entry) (uint64, error) {
	sorted := make([]*entry, len(entries))
	for i := range entries {
		sorted[i] = &entries[i]
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].begin != sorted[j].begin {
			return sorted[i].begin < sorted[j].begin
		}
		return sorted[i].end < sorted[j].end
	})
	var next uint64
	for _, e := range sorted {
		switch {
		case e.begin > next:
			return 0, errors.Errorf("tensor %q begins at %d, leaving a hole after byte %d", e.name, e.begin, next)
		case e.begin < next:
			return 0, errors.Errorf("tensor %q at [%d, %d] overlaps bytes before %d", e.name, e.begin, e.end, next)
		}
		next = e.end
	}
	return next, nil
}
