// SimCLR's NT-Xent loss over M embeddings (M × d, row-major), in the pieces around the two
// matrix products cuBLAS does: normalise the rows (u = z/|z|), S = u·uᵀ/τ (cuBLAS), the
// row-wise softmax over all other rows with the loss and dL/dS, G = (A + Aᵀ)·u/τ (cuBLAS),
// and the gradient through the normalisation. Rows pair up by replica block: in each block
// of 2n rows, row j < n pairs with row j + n.

// l2norm_rows: one block per row. u = z/max(|z|, 1e-12); norms keeps the divisor.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS) l2norm_rows(const float *z, float *u,
		float *norms, int d) {
	int i = blockIdx.x;
	const float *row = z + (i64)i * d;
	double ss = 0.0, unused = 0.0;
	for (int j = threadIdx.x; j < d; j += REDUCE_THREADS) {
		double v = row[j];
		ss += v * v;
	}
	block_sum2(&ss, &unused);
	double nrm = sqrt(ss);
	if (nrm < 1e-12) {
		nrm = 1e-12;
	}
	for (int j = threadIdx.x; j < d; j += REDUCE_THREADS) {
		u[(i64)i * d + j] = (float)((double)row[j] / nrm);
	}
	if (threadIdx.x == 0) {
		norms[i] = (float)nrm;
	}
}

// ntxent_rows: one block per row of S (M × M, already divided by τ). The row's loss is
// log Σ_{k≠i} exp(S[i][k]) − S[i][pair(i)]; the row is replaced by dL/dS[i] for the mean loss:
// (softmax over k ≠ i − [k = pair(i)])/M, and 0 on the diagonal.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS) ntxent_rows(float *s, float *loss_rows,
		int m, int n) {
	int i = blockIdx.x;
	float *row = s + (i64)i * m;
	int pair = i % (2 * n) < n ? i + n : i - n;
	float positive = row[pair]; // read before any thread rewrites the row
	float mx = -FLOAT_MAX;
	for (int k = threadIdx.x; k < m; k += REDUCE_THREADS) {
		if (k != i && row[k] > mx) {
			mx = row[k];
		}
	}
	mx = block_max(mx);
	double sum = 0.0, unused = 0.0;
	for (int k = threadIdx.x; k < m; k += REDUCE_THREADS) {
		if (k != i) {
			sum += exp((double)row[k] - (double)mx);
		}
	}
	block_sum2(&sum, &unused);
	double lse = (double)mx + log(sum);
	double inv = 1.0 / (double)m;
	for (int k = threadIdx.x; k < m; k += REDUCE_THREADS) {
		double a = 0.0;
		if (k != i) {
			a = exp((double)row[k] - lse) * inv;
		}
		if (k == pair) {
			a -= inv;
		}
		row[k] = (float)a;
	}
	if (threadIdx.x == 0) {
		loss_rows[i] = (float)(lse - (double)positive);
	}
}

// ntxent_loss: one block. loss[0] is the mean of the rows' losses.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS) ntxent_loss(const float *loss_rows,
		float *loss, int m) {
	double s = 0.0, unused = 0.0;
	for (int i = threadIdx.x; i < m; i += REDUCE_THREADS) {
		s += (double)loss_rows[i];
	}
	block_sum2(&s, &unused);
	if (threadIdx.x == 0) {
		loss[0] = (float)(s / (double)m);
	}
}

// l2norm_rows_bwd: one block per row. Through u = z/|z|: dz = (g − u·(u·g))/|z|.
extern "C" __global__ void __launch_bounds__(REDUCE_THREADS) l2norm_rows_bwd(const float *u,
		const float *g, const float *norms, float *dz, int d) {
	int i = blockIdx.x;
	const float *ur = u + (i64)i * d, *gr = g + (i64)i * d;
	double dot = 0.0, unused = 0.0;
	for (int j = threadIdx.x; j < d; j += REDUCE_THREADS) {
		dot += (double)ur[j] * (double)gr[j];
	}
	block_sum2(&dot, &unused);
	double nrm = norms[i];
	for (int j = threadIdx.x; j < d; j += REDUCE_THREADS) {
		dz[(i64)i * d + j] = (float)(((double)gr[j] - (double)ur[j] * dot) / nrm);
	}
}
