// Batch normalisation over channels-last activations (rows × c), with its scale and shift,
// an optional residual and ReLU, as the trainer's bnLayer computes it: statistics are
// float32 sums within chunks of rows (an image's plane) and double sums across chunks, in
// chunk order; the per-channel arithmetic between the passes is the layer's own.

// chan_sums writes, for each chunk t and channel ch, the float32 sum over the chunk's rows
// of x − shift (shift null: 0), squared when sq is set: partial[t·c + ch] (chanSumsGo's
// inner sums).
extern "C" __global__ void chan_sums(const float *x, i64 rows, int c, int chunk, const float *shift,
		int sq, float *partial) {
	i64 chunks = (rows + chunk - 1) / chunk;
	GRID_LOOP(i, chunks * c) {
		int ch = (int)(i % c);
		i64 r0 = i / c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
		float acc = 0.0f;
		for (i64 r = r0; r < r1; r++) {
			float v = x[r * c + ch];
			if (shift) {
				v -= shift[ch];
			}
			if (sq) {
				v *= v;
			}
			acc += v;
		}
		partial[i] = acc;
	}
}

// bn_mean sums the chunks' sums of x in double (s1) and writes the batch mean.
extern "C" __global__ void bn_mean(const float *partial, int chunks, int c, i64 rows, double *s1,
		float *mean) {
	GRID_LOOP(ch, c) {
		double s = 0.0;
		for (int t = 0; t < chunks; t++) {
			s += (double)partial[(i64)t * c + ch];
		}
		s1[ch] = s;
		mean[ch] = (float)(s / (double)rows);
	}
}

// bn_train_stats sums the chunks' sums of (x − mean)² and writes 1/√(var + eps) with the
// biased variance, and moves the running statistics: keep·old + momentum·new, with the
// unbiased variance.
extern "C" __global__ void bn_train_stats(const float *partial, int chunks, int c, i64 rows,
		const double *s1, float *istd, float *run_mean, float *run_var, double keep,
		double momentum, double eps) {
	GRID_LOOP(ch, c) {
		double ss = 0.0;
		for (int t = 0; t < chunks; t++) {
			ss += (double)partial[(i64)t * c + ch];
		}
		double m = (double)rows;
		double mu = s1[ch] / m, vb = ss / m;
		istd[ch] = (float)(1.0 / sqrt(vb + eps));
		double unbiased = rows > 1 ? ss / (m - 1.0) : vb;
		run_mean[ch] = (float)(keep * (double)run_mean[ch] + momentum * mu);
		run_var[ch] = (float)(keep * (double)run_var[ch] + momentum * unbiased);
	}
}

// bn_eval_stats normalises with the running statistics.
extern "C" __global__ void bn_eval_stats(const float *run_mean, const float *run_var, float *mean,
		float *istd, int c, double eps) {
	GRID_LOOP(ch, c) {
		mean[ch] = run_mean[ch];
		istd[ch] = (float)(1.0 / sqrt((double)run_var[ch] + eps));
	}
}

// bn_scale_shift turns the statistics and γ, β into the map x·scale + shift.
extern "C" __global__ void bn_scale_shift(const float *gamma, const float *beta, const float *mean,
		const float *istd, float *scale, float *shift, int c) {
	GRID_LOOP(ch, c) {
		float sc = gamma[ch] * istd[ch];
		scale[ch] = sc;
		shift[ch] = beta[ch] - mean[ch] * sc;
	}
}

// bn_apply writes y = x·scale + shift, plus res when not null, through ReLU when relu is set
// (bnApplyGo).
extern "C" __global__ void bn_apply(const float *x, float *y, const float *res, i64 rows, int c,
		const float *scale, const float *shift, int relu) {
	GRID_LOOP(i, rows * c) {
		int ch = (int)(i % c);
		float v = x[i] * scale[ch] + shift[ch];
		if (res) {
			v += res[i];
		}
		y[i] = relu ? go_max(v, 0.0f) : v;
	}
}

// bn_back_sums is the first pass of the backward (bnBackSumsGo's inner sums): with
// h = (x − mean)·istd and v = dy, zero where relu is set and x·scale + shift ≤ 0, it
// writes each chunk's float32 sums of v and v·h.
extern "C" __global__ void bn_back_sums(const float *x, const float *dy, i64 rows, int c, int chunk,
		const float *mean, const float *istd, const float *scale, const float *shift, int relu,
		float *p1, float *p2) {
	i64 chunks = (rows + chunk - 1) / chunk;
	GRID_LOOP(i, chunks * c) {
		int ch = (int)(i % c);
		i64 r0 = i / c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
		float a1 = 0.0f, a2 = 0.0f;
		for (i64 r = r0; r < r1; r++) {
			float xv = x[r * c + ch];
			float h = (xv - mean[ch]) * istd[ch];
			float v = dy[r * c + ch];
			if (relu && xv * scale[ch] + shift[ch] <= 0.0f) {
				v = 0.0f;
			}
			a1 += v;
			a2 += v * h;
		}
		p1[i] = a1;
		p2[i] = a2;
	}
}

// bn_back_stats sums the chunks in double and writes the gradients of γ and β and the
// factors of the second pass: k = γ·istd, and the means of v and v·h when the forward used
// the batch's statistics (train), else 0.
extern "C" __global__ void bn_back_stats(const float *p1, const float *p2, int chunks, int c, i64 rows,
		const float *gamma, const float *istd, int train, float *dgamma, float *dbeta, float *k,
		float *mdy, float *mdyx) {
	GRID_LOOP(ch, c) {
		double s1 = 0.0, s2 = 0.0;
		for (int t = 0; t < chunks; t++) {
			s1 += (double)p1[(i64)t * c + ch];
			s2 += (double)p2[(i64)t * c + ch];
		}
		dgamma[ch] = (float)s2;
		dbeta[ch] = (float)s1;
		k[ch] = gamma[ch] * istd[ch];
		float m = (float)rows;
		mdy[ch] = train ? (float)s1 / m : 0.0f;
		mdyx[ch] = train ? (float)s2 / m : 0.0f;
	}
}

// bn_back_apply is the second pass: dx = k·(v − mdy − h·mdyx), dx possibly dy
// (bnBackApplyGo).
extern "C" __global__ void bn_back_apply(const float *x, const float *dy, float *dx, i64 rows, int c,
		const float *mean, const float *istd, const float *scale, const float *shift,
		const float *k, const float *mdy, const float *mdyx, int relu) {
	GRID_LOOP(i, rows * c) {
		int ch = (int)(i % c);
		float xv = x[i];
		float h = (xv - mean[ch]) * istd[ch];
		float v = dy[i];
		if (relu && xv * scale[ch] + shift[ch] <= 0.0f) {
			v = 0.0f;
		}
		dx[i] = k[ch] * (v - mdy[ch] - h * mdyx[ch]);
	}
}
