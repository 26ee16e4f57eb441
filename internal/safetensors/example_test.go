package safetensors_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/neuralode/neuralode/internal/safetensors"
)

// Example writes two tensors and metadata to a buffer and reads them back, as a checkpoint does with a file
// (WriteFile and ReadFile).
func Example() {
	w, err := safetensors.FromFloat64([]int{2, 2}, []float64{1, 2, 3, 4})
	if err != nil {
		log.Fatal(err)
	}
	step, err := safetensors.FromInt64(nil, []int64{1200})
	if err != nil {
		log.Fatal(err)
	}
	var file bytes.Buffer
	err = safetensors.Write(&file, map[string]safetensors.Tensor{"fc.w": w, "step": step},
		map[string]string{"model": "odenet"})
	if err != nil {
		log.Fatal(err)
	}

	tensors, meta, err := safetensors.Read(&file)
	if err != nil {
		log.Fatal(err)
	}
	got, err := tensors["fc.w"].Float64s()
	if err != nil {
		log.Fatal(err)
	}
	s, _ := tensors["step"].Int64s()
	fmt.Println(tensors["fc.w"].DType, tensors["fc.w"].Shape, got)
	fmt.Println("step", s[0], "model", meta["model"])
	// Output:
	// F64 [2 2] [1 2 3 4]
	// step 1200 model odenet
}
