package mnist

// Mean and Std are the MNIST training set's pixel mean and standard deviation on the [0, 1] scale; a pixel p in
// 0..255 is normalised to (p/255 - Mean)/Std, so a black (background) pixel becomes -Mean/Std ≈ -0.4242.
const (
	Mean = 0.1307
	Std  = 0.3081
)

// normalised32 and normalised64 map a pixel byte to its normalised value. A table makes the float32 and float64
// paths agree exactly with Normalize and costs one load per pixel.
var normalised32, normalised64 = func() (t32 [256]float32, t64 [256]float64) {
	for p := range t64 {
		t64[p] = Normalize(uint8(p))
		t32[p] = float32(t64[p])
	}
	return
}()

// Normalize returns the normalised value (p/255 - Mean)/Std of pixel p.
func Normalize(p uint8) float64 { return (float64(p)/255 - Mean) / Std }

// shiftNormalize writes into dst (rows*cols values) the normalised image src shifted so that
// dst[r][c] = src[r+dy][c+dx], with black outside src. This is the random crop of the image padded by
// max(|dx|, |dy|) black pixels, taken at offset (dx, dy) from the centre; dx = dy = 0 is plain normalisation. It
// allocates nothing. The caller guarantees len(dst) == len(src) == rows*cols and |dx| < cols, |dy| < rows.
func shiftNormalize[T float32 | float64](dst []T, src []uint8, rows, cols, dx, dy int, lut *[256]T) {
	black := lut[0]
	c0, c1 := max(0, -dx), min(cols, cols-dx) // the output columns that read inside src
	for r := range rows {
		out := dst[r*cols : (r+1)*cols]
		sr := r + dy
		if sr < 0 || sr >= rows {
			for c := range out {
				out[c] = black
			}
			continue
		}
		for c := 0; c < c0; c++ {
			out[c] = black
		}
		in := src[sr*cols+c0+dx : sr*cols+c1+dx]
		for c, p := range in {
			out[c0+c] = lut[p]
		}
		for c := c1; c < cols; c++ {
			out[c] = black
		}
	}
}
