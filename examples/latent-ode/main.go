// Command latent-ode trains the latent ODE of Chen et al. (2018), section 5, on
// irregularly sampled noisy spirals, and the recurrent baseline on the same data.
//
// Data (torchdiffeq's latent_ode.py generator): two base Archimedean spirals over
// t in [0, 6 pi] at 1000 points, clockwise r = 15/(6 pi + 1 - t) centred at (-5, 0) and
// counter-clockwise r = 0.3 t centred at (5, 0); each sequence starts at a random point
// of one of them (half each) and covers 100 grid points (its observation window, times
// k * 6pi/999 from its own start); a held-out sequence is followed by 100 points to
// extrapolate to (training windows start anywhere from grid point 100 to 899, as
// torchdiffeq's, held-out ones up to 800 so that those points exist). Each spiral is
// observed at its OWN random subset of -obs of the window's 100 times with
// N(0, -noise^2) noise.
//
// Latent ODE: a recurrent encoder (GRU or RNN, 25 hidden) run backwards over the
// observations with their times and gaps as inputs gives q(z0) (latent dim 6; the
// paper's 4 is -latent 4, compared in BENCHMARKS.md); z0 = mu + sigma eps;
// dz/dt = f(z) with f 6-20-ELU-20-ELU-6 is solved ONCE per batch at the union of the
// batch's observation times (Dopri5: outputs are interpolated, so extra output times
// cost no evaluations); a decoder 6-20-ReLU-2 maps z(t) to x(t); the loss is the
// negative ELBO with a Gaussian likelihood (sigma 0.3) and KL(q || N(0, I)); Adam with
// lr 0.01 annealed along a cosine to 0.001 over 4000 iterations of 100 spirals (the
// settings of the table in BENCHMARKS.md: 7-19 minutes a run with -workers 1).
// Gradients go through the solve by direct backpropagation (see model.go).
//
// RNN baseline: a recurrent net over the same observations with the time gap to the next
// observation as an input, trained to predict the next observation and extrapolating
// autoregressively; same data, batch size, optimiser and iterations, with a batch order
// of its own so that -models rnn trains the same baseline as -models both.
//
// It reports reconstruction RMSE (the 100 window points) and extrapolation RMSE (the 100
// points after the window) against the noise-free spirals of held-out sequences, and
// draws ground truth, observations, reconstruction and extrapolation for a few of them.
//
//	go run ./examples/latent-ode [-obs 30|50|100] [-iters N] [-out dir] [-json] [-quick]
//
// With -json the final report is printed as one JSON object on the last line; -quick
// uses a tiny data set and a few iterations and finishes in seconds.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"

	"github.com/neuralode/neuralode/graph"
	"github.com/neuralode/neuralode/layers"
	"github.com/neuralode/neuralode/odeint"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "latent-ode:", err)
		os.Exit(1)
	}
}

// config holds the command-line settings.
type config struct {
	Obs       int     `json:"obs"`
	Train     int     `json:"train"`
	Test      int     `json:"test"`
	Noise     float64 `json:"noise"`
	Sigma     float64 `json:"sigma"`
	Cell      string  `json:"cell"`
	Hidden    int     `json:"hidden"`
	Latent    int     `json:"latent"`
	NHidden   int     `json:"nhidden"`
	ODEHidden int     `json:"ode_hidden"`
	RNNHidden int     `json:"rnn_hidden"`
	Iters     int     `json:"iters"`
	Batch     int     `json:"batch"`
	LR        float64 `json:"lr"`
	Schedule  string  `json:"schedule"`
	Clip      float64 `json:"clip_norm,omitempty"`
	PosUnit   float64 `json:"pos_unit"`
	RTol      float64 `json:"rtol"`
	ATol      float64 `json:"atol"`
	Workers   int     `json:"workers"`
	Seed      uint64  `json:"seed"`
	Models    string  `json:"models"`
	out       string
	json      bool
	quick     bool
}

