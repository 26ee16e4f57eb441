package mnist

import (
	"testing"
)

// TestTrainLearns trains small models for a few epochs on a 2000-image balanced subset of
// the real MNIST training set and checks the test accuracy on 1000 real test images. An
// untrained classifier scores about 10 %; these thresholds sit well below what the runs
// reach and far above chance, so a broken gradient or optimiser fails.
func TestTrainLearns(t *testing.T) {
	train, test, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  ModelConfig
		tc   TrainConfig
		min  float64
	}{
		{"mlp", ModelConfig{Arch: ArchMLP, Hidden: 64}, TrainConfig{Epochs: 3, BatchSize: 50, Optimizer: "adam", LR: 3e-3, Schedule: "onecycle", TrainLimit: 2000, TestLimit: 1000, Seed: 1}, 0.80},
		// A small ODE-Net learns more slowly than the MLP (its pooled head sees 16 channels
		// after an instance-style GroupNorm): 80 steps measured 0.57 on these images.
		{"odenet", ModelConfig{Arch: ArchODENet, Stem: StemFast, Channels: 16, Method: "rk4", Step: 0.5, Gradient: "backsolve", Float32: true},
			TrainConfig{Epochs: 2, BatchSize: 50, Optimizer: "adam", LR: 3e-3, Schedule: "onecycle", TrainLimit: 2000, TestLimit: 500, Seed: 1}, 0.35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewModel(tc.cfg, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			batches := 0
			rep, err := Train(m, train, test, tc.tc, func(BatchStats) { batches++ })
			if err != nil {
				t.Fatal(err)
			}
			f := rep.Final()
			t.Logf("%s: test accuracy %.3f, train loss %.3f, NFE %.0f/%.0f per batch, %.1f s/epoch", tc.name, f.TestAcc, f.TrainLoss, f.NFEForward, f.NFEBackward, f.Seconds)
			if f.TestAcc < tc.min {
				t.Errorf("test accuracy %.3f < %.2f", f.TestAcc, tc.min)
			}
			if want := tc.tc.Epochs * tc.tc.TrainLimit / tc.tc.BatchSize; batches != want {
				t.Errorf("%d batches, want %d", batches, want)
			}
			if tc.cfg.Arch == ArchODENet && (f.NFEForward != 8 || f.NFEBackward == 0) {
				t.Errorf("RK4 with step 0.5 over [0, 1]: NFE %v forward (want 8), %v backward", f.NFEForward, f.NFEBackward)
			}
		})
	}
}

func TestTrainConfigErrors(t *testing.T) {
	train, test, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(ModelConfig{Arch: ArchMLP, Hidden: 4}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []TrainConfig{
		{Epochs: 0, BatchSize: 10, LR: 0.1},
		{Epochs: 1, BatchSize: 0, LR: 0.1},
		{Epochs: 1, BatchSize: 10, LR: -1},
		{Epochs: 1, BatchSize: 10, LR: 0.1, Optimizer: "lbfgs", TrainLimit: 100, TestLimit: 100},
		{Epochs: 1, BatchSize: 10, LR: 0.1, Schedule: "sawtooth", TrainLimit: 100, TestLimit: 100},
	} {
		if _, err := Train(m, train, test, c, nil); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// TestTrainResume: a run resumed at epoch 2 from the parameters saved after epoch 1 sees
// exactly the batches and learning rates of the uninterrupted run: its first batch's
// loss is bit-identical (same parameters, same images) and its rates agree at every
// batch. Later losses differ slightly, as they should: the optimiser's momentum
// restarts from zero.
func TestTrainResume(t *testing.T) {
	train, test, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	cfg := ModelConfig{Arch: ArchMLP, Hidden: 16}
	tc := TrainConfig{Epochs: 3, BatchSize: 50, Optimizer: "sgd", LR: 0.05, Schedule: "onecycle", Augment: true, TrainLimit: 300, TestLimit: 100, Seed: 3}
	type batch struct {
		epoch      int
		loss, rate float64
	}
	var full, resumed []batch
	var after1 []float64
	a, err := NewModel(cfg, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	tcA := tc
	tcA.AfterEpoch = func(es EpochStats) error {
		if es.Epoch == 1 {
			after1 = append([]float64(nil), a.Params.Flat()...)
		}
		return nil
	}
	if _, err := Train(a, train, test, tcA, func(b BatchStats) { full = append(full, batch{b.Epoch, b.Loss, b.LR}) }); err != nil {
		t.Fatal(err)
	}
	b, err := NewModel(cfg, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	copy(b.Params.Flat(), after1)
	tcB := tc
	tcB.StartEpoch = 2
	rep, err := Train(b, train, test, tcB, func(bs BatchStats) { resumed = append(resumed, batch{bs.Epoch, bs.Loss, bs.LR}) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Epochs) != 2 || rep.Epochs[0].Epoch != 2 {
		t.Fatalf("resumed run reports %+v, want epochs 2 and 3", rep.Epochs)
	}
	perEpoch := len(full) / 3
	want := full[perEpoch:]
	if len(resumed) != len(want) {
		t.Fatalf("%d batches resumed, want %d", len(resumed), len(want))
	}
	if resumed[0] != want[0] {
		t.Errorf("first resumed batch %+v, uninterrupted %+v", resumed[0], want[0])
	}
	for i := range want {
		if resumed[i].epoch != want[i].epoch || resumed[i].rate != want[i].rate {
			t.Fatalf("batch %d: epoch %d rate %g, uninterrupted epoch %d rate %g", i, resumed[i].epoch, resumed[i].rate, want[i].epoch, want[i].rate)
		}
	}
	if _, err := Train(b, train, test, TrainConfig{Epochs: 2, BatchSize: 50, LR: 0.1, StartEpoch: 3}, nil); err == nil {
		t.Error("StartEpoch past the last epoch was accepted")
	}
}
