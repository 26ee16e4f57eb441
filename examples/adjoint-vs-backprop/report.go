package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
)

// Growth is the ratio of a figure at To steps to the same figure at From steps.
type Growth struct {
	From  int     `json:"from_steps"`
	To    int     `json:"to_steps"`
	Ratio float64 `json:"ratio"`
}

// TolRatio is a ratio measured at one tolerance of the adaptive table.
type TolRatio struct {
	RTol  float64 `json:"rtol"`
	Value float64 `json:"value"`
}

// Ratios are the figures the memory claim and the comparisons rest on, all measured in
// the one run of the report. Retained figures are adjoint.Stats.RetainedBytes; measured
// ones the heap growth held by the tape.
type Ratios struct {
	// Fixed-step grid: max/min across N of the retained bytes (flat: close to 1).
	BacksolveMaxOverMin float64 `json:"backsolve_retained_max_over_min"`
	SeminormMaxOverMin  float64 `json:"backsolve_seminorm_retained_max_over_min"`
	// The backsolve tape is only the outputs (about a KiB), the size of the heap
	// measurement's noise: its spread (max - min bytes) is reported instead of a ratio.
	BacksolveMeasuredSpread int64 `json:"backsolve_measured_spread_bytes"`
	// Growth between the two largest N (1000 -> 10000 by default; linear: about 10).
	Direct               Growth `json:"direct_retained_growth"`
	DirectMeasured       Growth `json:"direct_measured_growth"`
	Checkpointed         Growth `json:"checkpointed_retained_growth"`
	CheckpointedMeasured Growth `json:"checkpointed_measured_growth"`
	// Marginal retained bytes per extra step between the two largest N.
	DirectBytesPerStep       float64 `json:"direct_bytes_per_step"`
	CheckpointedBytesPerStep float64 `json:"checkpointed_bytes_per_step"`
	// Measured tape heap over analytic retained bytes at the largest N (the segment
	// buffer Checkpointed re-solves in is allocated by Backward and counted in
	// adjoint.Stats.WorkBytes, in neither figure).
	DirectMeasuredOverRetained       float64 `json:"direct_measured_over_retained"`
	CheckpointedMeasuredOverRetained float64 `json:"checkpointed_measured_over_retained"`
	// The live heap during the backward pass (tape and working memory), max/min across
	// N for backsolve and growth between the two largest N for the others.
	BacksolveLiveMaxOverMin float64 `json:"backsolve_live_max_over_min"`
	CheckpointedLive        Growth  `json:"checkpointed_live_growth"`
	DirectLive              Growth  `json:"direct_live_growth"`
	// Forward+backward wall and CPU time of each method over backsolve's at the largest N.
	TimeOverBacksolve map[string]float64 `json:"time_over_backsolve_at_largest_n"`
	CPUOverBacksolve  map[string]float64 `json:"cpu_over_backsolve_at_largest_n"`
	// Adaptive table, per tolerance: 1 - seminorm backward NFE / full-norm backward NFE,
	// and gradient-error ratios at equal tolerance.
	SeminormNFESaving       []TolRatio `json:"seminorm_backward_nfe_saving"`
	SeminormOverFullError   []TolRatio `json:"seminorm_over_backsolve_grad_error"`
	BacksolveOverDirectErr  []TolRatio `json:"backsolve_over_direct_grad_error"`
	CheckpointedOverDirErr  []TolRatio `json:"checkpointed_over_direct_grad_error"`
	MedianSeminormNFESaving float64    `json:"median_seminorm_backward_nfe_saving"`
}

// byMethod returns the rows of one method in table order.
func byMethod(rows []Row, name string) []Row {
	var out []Row
	for _, r := range rows {
		if r.Method == name {
			out = append(out, r)
		}
	}
	return out
}

// maxOverMin returns max/min of f over rows, or max-min with spread.
func maxOverMin(rows []Row, f func(Row) float64, spread bool) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		lo, hi = math.Min(lo, f(r)), math.Max(hi, f(r))
	}
	if spread {
		return hi - lo
	}
	if lo <= 0 {
		return math.NaN()
	}
	return hi / lo
}