// ModelReport is the result of one model.
type ModelReport struct {
	ReconRMSE  float64 `json:"recon_rmse,omitempty"`
	ExtrapRMSE float64 `json:"extrap_rmse"`
	// The extrapolation RMSE over the clockwise and the counter-clockwise held-out
	// spirals apart (their mean squares average to ExtrapRMSE's).
	ExtrapRMSECW  float64 `json:"extrap_rmse_cw,omitempty"`
	ExtrapRMSECCW float64 `json:"extrap_rmse_ccw,omitempty"`
	// The same errors on the first -test training spirals that have the points after
	// their window (see makeSpirals): a held-out error far above
	// these is the model generalising poorly, not fitting poorly.
	TrainReconRMSE  float64 `json:"train_recon_rmse,omitempty"`
	TrainExtrapRMSE float64 `json:"train_extrap_rmse"`
	FinalLoss       float64 `json:"final_loss"`
	Seconds         float64 `json:"train_seconds"`
	MSPerIter       float64 `json:"ms_per_iter"`
	ForwardNFE      float64 `json:"forward_nfe,omitempty"`
	BackNFE         float64 `json:"backward_nfe,omitempty"`
	Params          int     `json:"params"`
}

// Report is the final report (printed as JSON with -json).
type Report struct {
	Config  config       `json:"config"`
	Latent  *ModelReport `json:"latent_ode,omitempty"`
	RNN     *ModelReport `json:"rnn,omitempty"`
	PNG     string       `json:"png,omitempty"`
	Seconds float64      `json:"seconds"`
}