// growth compares the last two rows (the two largest N).
func growth(rows []Row, f func(Row) float64) Growth {
	if len(rows) < 2 {
		return Growth{}
	}
	a, b := rows[len(rows)-2], rows[len(rows)-1]
	return Growth{From: a.N, To: b.N, Ratio: f(b) / f(a)}
}

func retained(r Row) float64 { return float64(r.RetainedBytes) }
func measured(r Row) float64 { return float64(r.MeasuredBytes) }
func live(r Row) float64     { return float64(r.BackwardLiveBytes) }

// ratios computes the report's ratios from the two tables.
func ratios(fixed, adaptive []Row) Ratios {
	var q Ratios
	bs, semi := byMethod(fixed, "backsolve"), byMethod(fixed, "backsolve+seminorm")
	ck, di := byMethod(fixed, "checkpointed"), byMethod(fixed, "direct")
	q.BacksolveMaxOverMin = maxOverMin(bs, retained, false)
	q.SeminormMaxOverMin = maxOverMin(semi, retained, false)
	q.BacksolveMeasuredSpread = int64(maxOverMin(bs, measured, true))
	q.Direct, q.DirectMeasured = growth(di, retained), growth(di, measured)
	q.Checkpointed, q.CheckpointedMeasured = growth(ck, retained), growth(ck, measured)
	q.BacksolveLiveMaxOverMin = maxOverMin(bs, live, false)
	q.CheckpointedLive, q.DirectLive = growth(ck, live), growth(di, live)
	if len(di) >= 2 {
		a, b := di[len(di)-2], di[len(di)-1]
		q.DirectBytesPerStep = (retained(b) - retained(a)) / float64(b.N-a.N)
		a, b = ck[len(ck)-2], ck[len(ck)-1]
		q.CheckpointedBytesPerStep = (retained(b) - retained(a)) / float64(b.N-a.N)
	}
	if len(di) > 0 {
		q.DirectMeasuredOverRetained = measured(di[len(di)-1]) / retained(di[len(di)-1])
		c := ck[len(ck)-1]
		q.CheckpointedMeasuredOverRetained = measured(c) / retained(c)
		q.TimeOverBacksolve, q.CPUOverBacksolve = map[string]float64{}, map[string]float64{}
		base := bs[len(bs)-1]
		for _, v := range methods {
			rs := byMethod(fixed, v.name)
			r := rs[len(rs)-1]
			q.TimeOverBacksolve[v.name] = (r.ForwardSec + r.BackwardSec) / (base.ForwardSec + base.BackwardSec)
			q.CPUOverBacksolve[v.name] = r.CPUSec / base.CPUSec
		}
	}
	abs, asemi := byMethod(adaptive, "backsolve"), byMethod(adaptive, "backsolve+seminorm")
	ack, adi := byMethod(adaptive, "checkpointed"), byMethod(adaptive, "direct")
	var savings []float64
	for i := range abs {
		tol := abs[i].RTol
		s := 1 - float64(asemi[i].BackwardNFE)/float64(abs[i].BackwardNFE)
		savings = append(savings, s)
		q.SeminormNFESaving = append(q.SeminormNFESaving, TolRatio{tol, s})
		q.SeminormOverFullError = append(q.SeminormOverFullError, TolRatio{tol, asemi[i].GradError / abs[i].GradError})
		q.BacksolveOverDirectErr = append(q.BacksolveOverDirectErr, TolRatio{tol, abs[i].GradError / adi[i].GradError})
		q.CheckpointedOverDirErr = append(q.CheckpointedOverDirErr, TolRatio{tol, ack[i].GradError / adi[i].GradError})
	}
	q.MedianSeminormNFESaving = median(savings)
	return q
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printTable prints rows grouped by N (or tolerance), the methods in table order.
func printTable(w io.Writer, rows []Row, adaptive bool) {
	sorted := append([]Row(nil), rows...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if adaptive {
			return sorted[i].RTol > sorted[j].RTol
		}
		return sorted[i].N < sorted[j].N
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	key := "N"
	if adaptive {
		key = "rtol"
	}
	fmt.Fprintf(tw, "%s\tmethod\tsteps f/b\tNFE fwd\tNFE bwd\tfwd time\tbwd time\tcpu f+b\tretained\ttape heap\tlive in bwd\tgrad error\t\n", key)
	for i, r := range sorted {
		if i > 0 && (r.N != sorted[i-1].N || r.RTol != sorted[i-1].RTol) {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t\t")
		}
		k := fmt.Sprint(r.N)
		if adaptive {
			k = fmt.Sprintf("%.0e", r.RTol)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.2e\t\n", k, r.Method, r.Steps, r.BackwardSteps,
			r.ForwardNFE, r.BackwardNFE, durString(r.ForwardSec), durString(r.BackwardSec), durString(r.CPUSec),
			bytesString(r.RetainedBytes), bytesString(r.MeasuredBytes), bytesString(r.BackwardLiveBytes), r.GradError)
	}
	tw.Flush()
}

// printRatios prints the ratios in words.
func printRatios(w io.Writer, q Ratios) {
	fmt.Fprintf(w, "Retained bytes against steps (fixed RK4):\n")
	fmt.Fprintf(w, "  backsolve max/min across N: %.3f (seminorm %.3f); tape heap max-min %d bytes\n",
		q.BacksolveMaxOverMin, q.SeminormMaxOverMin, q.BacksolveMeasuredSpread)
	fmt.Fprintf(w, "  direct N=%d/N=%d: retained x%.2f, tape heap x%.2f; %.0f bytes per step\n",
		q.Direct.To, q.Direct.From, q.Direct.Ratio, q.DirectMeasured.Ratio, q.DirectBytesPerStep)
	fmt.Fprintf(w, "  checkpointed N=%d/N=%d: retained x%.2f, tape heap x%.2f; %.1f bytes per step\n",
		q.Checkpointed.To, q.Checkpointed.From, q.Checkpointed.Ratio, q.CheckpointedMeasured.Ratio, q.CheckpointedBytesPerStep)
	fmt.Fprintf(w, "  tape heap/retained at the largest N: direct %.2f, checkpointed %.2f\n",
		q.DirectMeasuredOverRetained, q.CheckpointedMeasuredOverRetained)
	fmt.Fprintf(w, "  live heap in the backward pass: backsolve max/min %.3f; checkpointed x%.2f, direct x%.2f from N=%d to N=%d\n",
		q.BacksolveLiveMaxOverMin, q.CheckpointedLive.Ratio, q.DirectLive.Ratio, q.DirectLive.From, q.DirectLive.To)
	fmt.Fprintf(w, "  time (fwd+bwd) over backsolve's at the largest N, wall (cpu):")
	for _, v := range methods {
		fmt.Fprintf(w, " %s %.2f (%.2f)", v.name, q.TimeOverBacksolve[v.name], q.CPUOverBacksolve[v.name])
	}
	fmt.Fprintf(w, "\nAdaptive Dopri5, per rtol:\n")
	fmt.Fprintf(w, "  %-8s %16s %18s %18s %22s\n", "rtol", "seminorm saving", "semi/full error", "backsolve/direct", "checkpointed/direct")
	for i, s := range q.SeminormNFESaving {
		fmt.Fprintf(w, "  %-8.0e %15.0f%% %18.2f %18.2f %22.2f\n", s.RTol, 100*s.Value,
			q.SeminormOverFullError[i].Value, q.BacksolveOverDirectErr[i].Value, q.CheckpointedOverDirErr[i].Value)
	}
	fmt.Fprintf(w, "  median seminorm backward-NFE saving: %.0f%%\n", 100*q.MedianSeminormNFESaving)
}

// bytesString formats a byte count with binary prefixes and three significant digits
// (four from 1000 to 1023 of a unit).
func bytesString(b int64) string {
	v, sign := float64(b), ""
	if v < 0 {
		v, sign = -v, "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%s%.0f B", sign, v)
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%s%.0f %s", sign, v, units[i])
	case v >= 10:
		return fmt.Sprintf("%s%.1f %s", sign, v, units[i])
	}
	return fmt.Sprintf("%s%.2f %s", sign, v, units[i])
}

// durString formats seconds as ms (below 1 s) or s.
func durString(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.2f ms", 1000*s)
	}
	return fmt.Sprintf("%.3f s", s)
}