func parse(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("latent-ode", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&c.Obs, "obs", 30, "observations per spiral (a random subset of the window's 100 times)")
	fs.IntVar(&c.Train, "train", 1000, "training spirals")
	fs.IntVar(&c.Test, "test", 200, "held-out spirals")
	fs.Float64Var(&c.Noise, "noise", 0.1, "observation noise std")
	fs.Float64Var(&c.Sigma, "sigma", 0.3, "likelihood std of the ELBO")
	fs.StringVar(&c.Cell, "cell", cellGRU, "recurrent cell of the encoder and the baseline: gru or rnn")
	fs.IntVar(&c.Hidden, "hidden", 25, "encoder hidden units")
	fs.IntVar(&c.Latent, "latent", 6, "latent dimension (the paper: 4)")
	fs.IntVar(&c.NHidden, "nhidden", 20, "hidden units of the decoder and the baseline's head")
	fs.IntVar(&c.ODEHidden, "ode-hidden", 20, "hidden units of each of the ODE function's two hidden layers")
	fs.IntVar(&c.RNNHidden, "rnn-hidden", 25, "baseline hidden units")
	fs.IntVar(&c.Iters, "iters", 4000, "training iterations of each model")
	fs.IntVar(&c.Batch, "batch", 100, "spirals per batch")
	fs.Float64Var(&c.LR, "lr", 0.01, "Adam learning rate")
	fs.StringVar(&c.Schedule, "schedule", "cosine", "learning rate of both models: cosine (annealed to lr/10 over -iters) or constant")
	fs.Float64Var(&c.Clip, "clip", 0, "clip both models' gradient to this global norm (0: no clipping)")
	fs.Float64Var(&c.PosUnit, "pos-unit", 1, "divide the positions fed to both recurrent nets (encoder and baseline) by this; targets stay in data units")
	fs.Float64Var(&c.RTol, "rtol", 1e-5, "Dopri5 relative tolerance")
	fs.Float64Var(&c.ATol, "atol", 1e-7, "Dopri5 absolute tolerance")
	fs.IntVar(&c.Workers, "workers", 0, "goroutines per graph call (0: all cores)")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed (data, initialisation, batches)")
	fs.StringVar(&c.Models, "models", "both", "models to train: both, latent or rnn")
	fs.StringVar(&c.out, "out", "out", "directory for the PNG")
	fs.BoolVar(&c.json, "json", false, "print the final report as one JSON object on the last line")
	fs.BoolVar(&c.quick, "quick", false, "tiny run that finishes in seconds")
	if err := fs.Parse(args); err != nil {
		return nil, errors.Wrap(err, "latent-ode: flags")
	}
	if c.quick { // tiny settings, except where a flag says otherwise
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, apply := range map[string]func(){
			"train": func() { c.Train = 64 }, "test": func() { c.Test = 16 }, "iters": func() { c.Iters = 8 }, "batch": func() { c.Batch = 32 },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	if c.Obs < 2 || c.Obs > nWindow {
		return nil, errors.Errorf("latent-ode: -obs %d not in [2, %d]", c.Obs, nWindow)
	}
	if c.Train < 1 || c.Test < 4 || c.Iters < 1 || c.Batch < 1 || c.Batch > c.Train || !(c.LR > 0) || !(c.Sigma > 0) || c.Noise < 0 ||
		c.Hidden < 1 || c.Latent < 1 || c.NHidden < 1 || c.ODEHidden < 1 || c.RNNHidden < 1 || !(c.PosUnit > 0) {
		return nil, errors.Errorf("latent-ode: invalid settings %+v", *c)
	}
	if c.Schedule != "constant" && c.Schedule != "cosine" || c.Clip < 0 {
		return nil, errors.Errorf("latent-ode: -schedule %q -clip %g: want constant or cosine, and a clip norm >= 0", c.Schedule, c.Clip)
	}
	if c.Models != "both" && c.Models != "latent" && c.Models != "rnn" {
		return nil, errors.Errorf("latent-ode: -models %q: want both, latent or rnn", c.Models)
	}
	if c.Cell != cellGRU && c.Cell != cellRNN {
		return nil, errors.Errorf("latent-ode: -cell %q: want gru or rnn", c.Cell)
	}
	return c, nil
}

// trainer is one model's training step on a batch.
type trainer func(batch []spiral, rng *rand.Rand) (float64, error)

// train runs iters steps of Adam over shuffled batches and returns the mean loss of the
// last tenth of the iterations and the median milliseconds per iteration.
func train(name string, cfg *config, ps *graph.Params, data []spiral, rng *rand.Rand, step trainer, stderr io.Writer) (float64, float64, error) {
	oc := layers.OptimConfig{Method: layers.Adam, LR: cfg.LR, ClipNorm: cfg.Clip}
	if cfg.Schedule == "cosine" {
		oc.Schedule = layers.Cosine(cfg.Iters, 0.1)
	}
	opt, err := layers.NewOptimizer(ps, oc)
	if err != nil {
		return 0, 0, err
	}
	bar := progressbar.NewOptions(cfg.Iters, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription(name),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(500*time.Millisecond),
		progressbar.OptionSetVisibility(!cfg.quick), progressbar.OptionClearOnFinish())
	order := rng.Perm(len(data))
	next := 0
	batch := make([]spiral, cfg.Batch)
	var ms []float64
	tail, ntail := 0.0, 0
	for it := 0; it < cfg.Iters; it++ {
		t0 := time.Now()
		for i := range batch {
			if next == len(order) {
				rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
				next = 0
			}
			batch[i] = data[order[next]]
			next++
		}
		loss, err := step(batch, rng)
		if err != nil {
			return 0, 0, errors.Wrapf(err, "latent-ode: %s iteration %d", name, it)
		}
		if _, err := opt.Step(); err != nil {
			return 0, 0, errors.Wrapf(err, "latent-ode: %s iteration %d", name, it)
		}
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		if it >= cfg.Iters-max(1, cfg.Iters/10) {
			tail += loss
			ntail++
		}
		if it%10 == 0 {
			bar.Describe(fmt.Sprintf("%s loss %.3f", name, loss))
		}
		_ = bar.Add(1)
	}
	_ = bar.Finish()
	return tail / float64(ntail), median(ms), nil
}

// rmse returns sqrt(mean squared error) of pred against the spirals' clean points from
// grid index lo (pred[s][i] is the prediction at grid index lo+i).
func rmse(data []spiral, pred [][][2]float64, lo int) float64 {
	s, n := 0.0, 0
	for i, sp := range data {
		for k, p := range pred[i] {
			for d := 0; d < 2; d++ {
				e := p[d] - sp.Truth[lo+k][d]
				s += e * e
				n++
			}
		}
	}
	return math.Sqrt(s / float64(n))
}

// latentScores splits the latent ODE's predictions over all nWindow+nExtrap grid points
// into the reconstruction RMSE (the window's nWindow points) and the extrapolation RMSE
// (the nExtrap points after it).
func latentScores(data []spiral, pred [][][2]float64) (recon, extrap float64) {
	window := make([][][2]float64, len(pred))
	for i := range pred {
		window[i] = pred[i][:nWindow]
	}
	return rmse(data, window, 0), rmse(data, extrapolated(pred), nWindow)
}

// byDirection returns rmse(data, pred, lo) over the clockwise and the counter-clockwise
// spirals of data apart (0 for a direction without spirals).
func byDirection(data []spiral, pred [][][2]float64, lo int) (cw, ccw float64) {
	var d [2][]spiral
	var p [2][][][2]float64
	for i, sp := range data {
		j := 1
		if sp.Clockwise {
			j = 0
		}
		d[j], p[j] = append(d[j], sp), append(p[j], pred[i])
	}
	var r [2]float64
	for j := range r {
		if len(d[j]) > 0 {
			r[j] = rmse(d[j], p[j], lo)
		}
	}
	return r[0], r[1]
}

// extrapolated returns the points after the window of the latent ODE's predictions.
func extrapolated(pred [][][2]float64) [][][2]float64 {
	after := make([][][2]float64, len(pred))
	for i := range pred {
		after[i] = pred[i][nWindow:]
	}
	return after
}

func run(args []string, stdout io.Writer) error {
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	start := time.Now()
	stderr := io.Writer(os.Stderr)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1a7e))
	trainSet := makeSpirals(rng, cfg.Train, cfg.Obs, cfg.Noise, trainLastStart)
	testSet := makeSpirals(rng, cfg.Test, cfg.Obs, cfg.Noise, testLastStart)
	trainSubset := withExtrapolation(trainSet, cfg.Test)
	gopt := graph.Options{Workers: cfg.Workers}
	rep := &Report{Config: *cfg}

	var latentPred, rnnPred [][][2]float64
	if cfg.Models != "rnn" {
		ps := graph.NewParams(rand.New(rand.NewPCG(cfg.Seed, 1)))
		m, err := newLatentODE(ps, cfg.Cell, cfg.Hidden, cfg.Latent, cfg.ODEHidden, cfg.NHidden, cfg.Sigma, odeint.Options{RTol: cfg.RTol, ATol: cfg.ATol}, gopt)
		if err != nil {
			return err
		}
		m.posUnit = cfg.PosUnit
		var fwd, bwd []float64
		t0 := time.Now()
		loss, ms, err := train("latent ODE", cfg, ps, trainSet, rng, func(b []spiral, r *rand.Rand) (float64, error) {
			l, err := m.lossGrad(b, r, nil)
			fwd, bwd = append(fwd, float64(m.nfeFwd)), append(bwd, float64(m.nfeBwd))
			return l, err
		}, stderr)
		if err != nil {
			return err
		}
		mr := &ModelReport{FinalLoss: loss, MSPerIter: ms, Seconds: time.Since(t0).Seconds(), ForwardNFE: median(fwd), BackNFE: median(bwd), Params: ps.Len()}
		if latentPred, err = m.predict(testSet); err != nil {
			return err
		}
		mr.ReconRMSE, mr.ExtrapRMSE = latentScores(testSet, latentPred)
		mr.ExtrapRMSECW, mr.ExtrapRMSECCW = byDirection(testSet, extrapolated(latentPred), nWindow)
		if len(trainSubset) > 0 {
			trainPred, err := m.predict(trainSubset)
			if err != nil {
				return err
			}
			mr.TrainReconRMSE, mr.TrainExtrapRMSE = latentScores(trainSubset, trainPred)
		}
		rep.Latent = mr
	}
	if cfg.Models != "latent" {
		ps := graph.NewParams(rand.New(rand.NewPCG(cfg.Seed, 2)))
		r, err := newRNNBaseline(ps, cfg.Cell, cfg.RNNHidden, cfg.NHidden, gopt)
		if err != nil {
			return err
		}
		r.posUnit = cfg.PosUnit
		t0 := time.Now()
		// Its own stream for the batch order, so that -models rnn trains the same RNN as
		// -models both whatever the latent ODE drew before it.
		rnnRng := rand.New(rand.NewPCG(cfg.Seed, 3))
		loss, ms, err := train("RNN", cfg, ps, trainSet, rnnRng, func(b []spiral, _ *rand.Rand) (float64, error) { return r.lossGrad(b) }, stderr)
		if err != nil {
			return err
		}
		mr := &ModelReport{FinalLoss: loss, MSPerIter: ms, Seconds: time.Since(t0).Seconds(), Params: ps.Len()}
		if rnnPred, err = r.extrapolate(testSet); err != nil {
			return err
		}
		mr.ExtrapRMSE = rmse(testSet, rnnPred, nWindow)
		mr.ExtrapRMSECW, mr.ExtrapRMSECCW = byDirection(testSet, rnnPred, nWindow)
		if len(trainSubset) > 0 {
			trainPred, err := r.extrapolate(trainSubset)
			if err != nil {
				return err
			}
			mr.TrainExtrapRMSE = rmse(trainSubset, trainPred, nWindow)
		}
		rep.RNN = mr
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return errors.Wrap(err, "latent-ode: output directory")
	}
	rep.PNG = filepath.Join(cfg.out, fmt.Sprintf("latent_ode_obs%d.png", cfg.Obs))
	// Two held-out spirals of each direction (their indices in the test set).
	var pick []int
	for _, cw := range []bool{true, false} {
		for i, sp := range testSet {
			if sp.Clockwise == cw && len(pick) < 2*(1+btoi(!cw)) {
				pick = append(pick, i)
			}
		}
	}
	var shown []spiral
	var lp, rp [][][2]float64
	for _, i := range pick {
		shown = append(shown, testSet[i])
		if latentPred != nil {
			lp = append(lp, latentPred[i])
		}
		if rnnPred != nil {
			rp = append(rp, rnnPred[i])
		}
	}
	if err := plotSpirals(rep.PNG, shown, lp, rp, cfg.Obs); err != nil {
		return err
	}
	rep.Seconds = time.Since(start).Seconds()

	fmt.Fprintf(stdout, "latent-ode: %d training / %d held-out spirals, %d irregular observations each, noise %g, %d iterations of batch %d\n",
		cfg.Train, cfg.Test, cfg.Obs, cfg.Noise, cfg.Iters, cfg.Batch)
	if m := rep.Latent; m != nil {
		fmt.Fprintf(stdout, "  latent ODE: reconstruction RMSE %.4f, extrapolation RMSE %.4f (clockwise %.4f, counter-clockwise %.4f; on training spirals %.4f, %.4f; final -ELBO %.2f, %.1f ms/iter, NFE %.0f fwd + %.0f bwd, %.0f s)\n",
			m.ReconRMSE, m.ExtrapRMSE, m.ExtrapRMSECW, m.ExtrapRMSECCW, m.TrainReconRMSE, m.TrainExtrapRMSE, m.FinalLoss, m.MSPerIter, m.ForwardNFE, m.BackNFE, m.Seconds)
	}
	if m := rep.RNN; m != nil {
		fmt.Fprintf(stdout, "  RNN baseline: extrapolation RMSE %.4f (clockwise %.4f, counter-clockwise %.4f; on training spirals %.4f; final MSE %.4f, %.1f ms/iter, %.0f s)\n",
			m.ExtrapRMSE, m.ExtrapRMSECW, m.ExtrapRMSECCW, m.TrainExtrapRMSE, m.FinalLoss, m.MSPerIter, m.Seconds)
	}
	fmt.Fprintf(stdout, "  wrote %s\n", rep.PNG)
	if cfg.json {
		b, err := json.Marshal(rep)
		if err != nil {
			return errors.Wrap(err, "latent-ode: report")
		}
		fmt.Fprintln(stdout, string(b))
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// median returns the median of v (0 for none); v is not modified.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
